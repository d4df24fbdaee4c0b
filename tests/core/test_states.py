"""Tests for `simutrador.sessions.states`: the (state, event) table, checked against DESIGN pair by pair."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.states import (
    LIVE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    SessionEvent,
    SessionState,
    apply_event,
    targets,
)

# The allowed moves, as DESIGN §2 states them; written as wire strings so the test does
# not depend on the table it checks: (state, event) -> next state.
ALLOWED: dict[tuple[str, str], str] = {
    ("initializing", "ready"): "ready",
    ("initializing", "fail"): "error",
    ("ready", "start"): "running",
    ("ready", "fail"): "error",
    ("running", "pause"): "paused",
    ("running", "finish"): "completed",
    ("running", "fail"): "error",
    ("paused", "resume"): "running",
    ("paused", "finish"): "completed",
    ("paused", "fail"): "error",
}

ALL_PAIRS = list(itertools.product(SessionState, SessionEvent))
IDS = [f"{s.value}+{e.value}" for s, e in ALL_PAIRS]


def _events_from(state: str) -> list[str]:
    return sorted(event for current, event in ALLOWED if current == state)


def test_wire_values_are_pinned() -> None:
    assert [s.value for s in SessionState] == ["initializing", "ready", "running", "paused", "completed", "error"]
    assert [e.value for e in SessionEvent] == ["ready", "start", "pause", "resume", "finish", "fail"]


def test_every_pair_is_covered() -> None:
    assert len(ALL_PAIRS) == 36
    assert sum((s.value, e.value) in ALLOWED for s, e in ALL_PAIRS) == 10


@pytest.mark.parametrize(("state", "event"), ALL_PAIRS, ids=IDS)
def test_apply_event_matches_design(state: SessionState, event: SessionEvent) -> None:
    table_before = dict(TRANSITIONS)
    expected = ALLOWED.get((state.value, event.value))
    if expected is not None:
        assert apply_event(state, event).value == expected
        assert apply_event(state, event, session_id="s-1").value == expected
    else:
        with pytest.raises(SimutradorError) as caught:
            apply_event(state, event, session_id="sess-42")
        err = caught.value
        assert err.code is ErrorCode.INVALID_STATE_TRANSITION
        assert dict(err.details) == {
            "current_state": state.value,
            "event": event.value,
            "allowed_events": _events_from(state.value),
            "session_id": "sess-42",
        }
        assert err.message.startswith(f"a {state.value} session cannot {event.value}")
    assert dict(TRANSITIONS) == table_before  # no side effects, accepted or refused


def test_refusal_reads_like_a_person_wrote_it() -> None:
    with pytest.raises(SimutradorError) as caught:
        apply_event(SessionState.RUNNING, SessionEvent.START)
    assert caught.value.message == "a running session cannot start (it accepts fail, finish, pause)"
    with pytest.raises(SimutradorError) as caught:
        apply_event(SessionState.COMPLETED, SessionEvent.RESUME)
    assert caught.value.message == "a completed session cannot resume (it accepts nothing: it is final)"
    assert caught.value.details["allowed_events"] == []
    assert caught.value.to_dict()["recoverable"] is False


def test_terminal_and_live_states() -> None:
    assert frozenset({SessionState.COMPLETED, SessionState.ERROR}) == TERMINAL_STATES
    assert frozenset(SessionState) - TERMINAL_STATES == LIVE_STATES
    for state in TERMINAL_STATES:
        assert targets(state) == {}


def test_non_terminal_states_can_always_fail() -> None:
    for state in LIVE_STATES:
        assert targets(state)[SessionEvent.FAIL] is SessionState.ERROR


def test_table_is_read_only_and_agrees_with_design() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[SessionState.COMPLETED, SessionEvent.START] = SessionState.RUNNING  # type: ignore[index]
    assert {(s.value, e.value): t.value for (s, e), t in TRANSITIONS.items()} == ALLOWED


def test_every_state_is_reachable_and_every_path_can_end() -> None:
    reachable = {SessionState.INITIALIZING}
    frontier = [SessionState.INITIALIZING]
    while frontier:
        for target in targets(frontier.pop()).values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(SessionState)


@settings(deadline=None)
@given(st.lists(st.sampled_from(SessionEvent), max_size=40))
def test_random_walk_only_moves_on_allowed_events(events: list[SessionEvent]) -> None:
    state = SessionState.INITIALIZING
    visited = [state]
    for event in events:
        expected = ALLOWED.get((state.value, event.value))
        if expected is not None:
            state = apply_event(state, event)
            assert state.value == expected
            visited.append(state)
        else:
            before = state
            with pytest.raises(SimutradorError) as caught:
                state = apply_event(state, event, session_id="walk")
            assert caught.value.code is ErrorCode.INVALID_STATE_TRANSITION
            assert caught.value.details["current_state"] == before.value
            assert state is before
    assert all(s not in TERMINAL_STATES for s in visited[:-1])
