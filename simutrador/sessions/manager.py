"""`SessionManager`: owns every live session, its limits and its expiry.

Sessions are stored per owner (``user_id → session_id → Session``), so every
lookup is owner-scoped: another user's session answers ``SESSION_NOT_FOUND``,
exactly like a missing one. All mutation happens under one lock after every check
has passed, so a refused operation changes nothing. Expiry uses a lazy min-heap of
``(expires_at, user_id, session_id)``: `cleanup_expired_sessions` pops only what
is due, and entries made stale by a later touch are skipped.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from simutrador.clock import Clock, IdFactory, new_session_id, system_clock
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.models import EMPTY_MAPPING, DataRange, Session, SessionParams
from simutrador.sessions.states import SessionState, check_transition
from simutrador.sessions.validation import CheckedParams, Problem, check_metadata, check_params, raise_problems
from simutrador.settings import EffectiveLimits, EngineSettings, Plan

__all__ = ["MarketCheck", "MarketFindings", "SessionManager"]

logger = logging.getLogger(__name__)

_HOUR: Final = timedelta(hours=1)
_MAX_USER_ID_LENGTH: Final = 128
_MUTABLE_FIELDS: Final = frozenset({"metadata", "state", "error_message"})
_ID_ATTEMPTS: Final = 8
_NO_SESSIONS: Final[dict[str, Session]] = {}
_NO_CREATIONS: Final[deque[datetime]] = deque()


@attrs.frozen(kw_only=True, slots=True)
class MarketFindings:
    """What checking a request against the market data found.

    Attributes:
        data_provider: The provider the session will use.
        data_ranges: Per symbol, the data actually available.
        estimated_ticks: Time steps the simulation will take.
    """

    data_provider: str
    data_ranges: Mapping[str, DataRange] = EMPTY_MAPPING
    estimated_ticks: int = 0


MarketCheck = Callable[[CheckedParams, EffectiveLimits, list[Problem]], MarketFindings]
"""Checks a well-formed request against the market data, appending problems."""


def format_only_check(checked: CheckedParams, _limits: EffectiveLimits, _problems: list[Problem]) -> MarketFindings:
    """The market check used with no catalog: accepts any well-formed request."""
    return MarketFindings(data_provider=checked.data_provider or "none")


def _not_found(session_id: object) -> SimutradorError:
    shown = session_id if isinstance(session_id, str) and len(session_id) <= 128 else "<invalid>"
    return SimutradorError(ErrorCode.SESSION_NOT_FOUND, f"session {shown!r} not found", {"session_id": shown})


class SessionManager:
    """Creates, finds, changes and expires sessions; thread-safe.

    Args:
        settings: Limits and timeouts.
        clock: Source of the current time (aware UTC).
        id_factory: Source of new session ids.
        market_check: Validation against market data (format-only when None).
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = system_clock,
        id_factory: IdFactory = new_session_id,
        market_check: MarketCheck | None = None,
    ) -> None:
        self._settings = settings or EngineSettings()
        self._clock = clock
        self._new_id = id_factory
        self._market_check = market_check or format_only_check
        self._timeout = timedelta(minutes=self._settings.session.session_timeout_minutes)
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, Session]] = {}
        self._created: dict[str, deque[datetime]] = {}
        self._expiry: list[tuple[datetime, str, str]] = []
        self._live = 0

    @property
    def settings(self) -> EngineSettings:
        """The settings this manager enforces."""
        return self._settings

    @property
    def live_session_count(self) -> int:
        """How many sessions are stored (expired ones count until cleaned up)."""
        return self._live

    # -- creation -----------------------------------------------------------------

    def create_session(self, user_id: str, params: SessionParams, *, plan: Plan | None = None) -> Session:
        """Validate `params` and store a new ``READY`` session owned by `user_id`.

        Raises:
            SimutradorError: ``VALIDATION_FAILED``, ``INVALID_SYMBOL``,
                ``INVALID_DATE_RANGE`` or ``INSUFFICIENT_CAPITAL`` listing every
                problem; ``SESSION_LIMIT_EXCEEDED`` at the live-session cap;
                ``RATE_LIMIT_EXCEEDED`` (with ``retry_after_ms``) past the
                sessions-per-hour cap. Nothing is stored when it raises.
        """
        _check_user_id(user_id)
        now = self._clock()
        limits = self._settings.limits_for(plan)
        checked, problems = check_params(params, settings=self._settings.session, limits=limits, now=now)
        findings = self._market_check(checked, limits, problems)
        raise_problems(problems)
        state = check_transition(SessionState.INITIALIZING, SessionState.READY)
        with self._lock:
            owned = self._sessions.get(user_id, _NO_SESSIONS)
            if len(owned) >= limits.max_live_sessions:  # only at the cap can expired ones matter
                self._drop_expired(user_id, owned, now)
                owned = self._sessions.get(user_id, _NO_SESSIONS)
            if len(owned) >= limits.max_live_sessions:
                raise SimutradorError(
                    ErrorCode.SESSION_LIMIT_EXCEEDED,
                    f"user already holds {len(owned)} live sessions, the most the {limits.plan.value} plan allows",
                    {
                        "live_sessions": len(owned),
                        "max_live_sessions": limits.max_live_sessions,
                        "plan": limits.plan.value,
                    },
                )
            window = self._created.get(user_id, _NO_CREATIONS)
            cutoff = now - _HOUR
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) >= limits.sessions_per_hour:
                retry_after = window[0] + _HOUR - now
                raise SimutradorError(
                    ErrorCode.RATE_LIMIT_EXCEEDED,
                    f"at most {limits.sessions_per_hour} sessions per hour on the {limits.plan.value} plan",
                    {"sessions_per_hour": limits.sessions_per_hour, "plan": limits.plan.value},
                    retry_after_ms=max(1, -(-retry_after // timedelta(milliseconds=1))),
                )
            session_id = self._choose_id(checked.session_id, owned)
            session = Session(
                session_id=session_id,
                user_id=user_id,
                symbols=checked.symbols,
                start_date=checked.start_date,
                end_date=checked.end_date,
                initial_capital=checked.initial_capital,
                state=state,
                created_at=now,
                updated_at=now,
                expires_at=now + self._timeout,
                data_provider=findings.data_provider,
                commission_per_share=checked.commission_per_share,
                slippage_bps=checked.slippage_bps,
                metadata=checked.metadata,
                data_ranges=findings.data_ranges,
                estimated_ticks=findings.estimated_ticks,
            )
            self._sessions.setdefault(user_id, {})[session_id] = session
            # re-inserted last: the dict stays ordered by each user's latest creation
            window = self._created.pop(user_id, None) or deque()
            window.append(now)
            self._created[user_id] = window
            self._live += 1
            heapq.heappush(self._expiry, (session.expires_at, user_id, session_id))
        return session

    def _choose_id(self, requested: str | None, owned: dict[str, Session]) -> str:
        if requested is not None:
            if requested in owned:
                raise SimutradorError(
                    ErrorCode.VALIDATION_FAILED,
                    f"session_id {requested!r} is already in use",
                    {"fields": ["session_id"], "session_id": requested},
                )
            return requested
        for _ in range(_ID_ATTEMPTS):
            candidate = self._new_id()
            if candidate not in owned:
                return candidate
        raise SimutradorError(ErrorCode.INTERNAL_ERROR, "the session id factory keeps returning ids in use")

    # -- lookups ------------------------------------------------------------------

    def get_session(self, user_id: str, session_id: str) -> Session:
        """The session `session_id` owned by `user_id`.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` when it does not exist, has
                expired or belongs to someone else.
        """
        now = self._clock()
        with self._lock:
            return self._find(user_id, session_id, now)

    def list_user_sessions(self, user_id: str) -> list[Session]:
        """The live sessions of `user_id`, oldest first."""
        now = self._clock()
        with self._lock:
            owned = self._sessions.get(user_id, {})
            return sorted((s for s in owned.values() if not self._is_expired(s, now)), key=lambda s: s.created_at)

    def _find(self, user_id: object, session_id: object, now: datetime) -> Session:
        owned = self._sessions.get(user_id) if isinstance(user_id, str) else None
        session = owned.get(session_id) if owned is not None and isinstance(session_id, str) else None
        if session is None or self._is_expired(session, now):
            raise _not_found(session_id)
        return session

    @staticmethod
    def _is_expired(session: Session, now: datetime) -> bool:
        return now >= session.expires_at and session.state is not SessionState.RUNNING

    # -- changes ------------------------------------------------------------------

    def update_session(self, user_id: str, session_id: str, updates: Mapping[str, Any]) -> Session:
        """Change `metadata`, `state` (through the transition table) or `error_message`.

        Every key is checked before anything changes; the session's expiry is
        renewed.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``VALIDATION_FAILED`` for unknown
                or immutable fields and bad values; ``INVALID_STATE_TRANSITION``.
        """
        problems: list[Problem] = []
        unknown = sorted(str(k) for k in updates if k not in _MUTABLE_FIELDS)
        if unknown:
            problems.append(
                Problem(
                    code=ErrorCode.VALIDATION_FAILED,
                    field=unknown[0],
                    message=f"cannot update {', '.join(unknown)}: only {', '.join(sorted(_MUTABLE_FIELDS))} can change",
                )
            )
        changes: dict[str, Any] = {}
        if "metadata" in updates:
            changes["metadata"] = check_metadata(updates["metadata"], self._settings.session, problems)
        target: SessionState | None = None
        if "state" in updates:
            try:
                target = SessionState(updates["state"])
            except ValueError:
                problems.append(
                    Problem(
                        code=ErrorCode.VALIDATION_FAILED,
                        field="state",
                        message=f"state must be one of {', '.join(SessionState)}",
                    )
                )
        if "error_message" in updates:
            message = updates["error_message"]
            if message is not None and (not isinstance(message, str) or len(message) > 1000):
                problems.append(
                    Problem(
                        code=ErrorCode.VALIDATION_FAILED, field="error_message", message="error_message must be text"
                    )
                )
            changes["error_message"] = message
        raise_problems(problems)
        return self._change(user_id, session_id, target, changes)

    def transition(
        self, user_id: str, session_id: str, target: SessionState, *, error_message: str | None = None
    ) -> Session:
        """Move a session to `target` if the transition table allows it.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` or ``INVALID_STATE_TRANSITION``.
        """
        changes = {"error_message": error_message} if error_message is not None else {}
        return self._change(user_id, session_id, target, changes)

    def touch_session(self, user_id: str, session_id: str) -> Session:
        """Renew a session's expiry without changing anything else."""
        return self._change(user_id, session_id, None, {})

    def _change(self, user_id: str, session_id: str, target: SessionState | None, changes: dict[str, Any]) -> Session:
        now = self._clock()
        with self._lock:
            session = self._find(user_id, session_id, now)
            if target is not None:
                changes["state"] = check_transition(session.state, target, session_id=session_id)
            updated = attrs.evolve(session, updated_at=now, expires_at=now + self._timeout, **changes)
            self._sessions[user_id][session_id] = updated
            heapq.heappush(self._expiry, (updated.expires_at, user_id, session_id))
            if len(self._expiry) > 4 * self._live + 64:
                self._rebuild_heap()
        return updated

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Remove a session; returns its last snapshot.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``.
        """
        now = self._clock()
        with self._lock:
            session = self._find(user_id, session_id, now)
            self._remove(user_id, session_id)
        return session

    # -- expiry -------------------------------------------------------------------

    def cleanup_expired_sessions(self) -> int:
        """Remove every session past its expiry (``RUNNING`` ones never expire).

        Returns:
            How many sessions were removed.
        """
        now = self._clock()
        removed = 0
        with self._lock:
            heap = self._expiry
            while heap and heap[0][0] <= now:
                expires_at, user_id, session_id = heapq.heappop(heap)
                session = self._sessions.get(user_id, {}).get(session_id)
                if session is None or session.expires_at != expires_at or session.state is SessionState.RUNNING:
                    continue  # stale entry, deleted, or kept alive while running
                self._remove(user_id, session_id)
                removed += 1
            cutoff = now - _HOUR
            idle: list[str] = []
            for user_id, window in self._created.items():  # oldest latest-creation first
                if window and window[-1] > cutoff:
                    break
                idle.append(user_id)
            for user_id in idle:
                del self._created[user_id]
        if removed:
            logger.debug("expired %d sessions", removed)
        return removed

    def _drop_expired(self, user_id: str, owned: dict[str, Session], now: datetime) -> None:
        for session_id in [sid for sid, s in owned.items() if self._is_expired(s, now)]:
            self._remove(user_id, session_id)

    def _remove(self, user_id: str, session_id: str) -> None:
        owned = self._sessions[user_id]
        del owned[session_id]
        self._live -= 1
        if not owned:
            del self._sessions[user_id]

    def _rebuild_heap(self) -> None:
        self._expiry = [
            (s.expires_at, user_id, sid) for user_id, owned in self._sessions.items() for sid, s in owned.items()
        ]
        heapq.heapify(self._expiry)


def _check_user_id(user_id: object) -> None:
    if not isinstance(user_id, str) or not user_id or len(user_id) > _MAX_USER_ID_LENGTH or not user_id.isprintable():
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"user_id must be 1-{_MAX_USER_ID_LENGTH} printable characters",
            {"fields": ["user_id"]},
        )
