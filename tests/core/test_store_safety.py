"""`SqliteStore` never destroys a file that is not its own, and one process owns a store file.

Real files and real processes: a store refuses every existing non-empty file that is
not a SimuTrador store without writing to it (or beside it); a second owner of a file,
in this process or another, fails at once naming it; the lock goes with `close`, with
garbage collection and with the process (SIGKILL), and a forked child does not keep it;
a *shared* store manages API keys beside the owner and changes nothing else.
"""

from __future__ import annotations

import fcntl
import gc
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simutrador import Engine, ErrorCode, Plan, SimutradorError, SqliteStore
from simutrador.storage import schema
from simutrador.storage.journal import JournalEntry
from tests.core.stores import make_session

ROOT = Path(__file__).resolve().parents[2]


def expect_error(code: ErrorCode, action: Callable[[], object]) -> SimutradorError:
    with pytest.raises(SimutradorError) as caught:
        action()
    assert caught.value.code is code, caught.value
    return caught.value


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in `folder`: its bytes and modification time (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def lock_is_free(path: Path) -> bool:
    """Whether nobody holds the store's lock (tried without waiting, then let go)."""
    descriptor = os.open(f"{os.path.realpath(path)}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)
    return True


# -- files that are not ours ---------------------------------------------------------------

NOT_STORES = {
    "one byte": b"x",
    "a short note": b"remember the milk\n",
    "fifteen bytes": b"SQLite format 3",  # the header without its NUL
    "a text file": b"notes, not a database\n" * 40,
    "binary noise": random.Random(16).randbytes(8192),
    "a PNG": b"\x89PNG\r\n\x1a\n" + bytes(100),
    "JSON": b'{"sessions": []}',
}


@pytest.mark.parametrize("content", NOT_STORES.values(), ids=NOT_STORES.keys())
@pytest.mark.parametrize("opener", ["owner", "shared", "engine"])
def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path, content: bytes, opener: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    before = snapshot(tmp_path)
    open_it: dict[str, Callable[[], object]] = {
        "owner": lambda: SqliteStore(path),
        "shared": lambda: SqliteStore(path, shared=True),
        "engine": lambda: Engine.open(path),
    }
    error = expect_error(ErrorCode.VALIDATION_FAILED, open_it[opener])
    assert str(path) in error.message
    assert "not a SQLite database" in error.message
    assert error.details["path"] == str(path)
    assert snapshot(tmp_path) == before  # the file as it was, and nothing made beside it (no -wal, -shm, .lock)


def test_a_sqlite_header_on_less_than_a_page_is_refused_as_damaged(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    path.write_bytes(schema.SQLITE_HEADER + b"\x10\x00" + bytes(300))
    before = snapshot(tmp_path)
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert str(path) in error.message
    assert "damaged SQLite database (318 bytes, less than one page)" in error.message
    assert snapshot(tmp_path) == before


def test_another_programs_database_is_refused_before_anything_is_made_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA application_id = 1234")
    raw.execute("CREATE TABLE entries (amount INTEGER)")
    raw.commit()
    raw.close()
    before = snapshot(tmp_path)
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert f"cannot use {path} as a session store" in error.message
    assert "another program (application_id 0x4d2)" in error.message
    assert snapshot(tmp_path) == before


def test_another_programs_database_without_an_application_id_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE entries (amount INTEGER)")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert "another program" in error.message
    assert path.read_bytes() == before
    assert lock_is_free(path)  # the lock taken to read it safely was let go


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_what_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "store"
    if kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)  # opening it to read would block: it is never opened
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert str(path) in error.message
    assert ("a folder" if kind == "folder" else "not a regular file") in error.message


def test_an_unreadable_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(tmp_path / "file" / "store.db"))
    assert "cannot be opened (Not a directory)" in error.message


@pytest.mark.parametrize("shared", [False, True])
def test_a_missing_folder_is_refused(tmp_path: Path, shared: bool) -> None:
    path = tmp_path / "missing" / "sessions.db"
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path, shared=shared))
    lock_error = f"it cannot be opened: its lock file {path}.lock cannot be made (No such file or directory)"
    assert error.message.endswith(
        "it cannot be opened (unable to open database file)" if shared else lock_error  # a shared store takes no lock
    )


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with SqliteStore(path) as store:
        store.save(make_session())
    with SqliteStore(path) as store:
        assert store.get("alice", "s1") == make_session()


# -- one owner ----------------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


def test_a_second_owner_in_the_same_process_is_refused_at_once(path: Path) -> None:
    with SqliteStore(path) as first:
        first.save(make_session())
        error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
        assert error.message == (
            f"cannot use {path} as a session store: this process (pid {os.getpid()}) already has it open "
            f"(its lock file {path}.lock is locked). One process owns a store at a time: "
            "stop that one, or name another file"
        )
        assert dict(error.details) == {
            "fields": ["store"],
            "path": str(path),
            "lock_file": f"{path}.lock",
            "holder_pid": os.getpid(),
        }
        assert first.get("alice", "s1") == make_session()  # the owner goes on
        assert Path(f"{path}.lock").read_text() == f"{os.getpid()}\n"
    with SqliteStore(path) as again:  # closed: free
        assert len(again) == 1


def test_the_same_file_by_another_name_is_the_same_store(path: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.db"
    with SqliteStore(path):
        link.symlink_to(path)
        error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(link))
        assert "already has it open" in error.message
        assert error.details["lock_file"] == f"{path}.lock"


