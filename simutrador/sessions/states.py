"""The session state machine: one transition table, as data, and one function applying it.

Theory of operation
-------------------
A session is born ``INITIALIZING`` while its parameters are checked against the
market data, becomes ``READY`` when it can be simulated, ``RUNNING`` while a
simulation steps through it, may be ``PAUSED`` and resumed, and ends ``COMPLETED``
or in ``ERROR``. Everything that decides whether a state change is allowed lives
in `TRANSITIONS` below; nothing else in the code base compares states to decide a
transition. `check_transition` refuses anything the table does not list with
``INVALID_STATE_TRANSITION`` and has no side effects, so a refused transition
changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["TERMINAL_STATES", "TRANSITIONS", "SessionState", "can_transition", "check_transition"]


class SessionState(StrEnum):
    """Lifecycle state of a simulation session; the value is the wire string."""

    INITIALIZING = "initializing"
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ERROR = "error"


_S = SessionState

TRANSITIONS: Final[Mapping[SessionState, frozenset[SessionState]]] = MappingProxyType(
    {
        _S.INITIALIZING: frozenset({_S.READY, _S.ERROR}),
        _S.READY: frozenset({_S.RUNNING, _S.ERROR}),
        _S.RUNNING: frozenset({_S.PAUSED, _S.COMPLETED, _S.ERROR}),
        _S.PAUSED: frozenset({_S.RUNNING, _S.COMPLETED, _S.ERROR}),
        _S.COMPLETED: frozenset(),
        _S.ERROR: frozenset(),
    }
)
"""Each state → the states it may move to. The single source of truth."""

TERMINAL_STATES: Final[frozenset[SessionState]] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
"""States with no way out."""


def can_transition(current: SessionState, target: SessionState) -> bool:
    """Whether `TRANSITIONS` allows moving from `current` to `target`."""
    return target in TRANSITIONS[current]


def check_transition(current: SessionState, target: SessionState, *, session_id: str | None = None) -> SessionState:
    """Return `target` if the table allows it, else raise ``INVALID_STATE_TRANSITION``.

    Args:
        current: The state the session is in.
        target: The state asked for.
        session_id: Included in the error details when given.

    Raises:
        SimutradorError: ``INVALID_STATE_TRANSITION`` naming both states and the allowed targets.
    """
    allowed = TRANSITIONS[current]
    if target in allowed:
        return target
    details: dict[str, object] = {
        "current_state": current.value,
        "requested_state": target.value,
        "allowed_states": sorted(s.value for s in allowed),
    }
    if session_id is not None:
        details["session_id"] = session_id
    raise SimutradorError(
        ErrorCode.INVALID_STATE_TRANSITION,
        f"cannot move a session from {current.value} to {target.value}",
        details,
    )
