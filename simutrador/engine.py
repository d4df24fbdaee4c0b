"""`Engine`: the one object an embedder or an adapter talks to.

It owns the settings, the clock, the session manager and (from the catalog work
on) the market-data validation; every transport is a thin translation onto these
methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from simutrador.clock import Clock, IdFactory, new_session_id, system_clock
from simutrador.data.catalog import Catalog
from simutrador.data.market import MarketDataValidator
from simutrador.data.sample import SampleCatalog
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.manager import SessionManager
from simutrador.sessions.models import Session, SessionParams
from simutrador.sessions.states import SessionState
from simutrador.settings import EffectiveLimits, EngineSettings, Plan

__all__ = ["Engine"]

_PARAM_FIELDS = frozenset(a.name for a in attrs.fields(SessionParams))


class Engine:
    """The embeddable SimuTrador session engine (thread-safe).

    Args:
        settings: Limits and timeouts (defaults from `EngineSettings`).
        clock: Returns the current aware UTC time; inject a
            `simutrador.testing.ManualClock` in tests.
        id_factory: Returns new session ids (128 random bits by default).
        catalog: The market data sessions are validated against (the synthetic
            `SampleCatalog` by default).

    Example:
        >>> from simutrador import Engine, SessionParams
        >>> from simutrador.testing import ManualClock, SequentialIds
        >>> engine = Engine(clock=ManualClock(), id_factory=SequentialIds())
        >>> session = engine.create_session(
        ...     "alice", symbols=["aapl"], start_date="2024-03-01",
        ...     end_date="2024-03-01", initial_capital="25000")
        >>> session.session_id, session.symbols, session.state.value
        ('session-1', ('AAPL',), 'ready')
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = system_clock,
        id_factory: IdFactory = new_session_id,
        catalog: Catalog | None = None,
    ) -> None:
        self._settings = settings or EngineSettings()
        self._clock = clock
        self._catalog: Catalog = catalog if catalog is not None else SampleCatalog()
        self._validator = MarketDataValidator(self._catalog, self._settings, clock=clock)
        self._sessions = SessionManager(
            self._settings, clock=clock, id_factory=id_factory, market_check=self._validator.check
        )

    @property
    def settings(self) -> EngineSettings:
        """The settings in force."""
        return self._settings

    @property
    def clock(self) -> Clock:
        """The engine's clock."""
        return self._clock

    @property
    def catalog(self) -> Catalog:
        """The market data catalog."""
        return self._catalog

    @property
    def validator(self) -> MarketDataValidator:
        """The market-data validator (`validate_symbols`, `validate_date_range`...)."""
        return self._validator

    @property
    def live_session_count(self) -> int:
        """How many sessions are held (expired ones count until cleaned up)."""
        return self._sessions.live_session_count

    @property
    def sessions(self) -> SessionManager:
        """The underlying session manager."""
        return self._sessions

    def limits_for(self, plan: Plan | None = None) -> EffectiveLimits:
        """The limits in force for `plan` (the default plan when None)."""
        return self._settings.limits_for(plan)

    def create_session(
        self, user_id: str, params: SessionParams | None = None, *, plan: Plan | None = None, **fields: Any
    ) -> Session:
        """Validate and create a session for `user_id`.

        Pass a `SessionParams`, or its fields as keywords.

        Raises:
            SimutradorError: see `SessionManager.create_session`; also
                ``VALIDATION_FAILED`` for unknown or missing keyword fields.
        """
        if params is None:
            params = _params_from_fields(fields)
        elif fields:
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                "pass either a SessionParams or keyword fields, not both",
                {"fields": sorted(fields)},
            )
        return self._sessions.create_session(user_id, params, plan=plan)

    def get_session(self, user_id: str, session_id: str) -> Session:
        """The session `session_id` of `user_id` (``SESSION_NOT_FOUND`` otherwise)."""
        return self._sessions.get_session(user_id, session_id)

    def list_sessions(self, user_id: str) -> list[Session]:
        """The live sessions of `user_id`, oldest first."""
        return self._sessions.list_user_sessions(user_id)

    def update_session(self, user_id: str, session_id: str, updates: Mapping[str, Any]) -> Session:
        """Change a session's metadata, state or error message (see `SessionManager.update_session`)."""
        return self._sessions.update_session(user_id, session_id, updates)

    def transition(
        self, user_id: str, session_id: str, target: SessionState, *, error_message: str | None = None
    ) -> Session:
        """Move a session to `target` through the transition table."""
        return self._sessions.transition(user_id, session_id, target, error_message=error_message)

    def touch_session(self, user_id: str, session_id: str) -> Session:
        """Renew a session's expiry."""
        return self._sessions.touch_session(user_id, session_id)

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Delete a session; returns its last snapshot."""
        return self._sessions.delete_session(user_id, session_id)

    def cleanup_expired_sessions(self) -> int:
        """Remove expired sessions; returns how many went."""
        return self._sessions.cleanup_expired_sessions()


def _params_from_fields(fields: Mapping[str, Any]) -> SessionParams:
    unknown = sorted(set(fields) - _PARAM_FIELDS)
    missing = sorted(a.name for a in attrs.fields(SessionParams) if a.default is attrs.NOTHING and a.name not in fields)
    if unknown or missing:
        parts = ([f"unknown fields: {', '.join(unknown)}"] if unknown else []) + (
            [f"missing fields: {', '.join(missing)}"] if missing else []
        )
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "; ".join(parts), {"fields": unknown + missing})
    return SessionParams(**fields)