def test_a_dropped_store_lets_the_file_go(path: Path) -> None:
    SqliteStore(path).save(make_session())  # never closed, and unreachable at once
    gc.collect()
    assert lock_is_free(path)
    with SqliteStore(path) as store:
        assert len(store) == 1


def test_a_refused_open_lets_the_lock_go(path: Path) -> None:
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert lock_is_free(path)


def test_a_file_whose_sessions_cannot_be_read_is_refused_and_let_go(path: Path) -> None:
    """A store whose tables were changed by hand: open, but its running sessions cannot be listed."""
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE sessions")
    raw.execute("CREATE TABLE sessions (user_id TEXT, session_id TEXT, offered INTEGER)")  # no state column
    raw.commit()
    raw.close()
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert f"cannot use {path} as a session store: it cannot be read, or it is damaged" in error.message
    assert "no such column: state" in error.message
    assert lock_is_free(path)
    expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path, shared=True))


def test_memory_databases_take_no_lock(tmp_path: Path) -> None:
    with SqliteStore(":memory:") as one, SqliteStore(":memory:") as two:
        one.save(make_session())
        assert (len(one), len(two)) == (1, 0)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_store_lock_is_reported(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_locks(_descriptor: int, _operation: int) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert f"its lock file {path}.lock cannot be locked (No locks available)" in error.message


def test_a_holder_that_left_no_pid_is_still_named_a_process(path: Path) -> None:
    with SqliteStore(path):
        Path(f"{path}.lock").write_text("")  # as when the disk was too full to record it
        error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert "another SimuTrador process holds it" in error.message
    assert error.details["holder_pid"] is None


def test_the_pid_not_recorded_is_only_a_warning(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_descriptor: int, _data: bytes, _offset: int) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with SqliteStore(path) as store:
        store.save(make_session())
        assert not lock_is_free(path)


HOLDER = r"""
import os, sys
from simutrador import SqliteStore
from tests.core.stores import make_session

store = SqliteStore(sys.argv[1])
store.save(make_session("holder", "kept"))
if len(sys.argv) > 2 and os.fork() == 0:  # a forked child that outlives its parent
    os.write(1, f"child {os.getpid()}\n".encode())  # one write each: two processes share the pipe
    sys.stdin.readline()
    sys.exit(0)
os.write(1, f"ready {os.getpid()}\n".encode())
sys.stdin.readline()
"""


@pytest.fixture
def holder(path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a process that owns `path` (and, with `fork=True`, forks a child after opening it)."""
    started: list[subprocess.Popen[str]] = []

    def start(*, fork: bool = False) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), *(["fork"] if fork else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        _, errors = process.communicate(timeout=30)
        assert "Traceback" not in errors, errors


def read_line(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    return process.stdout.readline().split()


def test_another_process_holds_the_file_until_it_is_killed(
    path: Path, holder: Callable[..., subprocess.Popen[str]]
) -> None:
    process = holder()
    assert read_line(process) == ["ready", str(process.pid)]
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert f"another SimuTrador process (pid {process.pid}) holds it" in error.message
    assert str(path) in error.message
    expect_error(ErrorCode.VALIDATION_FAILED, lambda: Engine.open(path))
    with SqliteStore(path, shared=True) as beside:  # key management works beside the owner
        assert [s.session_id for s in beside.sessions_of("holder")] == ["kept"]
        key = beside.add_api_key("alice", Plan.PROFESSIONAL)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    with SqliteStore(path) as store:  # the kernel let the lock go with the process
        assert [s.session_id for s in store.sessions_of("holder")] == ["kept"]
        assert store.verify_api_key(key) == ("alice", Plan.PROFESSIONAL)


def test_a_forked_child_does_not_keep_its_parents_lock(
    path: Path, holder: Callable[..., subprocess.Popen[str]]
) -> None:
    process = holder(fork=True)
    lines = sorted([read_line(process), read_line(process)])
    child = int(lines[0][1])
    assert lines[1] == ["ready", str(process.pid)]
    expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    os.kill(child, 0)  # the child still runs, with its copy of the parent's descriptors closed
    with SqliteStore(path) as store:
        assert len(store) == 1
    assert process.stdin is not None
    process.stdin.write("\n")  # let the child go (it reads the same pipe)
    process.stdin.flush()


# -- a shared store ------------------------------------------------------------------------


def test_a_shared_store_manages_keys_and_changes_nothing_else(path: Path) -> None:
    with SqliteStore(path) as owner:
        owner.save(make_session())
        with SqliteStore(path, shared=True) as shared:
            assert shared.shared and not owner.shared
            assert repr(shared) == f"SqliteStore({str(path)!r}, shared=True)"
            assert shared.get("alice", "s1") == make_session()
            key = shared.add_api_key("bob")
            assert owner.verify_api_key(key) == ("bob", Plan.FREE)  # the owner reads keys from the file
            refused: dict[str, Callable[[], Any]] = {
                "save": lambda: shared.save(make_session("carol")),
                "remove": lambda: shared.remove("alice", "s1"),
                "due": lambda: shared.due(make_session().expires_at),
                "record_creation": lambda: shared.record_creation("carol", make_session().created_at),
                "append_journal": lambda: shared.append_journal([JournalEntry(session_id="s1", tick=1, kind="cancel")]),
            }
            for name, action in refused.items():
                error = expect_error(ErrorCode.INTERNAL_ERROR, action)
                assert "open shared" in error.message, name
            (listed,) = shared.list_api_keys("bob")
            assert shared.revoke_api_key(listed.key_id)
            assert owner.verify_api_key(key) is None
        assert len(owner) == 1
        assert owner.journal_of("s1") == []
