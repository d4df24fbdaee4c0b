"""Tests for `simutrador.sessions.states`: the transition table, checked against DESIGN pair by pair."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.states import TERMINAL_STATES, TRANSITIONS, SessionState, can_transition, check_transition

# The allowed moves, as DESIGN states them; written as wire strings so the test does not
# depend on the table it checks.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        ("initializing", "ready"),
        ("initializing", "error"),
        ("ready", "running"),
        ("ready", "error"),
        ("running", "paused"),
        ("running", "completed"),
        ("running", "error"),
        ("paused", "running"),
        ("paused", "completed"),
        ("paused", "error"),
    }
)

ALL_PAIRS = list(itertools.product(SessionState, SessionState))


def _allowed_from(state: str) -> list[str]:
    return sorted(target for current, target in ALLOWED if current == state)


def _is_allowed(current: SessionState, target: SessionState) -> bool:
    return (current.value, target.value) in ALLOWED


def test_wire_values_are_pinned() -> None:
    assert [s.value for s in SessionState] == ["initializing", "ready", "running", "paused", "completed", "error"]


def test_expected_table_only_names_real_states() -> None:
    values = {s.value for s in SessionState}
    assert {state for pair in ALLOWED for state in pair} <= values


def test_every_pair_is_covered() -> None:
    assert len(ALL_PAIRS) == 36
    assert sum(_is_allowed(c, t) for c, t in ALL_PAIRS) == 10


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{c.value}->{t.value}" for c, t in ALL_PAIRS])
def test_can_transition_matches_design(current: SessionState, target: SessionState) -> None:
    assert can_transition(current, target) is _is_allowed(current, target)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{c.value}->{t.value}" for c, t in ALL_PAIRS])
def test_check_transition_matches_design(current: SessionState, target: SessionState) -> None:
    table_before = {state: frozenset(targets) for state, targets in TRANSITIONS.items()}
    if _is_allowed(current, target):
        assert check_transition(current, target) is target
        assert check_transition(current, target, session_id="s-1") is target
    else:
        with pytest.raises(SimutradorError) as caught:
            check_transition(current, target)
        err = caught.value
        assert err.code is ErrorCode.INVALID_STATE_TRANSITION
        assert dict(err.details) == {
            "current_state": current.value,
            "requested_state": target.value,
            "allowed_states": _allowed_from(current.value),
        }
        assert err.message == f"cannot move a session from {current.value} to {target.value}"
    # A refused (or accepted) check has no side effects on the table.
    assert {state: frozenset(targets) for state, targets in TRANSITIONS.items()} == table_before


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c, t in ALL_PAIRS if not _is_allowed(c, t)],
    ids=[f"{c.value}->{t.value}" for c, t in ALL_PAIRS if not _is_allowed(c, t)],
)
def test_refusal_names_the_session_when_given(current: SessionState, target: SessionState) -> None:
    with pytest.raises(SimutradorError) as caught:
        check_transition(current, target, session_id="sess-42")
    assert dict(caught.value.details) == {
        "current_state": current.value,
        "requested_state": target.value,
        "allowed_states": _allowed_from(current.value),
        "session_id": "sess-42",
    }


def test_refusal_details_are_wire_data() -> None:
    with pytest.raises(SimutradorError) as caught:
        check_transition(SessionState.RUNNING, SessionState.READY)
    details = caught.value.details
    assert details["allowed_states"] == ["completed", "error", "paused"]
    assert all(type(v) is str for v in details["allowed_states"])
    assert type(details["current_state"]) is str
    assert type(details["requested_state"]) is str
    assert caught.value.to_dict()["recoverable"] is False


def test_terminal_refusal_lists_no_allowed_states() -> None:
    with pytest.raises(SimutradorError) as caught:
        check_transition(SessionState.COMPLETED, SessionState.RUNNING, session_id="done")
    assert caught.value.details["allowed_states"] == []
    assert caught.value.details["session_id"] == "done"


def test_terminal_states() -> None:
    assert frozenset({SessionState.COMPLETED, SessionState.ERROR}) == TERMINAL_STATES
    for state in TERMINAL_STATES:
        assert not any(can_transition(state, target) for target in SessionState)


def test_non_terminal_states_can_always_fail_into_error() -> None:
    for state in set(SessionState) - TERMINAL_STATES:
        assert can_transition(state, SessionState.ERROR)


def test_table_has_one_entry_per_state_and_is_read_only() -> None:
    assert set(TRANSITIONS) == set(SessionState)
    assert all(isinstance(targets, frozenset) for targets in TRANSITIONS.values())
    with pytest.raises(TypeError):
        TRANSITIONS[SessionState.COMPLETED] = frozenset({SessionState.RUNNING})  # type: ignore[index]
    assert TRANSITIONS[SessionState.COMPLETED] == frozenset()


def test_table_agrees_with_design() -> None:
    actual = {(c.value, t.value) for c, targets in TRANSITIONS.items() for t in targets}
    assert actual == ALLOWED


def test_every_state_is_reachable_and_every_path_can_end() -> None:
    reachable = {SessionState.INITIALIZING}
    frontier = [SessionState.INITIALIZING]
    while frontier:
        state = frontier.pop()
        for target in SessionState:
            if can_transition(state, target) and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(SessionState)
    for state in SessionState:
        assert state in TERMINAL_STATES or can_transition(state, SessionState.ERROR)


@settings(deadline=None)
@given(st.lists(st.sampled_from(SessionState), max_size=40))
def test_random_walk_only_moves_on_allowed_transitions(targets: list[SessionState]) -> None:
    state = SessionState.INITIALIZING
    visited = [state]
    for target in targets:
        if _is_allowed(state, target):
            state = check_transition(state, target)
            assert state is target
            visited.append(state)
        else:
            before = state
            with pytest.raises(SimutradorError) as caught:
                state = check_transition(state, target, session_id="walk")
            assert caught.value.code is ErrorCode.INVALID_STATE_TRANSITION
            assert caught.value.details["current_state"] == before.value
            assert caught.value.details["requested_state"] == target.value
            assert state is before
    # The visited path is a chain of allowed moves, and nothing follows a terminal state.
    for current, following in itertools.pairwise(visited):
        assert (current.value, following.value) in ALLOWED
    assert all(s not in TERMINAL_STATES for s in visited[:-1])
