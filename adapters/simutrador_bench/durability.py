"""Durable sessions (DESIGN §7, §9): what the SQLite store and its command journal cost, and how fast runs come back.

The ``durability`` step of ``simutrador bench``. Over the wire (`simutrador_bench.durable_remote`):
lockstep ticks/s and create_session round trips on a server keeping its sessions in a
SQLite file beside one keeping them in memory, in the same run. In this process, on
real SQLite files (each step in a new temporary folder):

- **Commit latency** (`commit_latencies`): the time from `JournalWriter.append` to the
  commit of its group, with 1, 10 or 100 appends in flight (a closed loop: each
  committed append is replaced by a new one, as clients waiting for their
  ``batch_ack`` do), with ``synchronous`` NORMAL and FULL. Each entry is a batch of
  one order with its answer, as the server journals it.
- **Recovery** (`interrupted_run`, `recover`): a session of about a million 1-minute
  bars of the embedded sample (every minute of its crypto pairs, then forex) is run
  nine-tenths of the way, an order every 50 ticks and a cancel now and then
  journaled through a `JournalWriter`; then the process "crashes" (the store is
  closed with the session RUNNING). Recovery is what a restarted server does: open
  the store and a new `Engine` (the session comes back PAUSED), read its journal, and
  `Engine.restore_simulation` at the last tick (replaying from the start, on data
  not yet loaded). The replay alone is timed again with the data loaded; the restored
  account must equal the interrupted one.
- **Store size** (`store_size`): sessions created through an `Engine` on a SQLite
  store, half deleted one by one, the rest expired and removed by one cleanup; the
  file (and its WAL) measured at its largest, once empty, and after closing
  (``scripts/store_size.py`` prints the same, and a churn of ten rounds).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from simutrador import Engine, OrderRequest, OrderSide, SqliteStore, TimeInForce
from simutrador.codec import converter
from simutrador.storage import JournalEntry, JournalWriter
from simutrador.testing import ManualClock, SequentialIds
from simutrador_bench import durable_remote
from simutrador_bench.report import Result
from simutrador_bench.serverproc import bench_engine_settings

__all__ = [
    "FULL",
    "IN_FLIGHT",
    "QUICK",
    "SYNCHRONOUS",
    "Commits",
    "Interrupted",
    "Recovery",
    "Sizes",
    "StoreSize",
    "batch_entry",
    "commit_latencies",
    "file_size",
    "interrupted_run",
    "measure",
    "recover",
    "recovery_fields",
    "store_size",
]

SYNCHRONOUS: Final = ("normal", "full")
"""The store's durability settings compared."""
IN_FLIGHT: Final = (1, 10, 100)
"""Appends waiting for their commit at once."""
RECOVERY_USER: Final = "recovery"
ORDER_EVERY: Final = 50
"""Ticks between two orders of the interrupted run."""
CANCEL_EVERY: Final = 500
"""Ticks between two far limit orders of the interrupted run, each canceled 10 ticks later."""
STORE_SESSION: Final = {"symbols": "SPY", "start": "2024-03-01", "end": "2024-03-28", "capital": 10_000}
PER_USER: Final = 5


@attrs.frozen(kw_only=True)
class Sizes:
    """How much of the ``durability`` step to measure.

    Attributes:
        ticks: Ticks of each lockstep run over the wire.
        rounds: Rounds of the lockstep runs (each store once per round, in turn): many short
            rounds make the median ratio robust to a shared machine's bursts.
        create_rounds: Rounds of the create_session loads.
        create_clients: Client counts of the create_session loads.
        create_warmup: Seconds of each create_session turn not counted.
        create_window: Seconds of each create_session turn counted.
        appends: Appends timed per commit-latency figure.
        recovery_symbols: Symbols of the recovered session (1-minute: crypto, then forex).
        recovery_days: Days of the recovered session, from 2025-10-01 (92 is the whole sample).
        replay_rounds: Timed replays with the data loaded.
        sessions: Sessions created and deleted for the store's size.
        time_limit: Hard limit, in seconds, of each over-the-wire load and of each commit-latency figure.
    """

    ticks: int
    rounds: int
    create_rounds: int
    create_clients: tuple[int, ...]
    create_warmup: float
    create_window: float
    appends: int
    recovery_symbols: int
    recovery_days: int
    replay_rounds: int
    sessions: int
    time_limit: float = 120.0


