"""The SQLite schema of `simutrador.storage.sqlite.SqliteStore`: its versions, migrations and opening checks.

The schema is built from an empty file by `MIGRATIONS`, one step per version, each
a list of SQL statements; ``PRAGMA user_version`` records how many steps a file has
had. Opening a file applies the steps it lacks, all in one transaction (so a crash
mid-migration leaves the file as it was). A file written by a newer SimuTrador
(a version above `SCHEMA_VERSION`) is refused before anything is written to it, as
is a SQLite file some other program made (``PRAGMA application_id`` marks ours),
and so is any existing non-empty file that does not start with SQLite's header
(`check_file`): a store is never made over a file that is not one.

One process owns a store at a time: `acquire_lock` takes an exclusive advisory lock
(``flock``) on a sidecar file, ``<database>.lock``, for the store's life. The lock is
on a file of its own, not on the database, because SQLite's own locks are POSIX
record locks, which a process loses on *every* descriptor of the file the moment it
closes *any* one of them. The kernel drops the lock when the process dies (even by
SIGKILL), and a child forked while it is held does not keep it. Windows has no
``flock``: there the lock is not taken (two processes can then open one store).

Pragmas: WAL journal (readers never wait for the writer); ``synchronous=NORMAL`` by
default (a committed write survives the process being killed) or ``FULL`` (it also
survives a power loss); ``auto_vacuum=INCREMENTAL`` (set when the file is created)
so the store can hand freed pages back to the file system after large deletes.

Times are integer microseconds since the Unix epoch (UTC), so they compare and
index as numbers; sessions and results are JSON documents written by the one
converter (`simutrador.codec`), beside the columns that are queried.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Final

from simutrador.errors import ErrorCode, SimutradorError

if sys.platform != "win32":  # pragma: no branch - one platform per run
    import fcntl

__all__ = [
    "APPLICATION_ID",
    "LOCK_SUFFIX",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLITE_HEADER",
    "SYNCHRONOUS_MODES",
    "StoreLock",
    "acquire_lock",
    "check_file",
    "check_synchronous",
    "file_in_use",
    "file_released",
    "open_database",
    "unusable",
]

logger = logging.getLogger(__name__)

APPLICATION_ID: Final = 0x53545244
"""``PRAGMA application_id`` of a SimuTrador store ("STRD")."""

MIGRATIONS: Final[Sequence[Sequence[str]]] = (
    # 1: sessions (the JSON snapshot beside the queried columns), results, creation times
    (
        f"PRAGMA application_id = {APPLICATION_ID}",
        """CREATE TABLE sessions (
            user_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            state TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            offered INTEGER NOT NULL DEFAULT 0,
            body TEXT NOT NULL,
            PRIMARY KEY (user_id, session_id)
        )""",
        # the expiry index holds only sessions `due` has not offered since their last save
        "CREATE INDEX sessions_due ON sessions (expires_at) WHERE offered = 0",
        "CREATE INDEX sessions_state ON sessions (state)",
        """CREATE TABLE results (
            user_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (user_id, session_id)
        )""",
        "CREATE TABLE creations (user_id TEXT NOT NULL, created_at INTEGER NOT NULL)",
        "CREATE INDEX creations_by_user ON creations (user_id, created_at)",
        "CREATE INDEX creations_by_time ON creations (created_at)",
    ),
    # 2: API keys, hashed (HMAC-SHA-256 of the secret under a per-key salt)
    (
        """CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            plan TEXT NOT NULL,
            salt BLOB NOT NULL,
            digest BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        )""",
        "CREATE INDEX api_keys_by_user ON api_keys (user_id)",
    ),
    # 3: the command journal of running simulations (simutrador.storage.journal)
    (
        """CREATE TABLE journal (
            session_id TEXT NOT NULL,
            seq INTEGER PRIMARY KEY,
            tick INTEGER NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX journal_by_session ON journal (session_id, seq)",
    ),
)
"""Step N brings a file from schema version N-1 to N. Append steps; never edit one that shipped."""

SCHEMA_VERSION: Final = len(MIGRATIONS)
"""The schema version this SimuTrador writes (and the newest it reads)."""

SYNCHRONOUS_MODES: Final = frozenset({"normal", "full"})
"""Accepted values of the store's ``synchronous`` setting."""

SQLITE_HEADER: Final = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

LOCK_SUFFIX: Final = ".lock"
"""The lock file of a store is the database's real path with this suffix."""

_MIN_PAGE_SIZE: Final = 512
_HEADER_SIZE: Final = 100
_APPLICATION_ID_AT: Final = 68
_IN_MEMORY: Final = frozenset({"", ":memory:"})
_BUSY_TIMEOUT_MS: Final = 5_000
_JOURNAL_SIZE_LIMIT: Final = 8 * 1024 * 1024


def check_synchronous(synchronous: str) -> str:
    """`synchronous` in lower case.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` when it is not one of `SYNCHRONOUS_MODES`.
    """
    mode = str(synchronous).lower()
    if mode not in SYNCHRONOUS_MODES:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}, not {synchronous!r}",
            {"fields": ["synchronous"]},
        )
    return mode


