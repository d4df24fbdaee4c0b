"""Example strategies shipped with the CLI (``simutrador run sma_crossover``)."""
