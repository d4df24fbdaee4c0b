"""In-process workloads: the engine called directly, no transport.

Each ``*_call`` function builds its state and returns the zero-argument callable to
time, so ``benchmarks/`` (pytest-benchmark) and ``simutrador bench`` time exactly the
same code.
"""

from __future__ import annotations

import csv
import gc
import itertools
import math
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import psutil

from simutrador import (
    Catalog,
    DirectoryCatalog,
    Engine,
    EngineSettings,
    MarketDataValidator,
    SampleCatalog,
    SessionParams,
    SessionSettings,
)
from simutrador.testing import ManualClock

__all__ = [
    "MemoryFigures",
    "cleanup_idle_call",
    "create_call",
    "cycle_call",
    "expire_all",
    "floor_call",
    "memory_per_session",
    "request",
    "time_calls",
    "unlimited_engine",
    "unlimited_settings",
    "validation_call",
    "write_folder_catalog",
]

NOW = datetime(2026, 1, 1, tzinfo=UTC)
"""The clock of the validation workloads (every sample range is in the past)."""


def unlimited_settings() -> EngineSettings:
    """Engine settings whose per-user limits never stop a benchmark (symbols up to 500; no plan applies)."""
    return EngineSettings(session=SessionSettings(max_sessions_per_user=10**9, max_symbols_per_session=500))


def unlimited_engine(clock: ManualClock | None = None) -> Engine:
    """An engine on the sample catalog with `unlimited_settings`."""
    return Engine(unlimited_settings(), clock=clock or ManualClock())


def request(symbols: tuple[str, ...] = ("AAPL", "MSFT")) -> SessionParams:
    """A valid request: March 2022, when every sample symbol has data."""
    return SessionParams(
        symbols=symbols,
        start_date="2022-03-07",
        end_date="2022-03-11",
        initial_capital=Decimal("100000"),
    )


def sample_symbols(count: int) -> tuple[str, ...]:
    """The first `count` symbols of the sample catalog (at most 51)."""
    symbols = tuple(info.symbol for info in SampleCatalog().symbols())[:count]
    if len(symbols) != count:
        raise ValueError(f"the sample catalog has only {len(symbols)} symbols")
    return symbols


def time_calls(call: Callable[[], object], *, seconds: float, max_rounds: int = 1_000_000) -> list[float]:
    """Time `call` one round at a time for about `seconds` (after a short warm-up); seconds per round."""
    for _ in range(20):
        call()
    samples: list[float] = []
    clock = time.perf_counter
    deadline = clock() + seconds
    while len(samples) < max_rounds:
        started = clock()
        call()
        ended = clock()
        samples.append(ended - started)
        if ended >= deadline:
            break
    return samples


@attrs.frozen
class _Floor:
    session_id: str
    user_id: str
    symbols: tuple[str, ...]
    capital: Decimal


def floor_call() -> Callable[[], None]:
    """The physical floor of DESIGN §6: build a frozen attrs object, store it in a dict."""
    store: dict[int, _Floor] = {}
    counter = itertools.count()

    def build() -> None:
        n = next(counter)
        store[n] = _Floor(session_id=str(n), user_id="u", symbols=("AAPL",), capital=Decimal(100000))

    return build


def create_call(count: int) -> Callable[[], None]:
    """`Engine.create_session` (validation included) for `count` sample symbols, 1,000 users in turn."""
    engine = unlimited_engine()
    params = request(sample_symbols(count))
    users = itertools.cycle([f"user-{i}" for i in range(1000)])

    def create() -> None:
        engine.create_session(next(users), params)

    return create


def cycle_call() -> Callable[[], None]:
    """Time get + list + create + delete for one user holding five sessions."""
    engine = unlimited_engine()
    params = request()
    ids = [engine.create_session("alice", params).session_id for _ in range(5)]

    def cycle() -> None:
        engine.get_session("alice", ids[0])
        engine.list_sessions("alice")
        session_id = engine.create_session("alice", params).session_id
        engine.delete_session("alice", session_id)

    return cycle


