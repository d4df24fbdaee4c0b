"""``simutrador demo``: a short guided run of the engine, embedded in-process."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import click

from simutrador import Engine, EngineSettings, Plan, Session, SessionParams, SimutradorError
from simutrador_cli.render import format_error, format_session_table

__all__ = ["run_embedded_demo"]


def _params(symbols: str, start: str, end: str, capital: str) -> SessionParams:
    return SessionParams(symbols=symbols, start_date=start, end_date=end, initial_capital=Decimal(capital))


def _expect_error(echo: Callable[[str], None], label: str, action: Callable[[], Session]) -> SimutradorError:
    try:
        action()
    except SimutradorError as error:
        echo(f"  {label:<28} -> {format_error(error)}")
        return error
    raise click.ClickException(f"demo: {label} unexpectedly succeeded")


def run_embedded_demo(echo: Callable[[str], None] = click.echo) -> None:
    """Create, inspect, list and delete sessions in an embedded engine, and show typical errors."""
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    limits = engine.limits_for()
    echo(
        f"SimuTrador demo (embedded engine, {limits.plan.value} plan: "
        f"{limits.max_live_sessions} live sessions per user)"
    )
    echo(
        f"Market data: the {engine.catalog.name} catalog, SYNTHETIC prices for {len(engine.catalog.symbols())} symbols"
    )
    echo("")
    echo("Creating sessions for alice:")
    first = engine.create_session("alice", _params("AAPL,msft", "2024-03-04", "2024-03-08", "100000"))
    second = engine.create_session("alice", _params("eur-usd,BTCUSD", "2024-05-01", "2024-05-02", "25000.50"))
    echo(format_session_table([first, second]))
    echo("")
    echo(f"Status of {first.session_id}: {engine.get_session('alice', first.session_id).state.value}")
    echo("")
    echo("Typical errors:")
    _expect_error(
        echo,
        "malformed symbol",
        lambda: engine.create_session("alice", _params("AA PL", "2024-03-04", "2024-03-08", "100000")),
    )
    _expect_error(
        echo,
        "unknown symbol",
        lambda: engine.create_session("alice", _params("APPL", "2024-03-04", "2024-03-08", "100000")),
    )
    _expect_error(
        echo,
        "before ABNB was listed",
        lambda: engine.create_session("alice", _params("ABNB", "2020-12-07", "2020-12-11", "100000")),
    )
    _expect_error(
        echo,
        "start after end",
        lambda: engine.create_session("alice", _params("AAPL", "2024-03-08", "2024-03-04", "100000")),
    )
    _expect_error(
        echo,
        "capital below the minimum",
        lambda: engine.create_session("alice", _params("AAPL", "2024-03-04", "2024-03-08", "50")),
    )
    _expect_error(echo, "another user's session", lambda: engine.get_session("bob", first.session_id))
    for _ in range(limits.max_live_sessions - 2):
        engine.create_session("alice", _params("SPY", "2024-03-04", "2024-03-05", "10000"))
    _expect_error(
        echo,
        "one session too many",
        lambda: engine.create_session("alice", _params("SPY", "2024-03-04", "2024-03-05", "10000")),
    )
    echo("")
    for session in engine.list_sessions("alice"):
        engine.delete_session("alice", session.session_id)
    echo(f"Deleted every session; alice now holds {len(engine.list_sessions('alice'))}.")
