"""The manager hammered from many threads: nothing lost, nothing double-counted."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from simutrador import Engine, EngineSettings, ErrorCode, Plan, PlanLimits, SessionSettings, SimutradorError
from simutrador.testing import ManualClock
from tests.core.conftest import params

THREADS = 8


def run_threads(worker: Callable[[int], None]) -> None:
    barrier = threading.Barrier(THREADS)

    def start(index: int) -> None:
        barrier.wait(timeout=10)
        worker(index)

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(start, i) for i in range(THREADS)]:
            future.result(timeout=60)


def test_parallel_creates_and_deletes_across_users(clock: ManualClock) -> None:
    engine = Engine(clock=clock)
    created: list[list[str]] = [[] for _ in range(THREADS)]

    def worker(index: int) -> None:
        for n in range(300):
            user = f"user-{index}-{n % 100}"
            session = engine.create_session(user, params(symbols="SPY", end_date="2024-03-04"))
            created[index].append(session.session_id)
            if n % 3 == 0:
                engine.delete_session(user, session.session_id)

    run_threads(worker)
    total = THREADS * 300
    deleted = THREADS * len(range(0, 300, 3))
    assert sum(len(c) for c in created) == total
    assert engine.live_session_count == total - deleted
    listed = sum(len(engine.list_sessions(f"user-{i}-{u}")) for i in range(THREADS) for u in range(100))
    assert listed == total - deleted


def test_one_user_racing_for_the_last_slots_gets_exactly_the_limit(clock: ManualClock) -> None:
    settings = EngineSettings(
        session=SessionSettings(max_sessions_per_user=50),
        plans={
            Plan.ENTERPRISE: PlanLimits(
                sessions_per_hour=10_000,
                concurrent_sessions=1000,
                symbols_per_session=5,
                websocket_connections=1,
                orders_per_minute=100,
                max_simulation_duration=timedelta(days=365),
            )
        },
    )
    engine = Engine(settings, clock=clock)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(_index: int) -> None:
        for _ in range(20):
            try:
                engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04"), plan=Plan.ENTERPRISE)
                result = "ok"
            except SimutradorError as err:
                result = err.code.value
            with lock:
                outcomes.append(result)

    run_threads(worker)
    assert outcomes.count("ok") == 50
    assert outcomes.count(ErrorCode.SESSION_LIMIT_EXCEEDED.value) == THREADS * 20 - 50
    assert len(engine.list_sessions("alice")) == 50 == engine.live_session_count


def test_racing_deletes_of_one_session_succeed_once(clock: ManualClock) -> None:
    engine = Engine(clock=clock)
    for round_ in range(20):
        sid = engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04")).session_id
        wins: list[int] = []

        def worker(index: int, sid: str = sid, wins: list[int] = wins) -> None:
            try:
                engine.delete_session("alice", sid)
                wins.append(index)
            except SimutradorError as err:
                assert err.code is ErrorCode.SESSION_NOT_FOUND

        run_threads(worker)
        assert len(wins) == 1, round_
        assert engine.live_session_count == 0


def test_cleanup_racing_with_touches(clock: ManualClock) -> None:
    engine = Engine(clock=clock)
    users = [f"u{i}" for i in range(200)]
    sessions = [(u, engine.create_session(u, params(symbols="SPY", end_date="2024-03-04")).session_id) for u in users]
    clock.advance(minutes=59)
    keep = sessions[::2]
    removed: list[int] = []

    def worker(index: int) -> None:
        if index == 0:
            clock.advance(minutes=1)
        if index % 2:
            removed.append(engine.cleanup_expired_sessions())
        else:
            for user, sid in keep[index::THREADS]:
                with contextlib.suppress(SimutradorError):  # expired before the touch: cleanup takes it
                    engine.touch_session(user, sid)

    run_threads(worker)
    removed.append(engine.cleanup_expired_sessions())
    assert sum(removed) + engine.live_session_count == 200
