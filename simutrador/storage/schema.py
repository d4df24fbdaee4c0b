"""The SQLite schema of `simutrador.storage.sqlite.SqliteStore`: its versions, migrations and opening checks.

The schema is built from an empty file by `MIGRATIONS`, one step per version, each
a list of SQL statements; ``PRAGMA user_version`` records how many steps a file has
had. Opening a file applies the steps it lacks, all in one transaction (so a crash
mid-migration leaves the file as it was). A file written by a newer SimuTrador
(a version above `SCHEMA_VERSION`) is refused before anything is written to it, as
is a SQLite file some other program made (``PRAGMA application_id`` marks ours).

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
import sqlite3
from collections.abc import Sequence
from typing import Final

from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "SYNCHRONOUS_MODES", "open_database"]

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

_BUSY_TIMEOUT_MS: Final = 5_000
_JOURNAL_SIZE_LIMIT: Final = 8 * 1024 * 1024


def open_database(path: str, *, synchronous: str = "normal") -> sqlite3.Connection:
    """Open (or create) the store file at `path`, checked and migrated to `SCHEMA_VERSION`.

    The connection is in autocommit mode (the store opens its own transactions) and
    may be used from any thread (the store serializes its use with a lock).

    Args:
        path: The database file (created when missing; its directory must exist).
        synchronous: ``"normal"`` (survives a process crash) or ``"full"`` (also a
            power loss).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the file when it cannot be
            opened, is not a SQLite database, belongs to another program, or was
            written by a newer SimuTrador (the file is then left untouched); or when
            `synchronous` is not one of `SYNCHRONOUS_MODES`.
    """
    mode = str(synchronous).lower()
    if mode not in SYNCHRONOUS_MODES:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}, not {synchronous!r}",
            {"fields": ["synchronous"]},
        )
    try:
        connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise _unusable(path, f"it cannot be opened ({exc})") from None
    try:
        _prepare(connection, path, mode)
    except BaseException:
        connection.close()
        raise
    return connection


def _prepare(connection: sqlite3.Connection, path: str, synchronous: str) -> None:
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
    except sqlite3.Error as exc:
        raise _unusable(path, f"it cannot be read or written ({exc})") from None


def _read_version(connection: sqlite3.Connection, path: str) -> int:
    """The file's schema version, after checking the file is ours and not from a newer SimuTrador."""
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        application = int(connection.execute("PRAGMA application_id").fetchone()[0])
        objects = int(connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise _unusable(path, f"it is not a SQLite database, or it is damaged ({exc})") from None
    if application != APPLICATION_ID and (application != 0 or objects or version):
        raise _unusable(path, "it is a SQLite database of another program, not a SimuTrador session store")
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


def _unusable(path: str, why: str) -> SimutradorError:
    return SimutradorError(
        ErrorCode.VALIDATION_FAILED,
        f"cannot use {path} as a session store: {why}",
        {"fields": ["store"], "path": path},
    )
