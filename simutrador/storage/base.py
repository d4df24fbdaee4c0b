"""The store protocols: `SessionStore` for the session rules, `ApiKeyStore` for API keys.

`SessionStore` is what the session rules need from storage, and nothing more;
`ApiKeyStore` is what the server's token endpoint and ``simutrador keys`` need. A
session store is not thread-safe by itself: `simutrador.sessions.manager.SessionManager`
calls it under its own lock, after every check has passed, so a refused operation
never reaches the store.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from simutrador.sessions.models import Session
from simutrador.settings import Plan
from simutrador.simulation.results import SimulationResult
from simutrador.storage.apikeys import ApiKey

__all__ = ["ApiKeyStore", "SessionStore"]


class SessionStore(Protocol):
    """Holds sessions by owner, their results, each user's recent creation times, and an expiry index."""

    def __len__(self) -> int:
        """How many sessions are held (expired ones count until removed)."""
        ...

    def get(self, user_id: str, session_id: str) -> Session | None:
        """The session `session_id` of `user_id`, or None."""
        ...

    def sessions_of(self, user_id: str) -> Collection[Session]:
        """Every session `user_id` holds, in no particular order."""
        ...

    def save(self, session: Session) -> None:
        """Insert `session`, or replace the one with its owner and id."""
        ...

    def remove(self, user_id: str, session_id: str) -> None:
        """Forget a session and its result (no-op when absent)."""
        ...

    def save_result(self, user_id: str, session_id: str, result: SimulationResult) -> None:
        """Keep the result of a session's simulation.

        The one call the manager makes outside its lock (a long run's result takes a
        while to write): a store makes it safe against its other calls by itself.
        """
        ...

    def get_result(self, user_id: str, session_id: str) -> SimulationResult | None:
        """The result of a session's simulation, or None."""
        ...

    def due(self, now: datetime) -> Sequence[Session]:
        """Sessions whose ``expires_at`` is at or before `now`, each once.

        A session returned here and kept (the rules may keep a running one) is
        offered again only after it is saved with a new expiry.
        """
        ...

    def interrupted(self) -> Sequence[Session]:
        """Sessions that were RUNNING when the store was opened and have not been saved since.

        Their simulator died with the process that wrote them; the session manager
        pauses them at start (`SessionManager.recover`). A store that does not outlive
        its process (`MemoryStore`) has none.
        """
        ...

    def record_creation(self, user_id: str, when: datetime) -> None:
        """Remember that `user_id` created a session at `when`."""
        ...

    def creations_since(self, user_id: str, cutoff: datetime, limit: int | None = None) -> Sequence[datetime]:
        """`user_id`'s creation times after `cutoff`, oldest first (older ones may be forgotten).

        With `limit`, a store may stop after the oldest `limit` (the hourly check needs
        no more; a file-backed store then reads no more rows).
        """
        ...

    def forget_creations_before(self, cutoff: datetime) -> None:
        """Drop every creation time at or before `cutoff`."""
        ...


class ApiKeyStore(Protocol):
    """Holds API keys hashed (`simutrador.storage.apikeys`): makes, verifies, lists and revokes them.

    Both stores implement it; the server's token endpoint (``POST /auth/token``) and
    ``simutrador keys`` use nothing else. Unlike `SessionStore`, a key store is
    thread-safe by itself (the server's listener calls it outside the session lock).
    """

    def add_api_key(self, user_id: str, plan: Plan | str = Plan.FREE) -> str:
        """Make a key for `user_id` with `plan`; returns the whole key (shown once, never stored).

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a bad user id or plan.
        """
        ...

    def verify_api_key(self, key: str) -> tuple[str, Plan] | None:
        """``(user_id, plan)`` for a valid, unrevoked key; None for anything else."""
        ...

    def list_api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """The keys (revoked ones too) of `user_id`, or of everyone; oldest first."""
        ...

    def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key by its id (or the whole key); True when a working key was revoked."""
        ...
