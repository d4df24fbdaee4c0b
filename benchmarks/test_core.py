"""In-process speed and memory of the core (DESIGN §6).

Run:  .venv/bin/pytest benchmarks/test_core.py
(CI runs it with --benchmark-disable as a smoke check; the memory figure is asserted
because it is deterministic, timings are only reported.)
"""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from decimal import Decimal
from typing import Any

import attrs
import pytest

from simutrador import Engine, EngineSettings, Plan, PlanLimits, SessionParams, SessionSettings
from simutrador.sample_catalog import SampleCatalog
from simutrador.testing import ManualClock

TARGET_CREATE_MEDIAN_US = 20
TARGET_BYTES_PER_SESSION = 2048
LIVE_SESSIONS = 100_000

UNLIMITED = PlanLimits(
    sessions_per_hour=10**9,
    concurrent_sessions=10**9,
    symbols_per_session=500,
    websocket_connections=10,
    max_simulation_span_hours=24 * 365,
)


def unlimited_engine() -> Engine:
    settings = EngineSettings(
        session=SessionSettings(max_sessions_per_user=10**9),
        plans={Plan.ENTERPRISE: UNLIMITED},
        default_plan=Plan.ENTERPRISE,
    )
    return Engine(settings, clock=ManualClock())


def request(symbols: tuple[str, ...] = ("AAPL", "MSFT")) -> SessionParams:
    return SessionParams(
        # March 2022: every sample symbol has data (after RIVN's listing, before TWTR's delisting)
        symbols=symbols,
        start_date="2022-03-07",
        end_date="2022-03-11",
        initial_capital=Decimal("100000"),
    )


@attrs.frozen(kw_only=True, slots=True)
class _Floor:
    session_id: str
    user_id: str
    symbols: tuple[str, ...]
    capital: Decimal


def test_floor_frozen_attrs_object_stored_in_dict(benchmark: Any) -> None:
    """The physical floor quoted in DESIGN §6: build a frozen attrs object, store it in a dict."""
    store: dict[int, _Floor] = {}
    counter = itertools.count()

    def build() -> None:
        n = next(counter)
        store[n] = _Floor(session_id=str(n), user_id="u", symbols=("AAPL",), capital=Decimal(100000))

    benchmark(build)


@pytest.mark.parametrize("count", [1, 5, 50])
def test_create_session(benchmark: Any, count: int) -> None:
    engine = unlimited_engine()
    symbols = tuple(i.symbol for i in SampleCatalog().symbols())[:count]
    assert len(symbols) == count
    params = request(symbols)
    users = itertools.cycle([f"user-{i}" for i in range(1000)])
    benchmark.extra_info["target_median_us"] = TARGET_CREATE_MEDIAN_US

    def create() -> None:
        engine.create_session(next(users), params)

    benchmark(create)


def test_get_list_delete(benchmark: Any) -> None:
    engine = unlimited_engine()
    params = request()
    ids = [engine.create_session("alice", params).session_id for _ in range(5)]

    def cycle() -> None:
        engine.get_session("alice", ids[0])
        engine.list_sessions("alice")
        sid = engine.create_session("alice", params).session_id
        engine.delete_session("alice", sid)

    benchmark(cycle)


def test_memory_per_live_session() -> None:
    """Bytes per live session with 100,000 sessions (excluding shared market data)."""
    engine = unlimited_engine()
    params = request()
    engine.create_session("warm-up", params)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(LIVE_SESSIONS):
        engine.create_session(f"user-{i % 20_000}", params)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_session = (after - before) / LIVE_SESSIONS
    print(f"\nmemory per live session: {per_session:.0f} B (target <= {TARGET_BYTES_PER_SESSION} B)")
    assert engine.sessions.live_session_count == LIVE_SESSIONS + 1
    assert per_session <= TARGET_BYTES_PER_SESSION
