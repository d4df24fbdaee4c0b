"""The ``simutrador`` click group and its commands."""

from __future__ import annotations

import click

from simutrador_cli.demo import run_embedded_demo
from simutrador_cli.serve import serve, token

__all__ = ["cli"]


@click.group(context_settings={"auto_envvar_prefix": "SIMUTRADOR", "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="simutrador")
def cli() -> None:
    """SimuTrador: trading-simulation sessions, embedded or over WebSocket."""


@cli.command()
def demo() -> None:
    """Run a short guided tour of the engine (no data download, no server)."""
    run_embedded_demo()


cli.add_command(serve)
cli.add_command(token)