def check_file(path: str) -> None:
    """Refuse an existing file that SQLite would overwrite or cannot be a store; never writes.

    A missing or empty file is fine (SQLite makes the database in it). Anything else
    must be a regular file starting with `SQLITE_HEADER` and at least one page long
    (SQLite alone writes a database over some files that are not one: it takes a
    one-byte file for an empty database), whose header names no other
    program (``application_id``; a SimuTrador file whose creation is still in its WAL
    says 0, which `open_database` checks again once SQLite has read the WAL).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the file.
    """
    if path in _IN_MEMORY:
        return
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise unusable(path, f"it cannot be opened ({exc.strerror})") from None
    if stat.S_ISDIR(found.st_mode):
        raise unusable(path, "it is a folder; name a file in it")
    if not stat.S_ISREG(found.st_mode):
        raise unusable(path, "it is not a regular file")
    if found.st_size == 0:
        return
    with _IN_USE_GUARD:
        if _IN_USE[found.st_dev, found.st_ino]:
            # a store of this process has it open: it is ours, and reading it through another
            # descriptor would drop SQLite's POSIX locks on it the moment that descriptor closes
            return
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER_SIZE)
    except OSError as exc:
        raise unusable(path, f"it cannot be read ({exc.strerror})") from None
    if not head.startswith(SQLITE_HEADER):
        raise unusable(path, "it is not a SQLite database (it does not start with SQLite's header); it was not changed")
    if found.st_size < _MIN_PAGE_SIZE:
        raise unusable(path, f"it is a damaged SQLite database ({found.st_size} bytes, less than one page)")
    application = int.from_bytes(head[_APPLICATION_ID_AT : _APPLICATION_ID_AT + 4], "big")
    if application not in {0, APPLICATION_ID}:  # a store's file says 0 until its first checkpoint
        raise unusable(
            path,
            f"it is a SQLite database of another program (application_id {application:#x}), "
            "not a SimuTrador session store",
        )


_IN_USE: Final[Counter[tuple[int, int]]] = Counter()
"""Database files (device, inode) that stores of this process have open."""
_IN_USE_GUARD: Final = threading.Lock()


def file_in_use(path: str) -> tuple[int, int] | None:
    """Note that a store of this process has `path` open; give the key back to `file_released`."""
    if path in _IN_MEMORY:
        return None
    found = os.stat(path)
    key = (found.st_dev, found.st_ino)
    with _IN_USE_GUARD:
        _IN_USE[key] += 1
    return key


def file_released(key: tuple[int, int] | None) -> None:
    """Note that a store closed the file `file_in_use` returned `key` for."""
    if key is None:
        return
    with _IN_USE_GUARD:
        _IN_USE[key] -= 1
        if _IN_USE[key] <= 0:
            del _IN_USE[key]


class StoreLock:
    """The exclusive lock one process holds on a store (see `acquire_lock`); `release` it once."""

    def __init__(self, descriptor: int, lock_file: str) -> None:
        self._descriptor = descriptor
        self.lock_file = lock_file
        """The sidecar file locked."""

    def release(self) -> None:
        """Let another process take the store. Idempotent."""
        descriptor, self._descriptor = self._descriptor, -1
        _HELD.discard(self)
        if descriptor >= 0:
            os.close(descriptor)


_HELD: Final[set[StoreLock]] = set()
"""The locks this process holds (a forked child closes its copies of them)."""


def _forget_inherited_locks() -> None:
    """In a forked child: close its copies of the lock files (the parent keeps its locks)."""
    for lock in list(_HELD):
        lock.release()


def acquire_lock(path: str) -> StoreLock | None:
    """Take `path`'s exclusive lock for this process, or fail at once.

    The lock is ``flock`` on ``<real path of the database>.lock`` (made when missing,
    left in place afterwards: removing a lock file races with its next taker), which
    records the holder's process id for the error another process gets. None for an
    in-memory database, and on Windows (no ``flock``: not locked).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the file when another process (or
            another store in this one) holds it, or the lock file cannot be made.
    """
    if path in _IN_MEMORY:
        return None
    if sys.platform == "win32":  # pragma: no cover - not tested on Windows
        return None
    lock_file = os.path.realpath(path) + LOCK_SUFFIX
    try:
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        why = f"it cannot be opened: its lock file {lock_file} cannot be made ({exc.strerror})"
        raise unusable(path, why) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _holder(descriptor)
        os.close(descriptor)
        if isinstance(exc, BlockingIOError):
            raise _held(path, lock_file, holder) from None
        raise unusable(path, f"its lock file {lock_file} cannot be locked ({exc.strerror})") from None
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    except OSError:  # the pid is only for messages (a full disk may refuse it)
        logger.warning("could not record this process's id in %s", lock_file)
    lock = StoreLock(descriptor, lock_file)
    _HELD.add(lock)
    return lock


def _holder(descriptor: int) -> int | None:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:  # pragma: no cover - reading a file just opened read-write
        return None
    return int(text) if text.isdigit() else None