QUICK: Final = Sizes(
    ticks=250,
    rounds=4,
    create_rounds=2,
    create_clients=(1,),
    create_warmup=0.1,
    create_window=0.4,
    appends=300,
    recovery_symbols=2,
    recovery_days=5,
    replay_rounds=2,
    sessions=1_000,
    time_limit=60,
)
"""A few seconds: 20,000-bar recovery, 1,000 sessions."""

FULL: Final = Sizes(
    ticks=1_500,
    rounds=12,
    create_rounds=4,
    create_clients=(1, 100),
    create_warmup=0.5,
    create_window=2.0,
    appends=3_000,
    recovery_symbols=8,
    recovery_days=92,
    replay_rounds=3,
    sessions=100_000,
)
"""The reference: 1,022,400-bar recovery, 100,000 sessions (a few minutes)."""


def file_size(path: Path) -> int:
    """A SQLite file and its WAL, in bytes."""
    return sum(p.stat().st_size for p in (path, path.with_name(f"{path.name}-wal")) if p.exists())


# -- commit latency ----------------------------------------------------------------------------


def batch_entry(session_id: str, tick: int) -> JournalEntry:
    """A journal entry as the server writes one for a batch of one market order (about 700 bytes of JSON)."""
    order = OrderRequest(symbol="BTC-USD", side=OrderSide.BUY, quantity=Decimal(1), order_id=f"o{tick}")
    reply = {
        "session_id": session_id,
        "batch_id": f"b{tick}",
        "for_sequence_id": tick,
        "accepted_orders": [f"o{tick}"],
        "rejected_orders": {},
        "errors": {},
        "estimated_fills": {},
    }
    update = {"session_id": session_id, "sequence_id": tick, "event": "accepted", "order": converter.unstructure(order)}
    body = {
        "batch_id": f"b{tick}",
        "orders": [converter.unstructure(order)],
        "reply": reply,
        "pushes": [["order_update", update]],
    }
    return JournalEntry(session_id=session_id, tick=tick, kind="batch", body=body)


@attrs.frozen
class Commits:
    """Appends timed to their commit: seconds each, the groups they took, and the wall time."""

    latencies: list[float]
    groups: int
    seconds: float


def commit_latencies(
    path: Path, *, synchronous: str, in_flight: int, appends: int, time_limit: float = 60.0
) -> Commits:
    """Time `appends` journal appends from `JournalWriter.append` to their commit, `in_flight` at a time.

    A closed loop on a new store at `path`: `in_flight` appends are queued, and each
    time the oldest is committed, as many new ones as were committed are queued. The
    commit time of a ticket is when the writer thread reported its group (``on_commit``
    runs right after the transaction). Stops early after `time_limit` seconds.
    """
    commits: list[tuple[int, float]] = []  # appended by the writer thread (list.append is atomic)
    clock = time.perf_counter

    def committed(ticket: int, error: object) -> None:
        commits.append((ticket, clock()))

    entries = [[batch_entry("sess-bench", tick)] for tick in range(1, appends + 1)]
    appended: dict[int, float] = {}
    began = clock()
    with SqliteStore(path, synchronous=synchronous) as store, JournalWriter(store, committed) as writer:
        waiting: list[int] = []
        for batch in entries:
            if len(waiting) >= in_flight:
                writer.wait(waiting[0])
                done = writer.committed
                waiting = [ticket for ticket in waiting if ticket > done]
                if clock() - began > time_limit:
                    break
            started = clock()
            ticket = writer.append(batch)
            appended[ticket] = started
            waiting.append(ticket)
        if waiting:
            writer.wait(waiting[-1])
        groups = writer.groups
    seconds = clock() - began
    latencies: list[float] = []
    cursor = 0
    for ticket in sorted(appended):
        while commits[cursor][0] < ticket:
            cursor += 1
        latencies.append(commits[cursor][1] - appended[ticket])
    return Commits(latencies, groups, seconds)


# -- recovery ----------------------------------------------------------------------------------


def recovery_fields(symbols: int, days: int) -> dict[str, Any]:
    """A 1-minute session of the sample's first `symbols` symbols (crypto, which trades every minute, then forex)."""
    engine = Engine(bench_engine_settings())
    rank = {"crypto": 0, "forex": 1}
    minute = [info for info in engine.catalog.symbols() if "1min" in info.ranges]
    chosen = sorted(minute, key=lambda info: (rank.get(info.asset_class.value, 2), info.symbol))[:symbols]
    start = min(info.ranges["1min"].start for info in chosen)
    end = start + timedelta(days=days) - timedelta(minutes=1)
    return {
        "symbols": [info.symbol for info in chosen],
        "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "initial_capital": "10000000",
        "timeframe": "1min",
    }


