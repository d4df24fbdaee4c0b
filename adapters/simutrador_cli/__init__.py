"""The ``simutrador`` command line (click)."""