def _held(path: str, lock_file: str, holder: int | None) -> SimutradorError:
    if holder == os.getpid():
        who = f"this process (pid {holder}) already has it open"
    elif holder is not None:
        who = f"another SimuTrador process (pid {holder}) holds it"
    else:
        who = "another SimuTrador process holds it"
    return SimutradorError(
        ErrorCode.VALIDATION_FAILED,
        f"cannot use {path} as a session store: {who} (its lock file {lock_file} is locked). "
        "One process owns a store at a time: stop that one, or name another file",
        {"fields": ["store"], "path": path, "lock_file": lock_file, "holder_pid": holder},
    )


def open_database(path: str, *, synchronous: str = "normal", writable: bool = True) -> sqlite3.Connection:
    """Open (or create) the store file at `path`, checked and migrated to `SCHEMA_VERSION`.

    The connection is in autocommit mode (the store opens its own transactions) and
    may be used from any thread (the store serializes its use with a lock).

    Args:
        path: The database file (created when missing; its directory must exist).
        synchronous: ``"normal"`` (survives a process crash) or ``"full"`` (also a
            power loss).
        writable: Check that the file can be written (SQLite opens a file it may not
            write read-only, and would only fail at the first write).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the file when it cannot be
            opened (or written, when `writable`), is not a SQLite database, belongs to
            another program, or was written by a newer SimuTrador (the file is then
            left untouched); or when `synchronous` is not one of `SYNCHRONOUS_MODES`.
    """
    mode = check_synchronous(synchronous)
    check_file(path)
    if writable and path not in _IN_MEMORY and os.path.exists(path) and not os.access(path, os.W_OK):
        # refused before SQLite opens it read-only (and leaves read-only -wal and -shm files beside it)
        raise unusable(path, "it is read-only: this process may not write it")
    try:
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise unusable(path, f"it cannot be opened ({exc})") from None
    try:
        _prepare(connection, path, mode, writable=writable)
    except BaseException:
        connection.close()
        raise
    return connection


def _prepare(connection: sqlite3.Connection, path: str, synchronous: str, *, writable: bool) -> None:
    try:
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        version = _read_version(connection, path)  # before any write: a newer file stays as it was
        if version == 0:
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on an empty file
        journal = str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if journal != "wal":
            logger.warning("the session store %s runs with journal_mode=%s (WAL unavailable)", path, journal)
        connection.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        connection.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
        if version < SCHEMA_VERSION:
            _migrate(connection, path)
        elif writable:
            _check_writable(connection)
    except sqlite3.Error as exc:
        raise _failed_to_open(path, exc, "it cannot be read or written") from None


def _failed_to_open(path: str, exc: sqlite3.Error, why: str) -> SimutradorError:
    """`unusable` for a SQLite error while opening; a read-only file or folder says so."""
    if exc.sqlite_errorname.startswith("SQLITE_READONLY"):
        why = (
            "it is read-only: this process may not write it, or its folder (SQLite keeps its -wal and -shm files there)"
        )
    return unusable(path, f"{why} ({exc})")


def _check_writable(connection: sqlite3.Connection) -> None:
    """Fail now, not at the first write, when SQLite opened the file read-only.

    ``BEGIN IMMEDIATE`` alone is no test (on a read-only file it starts a read
    transaction); a statement that writes no row still asks for write access.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("DELETE FROM sessions WHERE 0")
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def _read_version(connection: sqlite3.Connection, path: str) -> int:
    """The file's schema version, after checking the file is ours and not from a newer SimuTrador."""
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        application = int(connection.execute("PRAGMA application_id").fetchone()[0])
        objects = int(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError as exc:  # opening the WAL of a file in a read-only folder fails here
        raise _failed_to_open(path, exc, "it is not a SQLite database, or it is damaged") from None
    if application != APPLICATION_ID and (application != 0 or objects or version):
        raise unusable(path, "it is a SQLite database of another program, not a SimuTrador session store")
    _check_not_newer(path, version)
    return version


def _check_not_newer(path: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"the session store {path} has schema version {version}, written by a newer SimuTrador; "
            f"this version reads schema versions up to {SCHEMA_VERSION}. Upgrade simutrador to open it "
            "(the file was not changed)",
            {"fields": ["store"], "path": path, "schema_version": version, "supported_version": SCHEMA_VERSION},
        )


def _migrate(connection: sqlite3.Connection, path: str) -> None:
    """Apply the missing steps in one transaction (re-reading the version under the write lock)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        _check_not_newer(path, version)  # another process may have upgraded the file meanwhile
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    if version:
        logger.info("migrated the session store %s from schema version %d to %d", path, version, SCHEMA_VERSION)


def unusable(path: str, why: str) -> SimutradorError:
    """The ``VALIDATION_FAILED`` error for a file that cannot be opened as a store, saying `why`."""
    return SimutradorError(
        ErrorCode.VALIDATION_FAILED,
        f"cannot use {path} as a session store: {why}",
        {"fields": ["store"], "path": path},
    )


if sys.platform != "win32":  # pragma: no branch - one platform per run
    os.register_at_fork(after_in_child=_forget_inherited_locks)
