"""`SessionManager`: the rules for sessions — limits, hourly windows, expiry, state events.

Storage is not its business: it keeps sessions in a `simutrador.storage.SessionStore`
(in memory by default) and decides everything else. Every lookup is owner-scoped:
another user's session answers ``SESSION_NOT_FOUND``, exactly like a missing one.
Every check happens before the store is touched, under one lock, so a refused
operation changes nothing. States change only by events through
`simutrador.sessions.states.TRANSITIONS`; ``COMPLETED`` and ``ERROR`` sessions no
longer count against the live-session cap. Every limit error names the setting that
lifts it (its TOML path and environment variable).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from simutrador.clock import Clock, IdFactory, new_session_id, system_clock
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.models import EMPTY_MAPPING, DataRange, Session, SessionParams
from simutrador.sessions.states import LIVE_STATES, SessionEvent, SessionState, apply_event
from simutrador.sessions.validation import (
    CheckedParams,
    Problem,
    check_metadata,
    check_params,
    plural,
    raise_problems,
)
from simutrador.settings import EffectiveLimits, EngineSettings, Plan
from simutrador.simulation.results import SimulationResult
from simutrador.storage.base import SessionStore
from simutrador.storage.memory import MemoryStore

__all__ = ["MarketCheck", "MarketFindings", "SessionManager"]

logger = logging.getLogger(__name__)

_HOUR: Final = timedelta(hours=1)
_MAX_USER_ID_LENGTH: Final = 128
_ID_ATTEMPTS: Final = 8
_KEPT_ALIVE: Final = frozenset({SessionState.RUNNING})
"""States that never expire: a running simulation is its own activity."""


@attrs.frozen(kw_only=True, slots=True)
class MarketFindings:
    """What checking a request against the market data found.

    Attributes:
        data_provider: The provider the session will use.
        data_ranges: Per symbol, the data actually available.
        estimated_ticks: Time steps the simulation will take.
        estimated_bars: Bars it will read (each symbol's bars in the range); 0 when
            not computed, in which case ticks x symbols bounds it.
        data_fingerprint: The catalog's content fingerprint (see `Catalog.fingerprint`).
    """

    data_provider: str
    data_ranges: Mapping[str, DataRange] = EMPTY_MAPPING
    estimated_ticks: int = 0
    estimated_bars: int = 0
    data_fingerprint: str = ""


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
        store: Where sessions are kept (a new `MemoryStore` when None).
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = system_clock,
        id_factory: IdFactory = new_session_id,
        market_check: MarketCheck | None = None,
        store: SessionStore | None = None,
    ) -> None:
        self._settings = settings or EngineSettings()
        self._clock = clock
        self._new_id = id_factory
        self._market_check = market_check or format_only_check
        self._timeout = timedelta(minutes=self._settings.session.session_timeout_minutes)
        self._lock = threading.Lock()
        self._store: SessionStore = store if store is not None else MemoryStore()
        self.recover()

    @property
    def settings(self) -> EngineSettings:
        """The settings this manager enforces."""
        return self._settings

    @property
    def store(self) -> SessionStore:
        """Where the sessions are kept."""
        return self._store

    @property
    def live_session_count(self) -> int:
        """How many sessions are stored (expired ones count until cleaned up)."""
        return len(self._store)

    # -- creation -----------------------------------------------------------------

    def create_session(self, user_id: str, params: SessionParams, *, plan: Plan | None = None) -> Session:
        """Validate `params` and store a new ``READY`` session owned by `user_id`.

        Args:
            user_id: The owner.
            params: What to simulate.
            plan: The caller's plan; None applies only the session settings.

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
        if not problems:
            _check_bars(checked, findings, limits, problems)
        raise_problems(problems)
        state = apply_event(SessionState.INITIALIZING, SessionEvent.READY)
        with self._lock:
            live = self._live_sessions(user_id, now, limits.max_live_sessions)
            if live >= limits.max_live_sessions:
                source = limits.source("max_live_sessions")
                raise SimutradorError(
                    ErrorCode.SESSION_LIMIT_EXCEEDED,
                    f"you already hold {plural(live, 'live session')}, the most {limits.plan_label} allows; "
                    f"delete one or let it finish (completed sessions do not count), or raise the limit: "
                    f"{source.hint()}",
                    {
                        "live_sessions": live,
                        "max_live_sessions": limits.max_live_sessions,
                        "plan": None if limits.plan is None else limits.plan.value,
                        "setting": source.setting,
                        "env": source.env,
                    },
                )
            if limits.sessions_per_hour is not None:
                self._check_hourly(user_id, now, limits, limits.sessions_per_hour)
            session_id = self._choose_id(user_id, checked.session_id)
            session = Session(
                session_id=session_id,
                user_id=user_id,
                symbols=checked.symbols,
                start_date=checked.start_date,
                end_date=checked.end_date,
                initial_capital=checked.initial_capital,
                timeframe=checked.timeframe,
                warmup_bars=checked.warmup_bars,
                state=state,
                created_at=now,
                updated_at=now,
                expires_at=now + self._timeout,
                data_provider=findings.data_provider,
                commission_per_share=checked.commission_per_share,
                slippage_bps=checked.slippage_bps,
                commission_minimum=checked.commission_minimum,
                commission_pct=checked.commission_pct,
                fill_at=checked.fill_at,
                intrabar=checked.intrabar,
                max_volume_pct=checked.max_volume_pct,
                leverage=checked.leverage,
                plan=None if plan is None else plan.value,
                metadata=checked.metadata,
                data_ranges=findings.data_ranges,
                estimated_ticks=findings.estimated_ticks,
                data_fingerprint=findings.data_fingerprint,
            )
            self._store.save(session)
            self._store.record_creation(user_id, now)
        return session

    def _live_sessions(self, user_id: str, now: datetime, cap: int) -> int:
        """Sessions of `user_id` that count against the cap (expired ones are dropped first).

        Below the cap in sessions of any state, the live ones are below it too: only a
        user at the cap pays for a scan of their sessions (a create stays O(1) otherwise).
        """
        owned = self._store.sessions_of(user_id)
        if len(owned) < cap:
            return len(owned)
        expired = [s for s in owned if self._is_expired(s, now)]
        for session in expired:
            self._store.remove(user_id, session.session_id)
        return sum(1 for s in self._store.sessions_of(user_id) if s.state in LIVE_STATES)

    def _check_hourly(self, user_id: str, now: datetime, limits: EffectiveLimits, per_hour: int) -> None:
        window = self._store.creations_since(user_id, now - _HOUR, per_hour)
        if len(window) < per_hour:
            return
        retry_after = window[0] + _HOUR - now
        retry_ms = max(1, -(-retry_after // timedelta(milliseconds=1)))
        source = limits.source("sessions_per_hour")
        minutes = max(1, -(-retry_ms // 60_000))
        raise SimutradorError(
            ErrorCode.RATE_LIMIT_EXCEEDED,
            f"at most {plural(per_hour, 'session')} per hour on {limits.plan_label}; "
            f"try again in {plural(minutes, 'minute')}, or raise the limit: {source.hint()}",
            {
                "sessions_per_hour": per_hour,
                "plan": None if limits.plan is None else limits.plan.value,
                "setting": source.setting,
                "env": source.env,
            },
            retry_after_ms=retry_ms,
        )

    def _choose_id(self, user_id: str, requested: str | None) -> str:
        if requested is not None:
            if self._store.get(user_id, requested) is not None:
                raise SimutradorError(
                    ErrorCode.VALIDATION_FAILED,
                    f"session_id {requested!r} is already in use",
                    {"fields": ["session_id"], "session_id": requested},
                )
            return requested
        for _ in range(_ID_ATTEMPTS):
            candidate = self._new_id()
            if self._store.get(user_id, candidate) is None:
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
        """The sessions of `user_id` that have not expired, oldest first."""
        now = self._clock()
        with self._lock:
            owned = self._store.sessions_of(user_id)
            return sorted((s for s in owned if not self._is_expired(s, now)), key=lambda s: s.created_at)

    def _find(self, user_id: object, session_id: object, now: datetime) -> Session:
        session = (
            self._store.get(user_id, session_id) if isinstance(user_id, str) and isinstance(session_id, str) else None
        )
        if session is None or self._is_expired(session, now):
            raise _not_found(session_id)
        return session

    @staticmethod
    def _is_expired(session: Session, now: datetime) -> bool:
        return now >= session.expires_at and session.state not in _KEPT_ALIVE

    # -- changes ------------------------------------------------------------------

    def update_metadata(self, user_id: str, session_id: str, metadata: Mapping[str, Any]) -> Session:
        """Replace a session's metadata (checked like at creation); renews its expiry.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``VALIDATION_FAILED`` for metadata
                that is not JSON-like or too large.
        """
        problems: list[Problem] = []
        frozen = check_metadata(metadata, self._settings.session, problems)
        raise_problems(problems)
        return self._change(user_id, session_id, None, {"metadata": frozen})

    def apply_event(
        self, user_id: str, session_id: str, event: SessionEvent, *, error_message: str | None = None
    ) -> Session:
        """Move a session by `event` through the transition table (the core's own operations call this).

        Args:
            user_id: The owner.
            session_id: The session.
            event: What happened (START, PAUSE, RESUME, FINISH, FAIL).
            error_message: Why, with FAIL.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` or ``INVALID_STATE_TRANSITION``
                (and nothing changes).
        """
        changes = {"error_message": error_message} if error_message is not None else {}
        return self._change(user_id, session_id, event, changes)

    def finish(self, user_id: str, session_id: str, result: SimulationResult) -> Session:
        """Record a completed simulation: FINISH, keep `result` for the retention period.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` or ``INVALID_STATE_TRANSITION``.
        """
        now = self._clock()
        retention = timedelta(minutes=self._settings.session.result_retention_minutes)
        with self._lock:
            session = self._find(user_id, session_id, now)
            apply_event(session.state, SessionEvent.FINISH, session_id=session_id)  # refused before anything is kept
        # written outside the lock: a long run's result takes a while to serialize and store, and
        # other sessions' requests must not wait for it (stores make save_result safe on their own)
        self._store.save_result(user_id, session_id, result)
        with self._lock:
            try:
                session = self._find(user_id, session_id, now)
                state = apply_event(session.state, SessionEvent.FINISH, session_id=session_id)
            except SimutradorError:  # deleted, or moved on, meanwhile: keep no orphan result
                self._store.remove(user_id, session_id)
                raise
            updated = attrs.evolve(session, state=state, updated_at=now, expires_at=now + retention)
            self._store.save(updated)
        return updated

    def get_result(self, user_id: str, session_id: str) -> SimulationResult:
        """The result of a session's completed simulation.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` when
                the session has not completed.
        """
        now = self._clock()
        with self._lock:
            session = self._find(user_id, session_id, now)
            result = self._store.get_result(user_id, session_id)
        if result is None:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"session {session_id} is {session.state.value}: it has no result yet",
                {"session_id": session_id, "current_state": session.state.value},
            )
        return result

    def touch_session(self, user_id: str, session_id: str) -> Session:
        """Renew a session's expiry without changing anything else."""
        return self._change(user_id, session_id, None, {})

    def _change(self, user_id: str, session_id: str, event: SessionEvent | None, changes: dict[str, Any]) -> Session:
        now = self._clock()
        with self._lock:
            session = self._find(user_id, session_id, now)
            if event is not None:
                changes["state"] = apply_event(session.state, event, session_id=session_id)
            updated = attrs.evolve(session, updated_at=now, expires_at=now + self._timeout, **changes)
            self._store.save(updated)
        return updated

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Remove a session; returns its last snapshot.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``.
        """
        now = self._clock()
        with self._lock:
            session = self._find(user_id, session_id, now)
            self._store.remove(user_id, session_id)
        return session

    # -- restarts -----------------------------------------------------------------

    def recover(self) -> list[Session]:
        """Pause the sessions a previous process left RUNNING (called at construction).

        Their simulator died with that process: each goes PAUSED through the
        transition table and gets a fresh expiry, so it waits a full timeout for its
        client. Idempotent; nothing to do over a `MemoryStore`.

        Returns:
            The paused sessions.
        """
        with self._lock:
            interrupted = self._store.interrupted()
            if not interrupted:
                return []
            now = self._clock()
            paused: list[Session] = []
            for session in interrupted:
                state = apply_event(session.state, SessionEvent.PAUSE, session_id=session.session_id)
                updated = attrs.evolve(session, state=state, updated_at=now, expires_at=now + self._timeout)
                self._store.save(updated)
                paused.append(updated)
        logger.info("paused %d sessions left running by a previous process", len(paused))
        return paused

    # -- expiry -------------------------------------------------------------------

    def cleanup_expired_sessions(self) -> int:
        """Remove every session past its expiry (``RUNNING`` ones never expire).

        Returns:
            How many sessions were removed.
        """
        now = self._clock()
        removed = 0
        with self._lock:
            for session in self._store.due(now):
                if session.state in _KEPT_ALIVE:
                    continue  # kept alive while running; offered again once saved with a new expiry
                self._store.remove(session.user_id, session.session_id)
                removed += 1
            self._store.forget_creations_before(now - _HOUR)
        if removed:
            logger.debug("expired %d sessions", removed)
        return removed


def _check_bars(
    checked: CheckedParams, findings: MarketFindings, limits: EffectiveLimits, problems: list[Problem]
) -> None:
    """Refuse a session that would read more bars than the plan allows."""
    maximum = limits.max_bars_per_session
    if maximum is None:
        return
    bars = findings.estimated_bars or findings.estimated_ticks * len(checked.symbols)
    if bars <= maximum:
        return
    source = limits.source("max_bars_per_session")
    problems.append(
        Problem(
            code=ErrorCode.VALIDATION_FAILED,
            field="end_date",
            message=(
                f"this session would simulate {bars:,} bars, more than the {maximum:,} {limits.plan_label} allows; "
                f"shorten the range, use fewer symbols or a coarser timeframe, or raise the limit: {source.hint()}"
            ),
            details={
                "estimated_bars": bars,
                "max_bars_per_session": maximum,
                "setting": source.setting,
                "env": source.env,
            },
        )
    )


def _check_user_id(user_id: object) -> None:
    if not isinstance(user_id, str) or not user_id or len(user_id) > _MAX_USER_ID_LENGTH or not user_id.isprintable():
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"user_id must be 1-{_MAX_USER_ID_LENGTH} printable characters",
            {"fields": ["user_id"]},
        )
