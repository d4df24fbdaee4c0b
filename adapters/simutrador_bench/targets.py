"""Every figure ``simutrador bench`` reports, with its target (DESIGN §9) and the seed's.

A `Spec` says how a figure is judged: the headline value (a median for timings, a
rate, a count or a size) against ``limit``, the p99 against ``p99_limit``, and whether
errors during the run fail it. Figures without a limit are baselines or context and
get no verdict.
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["SPECS", "Spec"]


@attrs.frozen(kw_only=True)
class Spec:
    """How one figure is shown and judged.

    Attributes:
        key: Stable identifier, also the benchmark ``name`` in the JSON report.
        title: What was measured, for the table.
        unit: Unit of ``value``/``p95``/``p99`` (``µs``, ``ms``, ``B``, ``KiB``, ``/s``, ``bars/s``, ``x``, ``%``...).
        target: Our target as printed (DESIGN §9), empty when none.
        seed: The seed's original target as printed, empty when none.
        limit: The headline value must be at most this (at least, when ``higher_is_better``).
        p99_limit: The p99 must be at most this.
        higher_is_better: Rates and counts: more is better.
        zero_errors: Any error during the run makes the figure short.
    """

    key: str
    title: str
    unit: str
    target: str = ""
    seed: str = ""
    limit: float | None = None
    p99_limit: float | None = None
    higher_is_better: bool = False
    zero_errors: bool = False

    def verdict(self, value: float, p99: float | None = None, errors: int = 0) -> str:
        """``pass``, ``short`` or ``""`` (nothing to judge)."""
        if self.limit is None and self.p99_limit is None and not self.zero_errors:
            return ""
        ok = not (self.zero_errors and errors)
        if self.limit is not None:
            ok = ok and (value >= self.limit if self.higher_is_better else value <= self.limit)
        if self.p99_limit is not None:
            ok = ok and p99 is not None and p99 <= self.p99_limit
        return "pass" if ok else "short"


def _specs(*specs: Spec) -> dict[str, Spec]:
    return {spec.key: spec for spec in specs}


_CREATE_SEED = "< 100 ms"
_VALIDATION_SEED = "< 50 ms"

SPECS: Final[dict[str, Spec]] = _specs(
    Spec(key="inproc.floor", title="floor: frozen attrs object stored in a dict", unit="µs"),
    *(
        Spec(
            key=f"inproc.create.{n}",
            title=f"create_session in-process, {n} symbol{'s' if n > 1 else ''}",
            unit="µs",
            target="≤ 20 / p99 ≤ 100 µs",
            seed=_CREATE_SEED,
            limit=20,
            p99_limit=100,
        )
        for n in (1, 5, 50)
    ),
    *(
        Spec(
            key=f"inproc.validation.warm.{n}",
            title=f"validation warm (cached), {n} symbol{'s' if n > 1 else ''}",
            unit="µs",
            target="≤ 5 µs",
            seed=_VALIDATION_SEED,
            limit=5,
        )
        for n in (1, 50, 500)
    ),
    *(
        Spec(
            key=f"inproc.validation.cold.{n}",
            title=f"validation cold (never seen), {n} symbol{'s' if n > 1 else ''}",
            unit="µs",
            target="≤ 1,000 µs",
            seed=_VALIDATION_SEED,
            limit=1000,
        )
        for n in (1, 50, 500)
    ),
    Spec(key="inproc.cycle", title="get + list + create + delete, in-process", unit="µs"),
    Spec(key="inproc.cleanup.idle", title="cleanup_expired_sessions, 100,000 live, none due", unit="µs"),
    Spec(key="inproc.cleanup.expire", title="cleanup_expired_sessions expiring 100,000 sessions", unit="ms"),
    *(
        Spec(
            key=f"inproc.memory.{n}",
            title=f"memory per live session, {n:,} live (tracemalloc)",
            unit="B",
            target="≤ 2,048 B",
            seed="< 1 MB",
            limit=2048,
        )
        for n in (1_000, 10_000, 100_000)
    ),
    Spec(
        key="inproc.live_sessions",
        title="live sessions held in one process",
        unit="sessions",
        target="≥ 100,000",
        seed="1,000+",
        limit=100_000,
        higher_is_better=True,
    ),
    Spec(key="wire.echo.1", title="bare trio-websocket echo round trip, 1 client (baseline)", unit="ms"),
    Spec(
        key="wire.create.1",
        title="create_session over WebSocket, 1 client",
        unit="ms",
        target="≤ 0.6 / p99 ≤ 1.2 ms",
        seed=_CREATE_SEED,
        limit=0.6,
        p99_limit=1.2,
        zero_errors=True,
    ),
    Spec(key="wire.create.100", title="create_session round trip, 100 concurrent clients", unit="ms"),
    Spec(
        key="wire.echo.1000",
        title="bare echo round trips/s, 1,000 clients (baseline)",
        unit="/s",
        higher_is_better=True,
    ),
    Spec(
        key="wire.create.1000",
        title="create_session round trips/s, 1,000 concurrent clients",
        unit="/s",
        seed="1,000+ sessions",
        higher_is_better=True,
    ),
    Spec(
        key="wire.ratio.1000",
        title="create_session rate as % of the bare echo rate, 1,000 clients",
        unit="%",
        target="≥ 75 %, zero errors",
        limit=75,
        higher_is_better=True,
        zero_errors=True,
    ),
    Spec(
        key="wire.handshake",
        title="connection setup (handshake + JWT auth + ready) rate",
        unit="/s",
        higher_is_better=True,
    ),
    Spec(
        key="wire.connections",
        title="concurrent WebSocket connections held by one server process",
        unit="conn",
        target="≥ 5,000",
        seed="1,000+",
        limit=5000,
        higher_is_better=True,
        zero_errors=True,
    ),
    Spec(
        key="wire.memory.connection",
        title="server memory per open connection (RSS)",
        unit="KiB",
        target="≤ 40 KiB",
        seed="< 1 MB per session",
        limit=40,
    ),
    Spec(key="wire.memory.echo", title="bare echo server memory per open connection (baseline)", unit="KiB"),
    Spec(
        key="sim.sma",
        title="simulation: SMA(10/30) crossover, market orders, 1 symbol, 100k 1-min bars",
        unit="bars/s",
        target="≥ 300,000 bars/s",
        limit=300_000,
        higher_is_better=True,
    ),
    Spec(
        key="sim.sma.plain",
        title="… the same strategy as a plain-Python loop (baseline)",
        unit="bars/s",
        higher_is_better=True,
    ),
    Spec(key="sim.sma.vs_plain", title="… SimuTrador's rate ÷ the plain loop's", unit="x", higher_is_better=True),
    Spec(
        key="sim.sma.backtesting",
        title="… backtesting.py, same bars and signals (baseline)",
        unit="bars/s",
        higher_is_better=True,
    ),
    Spec(
        key="sim.sma.vs_backtesting",
        title="… SimuTrador's rate ÷ backtesting.py's",
        unit="x",
        target="≥ 3x",
        limit=3,
        higher_is_better=True,
    ),
    Spec(
        key="sim.sma.backtrader",
        title="… backtrader, same bars and signals (baseline)",
        unit="bars/s",
        higher_is_better=True,
    ),
    Spec(
        key="sim.sma.vs_backtrader",
        title="… SimuTrador's rate ÷ backtrader's",
        unit="x",
        target="≥ 20x",
        limit=20,
        higher_is_better=True,
    ),
    Spec(
        key="sim.nothing",
        title="simulation: a strategy that does nothing, 1 symbol, 100k 1-min bars",
        unit="bars/s",
        target="≥ 1,000,000 bars/s",
        limit=1_000_000,
        higher_is_better=True,
    ),
    Spec(
        key="sim.nothing.plain",
        title="… plain-Python loop handing each bar to a no-op (floor)",
        unit="bars/s",
        higher_is_better=True,
    ),
    Spec(key="sim.nothing.vs_plain", title="… SimuTrador's rate ÷ the plain loop's", unit="x", higher_is_better=True),
    Spec(
        key="sim.nothing.backtesting",
        title="… backtesting.py, same bars (baseline)",
        unit="bars/s",
        higher_is_better=True,
    ),
    Spec(
        key="sim.nothing.vs_backtesting",
        title="… SimuTrador's rate ÷ backtesting.py's",
        unit="x",
        higher_is_better=True,
    ),
    *(
        Spec(
            key=f"sim.daily.{kind}",
            title=f"simulation: 50 symbols x 10 years daily, {what}",
            unit="bars/s",
            target="≥ 300,000 bars/s",
            limit=300_000,
            higher_is_better=True,
        )
        for kind, what in (("nothing", "a strategy that does nothing"), ("hold", "buy-and-hold of each symbol"))
    ),
    Spec(
        key="sim.daily.plain",
        title="… buy-and-hold as a plain-Python loop (baseline)",
        unit="bars/s",
        higher_is_better=True,
    ),
    Spec(
        key="sim.daily.vs_plain",
        title="… SimuTrador's buy-and-hold rate ÷ the plain loop's",
        unit="x",
        higher_is_better=True,
    ),
    Spec(
        key="sim.concurrent.memory",
        title="1,000 concurrent simulations of 1 symbol: memory per simulation (session included) beyond the data",
        unit="B",
        target="≤ 10,240 B, data held once",
        limit=10_240,
    ),
    Spec(key="sim.concurrent.session", title="… of which the session itself (created, never started)", unit="B"),
    Spec(key="sim.concurrent.data", title="… the shared data, held once (baseline: a private copy each)", unit="B"),
    Spec(
        key="sim.concurrent.vs_data",
        title="… a private copy of the data ÷ memory per simulation",
        unit="x",
        higher_is_better=True,
    ),
    Spec(
        key="remote.echo.1",
        title="bare echo of a tick-sized message, 1 connection (baseline)",
        unit="/s",
        higher_is_better=True,
    ),
    Spec(
        key="remote.lockstep.1",
        title="remote simulation, lockstep (window 1), do-nothing, lean raw-protocol client, 1 connection",
        unit="ticks/s",
        higher_is_better=True,
    ),
    Spec(
        key="remote.lockstep.vs_echo",
        title="… as % of the bare echo round-trip rate",
        unit="%",
        target="≥ 70 %",
        limit=70,
        higher_is_better=True,
        zero_errors=True,
    ),
    Spec(
        key="remote.sdk.nothing",
        title="SessionClient.run_simulation, do-nothing strategy, lockstep (whole call)",
        unit="ticks/s",
        higher_is_better=True,
    ),
    Spec(key="remote.sdk.nothing.vs_echo", title="… as % of the bare echo rate", unit="%", higher_is_better=True),
    Spec(
        key="remote.sdk.sma",
        title="SessionClient.run_simulation, the shipped SMA example, lockstep (whole call, embedded digest)",
        unit="ticks/s",
        higher_is_better=True,
    ),
    Spec(key="remote.sdk.sma.vs_echo", title="… as % of the bare echo rate", unit="%", higher_is_better=True),
    Spec(
        key="remote.bars_off.1",
        title="remote lockstep, lean client, include_bars false",
        unit="ticks/s",
        higher_is_better=True,
    ),
    Spec(
        key="remote.bars.vs_off",
        title="… lockstep with bars as % of the rate without (the cost of include_bars)",
        unit="%",
        higher_is_better=True,
    ),
    Spec(
        key="remote.window.8",
        title="remote simulation, max_pending_ticks 8, do-nothing, lean client",
        unit="ticks/s",
        higher_is_better=True,
    ),
    Spec(key="remote.window.8.vs_1", title="… as % of the lockstep (window 1) rate", unit="%", higher_is_better=True),
    Spec(
        key="remote.concurrent",
        title="100 concurrent remote simulations (lockstep, lean clients): aggregate rate",
        unit="ticks/s",
        higher_is_better=True,
    ),
    Spec(
        key="remote.concurrent.latency",
        title="… time from one tick to the next, per simulation",
        unit="ms",
    ),
    Spec(
        key="remote.concurrent.echo",
        title="… 100 bare echo connections, tick-sized messages (baseline)",
        unit="/s",
        higher_is_better=True,
    ),
    Spec(key="remote.concurrent.vs_echo", title="… aggregate rate as % of the echo's", unit="%", higher_is_better=True),
    *(
        spec
        for workload, what in (
            ("nothing", "do-nothing"),
            ("trading", "a one-order batch every 5 ticks, batch_ack awaited"),
        )
        for spec in (
            Spec(
                key=f"durable.{workload}.memory",
                title=f"remote lockstep, {what}, server with sessions in memory (baseline)",
                unit="ticks/s",
                higher_is_better=True,
            ),
            Spec(
                key=f"durable.{workload}.sqlite",
                title="… the same, server with the SQLite store and the command journal",
                unit="ticks/s",
                higher_is_better=True,
            ),
            Spec(
                key=f"durable.{workload}.vs_memory",
                title="… SQLite's rate as % of memory's (100 - the durable store's overhead)",
                unit="%",
                target="≥ 90 % (overhead ≤ 10 %)",
                limit=90,
                higher_is_better=True,
                zero_errors=True,
            ),
        )
    ),
    *(
        Spec(
            key=f"durable.commit.{synchronous}.{in_flight}",
            title=f"journal: append to commit, synchronous {synchronous.upper()}, {in_flight} in flight",
            unit="µs",
        )
        for synchronous in ("normal", "full")
        for in_flight in (1, 10, 100)
    ),
    Spec(
        key="durable.recover",
        title="recovery of a 1M-bar session: store and engine opened, journal read, restore_simulation",
        unit="s",
        target="≤ 5 s",
        limit=5,
        zero_errors=True,
    ),
    Spec(key="durable.recover.data", title="… of which loading its bars (the embedded sample's generator)", unit="s"),
    Spec(key="durable.recover.replay", title="… restore_simulation with the bars loaded: the replay alone", unit="s"),
    Spec(key="durable.create.memory.1", title="create_session over WebSocket, 1 client, memory store", unit="ms"),
    Spec(key="durable.create.sqlite.1", title="… SQLite store", unit="ms"),
    Spec(
        key="durable.create.vs_memory.1",
        title="… SQLite's round-trip rate as % of memory's (median ÷ median)",
        unit="%",
        higher_is_better=True,
    ),
    Spec(
        key="durable.create.memory.100",
        title="create_session round trips/s, 100 clients, memory store",
        unit="/s",
        higher_is_better=True,
    ),
    Spec(key="durable.create.sqlite.100", title="… SQLite store", unit="/s", higher_is_better=True),
    Spec(key="durable.create.vs_memory.100", title="… SQLite's rate as % of memory's", unit="%", higher_is_better=True),
    Spec(key="durable.store.largest", title="SQLite store holding 100,000 sessions (WAL included)", unit="MiB"),
    Spec(
        key="durable.store.empty",
        title="… once every session was deleted or expired and cleaned up (WAL included)",
        unit="MiB",
    ),
    Spec(key="durable.store.closed", title="… after closing (WAL checkpointed)", unit="B"),
    Spec(key="sweep.serial", title="sweep: a 100-run grid, serial (baseline)", unit="runs/s", higher_is_better=True),
    *(
        Spec(
            key=f"sweep.{executor}.{workers}",
            title=f"sweep: a 100-run grid, {executor}, {workers} worker{'s' if workers > 1 else ''} (start included)",
            unit="runs/s",
            higher_is_better=True,
        )
        for executor in ("processes", "ray")
        for workers in (1, 2)
    ),
    Spec(key="sweep.start.processes", title="sweep: fixed cost of starting the process pool (2 workers)", unit="s"),
    Spec(key="sweep.start.ray", title="sweep: fixed cost of starting a local Ray instance (2 workers)", unit="s"),
)
"""Every figure, by key, in report order."""