@attrs.frozen
class Interrupted:
    """A run left RUNNING in a store, as a killed server leaves it.

    Attributes:
        session_id: The session.
        until: The tick it stood on (the last one its client processed).
        ticks: Ticks of the whole session.
        bars: Bars of the whole session.
        bars_replayed: Bars up to `until`, which a restore replays.
        entries: Journal entries written (start, batches, cancels).
        account: ``(cash, equity, orders)`` at `until`, which the restored run must show.
        seconds: Wall time of the run up to `until` (its data loaded first).
    """

    session_id: str
    until: int
    ticks: int
    bars: int
    bars_replayed: int
    entries: int
    account: tuple[Decimal, Decimal, int]
    seconds: float


def _account(handle: Any) -> tuple[Decimal, Decimal, int]:
    simulator = handle.simulator
    return simulator.cash, simulator.equity, len(simulator.orders())


def _far_limit(simulator: Any, symbol: str, order_id: str) -> OrderRequest:
    """A GTC buy limit at half the last close: it stays working until canceled."""
    increment = simulator.config.instruments[symbol].price_increment
    (last,) = simulator.bars(symbol, 1)
    price = (last.close / 2).quantize(increment)
    return OrderRequest(
        symbol=symbol,
        side=OrderSide.BUY,
        quantity=Decimal(1),
        limit_price=price,
        time_in_force=TimeInForce.GTC,
        order_id=order_id,
    )