def ticker(i: int) -> str:
    """A synthetic ticker for the folder catalog: XAAA, XBAA, ..."""
    return "X" + "".join(chr(65 + (i // 26**k) % 26) for k in range(3))


def write_folder_catalog(root: Path, count: int = 500) -> DirectoryCatalog:
    """Write `count` daily CSV files (2023) under `root` and open them as a `DirectoryCatalog`."""
    first = datetime(2023, 1, 2, tzinfo=UTC)
    days = [first + timedelta(days=d) for d in range(365) if (first + timedelta(days=d)).weekday() < 5]
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        with (root / f"{ticker(i)}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("date", "open", "high", "low", "close", "volume"))
            writer.writerows((d.date().isoformat(), 10, 11, 9, 10.5, 1000) for d in days)
    return DirectoryCatalog(root, refresh_interval=3600)


def validation_call(count: int, *, warm: bool, folder: Catalog | None = None) -> Callable[[], bool]:
    """Validate `count` symbols' date range: warm (the verdict is cached) or cold (a range never seen).

    Up to 50 symbols use the sample catalog; more need `folder` (see `write_folder_catalog`).
    """
    if count <= 50:
        catalog: Catalog = SampleCatalog()
        start = "2022-03-07"
    elif folder is None:
        raise ValueError("more than 50 symbols need a folder catalog")
    else:
        catalog, start = folder, "2023-03-06"
    symbols = tuple(info.symbol for info in catalog.symbols())[:count]
    if len(symbols) != count:
        raise ValueError(f"the catalog has only {len(symbols)} symbols")
    validator = MarketDataValidator(catalog, unlimited_settings(), clock=ManualClock(NOW))
    base = datetime.fromisoformat(start).replace(tzinfo=UTC)
    end = base + timedelta(days=4)
    if not validator.validate_date_range(base, end, symbols=symbols).is_valid:
        raise AssertionError("the benchmark's request must be valid")
    if warm:
        return lambda: validator.validate_date_range(base, end, symbols=symbols).is_valid
    offsets = itertools.count(1)

    def cold() -> bool:
        moment = base + timedelta(microseconds=next(offsets))
        return validator.validate_date_range(moment, moment + timedelta(days=4), symbols=symbols).is_valid

    return cold


def _engine_with_sessions(count: int, clock: ManualClock) -> Engine:
    engine = unlimited_engine(clock)
    params = request()
    for i in range(count):
        engine.create_session(f"user-{i % 20_000}", params)
    return engine


def cleanup_idle_call(live: int) -> Callable[[], int]:
    """`cleanup_expired_sessions` with `live` sessions of which none is due (the periodic call)."""
    engine = _engine_with_sessions(live, ManualClock())
    return engine.cleanup_expired_sessions


def expire_all(live: int) -> float:
    """Seconds one `cleanup_expired_sessions` call takes to expire `live` sessions at once."""
    clock = ManualClock()
    engine = _engine_with_sessions(live, clock)
    clock.advance(hours=2)
    gc.collect()
    started = time.perf_counter()
    removed = engine.cleanup_expired_sessions()
    elapsed = time.perf_counter() - started
    if removed != live:
        raise AssertionError(f"expected {live} expired sessions, removed {removed}")
    return elapsed


@attrs.frozen
class MemoryFigures:
    """Memory per live session.

    Attributes:
        sessions: Live sessions measured.
        traced_bytes: Bytes per session allocated by Python (tracemalloc), the asserted figure.
        rss_bytes: RSS growth per session in a fresh process (allocator slack included); NaN when skipped.
    """

    sessions: int
    traced_bytes: float
    rss_bytes: float


def rss_growth_per_session(count: int) -> float:
    """RSS growth per session when a fresh process creates `count` sessions.

    A fresh process, because in a process that has already freed memory (earlier
    workloads) the allocator reuses it and the RSS does not grow at all.
    """
    code = f"from simutrador_bench.inprocess import _rss_growth; print(_rss_growth({int(count)}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600)  # noqa: S603
    return float(done.stdout)


def _rss_growth(count: int) -> float:
    process = psutil.Process()
    _engine_with_sessions(10, ManualClock())  # imports and first-use caches are not the sessions' memory
    gc.collect()
    before = process.memory_info().rss
    engine = _engine_with_sessions(count, ManualClock())
    gc.collect()
    growth = (process.memory_info().rss - before) / count
    assert engine.live_session_count == count
    return growth


def memory_per_session(count: int, *, rss: bool = True) -> MemoryFigures:
    """Create `count` live sessions (20,000 users in turn) and measure the memory they hold.

    With `rss` false, skip the separate process that measures the growth of the RSS.
    """
    params = request()
    rss_bytes = rss_growth_per_session(count) if rss else math.nan
    engine = unlimited_engine()
    engine.create_session("warm-up", params)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            engine.create_session(f"user-{i % 20_000}", params)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    if engine.live_session_count != count + 1:
        raise AssertionError("every session must still be live")
    return MemoryFigures(sessions=count, traced_bytes=(after - before) / count, rss_bytes=rss_bytes)
