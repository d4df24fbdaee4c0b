"""The `SessionStore` protocol, behaviour by behaviour, over every store (memory and SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import pytest

from simutrador import DataRange, SessionState, SimulationResult, backtest
from simutrador.codec import result_to_wire
from simutrador.storage.base import SessionStore
from tests.core.stores import STORE_KINDS, T0, close, make_session, make_store


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    made = make_store(request.param, tmp_path / "store.db")
    yield made
    close(made)


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    def buy_once(ctx: Any, tick: Any) -> None:
        if tick.sequence_id == 1:
            ctx.buy("SPY", 5)

    return backtest(buy_once, symbols="SPY", start="2024-03-01", end="2024-03-28", initial_capital=10_000)


def ids(sessions: Any) -> list[tuple[str, str]]:
    return sorted((s.user_id, s.session_id) for s in sessions)


def test_an_empty_store(store: SessionStore) -> None:
    assert len(store) == 0
    assert store.get("alice", "s1") is None
    assert list(store.sessions_of("alice")) == []
    assert store.get_result("alice", "s1") is None
    assert list(store.due(T0 + timedelta(days=365))) == []
    assert list(store.creations_since("alice", T0 - timedelta(hours=1))) == []
    assert list(store.interrupted()) == []
    store.remove("alice", "s1")  # absent: nothing happens
    store.forget_creations_before(T0)
    assert len(store) == 0


def test_sessions_are_kept_by_owner(store: SessionStore) -> None:
    first, second, bobs = make_session("alice", "s1"), make_session("alice", "s2"), make_session("bob", "s1")
    for session in (first, second, bobs):
        store.save(session)
    assert len(store) == 3
    assert store.get("alice", "s1") == first
    assert store.get("bob", "s1") == bobs
    assert store.get("carol", "s1") is None
    assert ids(store.sessions_of("alice")) == [("alice", "s1"), ("alice", "s2")]
    assert ids(store.sessions_of("bob")) == [("bob", "s1")]


def test_save_replaces_the_session_with_its_owner_and_id(store: SessionStore) -> None:
    store.save(make_session())
    running = make_session(state=SessionState.RUNNING, updated_at=T0 + timedelta(minutes=5))
    store.save(running)
    assert len(store) == 1
    assert store.get("alice", "s1") == running
    assert list(store.sessions_of("alice")) == [running]


def test_every_field_comes_back_as_it_was_saved(store: SessionStore) -> None:
    session = make_session(
        symbols=("AAPL", "EUR/USD", "BTC-USD"),
        metadata=MappingProxyType({"strategy": "momentum", "nested": MappingProxyType({"n": 2**70, "xs": (1, 2.5)})}),
        data_ranges=MappingProxyType({"AAPL": DataRange(start=T0 - timedelta(days=900), end=T0)}),
        estimated_ticks=5,
        data_fingerprint="ab" * 32,
        plan="free",
        error_message="ünïcode \N{SNOWMAN}",
        updated_at=T0 + timedelta(microseconds=123456),
        expires_at=T0 + timedelta(minutes=60, microseconds=7),
    )
    store.save(session)
    back = store.get("alice", "s1")
    assert back == session
    assert back is not None
    assert back.metadata["nested"]["n"] == 2**70
    assert back.expires_at == session.expires_at


def test_remove_forgets_the_session_and_its_result(store: SessionStore, result: SimulationResult) -> None:
    store.save(make_session("alice", "s1"))
    store.save(make_session("alice", "s2"))
    store.save_result("alice", "s1", result)
    store.remove("alice", "s1")
    assert len(store) == 1
    assert store.get("alice", "s1") is None
    assert store.get_result("alice", "s1") is None
    assert ids(store.sessions_of("alice")) == [("alice", "s2")]
    store.remove("alice", "s2")
    assert len(store) == 0
    assert list(store.sessions_of("alice")) == []


def test_results_come_back_whole_and_by_owner(store: SessionStore, result: SimulationResult) -> None:
    store.save(make_session())
    store.save_result("alice", "s1", result)
    back = store.get_result("alice", "s1")
    assert back is not None
    assert result_to_wire(back) == result_to_wire(result)
    assert back.digest == result.digest
    assert store.get_result("bob", "s1") is None
    store.save_result("alice", "s1", attrs.evolve(result, digest="replaced"))
    replaced = store.get_result("alice", "s1")
    assert replaced is not None
    assert replaced.digest == "replaced"


def test_due_offers_expired_sessions_once_soonest_first(store: SessionStore) -> None:
    store.save(make_session("alice", "late", expires_in=timedelta(minutes=30)))
    store.save(make_session("bob", "early", expires_in=timedelta(minutes=10)))
    store.save(make_session("carol", "never", expires_in=timedelta(days=1)))
    assert list(store.due(T0 + timedelta(minutes=9))) == []
    due = store.due(T0 + timedelta(minutes=30))  # at the expiry is due
    assert [s.session_id for s in due] == ["early", "late"]
    assert list(store.due(T0 + timedelta(minutes=31))) == []  # offered once
    assert len(store) == 3  # offering removes nothing


def test_a_session_saved_again_is_offered_again_at_its_new_expiry(store: SessionStore) -> None:
    session = make_session(expires_in=timedelta(minutes=10))
    store.save(session)
    assert len(store.due(T0 + timedelta(minutes=10))) == 1
    store.save(attrs.evolve(session, expires_at=T0 + timedelta(minutes=40)))  # kept, renewed
    assert list(store.due(T0 + timedelta(minutes=39))) == []
    assert [s.expires_at for s in store.due(T0 + timedelta(minutes=40))] == [T0 + timedelta(minutes=40)]


def test_a_renewed_session_is_not_offered_at_its_old_expiry(store: SessionStore) -> None:
    session = make_session(expires_in=timedelta(minutes=10))
    store.save(session)
    store.save(attrs.evolve(session, expires_at=T0 + timedelta(minutes=70)))
    assert list(store.due(T0 + timedelta(minutes=10))) == []
    assert len(store.due(T0 + timedelta(minutes=70))) == 1


def test_removed_sessions_are_not_offered(store: SessionStore) -> None:
    store.save(make_session(expires_in=timedelta(minutes=10)))
    store.remove("alice", "s1")
    assert list(store.due(T0 + timedelta(hours=2))) == []


def test_creation_windows(store: SessionStore) -> None:
    for user, minutes in (("alice", 0), ("bob", 5), ("alice", 10), ("alice", 20)):  # in time order, as a clock
        store.record_creation(user, T0 + timedelta(minutes=minutes))
    assert list(store.creations_since("alice", T0 - timedelta(seconds=1))) == [
        T0 + timedelta(minutes=m) for m in (0, 10, 20)
    ]  # oldest first
    assert list(store.creations_since("alice", T0)) == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
    assert list(store.creations_since("bob", T0)) == [T0 + timedelta(minutes=5)]
    assert list(store.creations_since("alice", T0, 1))[:1] == [T0 + timedelta(minutes=10)]  # the oldest first
    assert list(store.creations_since("carol", T0)) == []
    store.forget_creations_before(T0 + timedelta(minutes=15))  # older times may go; later ones stay
    assert list(store.creations_since("alice", T0 + timedelta(minutes=15))) == [T0 + timedelta(minutes=20)]
    assert list(store.creations_since("bob", T0 - timedelta(hours=1))) == []
    store.forget_creations_before(T0 + timedelta(minutes=20))  # at the cutoff goes too
    assert list(store.creations_since("alice", T0 - timedelta(hours=1))) == []
    store.record_creation("alice", T0 + timedelta(minutes=30))
    assert list(store.creations_since("alice", T0)) == [T0 + timedelta(minutes=30)]
