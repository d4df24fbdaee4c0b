"""`SqliteStore`: sessions, results, creation windows and API keys in one SQLite file.

It implements `simutrador.storage.base.SessionStore` exactly as
`simutrador.storage.memory.MemoryStore` does, and survives restarts: a new store over
the same file sees every session, result and creation time an earlier one committed.
Every write is one transaction committed before the call returns (WAL,
``synchronous=NORMAL`` by default: a committed write survives the process being
killed; ``"full"`` also survives a power loss). The schema, its version and its
migrations live in `simutrador.storage.schema`.

Sessions and results are stored as JSON through the one converter
(`simutrador.codec`), beside the columns that are queried: owner and id (the primary
key), state, and the expiry (indexed while `due` has not offered the session since
its last save). A user's sessions are read from the file on first use and then kept
in memory in step with every save and removal, so lookups cost what they cost in a
`MemoryStore`; results are read from the file when asked for.

Sessions that were RUNNING when the file was opened are reported by `interrupted`;
the session manager pauses them (their simulator died with the process that wrote
them).

The store is thread-safe by its own lock (one connection, ``check_same_thread=False``);
the session manager already serializes its calls. One process owns a file at a time:
the live-session and hourly limits are enforced by that process's manager, and the
sessions it has read are not re-read. So a store takes an exclusive lock on the file
for its life (`simutrador.storage.schema.acquire_lock`), and a second store on the
same file, in any process, is refused at once. A *shared* store
(``SqliteStore(path, shared=True)``) takes no lock: it reads everything and manages
API keys beside a running owner (the owner reads keys from the file at every check),
and refuses to change sessions, results, creation times or the journal.

Nothing is ever made over a file that is not a store: an existing non-empty file
that is not a SQLite database, or is another program's, is refused untouched.
A failure while running (a full disk, an I/O error, a damaged page) rolls the
transaction back and raises ``STORAGE_FAILED`` naming the file; the store stays
usable, and what was committed before stays committed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Generator, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Final

from simutrador.clock import Clock, system_clock
from simutrador.codec import result_from_wire, result_to_wire, session_from_wire, session_to_wire
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.models import Session
from simutrador.sessions.states import SessionState
from simutrador.settings import Plan
from simutrador.simulation.results import SimulationResult
from simutrador.storage.apikeys import ApiKey, check_key_owner, key_id_of, new_key, secret_matches, split_key
from simutrador.storage.journal import JournalEntry
from simutrador.storage.schema import (
    StoreLock,
    acquire_lock,
    check_file,
    check_synchronous,
    file_in_use,
    file_released,
    open_database,
    unusable,
)

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_RUNNING: Final = SessionState.RUNNING.value
_RECLAIM_EVERY: Final = 256
"""Rows deleted between two looks at the free pages."""
_RECLAIM_MIN_PAGES: Final = 64
"""Free pages below which the file is left as it is (256 KiB at the default page size)."""


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"))


def _session(body: str) -> Session:
    return session_from_wire(json.loads(body))


def _release(
    connection: sqlite3.Connection,
    file: tuple[int, int] | None,
    lock: StoreLock | None,
    guard: threading.RLock | None = None,
) -> None:
    """Close the connection, then let another process take the file (also when a store is dropped unclosed).

    Under the store's `guard`: at interpreter exit a thread (a journal writer) may still be
    in a transaction; it is let finish first.
    """
    with guard or contextlib.nullcontext():
        try:
            connection.close()
        finally:
            file_released(file)
            if lock is not None:
                lock.release()


class SqliteStore:
    """A durable `simutrador.storage.base.SessionStore` in a SQLite file (thread-safe).

    Args:
        path: The database file; created (with its schema) when missing. Its
            directory must exist and be writable (SQLite keeps ``-wal`` and ``-shm``
            files beside it, and the store its ``.lock`` file).
        synchronous: ``"normal"`` (default: a committed write survives the process
            being killed) or ``"full"`` (it also survives a power loss; slower writes).
        clock: The time API keys are stamped with.
        shared: Open beside the file's owner instead of owning it: no lock is taken;
            everything can be read and API keys added and revoked, but sessions,
            results, creation times and the journal cannot be changed (such writes
            raise ``INTERNAL_ERROR``). For key management while a server runs.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the file when it cannot be
            used: another process (or another store in this one) owns it; it cannot be
            read or (unless `shared`) written; it is not a SQLite database, is another
            program's, or was written by a newer SimuTrador (then left untouched).

    Use it as a context manager, or call `close`, to release the file (a store dropped
    without being closed releases it when it is garbage-collected).

    Example:
        >>> import tempfile, pathlib
        >>> from simutrador import Engine
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "sessions.db"
        ...     with SqliteStore(path) as store:
        ...         engine = Engine(store=store)
        ...         session = engine.create_session(
        ...             "alice", symbols="AAPL", start="2024-03-04", end="2024-03-08", capital=10_000)
        ...     with SqliteStore(path) as reopened:  # a restart
        ...         reopened.get("alice", session.session_id) == session
        True
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "normal",
        clock: Clock = system_clock,
        shared: bool = False,
    ) -> None:
        self._path = os.fspath(path)
        self._synchronous = check_synchronous(synchronous)
        self._clock = clock
        self._shared = shared
        self._lock = threading.RLock()  # held around a transaction and the cache update after it
        self._deleted = 0
        self._cache: dict[str, dict[str, Session]] = {}
        check_file(self._path)  # before the lock file is made beside a file that is not ours
        owner = None if shared else acquire_lock(self._path)
        try:
            connection = open_database(self._path, synchronous=self._synchronous, writable=not shared)
            file = None
            try:
                file = file_in_use(self._path)
                rows = connection.execute(
                    "SELECT user_id, session_id FROM sessions WHERE state = ?", (_RUNNING,)
                ).fetchall()
            except BaseException as exc:
                _release(connection, file, None)
                if isinstance(exc, sqlite3.Error):
                    raise unusable(self._path, f"it cannot be read, or it is damaged ({exc})") from None
                raise
        except BaseException:
            if owner is not None:
                owner.release()
            raise
        self._connection: sqlite3.Connection | None = connection
        self._release = weakref.finalize(self, _release, connection, file, owner, self._lock)
        self._interrupted: set[tuple[str, str]] = {(str(u), str(s)) for u, s in rows}

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def synchronous(self) -> str:
        """``"normal"`` or ``"full"``: what a committed write survives (see the class)."""
        return self._synchronous

    @property
    def shared(self) -> bool:
        """Whether this store was opened beside the file's owner (key management), not as its owner."""
        return self._shared

    def close(self) -> None:
        """Release the file and its lock (every write is already committed); later calls fail. Idempotent."""
        with self._lock:
            self._connection = None
            self._release()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r}, shared=True)" if self._shared else f"SqliteStore({self._path!r})"

    # -- sessions ---------------------------------------------------------------------

    def __len__(self) -> int:
        """How many sessions are held."""
        with self._reading() as db:
            return int(db.execute("SELECT count(*) FROM sessions").fetchone()[0])

    def get(self, user_id: str, session_id: str) -> Session | None:
        """The session `session_id` of `user_id`, or None."""
        with self._reading() as db:
            return self._owned(db, user_id).get(session_id)

    def sessions_of(self, user_id: str) -> Sequence[Session]:
        """Every session `user_id` holds."""
        with self._reading() as db:
            return list(self._owned(db, user_id).values())

    def save(self, session: Session) -> None:
        """Insert or replace `session`; (re-)arm its expiry."""
        body = _dumps(session_to_wire(session))
        user_id, session_id = key = (session.user_id, session.session_id)
        with self._lock:
            with self._writing() as db:
                db.execute(
                    "INSERT INTO sessions (user_id, session_id, state, expires_at, offered, body)"
                    " VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (user_id, session_id) DO UPDATE SET"
                    " state = excluded.state, expires_at = excluded.expires_at, offered = 0, body = excluded.body",
                    (*key, session.state.value, _micros(session.expires_at), body),
                )
            owned = self._cache.get(user_id)
            if owned is not None:  # else the user's sessions are read from the file on first use
                owned[session_id] = session
            self._interrupted.discard(key)

    def remove(self, user_id: str, session_id: str) -> None:
        """Forget a session and its result (their rows are deleted)."""
        key = (user_id, session_id)
        with self._lock:
            with self._writing() as db:
                deleted = db.execute("DELETE FROM sessions WHERE user_id = ? AND session_id = ?", key).rowcount
                deleted += db.execute("DELETE FROM results WHERE user_id = ? AND session_id = ?", key).rowcount
                deleted += db.execute("DELETE FROM journal WHERE session_id = ?", (session_id,)).rowcount
            self._reclaim_after(deleted)
            owned = self._cache.get(user_id)
            if owned is not None:
                owned.pop(session_id, None)
                if not owned:
                    del self._cache[user_id]
            self._interrupted.discard(key)

    def save_result(self, user_id: str, session_id: str, result: SimulationResult) -> None:
        """Keep a session's result (with its series)."""
        body = _dumps(result_to_wire(result))
        with self._writing() as db:
            db.execute(
                "INSERT INTO results (user_id, session_id, body) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id, session_id) DO UPDATE SET body = excluded.body",
                (user_id, session_id, body),
            )

    def get_result(self, user_id: str, session_id: str) -> SimulationResult | None:
        """A session's result, or None."""
        with self._reading() as db:
            row = db.execute(
                "SELECT body FROM results WHERE user_id = ? AND session_id = ?", (user_id, session_id)
            ).fetchone()
        return None if row is None else result_from_wire(json.loads(row[0]))

    def due(self, now: datetime) -> Sequence[Session]:
        """Sessions whose expiry is at or before `now`, soonest first; each leaves the expiry index."""
        cutoff = _micros(now)
        with self._writing() as db:
            rows = db.execute(
                "SELECT user_id, session_id, body FROM sessions WHERE offered = 0 AND expires_at <= ?"
                " ORDER BY expires_at",
                (cutoff,),
            ).fetchall()
            if rows:
                db.execute("UPDATE sessions SET offered = 1 WHERE offered = 0 AND expires_at <= ?", (cutoff,))
            return [self._cached(user_id, session_id) or _session(body) for user_id, session_id, body in rows]

    def interrupted(self) -> Sequence[Session]:
        """Sessions that were RUNNING when the file was opened and have not been saved since."""
        with self._lock:
            found = [self.get(user_id, session_id) for user_id, session_id in sorted(self._interrupted)]
        return [session for session in found if session is not None]

    # -- creation windows -------------------------------------------------------------

    def record_creation(self, user_id: str, when: datetime) -> None:
        """Remember that `user_id` created a session at `when`."""
        with self._writing() as db:
            db.execute("INSERT INTO creations (user_id, created_at) VALUES (?, ?)", (user_id, _micros(when)))

    def creations_since(self, user_id: str, cutoff: datetime, limit: int | None = None) -> Sequence[datetime]:
        """`user_id`'s creation times after `cutoff`, oldest first (at most `limit`)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT created_at FROM creations WHERE user_id = ? AND created_at > ? ORDER BY created_at LIMIT ?",
                (user_id, _micros(cutoff), -1 if limit is None else limit),
            ).fetchall()
        return [_moment(micros) for (micros,) in rows]

    def forget_creations_before(self, cutoff: datetime) -> None:
        """Delete every creation time at or before `cutoff`."""
        with self._lock:
            with self._writing() as db:
                deleted = db.execute("DELETE FROM creations WHERE created_at <= ?", (_micros(cutoff),)).rowcount
            self._reclaim_after(deleted)

    @property
    def index_size(self) -> int:
        """Sessions in the expiry index (saved and not offered by `due` since)."""
        with self._reading() as db:
            return int(db.execute("SELECT count(*) FROM sessions WHERE offered = 0").fetchone()[0])

    @property
    def tracked_creators(self) -> int:
        """Users whose creation times are remembered."""
        with self._reading() as db:
            return int(db.execute("SELECT count(DISTINCT user_id) FROM creations").fetchone()[0])

    # -- API keys ---------------------------------------------------------------------

    def add_api_key(self, user_id: str, plan: Plan | str = Plan.FREE) -> str:
        """Make an API key for `user_id` with `plan`; returns the key, which is not stored.

        Hand the returned text to its user now: only a salted hash of its secret is
        kept, so it cannot be shown again (make a new key if it is lost).

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a bad user id or plan.
        """
        checked = check_key_owner(user_id, plan)
        made = new_key()
        with self._writing(keys=True) as db:
            db.execute(
                "INSERT INTO api_keys (key_id, user_id, plan, salt, digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (made.key_id, user_id, checked.value, made.salt, made.digest, _micros(self._clock())),
            )
        return made.key

    def verify_api_key(self, key: str) -> tuple[str, Plan] | None:
        """``(user_id, plan)`` for a valid, unrevoked key; None for anything else."""
        parts = split_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        with self._reading() as db:
            row = db.execute(
                "SELECT user_id, plan, salt, digest FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", (key_id,)
            ).fetchone()
        if row is None:
            return None
        user_id, plan, salt, digest = row
        if not secret_matches(bytes(salt), bytes(digest), secret):
            return None
        return str(user_id), Plan(plan)

    def list_api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        """The keys (revoked ones too) of `user_id`, or of everyone; oldest first."""
        query = "SELECT key_id, user_id, plan, created_at, revoked_at FROM api_keys"
        arguments: tuple[str, ...] = ()
        if user_id is not None:
            query += " WHERE user_id = ?"
            arguments = (user_id,)
        with self._reading() as db:
            rows = db.execute(query + " ORDER BY created_at, key_id", arguments).fetchall()
        return [
            ApiKey(
                key_id=key_id,
                user_id=owner,
                plan=Plan(plan),
                created_at=_moment(created),
                revoked_at=None if revoked is None else _moment(revoked),
            )
            for key_id, owner, plan, created, revoked in rows
        ]

    def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key by its id (or the whole key); True when a working key was revoked."""
        found = key_id_of(key_id)
        if found is None:
            return False
        with self._writing(keys=True) as db:
            changed = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (_micros(self._clock()), found),
            ).rowcount
        return changed == 1

    # -- the command journal -----------------------------------------------------------

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        """Keep `entries`, in order, in one transaction (`simutrador.storage.journal.JournalStore`)."""
        rows = [(e.session_id, e.tick, e.kind, _dumps(dict(e.body))) for e in entries]
        with self._writing() as db:
            db.executemany("INSERT INTO journal (session_id, tick, kind, body) VALUES (?, ?, ?, ?)", rows)

    def journal_of(self, session_id: str) -> list[JournalEntry]:
        """Every journal entry of `session_id`, in the order appended."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT tick, kind, body FROM journal WHERE session_id = ? ORDER BY seq", (session_id,)
            ).fetchall()
        return [JournalEntry(session_id=session_id, tick=int(t), kind=str(k), body=json.loads(b)) for t, k, b in rows]

    # -- plumbing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Generator[sqlite3.Connection]:
        with self._lock:
            db = self._open_connection()
            try:
                yield db
            except sqlite3.Error as exc:
                raise self._failed(exc) from exc

    @contextlib.contextmanager
    def _writing(self, *, keys: bool = False) -> Generator[sqlite3.Connection]:
        """One transaction, committed before the block's caller returns (rolled back on any error).

        Only API key writes (`keys`) are allowed in a shared store.
        """
        with self._lock:
            db = self._open_connection()
            if self._shared and not keys:
                raise SimutradorError(
                    ErrorCode.INTERNAL_ERROR,
                    f"the session store {self._path} is open shared (beside its owner): "
                    "it manages API keys but cannot change sessions, results or journals",
                    {"path": self._path},
                )
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                self._roll_back(db)
                if isinstance(exc, sqlite3.Error):
                    raise self._failed(exc) from exc
                raise

    def _roll_back(self, db: sqlite3.Connection) -> None:
        """Undo the open transaction, if SQLite has not already (a failed rollback is logged, not raised)."""
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                logger.error("the session store %s could not roll back: %s", self._path, exc)

    def _owned(self, db: sqlite3.Connection, user_id: str) -> dict[str, Session]:
        """`user_id`'s sessions, read from the file once, then kept in step by `save` and `remove`."""
        owned = self._cache.get(user_id)
        if owned is None:
            rows = db.execute("SELECT session_id, body FROM sessions WHERE user_id = ?", (user_id,)).fetchall()
            owned = {session_id: _session(body) for session_id, body in rows}
            if owned:  # users without sessions are not remembered
                self._cache[user_id] = owned
        return owned

    def _cached(self, user_id: str, session_id: str) -> Session | None:
        owned = self._cache.get(user_id)
        return None if owned is None else owned.get(session_id)

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise SimutradorError(
                ErrorCode.INTERNAL_ERROR, f"the session store {self._path} is closed", {"path": self._path}
            )
        return self._connection

    def _failed(self, exc: Exception) -> SimutradorError:
        logger.error("the session store %s failed: %s", self._path, exc)
        return SimutradorError(
            ErrorCode.STORAGE_FAILED,
            f"the session store {self._path} failed: {exc}",
            {"path": self._path, "sqlite_error": type(exc).__name__},
        )

    def _reclaim_after(self, deleted: int) -> None:
        """After many deletes, hand free pages back to the file system (``auto_vacuum=INCREMENTAL``).

        Every `_RECLAIM_EVERY` deleted rows, when a quarter of the file (and at least
        `_RECLAIM_MIN_PAGES`) is free, the free pages are moved to the end and cut off
        (in the file itself at the next checkpoint); so the file stays within about a
        third of what it holds.
        """
        self._deleted += deleted
        if self._deleted < _RECLAIM_EVERY:
            return
        self._deleted = 0
        with self._reading() as db:
            free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
            pages = int(db.execute("PRAGMA page_count").fetchone()[0])
            if free >= _RECLAIM_MIN_PAGES and 4 * free >= pages:
                db.executescript("PRAGMA incremental_vacuum")  # its own transaction, stepped to the end
                logger.debug("the session store %s gave back %d free pages", self._path, free)
