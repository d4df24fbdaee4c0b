"""`MemoryStore`: sessions in dictionaries, the embedded engine's default store.

Sessions are kept per owner (``user_id → session_id → Session``). Expiry uses a lazy
min-heap of ``(expires_at, user_id, session_id)``: `due` pops only what is due, and
entries made stale by a later save are skipped; the heap is rebuilt when stale
entries outnumber live ones. Creation times per user live in a deque, and the dict
of deques stays ordered by each user's latest creation, so forgetting idle users
costs only as many steps as there are idle users.

API keys (`simutrador.storage.base.ApiKeyStore`) are kept as in a `SqliteStore`, salted
and hashed, under a lock of their own (the server's token endpoint calls them outside
the session manager's lock); they last as long as the store.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Final

import attrs

from simutrador.clock import Clock, system_clock
from simutrador.sessions.models import Session
from simutrador.settings import Plan
from simutrador.simulation.results import SimulationResult
from simutrador.storage.apikeys import ApiKey, check_key_owner, key_id_of, new_key, secret_matches, split_key
from simutrador.storage.journal import JournalEntry

__all__ = ["MemoryStore"]

_NO_SESSIONS: Final[dict[str, Session]] = {}


@attrs.frozen(kw_only=True, slots=True)
class _StoredKey:
    about: ApiKey
    salt: bytes = attrs.field(repr=False)
    digest: bytes = attrs.field(repr=False)


class MemoryStore:
    """A `simutrador.storage.base.SessionStore` and `simutrador.storage.base.ApiKeyStore` in memory.

    Sessions are not thread-safe (the manager locks); API keys are.

    Args:
        clock: The time API keys are stamped with.

    Example:
        >>> store = MemoryStore()
        >>> len(store), store.get("alice", "s1")
        (0, None)
        >>> key = store.add_api_key("alice", "professional")
        >>> store.verify_api_key(key)
        ('alice', <Plan.PROFESSIONAL: 'professional'>)
    """

    def __init__(self, *, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._keys: dict[str, _StoredKey] = {}
        self._keys_lock = threading.Lock()
        self._sessions: dict[str, dict[str, Session]] = {}
        self._created: dict[str, deque[datetime]] = {}
        self._expiry: list[tuple[datetime, str, str]] = []
        self._results: dict[tuple[str, str], SimulationResult] = {}
        self._journal: dict[str, list[JournalEntry]] = {}
        self._journal_lock = threading.Lock()
        self._count = 0

    def __len__(self) -> int:
        """How many sessions are held."""
        return self._count

    def get(self, user_id: str, session_id: str) -> Session | None:
        """The session `session_id` of `user_id`, or None."""
        return self._sessions.get(user_id, _NO_SESSIONS).get(session_id)

    def sessions_of(self, user_id: str) -> Collection[Session]:
        """Every session `user_id` holds."""
        return self._sessions.get(user_id, _NO_SESSIONS).values()

    def save(self, session: Session) -> None:
        """Insert or replace `session`; index its expiry."""
        owned = self._sessions.setdefault(session.user_id, {})
        if session.session_id not in owned:
            self._count += 1
        owned[session.session_id] = session
        heapq.heappush(self._expiry, (session.expires_at, session.user_id, session.session_id))
        if len(self._expiry) > 4 * self._count + 64:
            self._rebuild_heap()

    def remove(self, user_id: str, session_id: str) -> None:
        """Forget a session, its result and its journal."""
        self._results.pop((user_id, session_id), None)
        with self._journal_lock:
            self._journal.pop(session_id, None)
        owned = self._sessions.get(user_id)
        if owned is None or owned.pop(session_id, None) is None:
            return
        self._count -= 1
        if not owned:
            del self._sessions[user_id]

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        """Keep journal entries, in order (`simutrador.storage.journal.JournalStore`; thread-safe)."""
        with self._journal_lock:
            for entry in entries:
                self._journal.setdefault(entry.session_id, []).append(entry)

    def journal_of(self, session_id: str) -> list[JournalEntry]:
        """Every journal entry of `session_id`, in the order appended."""
        with self._journal_lock:
            return list(self._journal.get(session_id, ()))

    def save_result(self, user_id: str, session_id: str, result: SimulationResult) -> None:
        """Keep a session's result."""
        self._results[user_id, session_id] = result

    def get_result(self, user_id: str, session_id: str) -> SimulationResult | None:
        """A session's result, or None."""
        return self._results.get((user_id, session_id))

    def due(self, now: datetime) -> Sequence[Session]:
        """Sessions whose expiry is at or before `now` (each popped from the index once)."""
        found: list[Session] = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            expires_at, user_id, session_id = heapq.heappop(heap)
            session = self.get(user_id, session_id)
            if session is not None and session.expires_at == expires_at:
                found.append(session)
        return found

    def interrupted(self) -> Sequence[Session]:
        """None: a memory store never outlives the simulations that run its sessions."""
        return ()

    def record_creation(self, user_id: str, when: datetime) -> None:
        """Remember a creation; the user moves to the end of the idle order."""
        window = self._created.pop(user_id, None) or deque()
        window.append(when)
        self._created[user_id] = window

    def creations_since(self, user_id: str, cutoff: datetime, limit: int | None = None) -> Sequence[datetime]:
        """Creation times after `cutoff`, oldest first; older ones are dropped (`limit` is free here: all are kept)."""
        window = self._created.get(user_id)
        if window is None:
            return ()
        while window and window[0] <= cutoff:
            window.popleft()
        return window

    def forget_creations_before(self, cutoff: datetime) -> None:
        """Forget users whose latest creation is at or before `cutoff`."""
        idle: list[str] = []
        for user_id, window in self._created.items():  # oldest latest-creation first
            if window and window[-1] > cutoff:
                break
            idle.append(user_id)
        for user_id in idle:
            del self._created[user_id]

    # -- API keys ---------------------------------------------------------------------

    def add_api_key(self, user_id: str, plan: Plan | str = Plan.FREE) -> str:
        """Make an API key for `user_id` with `plan`; returns the key (only its salted hash is kept).

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a bad user id or plan.
        """
        checked = check_key_owner(user_id, plan)
        made = new_key()
        about = ApiKey(key_id=made.key_id, user_id=user_id, plan=checked, created_at=self._clock())
        with self._keys_lock:
            self._keys[made.key_id] = _StoredKey(about=about, salt=made.salt, digest=made.digest)
        return made.key

    def verify_api_key(self, key: str) -> tuple[str, Plan] | None:
        """``(user_id, plan)`` for a valid, unrevoked key; None for anything else."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        with self._keys_lock:
            stored = self._keys.get(key_id)
        if stored is None or not stored.about.active or not secret_matches(stored.salt, stored.digest, secret):
            return None
        return stored.about.user_id, stored.about.plan

    def list_api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """The keys (revoked ones too) of `user_id`, or of everyone; oldest first."""
        with self._keys_lock:
            found = [k.about for k in self._keys.values() if user_id is None or k.about.user_id == user_id]
        return sorted(found, key=lambda k: (k.created_at, k.key_id))

    def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key by its id (or the whole key); True when a working key was revoked."""
        found = key_id_of(key_id)
        with self._keys_lock:
            stored = None if found is None else self._keys.get(found)
            if stored is None or not stored.about.active:
                return False
            self._keys[stored.about.key_id] = attrs.evolve(
                stored, about=attrs.evolve(stored.about, revoked_at=self._clock())
            )
        return True

    @property
    def index_size(self) -> int:
        """Entries in the expiry index (stale ones included); bounded by 4 x sessions + 64."""
        return len(self._expiry)

    @property
    def tracked_creators(self) -> int:
        """Users whose creation times are remembered."""
        return len(self._created)

    def _rebuild_heap(self) -> None:
        self._expiry = [
            (s.expires_at, user_id, sid) for user_id, owned in self._sessions.items() for sid, s in owned.items()
        ]
        heapq.heapify(self._expiry)
