"""SessionManager through the Engine: creation, limits, isolation, updates, deletion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from simutrador import Engine, EngineSettings, ErrorCode, Plan, Session, SessionState, SimutradorError
from simutrador.sessions.manager import SessionManager
from simutrador.sessions.states import SessionEvent
from simutrador.settings import DEFAULT_PLAN_LIMITS
from simutrador.storage import MemoryStore
from simutrador.testing import ManualClock, SequentialIds
from tests.core.conftest import params

START, PAUSE, RESUME, FINISH, FAIL = (
    SessionEvent.START,
    SessionEvent.PAUSE,
    SessionEvent.RESUME,
    SessionEvent.FINISH,
    SessionEvent.FAIL,
)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def manager(clock: ManualClock, store: MemoryStore) -> SessionManager:
    """The rules alone (format checks only, no catalog), over a store the test can read."""
    return SessionManager(EngineSettings(), clock=clock, id_factory=SequentialIds(), store=store)


def listing(manager: SessionManager, *users: str) -> tuple[int, dict[str, list[Session]]]:
    return manager.live_session_count, {u: manager.list_user_sessions(u) for u in users}


def snapshot(engine: Engine, *users: str) -> tuple[int, dict[str, list[Session]]]:
    return engine.live_session_count, {u: engine.list_sessions(u) for u in users}


def expect_error(code: ErrorCode, action: Callable[[], Any]) -> SimutradorError:
    with pytest.raises(SimutradorError) as info:
        action()
    assert info.value.code is code, info.value
    return info.value


class TestCreate:
    def test_creates_a_ready_session_with_normalized_fields(self, engine: Engine, clock: ManualClock) -> None:
        session = engine.create_session(
            "alice", params(symbols=(" aapl", "eurusd", "btc/usd"), initial_capital="2500.50", metadata={"a": [1]})
        )
        assert session.session_id == "session-1"
        assert session.user_id == "alice"
        assert session.symbols == ("AAPL", "EUR/USD", "BTC-USD")
        assert session.state is SessionState.READY
        assert session.initial_capital == Decimal("2500.50")
        assert session.start_date == datetime(2024, 3, 4, tzinfo=UTC)
        assert session.end_date == datetime(2024, 3, 8, 23, 59, 59, 999999, tzinfo=UTC)
        assert session.created_at == session.updated_at == clock()
        assert session.expires_at == clock() + timedelta(minutes=60)
        assert session.metadata == {"a": (1,)}
        assert engine.get_session("alice", "session-1") == session

    def test_keyword_fields_are_accepted(self, engine: Engine) -> None:
        session = engine.create_session(
            "alice", symbols="SPY", start_date="2024-03-04", end_date="2024-03-05", initial_capital=10_000
        )
        assert session.symbols == ("SPY",)

    def test_unknown_missing_and_mixed_keyword_fields(self, engine: Engine) -> None:
        err = expect_error(ErrorCode.VALIDATION_FAILED, lambda: engine.create_session("alice", symbolz="SPY"))
        assert "symbolz" in err.details["fields"]
        assert "initial_capital" in err.details["fields"]
        expect_error(ErrorCode.VALIDATION_FAILED, lambda: engine.create_session("alice", params(), symbols="SPY"))
        assert engine.live_session_count == 0

    def test_default_ids_are_random_and_long(self, clock: ManualClock) -> None:
        engine = Engine(clock=clock)
        ids = set()
        for i in range(50):
            ids.add(engine.create_session(f"user-{i}", params(end_date="2024-03-04", symbols="SPY")).session_id)
        assert len(ids) == 50
        assert all(len(i) == 22 for i in ids)

    @pytest.mark.parametrize("user_id", ["", "x" * 129, "bad\x00user", 42, None])
    def test_bad_user_ids(self, engine: Engine, user_id: Any) -> None:
        expect_error(ErrorCode.VALIDATION_FAILED, lambda: engine.create_session(user_id, params()))

    def test_client_chosen_session_id(self, engine: Engine) -> None:
        assert engine.create_session("alice", params(session_id="my-run_1.a")).session_id == "my-run_1.a"
        before = snapshot(engine, "alice", "bob")
        err = expect_error(
            ErrorCode.VALIDATION_FAILED, lambda: engine.create_session("alice", params(session_id="my-run_1.a"))
        )
        assert err.details["fields"] == ["session_id"]
        assert snapshot(engine, "alice", "bob") == before
        # ids are unique per user: bob may use the same one
        assert engine.create_session("bob", params(session_id="my-run_1.a")).user_id == "bob"

    @pytest.mark.parametrize("session_id", ["", "-leading", "has space", "é", "x" * 65, "a/b", 7])
    def test_bad_client_session_ids(self, engine: Engine, session_id: Any) -> None:
        err = expect_error(
            ErrorCode.VALIDATION_FAILED, lambda: engine.create_session("alice", params(session_id=session_id))
        )
        assert err.details["fields"] == ["session_id"]
        assert engine.live_session_count == 0

    def test_id_factory_collisions_are_retried_then_reported(self, clock: ManualClock) -> None:
        engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), clock=clock, id_factory=lambda: "same")
        engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04"))
        err = expect_error(
            ErrorCode.INTERNAL_ERROR,
            lambda: engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04")),
        )
        assert "id factory" in err.message


class TestLimits:
    def test_live_sessions_at_and_past_the_limit(self, engine: Engine) -> None:
        limit = engine.limits_for().max_live_sessions
        assert limit == 5  # no plan: the session settings alone
        for _ in range(limit):
            engine.create_session("alice", params())
        before = snapshot(engine, "alice")
        err = expect_error(ErrorCode.SESSION_LIMIT_EXCEEDED, lambda: engine.create_session("alice", params()))
        assert err.details["max_live_sessions"] == 5
        assert err.details["setting"] == "session.max_sessions_per_user"
        assert err.details["env"] == "SIMUTRADOR_MAX_SESSIONS_PER_USER"
        assert err.message == (
            "you already hold 5 live sessions, the most this engine allows; delete one or let it finish "
            "(completed sessions do not count), or raise the limit: the setting session.max_sessions_per_user "
            "(environment variable SIMUTRADOR_MAX_SESSIONS_PER_USER) raises it"
        )
        assert snapshot(engine, "alice") == before
        engine.create_session("bob", params())  # other users are not affected
        engine.delete_session("alice", "session-1")
        engine.create_session("alice", params())

    def test_plan_limit_is_tighter_than_settings(self, engine: Engine) -> None:
        engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04"), plan=Plan.FREE)
        err = expect_error(
            ErrorCode.SESSION_LIMIT_EXCEEDED,
            lambda: engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04"), plan=Plan.FREE),
        )
        assert err.message.startswith("you already hold 1 live session, the most the free plan allows;")
        assert "SIMUTRADOR_FREE_CONCURRENT_SESSIONS" in err.message
        assert err.details["plan"] == "free"

    def test_the_embedded_engine_runs_ordinary_backtests(self, clock: ManualClock) -> None:
        clock.set(datetime(2026, 6, 1, tzinfo=UTC))
        engine = Engine(clock=clock)  # no plan: the seed's example, a leap year, ten years of daily bars
        seed = engine.create_session(
            "alice", symbols=["AAPL", "GOOGL"], start_date="2023-01-01", end_date="2023-12-31", initial_capital=100_000
        )
        assert seed.estimated_ticks > 240
        leap = engine.create_session(
            "alice", symbols="SPY", start_date="2024-01-01", end_date="2024-12-31", initial_capital=100_000
        )
        assert leap.end_date - leap.start_date > timedelta(days=365)
        decade = engine.create_session(
            "alice", symbols="SPY", start_date="2016-01-04", end_date="2025-12-31", initial_capital=100_000
        )
        assert decade.estimated_ticks > 2500
        for _ in range(25):  # a parameter loop: create, (run), delete, again
            sid = engine.create_session(
                "bob", symbols="SPY", start_date="2023-01-01", end_date="2023-12-31", initial_capital=100_000
            ).session_id
            engine.delete_session("bob", sid)

    @pytest.mark.parametrize("plan", list(Plan))
    def test_every_plan_accepts_the_seeds_example_and_a_leap_year(self, engine: Engine, plan: Plan) -> None:
        for end in ("2023-12-31", "2024-12-31"):
            session = engine.create_session(
                f"user-{end}",
                symbols=["AAPL", "GOOGL"],
                start_date=end[:4] + "-01-01",
                end_date=end,
                initial_capital=100_000,
                plan=plan,
            )
            assert session.estimated_ticks > 240

    def test_bars_per_session_limit_names_its_setting(self, clock: ManualClock) -> None:
        clock.set(datetime(2026, 6, 1, tzinfo=UTC))
        small = attrs.evolve(DEFAULT_PLAN_LIMITS[Plan.FREE], max_bars_per_session=10_000)
        engine = Engine(EngineSettings(plans={Plan.FREE: small}), clock=clock)
        err = expect_error(
            ErrorCode.VALIDATION_FAILED,
            lambda: engine.create_session(
                "alice",
                symbols=["AAPL", "MSFT"],
                start_date="2025-10-01",
                end_date="2025-12-31",
                initial_capital=100_000,
                timeframe="1min",
                plan=Plan.FREE,
            ),
        )
        [problem] = err.details["problems"]
        assert problem["max_bars_per_session"] == 10_000
        assert problem["estimated_bars"] > 40_000  # about 64 trading days x 390 minutes x 2 symbols
        assert problem["env"] == "SIMUTRADOR_FREE_MAX_BARS_PER_SESSION"
        assert "more than the 10,000 the free plan allows" in err.message
        assert engine.live_session_count == 0
        daily = engine.create_session(  # the same symbols and days in daily bars fit
            "alice",
            symbols=["AAPL", "MSFT"],
            start_date="2025-10-01",
            end_date="2025-12-31",
            initial_capital=100_000,
            plan=Plan.FREE,
        )
        assert daily.timeframe == "daily"

    def test_completed_and_failed_sessions_do_not_count(self, manager: SessionManager) -> None:
        request = params()
        ids = [manager.create_session("alice", request).session_id for _ in range(5)]
        expect_error(ErrorCode.SESSION_LIMIT_EXCEEDED, lambda: manager.create_session("alice", request))
        manager.apply_event("alice", ids[0], START)
        manager.apply_event("alice", ids[0], FINISH)
        manager.apply_event("alice", ids[1], FAIL, error_message="boom")
        manager.create_session("alice", request)
        manager.create_session("alice", request)
        assert len(manager.list_user_sessions("alice")) == 7  # the finished ones are still there to read
        expect_error(ErrorCode.SESSION_LIMIT_EXCEEDED, lambda: manager.create_session("alice", request))

    def test_sessions_per_hour_sliding_window(self, engine: Engine, clock: ManualClock) -> None:
        request = params(symbols="SPY", end_date="2024-03-04")
        free = Plan.FREE
        first_at = clock()
        for i in range(5):
            session = engine.create_session("alice", request, plan=free)
            engine.delete_session("alice", session.session_id)  # deleted sessions still count
            clock.advance(minutes=1)
            assert i < 5
        before = snapshot(engine, "alice")
        err = expect_error(ErrorCode.RATE_LIMIT_EXCEEDED, lambda: engine.create_session("alice", request, plan=free))
        assert err.retry_after_ms == (first_at + timedelta(hours=1) - clock()) // timedelta(milliseconds=1)
        assert err.code.recoverable
        assert err.message == (
            "at most 5 sessions per hour on the free plan; try again in 55 minutes, or raise the limit: "
            "the setting plans.free.sessions_per_hour (environment variable SIMUTRADOR_FREE_SESSIONS_PER_HOUR) raises it"
        )
        assert snapshot(engine, "alice") == before
        clock.set(first_at + timedelta(hours=1) - timedelta(microseconds=1))
        expect_error(ErrorCode.RATE_LIMIT_EXCEEDED, lambda: engine.create_session("alice", request, plan=free))
        clock.set(first_at + timedelta(hours=1))
        engine.delete_session("alice", engine.create_session("alice", request, plan=free).session_id)
        expect_error(ErrorCode.RATE_LIMIT_EXCEEDED, lambda: engine.create_session("alice", request, plan=free))
        engine.create_session("bob", request, plan=free)
        for _ in range(10):  # without a plan there is no hourly cap
            engine.delete_session("alice", engine.create_session("alice", request).session_id)

    def test_symbols_per_session_at_and_past_the_limit(self, engine: Engine) -> None:
        ok = ("AAPL", "MSFT", "SPY", "QQQ", "IBM")
        engine.create_session("alice", params(symbols=ok, end_date="2024-03-04"), plan=Plan.FREE)
        err = expect_error(
            ErrorCode.VALIDATION_FAILED,
            lambda: engine.create_session("bob", params(symbols=(*ok, "GE"), end_date="2024-03-04"), plan=Plan.FREE),
        )
        assert err.details["problems"][0]["max_symbols"] == 5
        assert err.details["problems"][0]["env"] == "SIMUTRADOR_FREE_SYMBOLS_PER_SESSION"
        assert "too many symbols: 6, while the free plan allows 5 per session" in err.message
        assert engine.live_session_count == 1


class TestIsolation:
    def test_other_users_cannot_see_or_touch_a_session(self, engine: Engine) -> None:
        mine = engine.create_session("alice", params())
        engine.create_session("bob", params())
        missing = expect_error(ErrorCode.SESSION_NOT_FOUND, lambda: engine.get_session("alice", "nope"))
        for action in (
            lambda: engine.get_session("bob", mine.session_id),
            lambda: engine.delete_session("bob", mine.session_id),
            lambda: engine.update_metadata("bob", mine.session_id, {}),
            lambda: engine.touch_session("bob", mine.session_id),
            lambda: engine.get_session("carol", mine.session_id),
        ):
            err = expect_error(ErrorCode.SESSION_NOT_FOUND, action)
            assert err.message == missing.message.replace("nope", mine.session_id)
        assert [s.session_id for s in engine.list_sessions("alice")] == [mine.session_id]
        assert [s.user_id for s in engine.list_sessions("bob")] == ["bob"]
        assert engine.get_session("alice", mine.session_id) == mine
        assert engine.list_sessions("carol") == []

    @pytest.mark.parametrize("session_id", [None, 5, "x" * 1000, ""])
    def test_odd_lookups_are_not_found(self, engine: Engine, session_id: Any) -> None:
        err = expect_error(ErrorCode.SESSION_NOT_FOUND, lambda: engine.get_session("alice", session_id))
        assert len(err.message) < 200


class TestUpdates:
    def test_full_lifecycle_through_the_table(self, manager: SessionManager, clock: ManualClock) -> None:
        session = manager.create_session("alice", params())
        sid = session.session_id
        clock.advance(seconds=5)
        running = manager.apply_event("alice", sid, START)
        assert running.state is SessionState.RUNNING
        assert running.updated_at == clock()
        assert running.created_at == session.created_at
        assert manager.apply_event("alice", sid, PAUSE).state is SessionState.PAUSED
        assert manager.apply_event("alice", sid, RESUME).state is SessionState.RUNNING
        assert manager.apply_event("alice", sid, FINISH).state is SessionState.COMPLETED
        before = listing(manager, "alice")
        err = expect_error(ErrorCode.INVALID_STATE_TRANSITION, lambda: manager.apply_event("alice", sid, START))
        assert err.details["current_state"] == "completed"
        assert listing(manager, "alice") == before

    def test_error_state_records_the_reason(self, manager: SessionManager) -> None:
        sid = manager.create_session("alice", params()).session_id
        failed = manager.apply_event("alice", sid, FAIL, error_message="feed died")
        assert (failed.state, failed.error_message) == (SessionState.ERROR, "feed died")

    def test_the_engine_has_no_public_way_to_set_a_state(self) -> None:
        assert not hasattr(Engine, "transition")
        assert not hasattr(Engine, "update_session")
        assert not hasattr(Engine, "sessions")

    def test_update_metadata_is_copied_and_frozen(self, engine: Engine) -> None:
        sid = engine.create_session("alice", params()).session_id
        labels: dict[str, Any] = {"strategy": "momentum", "tags": ["a", {"b": 1}]}
        updated = engine.update_metadata("alice", sid, labels)
        labels["strategy"] = "changed"
        assert updated.metadata["strategy"] == "momentum"
        assert updated.metadata["tags"] == ("a", {"b": 1})
        with pytest.raises(TypeError):
            updated.metadata["x"] = 1  # type: ignore[index]

    @pytest.mark.parametrize("metadata", ["not an object", {"deep": [[[[[1]]]]]}, {"n": float("nan")}, {1: 2}])
    def test_bad_metadata_changes_nothing(self, engine: Engine, metadata: Any) -> None:
        sid = engine.create_session("alice", params(metadata={"keep": True})).session_id
        before = snapshot(engine, "alice")
        err = expect_error(ErrorCode.VALIDATION_FAILED, lambda: engine.update_metadata("alice", sid, metadata))
        assert err.details["fields"] == ["metadata"]
        assert snapshot(engine, "alice") == before

    def test_delete_returns_the_last_snapshot(self, engine: Engine) -> None:
        session = engine.create_session("alice", params())
        assert engine.delete_session("alice", session.session_id) == session
        expect_error(ErrorCode.SESSION_NOT_FOUND, lambda: engine.delete_session("alice", session.session_id))
        assert engine.live_session_count == 0


class TestExpiry:
    def test_expiry_around_the_boundary(self, engine: Engine, clock: ManualClock) -> None:
        session = engine.create_session("alice", params())
        clock.set(session.expires_at - timedelta(microseconds=1))
        assert engine.get_session("alice", session.session_id) == session
        assert engine.cleanup_expired_sessions() == 0
        clock.set(session.expires_at)
        expect_error(ErrorCode.SESSION_NOT_FOUND, lambda: engine.get_session("alice", session.session_id))
        assert engine.list_sessions("alice") == []
        assert engine.live_session_count == 1  # still stored until cleaned up
        assert engine.cleanup_expired_sessions() == 1
        assert engine.cleanup_expired_sessions() == 0
        assert engine.live_session_count == 0

    def test_touch_and_updates_renew_expiry(self, engine: Engine, clock: ManualClock) -> None:
        sid = engine.create_session("alice", params()).session_id
        clock.advance(minutes=50)
        touched = engine.touch_session("alice", sid)
        assert touched.expires_at == clock() + timedelta(minutes=60)
        clock.advance(minutes=50)
        assert engine.cleanup_expired_sessions() == 0  # the first heap entry is stale
        clock.advance(minutes=10)
        assert engine.cleanup_expired_sessions() == 1

    def test_running_sessions_never_expire(self, manager: SessionManager, clock: ManualClock) -> None:
        sid = manager.create_session("alice", params()).session_id
        idle = manager.create_session("alice", params()).session_id
        manager.apply_event("alice", sid, START)
        clock.advance(hours=5)
        assert manager.cleanup_expired_sessions() == 1
        assert manager.get_session("alice", sid).state is SessionState.RUNNING
        expect_error(ErrorCode.SESSION_NOT_FOUND, lambda: manager.get_session("alice", idle))
        paused = manager.apply_event("alice", sid, PAUSE)
        assert paused.expires_at == clock() + timedelta(minutes=60)
        clock.advance(minutes=60)
        assert manager.cleanup_expired_sessions() == 1

    def test_expired_sessions_free_the_live_limit(self, engine: Engine, clock: ManualClock) -> None:
        for _ in range(5):
            engine.create_session("alice", params())
        expect_error(ErrorCode.SESSION_LIMIT_EXCEEDED, lambda: engine.create_session("alice", params()))
        clock.advance(minutes=60)
        engine.create_session("alice", params())
        assert len(engine.list_sessions("alice")) == 1
        assert engine.live_session_count == 1

    def test_cleanup_forgets_only_users_idle_for_an_hour(
        self, manager: SessionManager, store: MemoryStore, clock: ManualClock
    ) -> None:
        request = params(symbols="SPY", end_date="2024-03-04")
        free = Plan.FREE
        for user in ("alice", "bob", "carol"):
            manager.delete_session(user, manager.create_session(user, request, plan=free).session_id)
        clock.advance(minutes=40)
        manager.delete_session("alice", manager.create_session("alice", request, plan=free).session_id)  # alice last
        clock.advance(minutes=20)
        manager.cleanup_expired_sessions()
        assert store.tracked_creators == 1  # bob and carol idle for an hour
        assert len(store.creations_since("alice", clock() - timedelta(hours=1))) == 1
        for _ in range(4):
            manager.delete_session("alice", manager.create_session("alice", request, plan=free).session_id)
        # alice's window survived the sweep: five creations in the hour, the sixth is refused
        expect_error(ErrorCode.RATE_LIMIT_EXCEEDED, lambda: manager.create_session("alice", request, plan=free))
        clock.advance(minutes=60)
        manager.cleanup_expired_sessions()
        assert store.tracked_creators == 0

    def test_many_touches_keep_the_heap_bounded(
        self, manager: SessionManager, store: MemoryStore, clock: ManualClock
    ) -> None:
        sid = manager.create_session("alice", params()).session_id
        for _ in range(500):
            clock.advance(seconds=1)
            manager.touch_session("alice", sid)
        assert store.index_size <= 4 * 1 + 64 + 1
        clock.advance(minutes=60)
        assert manager.cleanup_expired_sessions() == 1


class TestSimulationSettings:
    def test_the_session_records_timeframe_warmup_and_fill_settings(self, clock: ManualClock) -> None:
        clock.set(datetime(2026, 6, 1, tzinfo=UTC))
        engine = Engine(clock=clock)
        session = engine.create_session(
            "alice",
            symbols="AAPL",
            start="2025-11-03",
            end="2025-11-04",
            capital=50_000,
            timeframe="5m",
            warmup_bars=3,
            commission_minimum="1",
            commission_pct="0.1",
            fill_at="close",
            intrabar="Optimistic",
            max_volume_pct=10,
            leverage=2,
        )
        assert (session.timeframe, session.warmup_bars, session.fill_at, session.intrabar) == (
            "5min",
            3,
            "close",
            "optimistic",
        )
        assert (session.commission_minimum, session.commission_pct) == (Decimal(1), Decimal("0.1"))
        assert (session.max_volume_pct, session.leverage, session.plan) == (Decimal(10), Decimal(2), None)
        assert engine.create_session("bob", params(), plan=Plan.PROFESSIONAL).plan == "professional"

    @pytest.mark.parametrize(
        ("field", "value", "fragment"),
        [
            ("fill_at", "tomorrow", "fill_at must be one of next_open, close"),
            ("intrabar", 3, "intrabar must be one of pessimistic, optimistic"),
            ("max_volume_pct", 0, "max_volume_pct must be above 0"),
            ("max_volume_pct", 101, "max_volume_pct must be between 0 and 100"),
            ("leverage", "0.5", "leverage must be at least 1"),
            ("commission_pct", -1, "commission_pct must be between 0 and 10"),
            ("commission_minimum", "lots", "commission_minimum: expected a decimal number"),
        ],
    )
    def test_bad_fill_settings_are_refused(self, engine: Engine, field: str, value: Any, fragment: str) -> None:
        err = expect_error(
            ErrorCode.VALIDATION_FAILED, lambda: engine.create_session("alice", params(**{field: value}))
        )
        assert err.details["fields"] == [field]
        assert fragment in err.message
        assert engine.live_session_count == 0