def interrupted_run(path: Path, fields: dict[str, Any], *, fraction: float = 0.9) -> Interrupted:
    """Run a new session of `fields` on a new store at `path` to `fraction` of its ticks, journaling as a server does.

    Every `ORDER_EVERY` ticks a market order for one unit (buying and selling in
    turn), and every `CANCEL_EVERY` ticks a limit order far below the market that is
    canceled 10 ticks later, each journaled (through a `JournalWriter`, waited for)
    at the tick it applies at. Then the store is closed with the session RUNNING.
    """
    with SqliteStore(path) as store, JournalWriter(store) as writer:
        engine = Engine(bench_engine_settings(), store=store)
        session = engine.create_session(RECOVERY_USER, **fields)
        session_id = session.session_id
        handle = engine.start_simulation(RECOVERY_USER, session_id)
        simulator = handle.simulator
        until = max(1, int(simulator.total_ticks * fraction))
        symbols = list(fields["symbols"])
        writer.wait(writer.append([JournalEntry(session_id=session_id, tick=0, kind="start", body={"options": {}})]))
        entries = 1
        started = time.perf_counter()
        while simulator.sequence_id < until:
            handle.advance()
            tick = simulator.sequence_id
            batch: list[OrderRequest] = []
            if tick % ORDER_EVERY == 0:
                count = tick // ORDER_EVERY - 1
                symbol = symbols[count // 2 % len(symbols)]
                side = OrderSide.SELL if count % 2 else OrderSide.BUY  # bought, then sold
                batch.append(OrderRequest(symbol=symbol, side=side, quantity=Decimal(1), order_id=f"m{tick}"))
            if tick % CANCEL_EVERY == 0:
                batch.append(_far_limit(simulator, symbols[0], f"l{tick}"))
            journal: list[JournalEntry] = []
            if batch:
                for request in batch:
                    handle.submit(request)
                orders = [converter.unstructure(request) for request in batch]
                journal.append(JournalEntry(session_id=session_id, tick=tick, kind="batch", body={"orders": orders}))
            if tick % CANCEL_EVERY == 10 and tick > CANCEL_EVERY:
                order_id = f"l{tick - 10}"
                handle.cancel_order(order_id)
                journal.append(
                    JournalEntry(session_id=session_id, tick=tick, kind="cancel", body={"order_id": order_id})
                )
            if journal:
                writer.wait(writer.append(journal))
                entries += len(journal)
        seconds = time.perf_counter() - started
        feed = simulator.feed
        return Interrupted(
            session_id=session_id,
            until=until,
            ticks=simulator.total_ticks,
            bars=feed.total_bars,
            bars_replayed=sum(len(slot) for slot in feed.slots[:until]),
            entries=entries,
            account=_account(handle),
            seconds=seconds,
        )


@attrs.frozen
class Recovery:
    """A recovery, timed in phases (seconds).

    Attributes:
        open: A new `SqliteStore` and `Engine` over the file (the session paused).
        journal: Reading the session's journal.
        restore: `Engine.restore_simulation` on a new engine: the data loaded, then the replay.
        replays: `Engine.restore_simulation` again, the data loaded: the replay alone, each round.
        same_account: Whether every restored run showed the interrupted run's account.
    """

    open: float
    journal: float
    restore: float
    replays: list[float]
    same_account: bool

    @property
    def total(self) -> float:
        """From opening the file to a restored run, ready to go on."""
        return self.open + self.journal + self.restore


def recover(path: Path, run: Interrupted, *, replays: int) -> Recovery:
    """Bring `run` back from the store at `path` as a restarted server does, then replay it `replays` more times."""
    clock = time.perf_counter
    began = clock()
    with SqliteStore(path) as store:
        engine = Engine(bench_engine_settings(), store=store)
        opened = clock()
        commands = [e for e in engine.journal_of(run.session_id) if e.kind in ("batch", "cancel")]
        read = clock()
        handle = engine.restore_simulation(RECOVERY_USER, run.session_id, commands, until=run.until)
        restored = clock()
        same = _account(handle) == run.account and handle.simulator.sequence_id == run.until
        seconds: list[float] = []
        for _ in range(replays):
            again = clock()
            handle = engine.restore_simulation(RECOVERY_USER, run.session_id, commands, until=run.until)
            seconds.append(clock() - again)
            same = same and _account(handle) == run.account
    return Recovery(opened - began, read - opened, restored - read, seconds, same)


# -- store size --------------------------------------------------------------------------------


@attrs.frozen
class StoreSize:
    """A store's size (bytes, its WAL included) as sessions come and go, and how long each stage took (seconds).

    Attributes:
        sessions: Sessions created.
        largest: With every session stored.
        half: After half were deleted one by one.
        empty: After the rest expired and one cleanup removed them.
        closed: After closing (the WAL checkpointed into the file).
        left: Sessions still in the store at the end (0 unless something went wrong).
        create_seconds: Creating them all.
        delete_seconds: Deleting half.
        cleanup_seconds: The one cleanup.
    """

    sessions: int
    largest: int
    half: int
    empty: int
    closed: int
    left: int
    create_seconds: float
    delete_seconds: float
    cleanup_seconds: float


def store_size(path: Path, count: int) -> StoreSize:
    """Create `count` sessions (five per user) on a new store at `path`, delete half, expire the rest; the sizes."""
    clock = ManualClock()
    timer = time.perf_counter
    with SqliteStore(path) as store:
        engine = Engine(clock=clock, id_factory=SequentialIds(), store=store)
        started = timer()
        made = [engine.create_session(f"user-{n // PER_USER}", **STORE_SESSION) for n in range(count)]
        created = timer()
        largest = file_size(path)
        for session in made[::2]:
            engine.delete_session(session.user_id, session.session_id)
        deleted = timer()
        half = file_size(path)
        clock.advance(minutes=61)
        engine.cleanup_expired_sessions()
        cleaned = timer()
        empty = file_size(path)
        left = len(store)
    return StoreSize(
        sessions=count,
        largest=largest,
        half=half,
        empty=empty,
        closed=file_size(path),
        left=left,
        create_seconds=created - started,
        delete_seconds=deleted - created,
        cleanup_seconds=cleaned - deleted,
    )


# -- the step ----------------------------------------------------------------------------------


def _commit_results(sizes: Sizes, folder: Path, progress: Callable[[str], None]) -> list[Result]:
    results: list[Result] = []
    for synchronous in SYNCHRONOUS:
        progress(
            f"journal commit latency, synchronous {synchronous.upper()}: {sizes.appends:,} appends, "
            f"{'/'.join(map(str, IN_FLIGHT))} in flight"
        )
        for in_flight in IN_FLIGHT:
            path = folder / f"journal-{synchronous}-{in_flight}.db"
            commits = commit_latencies(
                path, synchronous=synchronous, in_flight=in_flight, appends=sizes.appends, time_limit=sizes.time_limit
            )
            appended = len(commits.latencies)
            results.append(
                Result.from_timings(
                    f"durable.commit.{synchronous}.{in_flight}",
                    commits.latencies,
                    scale=1e6,
                    note="" if appended == sizes.appends else f"{appended:,} of {sizes.appends:,} appends (time limit)",
                    extra={
                        "appends": appended,
                        "groups": commits.groups,
                        "entries_per_group": appended / commits.groups if commits.groups else 0.0,
                        "commits_per_s": appended / commits.seconds if commits.seconds else 0.0,
                    },
                )
            )
    return results


def _recovery_results(sizes: Sizes, folder: Path, progress: Callable[[str], None]) -> list[Result]:
    fields = recovery_fields(sizes.recovery_symbols, sizes.recovery_days)
    path = folder / "recovery.db"
    progress(
        f"recovery: running {len(fields['symbols'])} symbols x {sizes.recovery_days} days of 1-minute bars "
        "nine-tenths of the way, orders journaled"
    )
    run = interrupted_run(path, fields)
    progress(
        f"recovery: {run.bars:,} bars, {run.entries:,} journal entries; a new engine restores it at tick "
        f"{run.until:,}, then {sizes.replay_rounds} replays with the data loaded"
    )
    recovery = recover(path, run, replays=sizes.replay_rounds)
    errors = 0 if recovery.same_account else 1
    note = "" if recovery.same_account else "the restored account differs from the interrupted run's"
    short = "" if run.bars >= 1_000_000 else f"{run.bars:,} bars (the target is for 1,000,000)"
    replay = statistics.median(recovery.replays) if recovery.replays else recovery.restore
    context = {
        "symbols": fields["symbols"],
        "ticks": run.ticks,
        "bars": run.bars,
        "until_tick": run.until,
        "bars_replayed": run.bars_replayed,
        "journal_entries": run.entries,
        "interrupted_run_s": run.seconds,
    }
    return [
        Result(
            key="durable.recover",
            value=recovery.total,
            samples=[recovery.total],
            errors=errors,
            note="; ".join(filter(None, (short, note))),
            extra={
                **context,
                "open_s": recovery.open,
                "journal_s": recovery.journal,
                "restore_s": recovery.restore,
                "data_s": recovery.restore - replay,
            },
        ),
        Result(key="durable.recover.data", value=max(recovery.restore - replay, 0.0), extra={"bars": run.bars}),
        Result(
            key="durable.recover.replay",
            value=replay,
            samples=list(recovery.replays),
            errors=errors,
            extra={**context, "bars_per_s": run.bars_replayed / replay if replay else 0.0},
        ),
    ]


def _size_results(sizes: Sizes, folder: Path, progress: Callable[[str], None]) -> list[Result]:
    progress(f"store size: {sizes.sessions:,} sessions created, half deleted, the rest expired and cleaned up")
    size = store_size(folder / "sessions.db", sizes.sessions)
    short = "" if size.sessions >= 100_000 else f"{size.sessions:,} sessions (the figure is for 100,000)"
    lost = f"{size.left:,} sessions were still in the store at the end" if size.left else ""
    note = "; ".join(filter(None, (short, lost)))
    context = {
        "sessions": size.sessions,
        "create_s": size.create_seconds,
        "delete_half_s": size.delete_seconds,
        "cleanup_s": size.cleanup_seconds,
        "after_half_deleted_bytes": size.half,
    }
    return [
        Result(
            key="durable.store.largest",
            value=size.largest / 2**20,
            note=short,
            extra={**context, "bytes": size.largest, "bytes_per_session": size.largest / size.sessions},
        ),
        Result(
            key="durable.store.empty",
            value=size.empty / 2**20,
            errors=size.left,
            note=note,
            extra={"bytes": size.empty},
        ),
        Result(key="durable.store.closed", value=size.closed, note=short),
    ]


def measure(sizes: Sizes, progress: Callable[[str], None]) -> list[Result]:
    """The step: every durability figure, in a new temporary folder."""
    wire_sizes = durable_remote.WireSizes(
        ticks=sizes.ticks,
        rounds=sizes.rounds,
        create_rounds=sizes.create_rounds,
        create_clients=sizes.create_clients,
        warmup=sizes.create_warmup,
        window=sizes.create_window,
        time_limit=sizes.time_limit,
    )
    with tempfile.TemporaryDirectory(prefix="simutrador-bench-") as name:
        folder = Path(name)
        results = durable_remote.measure(wire_sizes, folder, progress)
        results += _commit_results(sizes, folder, progress)
        results += _recovery_results(sizes, folder, progress)
        results += _size_results(sizes, folder, progress)
    return results
