"""``simutrador demo``: a short guided run of the engine, embedded in-process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import click
import trio
from simutrador_ws.auth import TokenVerifier, generate_secret, issue_token
from simutrador_ws.client import SessionClient
from simutrador_ws.server import SimutradorServer
from simutrador_ws.settings import AuthSettings, ServerSettings

from simutrador import Engine, Plan, Session, SessionParams, SimutradorError
from simutrador_cli.render import format_error, format_session_table
from simutrador_cli.run import format_result, load_strategy, sparkline

__all__ = ["run_backtest_demo", "run_embedded_demo", "run_server_demo"]


def run_backtest_demo(echo: Callable[[str], None] = click.echo) -> None:
    """Backtest the shipped SMA crossover example on the embedded sample data and print its results."""
    strategy, defaults = load_strategy("sma_crossover")
    engine = Engine()
    session = engine.create_session("demo", **defaults)
    echo(
        f"A real backtest: the sma_crossover example (10/30-day moving averages) on {', '.join(session.symbols)}, "
        f"{session.start_date:%Y-%m-%d} to {session.end_date:%Y-%m-%d}, {session.initial_capital:,} capital, "
        f"{session.commission_per_share} per share and {session.slippage_bps} bps slippage "
        "(SYNTHETIC sample data; `simutrador run sma_crossover` runs it alone)"
    )
    result = engine.run_simulation("demo", session.session_id, strategy)
    echo(format_result(result))
    echo(f"equity {sparkline([p.equity for p in result.equity_curve])}")
    echo("")


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
    engine = Engine()
    limits = engine.limits_for()
    echo(
        f"SimuTrador demo (embedded engine, no plan: {limits.max_live_sessions} live sessions per user, "
        f"{limits.max_symbols} symbols each, any date span)"
    )
    echo(
        f"Market data: the {engine.catalog.name} catalog, SYNTHETIC prices for {len(engine.catalog.symbols())} symbols"
    )
    echo("")
    echo("Creating sessions for alice:")
    first = engine.create_session("alice", _params("AAPL,GOOGL", "2023-01-01", "2023-12-31", "100000"))
    second = engine.create_session("alice", _params("eur-usd,BTCUSD", "2016-01-04", "2024-12-31", "25000.50"))
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


async def _expect_error_async(echo: Callable[[str], None], label: str, action: Callable[[], Awaitable[object]]) -> None:
    try:
        await action()
    except SimutradorError as error:
        echo(f"  {label:<28} -> {format_error(error)}")
        return
    raise click.ClickException(f"demo: {label} unexpectedly succeeded")


async def _server_demo(echo: Callable[[str], None]) -> None:
    auth = AuthSettings(jwt_secret=generate_secret())
    engine = Engine()
    server = SimutradorServer(engine, ServerSettings(port=0), TokenVerifier(auth))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        url = f"ws://127.0.0.1:{server.port}/ws/simulate"
        echo(f"SimuTrador demo: a real server on {url} (SYNTHETIC sample data), the real client, JWTs")
        alice_token = issue_token(auth, "alice", plan=Plan.PROFESSIONAL)
        bob_token = issue_token(auth, "bob", plan=Plan.FREE)
        try:
            async with SessionClient.connect(url, alice_token) as alice, SessionClient.connect(url, bob_token) as bob:
                limits = alice.ready["limits"]
                echo(
                    f"alice connected (professional plan: {limits['max_live_sessions']} live sessions, "
                    f"{limits['max_symbols_per_session']} symbols each); bob connected (free plan)"
                )
                echo("")
                echo("alice creates two sessions:")
                first = await alice.create_session("AAPL,msft", "2024-03-04", "2024-03-08", Decimal("100000"))
                second = await alice.create_session(["eur-usd", "BTCUSD"], "2024-05-01", "2024-05-02", "25000.50")
                echo(format_session_table([first, second]))
                status = await alice.get_session_status(first.session_id)
                echo(f"status of {first.session_id}: {status.state.value}, {status.estimated_ticks} ticks to simulate")
                echo("")
                echo("Typical errors, as the server reports them:")
                await _expect_error_async(
                    echo, "unknown symbol", lambda: alice.create_session("APPL", "2024-03-04", "2024-03-08", 100_000)
                )
                await _expect_error_async(
                    echo,
                    "before ABNB was listed",
                    lambda: alice.create_session("ABNB", "2020-12-07", "2020-12-11", 100_000),
                )
                await _expect_error_async(
                    echo, "start after end", lambda: alice.create_session("AAPL", "2024-03-08", "2024-03-04", 100_000)
                )
                await _expect_error_async(
                    echo,
                    "capital below the minimum",
                    lambda: alice.create_session("AAPL", "2024-03-04", "2024-03-08", 50),
                )
                await _expect_error_async(
                    echo, "bob reads alice's session", lambda: bob.get_session_status(first.session_id)
                )
                await bob.create_session("SPY", "2024-03-04", "2024-03-04", 10_000)
                await _expect_error_async(
                    echo,
                    "bob's second session (free)",
                    lambda: bob.create_session("SPY", "2024-03-05", "2024-03-05", 10_000),
                )
                echo("")
                listed = await alice.list_sessions()
                echo(f"alice lists {len(listed)} sessions; bob lists {len(await bob.list_sessions())}")
                for session in listed:
                    await alice.delete_session(session.session_id)
                echo(f"alice deleted hers; she now holds {len(await alice.list_sessions())}.")
        finally:
            server.shutdown()


def run_server_demo(echo: Callable[[str], None] = click.echo) -> None:
    """Start a real server on a free loopback port, drive it with the real client, and stop it."""
    trio.run(_server_demo, echo)
