"""Simulations through the Engine: session states, results kept and expired, limits, shared data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SessionState, SimutradorError, backtest
from simutrador.settings import DEFAULT_PLAN_LIMITS, SessionSettings
from simutrador.testing import ManualClock

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def buy_once(ctx: Any, tick: Any) -> None:
    if tick.sequence_id == 1:
        ctx.buy("SPY", 5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def engine(clock: ManualClock) -> Engine:
    return Engine(EngineSettings(session=SessionSettings(result_retention_minutes=30)), clock=clock)


def spy(engine: Engine, user: str = "alice", **fields: Any) -> str:
    fields = {"symbols": "SPY", "start": "2024-03-01", "end": "2024-03-28", "capital": 10_000, **fields}
    return engine.create_session(user, **fields).session_id


def test_a_run_moves_the_session_to_completed_and_keeps_its_result(engine: Engine, clock: ManualClock) -> None:
    sid = spy(engine)
    seen: list[SessionState] = []
    result = engine.run_simulation("alice", sid, lambda ctx, tick: seen.append(engine.get_session("alice", sid).state))
    assert set(seen) == {SessionState.RUNNING}
    session = engine.get_session("alice", sid)
    assert session.state is SessionState.COMPLETED
    assert session.expires_at == clock() + timedelta(minutes=30)  # result_retention_minutes
    assert engine.get_result("alice", sid) is result
    with pytest.raises(SimutradorError) as caught:  # a session runs once
        engine.run_simulation("alice", sid, buy_once)
    assert caught.value.code is ErrorCode.INVALID_STATE_TRANSITION
    clock.advance(minutes=30)
    assert engine.cleanup_expired_sessions() == 1
    with pytest.raises(SimutradorError) as caught:
        engine.get_result("alice", sid)
    assert caught.value.code is ErrorCode.SESSION_NOT_FOUND


def test_results_are_the_owners_only_and_exist_only_once_completed(engine: Engine) -> None:
    sid = spy(engine)
    with pytest.raises(SimutradorError) as caught:
        engine.get_result("alice", sid)
    assert caught.value.code is ErrorCode.INVALID_STATE_TRANSITION
    assert "it has no result yet" in caught.value.message
    engine.run_simulation("alice", sid, buy_once)
    with pytest.raises(SimutradorError) as caught:
        engine.get_result("bob", sid)
    assert caught.value.code is ErrorCode.SESSION_NOT_FOUND


def test_a_strategy_that_raises_fails_its_session_only(engine: Engine) -> None:
    other = spy(engine, "bob")
    sid = spy(engine)

    def broken(ctx: Any, tick: Any) -> None:
        if tick.sequence_id == 3:
            raise ValueError("bad signal")

    with pytest.raises(ValueError, match="bad signal") as caught:
        engine.run_simulation("alice", sid, broken)
    assert any("in on_tick at tick 3 (2024-03-05" in note for note in caught.value.__notes__)
    failed = engine.get_session("alice", sid)
    assert failed.state is SessionState.ERROR
    assert failed.error_message is not None
    assert failed.error_message.startswith("ValueError: bad signal (raised by the strategy in on_tick at tick 3")
    assert engine.run_simulation("bob", other, buy_once).fills[0].quantity == 5  # others are unaffected
    assert engine.create_session("alice", symbols="SPY", start="2024-03-01", end="2024-03-28", capital=10_000)


def test_the_plans_wall_clock_limit_stops_a_long_run(clock: ManualClock) -> None:
    short = attrs.evolve(DEFAULT_PLAN_LIMITS[Plan.FREE], max_simulation_duration=timedelta(minutes=5))
    engine = Engine(EngineSettings(plans={Plan.FREE: short}), clock=clock)
    sid = engine.create_session(
        "alice",
        symbols="BTC-USD",
        start="2025-11-01",
        end="2025-11-02",
        capital=10_000,
        timeframe="1min",
        plan=Plan.FREE,
    ).session_id

    def slow(ctx: Any, tick: Any) -> None:
        clock.advance(seconds=1)  # each tick takes a second of wall clock

    with pytest.raises(SimutradorError) as caught:
        engine.run_simulation("alice", sid, slow)
    assert caught.value.code is ErrorCode.SESSION_LIMIT_EXCEEDED
    assert "longer than the 5 minutes the free plan allows (stopped after 1,024 ticks)" in caught.value.message
    assert caught.value.details["env"] == "SIMUTRADOR_FREE_MAX_SIMULATION_DURATION"
    assert engine.get_session("alice", sid).state is SessionState.ERROR
    unlimited = engine.create_session(  # no plan: no wall-clock limit
        "bob", symbols="BTC-USD", start="2025-11-01", end="2025-11-02", capital=10_000, timeframe="1min"
    ).session_id
    assert engine.run_simulation("bob", unlimited, slow).ticks == 2880


def test_the_step_handle_pauses_and_resumes_the_session(engine: Engine) -> None:
    sid = spy(engine)
    handle = engine.start_simulation("alice", sid)
    assert engine.get_session("alice", sid).state is SessionState.RUNNING
    ticks = []
    for tick in handle:
        ticks.append(tick.sequence_id)
        if tick.sequence_id == 1:
            handle.buy("SPY", 3)
        if tick.sequence_id == 4:
            handle.pause()
    assert ticks == [1, 2, 3, 4]
    assert handle.paused
    assert engine.get_session("alice", sid).state is SessionState.PAUSED
    assert handle.ctx.position("SPY").quantity == 3
    assert handle.fills[0].quantity == 3
    rest = [tick.sequence_id for tick in handle]
    assert rest[0] == 5
    assert handle.done
    assert handle.step() is None
    assert engine.get_session("alice", sid).state is SessionState.COMPLETED
    assert handle.result is not None
    assert engine.get_result("alice", sid).digest == handle.result.digest


def test_sessions_reading_the_same_data_share_one_feed(engine: Engine) -> None:
    first = engine.start_simulation("alice", spy(engine))
    second = engine.start_simulation("bob", spy(engine, "bob"))
    third = engine.start_simulation("carol", spy(engine, "carol", end="2024-03-27"))
    assert first.simulator.feed is second.simulator.feed
    assert first.simulator.feed is not third.simulator.feed


def test_embedded_and_backtest_agree(engine: Engine) -> None:
    sid = spy(engine, commission_per_share="0.01")
    by_engine = engine.run_simulation("alice", sid, buy_once)
    by_call = backtest(
        buy_once,
        symbols="SPY",
        start="2024-03-01",
        end="2024-03-28",
        initial_capital=10_000,
        commission_per_share="0.01",
    )
    assert by_engine.digest == by_call.digest
    assert by_engine.cash == 10_000 - 5 * by_engine.fills[0].price - by_engine.fills[0].commission
