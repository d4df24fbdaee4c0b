"""The ``simutrador`` click group and its commands."""

from __future__ import annotations

import click

from simutrador_cli.bench import bench
from simutrador_cli.demo import run_backtest_demo, run_embedded_demo, run_server_demo
from simutrador_cli.keys import keys
from simutrador_cli.remote_run import SESSION_SIMULATION_COMMANDS
from simutrador_cli.report import report
from simutrador_cli.run import run
from simutrador_cli.serve import serve, token
from simutrador_cli.session import data, session
from simutrador_cli.sweep import sweep_command

__all__ = ["cli"]


@click.group(context_settings={"auto_envvar_prefix": "SIMUTRADOR", "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="simutrador")
def cli() -> None:
    """SimuTrador: trading-simulation sessions, embedded or over WebSocket."""


@cli.command()
@click.option("--embedded", is_flag=True, help="Call the engine in-process instead of over WebSocket.")
def demo(embedded: bool) -> None:
    """A guided tour: a real backtest, then sessions and typical errors over a real loopback server.

    Needs no data download and no external service.
    """
    run_backtest_demo()
    if embedded:
        run_embedded_demo()
    else:
        run_server_demo()


cli.add_command(run)
cli.add_command(sweep_command)
cli.add_command(report)
cli.add_command(serve)
cli.add_command(token)
cli.add_command(keys)
for command in SESSION_SIMULATION_COMMANDS:
    session.add_command(command)
cli.add_command(session)
cli.add_command(data)
cli.add_command(bench)
