"""The session state machine: one transition table keyed by (state, event), and one function applying it.

Theory of operation
-------------------
A session is born ``INITIALIZING`` while its parameters are checked against the
market data, becomes ``READY`` when it can be simulated (event ``READY``),
``RUNNING`` while a simulation steps through it (``START``), may be ``PAUSED``
(``PAUSE``) and resumed (``RESUME``), and ends ``COMPLETED`` (``FINISH``) or in
``ERROR`` (``FAIL``). Only the core's own operations fire events: creating a
session, starting, pausing and resuming a simulation, and the simulator reaching its
end or failing. There is no public "set the state to X".

Everything that decides whether a state change is allowed lives in `TRANSITIONS`
below; nothing else in the code base compares states to decide a transition.
`apply_event` refuses any (state, event) pair the table does not list with
``INVALID_STATE_TRANSITION`` and has no side effects, so a refused event changes
nothing. ``COMPLETED`` and ``ERROR`` are terminal: such sessions keep their result
for a while but no longer count against the live-session caps (`LIVE_STATES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["LIVE_STATES", "TERMINAL_STATES", "TRANSITIONS", "SessionEvent", "SessionState", "apply_event", "targets"]


class SessionState(StrEnum):
    """Lifecycle state of a simulation session; the value is the wire string."""

    INITIALIZING = "initializing"
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ERROR = "error"


class SessionEvent(StrEnum):
    """What happens to a session; each moves it through `TRANSITIONS`."""

    READY = "ready"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    FINISH = "finish"
    FAIL = "fail"


_S = SessionState
_E = SessionEvent

TRANSITIONS: Final[Mapping[tuple[SessionState, SessionEvent], SessionState]] = MappingProxyType(
    {
        (_S.INITIALIZING, _E.READY): _S.READY,
        (_S.INITIALIZING, _E.FAIL): _S.ERROR,
        (_S.READY, _E.START): _S.RUNNING,
        (_S.READY, _E.FAIL): _S.ERROR,
        (_S.RUNNING, _E.PAUSE): _S.PAUSED,
        (_S.RUNNING, _E.FINISH): _S.COMPLETED,
        (_S.RUNNING, _E.FAIL): _S.ERROR,
        (_S.PAUSED, _E.RESUME): _S.RUNNING,
        (_S.PAUSED, _E.FINISH): _S.COMPLETED,
        (_S.PAUSED, _E.FAIL): _S.ERROR,
    }
)
"""(state, event) → the next state. The single source of truth; pairs not listed are refused."""

TERMINAL_STATES: Final[frozenset[SessionState]] = frozenset(
    s for s in SessionState if not any(state is s for state, _ in TRANSITIONS)
)
"""States no event leaves."""

LIVE_STATES: Final[frozenset[SessionState]] = frozenset(SessionState) - TERMINAL_STATES
"""States that count against a user's live-session cap."""


def targets(state: SessionState) -> dict[SessionEvent, SessionState]:
    """The events `state` accepts and where each leads."""
    return {event: target for (source, event), target in TRANSITIONS.items() if source is state}


def apply_event(state: SessionState, event: SessionEvent, *, session_id: str | None = None) -> SessionState:
    """The state `event` moves `state` to, or ``INVALID_STATE_TRANSITION`` if the table has no such pair.

    Args:
        state: The state the session is in.
        event: What happened.
        session_id: Included in the error details when given.

    Raises:
        SimutradorError: ``INVALID_STATE_TRANSITION`` naming the state, the event and
            the events the state accepts.

    Example:
        >>> apply_event(SessionState.READY, SessionEvent.START).value
        'running'
    """
    target = TRANSITIONS.get((state, event))
    if target is not None:
        return target
    allowed = targets(state)
    details: dict[str, object] = {
        "current_state": state.value,
        "event": event.value,
        "allowed_events": sorted(e.value for e in allowed),
    }
    if session_id is not None:
        details["session_id"] = session_id
    accepted = ", ".join(sorted(e.value for e in allowed)) or "nothing: it is final"
    raise SimutradorError(
        ErrorCode.INVALID_STATE_TRANSITION,
        f"a {state.value} session cannot {event.value} (it accepts {accepted})",
        details,
    )
