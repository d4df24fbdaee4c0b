"""`SqliteStore` when its file fails: damaged, truncated, read-only, full. Real files throughout.

For each failure: a `SimutradorError` naming the file (``VALIDATION_FAILED`` when the
store is opened, ``STORAGE_FAILED`` afterwards), nothing committed before it lost, and
the store (and the `JournalWriter` thread) still working once the cause is gone.

A full disk is SQLite's own ``SQLITE_FULL``, made with ``PRAGMA max_page_count`` (a
small file system would need root mounts). Read-only files and folders use real
permissions in a child process; as root, which ignores permissions, that child first
drops ``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``, so permissions apply to it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simutrador import Engine, ErrorCode, SimutradorError, SqliteStore
from simutrador.storage.journal import JournalEntry, JournalWriter
from simutrador.testing import ManualClock, SequentialIds
from tests.core.stores import T0, make_session

ROOT = Path(__file__).resolve().parents[2]
PADDING = {"pad": "x" * 600}
"""Session metadata that makes each row take a good part of a page."""


def expect_error(code: ErrorCode, action: Callable[[], object]) -> SimutradorError:
    with pytest.raises(SimutradorError) as caught:
        action()
    assert caught.value.code is code, caught.value
    return caught.value


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def users(count: int) -> list[str]:
    return [f"user-{number:03}" for number in range(count)]


def fill(path: Path, count: int) -> None:
    """A closed store with one padded session for each of `count` users."""
    with SqliteStore(path) as store:
        for user in users(count):
            store.save(make_session(user, "s1", metadata=PADDING))


# -- a damaged file -----------------------------------------------------------------------


def test_garbage_in_the_middle_fails_the_reads_that_meet_it_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    fill(path, 300)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 3)
        handle.write(random.Random(16).randbytes(size // 3))
    outcomes: dict[str, int] = {"read": 0, "failed": 0}
    with SqliteStore(path) as store:  # the pages it reads to open are intact
        for user in users(300):
            try:
                found = store.sessions_of(user)
            except SimutradorError as error:
                assert error.code is ErrorCode.STORAGE_FAILED
                assert error.message.startswith(f"the session store {path} failed: database disk image is malformed")
                assert error.details["path"] == str(path)
                outcomes["failed"] += 1
            else:
                assert list(found) == [make_session(user, "s1", metadata=PADDING)]  # intact rows, intact values
                outcomes["read"] += 1
        assert outcomes["read"] > 0 and outcomes["failed"] > 0, outcomes
        store.add_api_key("alice")  # the process goes on, and so do writes that do not meet the damage
    with SqliteStore(path) as reopened:
        assert [k.user_id for k in reopened.list_api_keys()] == ["alice"]
        assert reopened.sessions_of("user-000") == [make_session("user-000", "s1", metadata=PADDING)]


def test_reading_a_damaged_file_writes_nothing_to_it(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    fill(path, 300)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(bytes(4096 * 3))
    damaged = digest(path)
    with SqliteStore(path) as store:
        for user in users(300):
            with contextlib.suppress(SimutradorError):
                store.sessions_of(user)
    assert digest(path) == damaged


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_a_truncated_file_is_refused_at_open_and_left_as_it_is(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "sessions.db"
    fill(path, 300)
    with path.open("r+b") as handle:
        handle.truncate(int(path.stat().st_size * keep) // 4096 * 4096)
    cut = digest(path)
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert error.message == (
        f"cannot use {path} as a session store: it is not a SQLite database, or it is damaged "
        "(database disk image is malformed)"
    )
    assert digest(path) == cut


def snapshot_of_a_crash(path: Path, copy: Path, count: int) -> list[int]:
    """`count` commits to `path` (one session each), its file and WAL copied as a crash would leave them.

    Returns the WAL's size after each commit.
    """
    sizes: list[int] = []
    with SqliteStore(path) as store:
        for user in users(count):
            store.save(make_session(user, "s1"))
            sizes.append(Path(f"{path}-wal").stat().st_size)
        shutil.copyfile(path, copy)
        shutil.copyfile(f"{path}-wal", f"{copy}-wal")  # no checkpoint yet: the commits are in the WAL
    return sizes


@pytest.mark.parametrize("cut_in", [0, 7, 19])
def test_a_truncated_wal_keeps_every_commit_before_the_cut(tmp_path: Path, cut_in: int) -> None:
    copy = tmp_path / "crashed.db"
    sizes = snapshot_of_a_crash(tmp_path / "sessions.db", copy, 20)
    with open(f"{copy}-wal", "r+b") as handle:
        handle.truncate((sizes[cut_in - 1] if cut_in else 0) + 100)  # into the frames of commit `cut_in`
    with SqliteStore(copy) as store:
        present = [user for user in users(20) if store.sessions_of(user)]
    assert present == users(20)[:cut_in]  # every commit whose frames are whole, and no later one


def test_a_wal_with_garbage_at_its_end_keeps_every_whole_commit(tmp_path: Path) -> None:
    copy = tmp_path / "crashed.db"
    sizes = snapshot_of_a_crash(tmp_path / "sessions.db", copy, 10)
    with open(f"{copy}-wal", "r+b") as handle:
        handle.seek(sizes[5] + 200)
        handle.write(random.Random(3).randbytes(sizes[9] - sizes[5] - 200))
    with SqliteStore(copy) as store:
        assert [user for user in users(10) if store.sessions_of(user)] == users(10)[:6]


# -- a full disk --------------------------------------------------------------------------


@contextlib.contextmanager
def disk_full(store: SqliteStore) -> Iterator[None]:
    """No page beyond those the file has (SQLITE_FULL), until the block ends."""
    db = store._connection
    assert db is not None
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    db.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        db.execute("PRAGMA max_page_count = 4294967294")


BIG = {"pad": "y" * 20_000}
"""Metadata that needs pages the file does not have."""


@pytest.fixture(scope="module")
def result() -> Any:
    engine = Engine(clock=ManualClock(T0), id_factory=SequentialIds())
    session = engine.create_session("alice", symbols="SPY", start="2024-03-01", end="2024-03-28", capital=10_000)
    return engine.run_simulation("alice", session.session_id, lambda ctx, tick: None)


WRITES: dict[str, Callable[[SqliteStore, Any, int], object]] = {
    "save": lambda store, _, n: store.save(make_session("bob", f"s{n}", metadata=PADDING)),
    "save_result": lambda store, result, n: store.save_result("alice", f"s{n}", result),
    "record_creation": lambda store, _, n: store.record_creation(f"user-{n}", T0),
    "append_journal": lambda store, _, n: store.append_journal(
        [JournalEntry(session_id="s1", tick=n, kind="batch", body=PADDING)]
    ),
    "add_api_key": lambda store, _, n: store.add_api_key(f"user-{n}"),
}


def contents(store: SqliteStore) -> dict[str, Any]:
    return {
        "sessions": len(store),
        "bob": store.sessions_of("bob"),
        "results": [store.get_result("alice", f"s{n}") is not None for n in range(200)],
        "creators": store.tracked_creators,
        "journal": store.journal_of("s1"),
        "keys": store.list_api_keys(),
        "index": store.index_size,
    }


def until_full(store: SqliteStore, write: Callable[[SqliteStore, int], object]) -> int:
    """Repeat `write` (each its own transaction) until the pages the file has are full; how many went in."""
    for number in range(10_000):
        try:
            write(store, number)
        except SimutradorError:
            return number
    raise AssertionError("the disk never filled")


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_full_disk_fails_the_write_changes_nothing_and_passes(
    tmp_path: Path, write: Callable[[SqliteStore, Any, int], object], result: Any
) -> None:
    path = tmp_path / "sessions.db"
    with SqliteStore(path) as store:
        store.save(make_session("alice", "s1", metadata=PADDING))
        with disk_full(store):
            number = until_full(store, lambda store, n: write(store, result, n))  # committed, each of them
            before = contents(store)
            error = expect_error(ErrorCode.STORAGE_FAILED, lambda: write(store, result, number))
            assert error.message == f"the session store {path} failed: database or disk is full"
            assert dict(error.details) == {"path": str(path), "sqlite_error": "OperationalError"}
            assert contents(store) == before  # rolled back, and the cached sessions with it
        write(store, result, number)  # space is back: the same write goes through
        after = contents(store)
    assert after != before
    with SqliteStore(path) as reopened:
        assert contents(reopened) == after  # what was committed before, during and after the full disk


def test_a_full_disk_fails_a_journal_group_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    reports: list[tuple[int, SimutradorError | None]] = []
    first = JournalEntry(session_id="s1", tick=1, kind="start")
    big = JournalEntry(session_id="s1", tick=2, kind="batch", body=BIG)
    later = JournalEntry(session_id="s1", tick=3, kind="cancel", body={"order_id": "o-1"})
    with SqliteStore(path) as store:
        with JournalWriter(store, lambda ticket, error: reports.append((ticket, error))) as writer:
            assert writer.wait(writer.append([first]), timeout=30)
            with disk_full(store):
                failed = writer.append([big])
                with pytest.raises(SimutradorError) as caught:
                    writer.wait(failed, timeout=30)
                assert caught.value.code is ErrorCode.STORAGE_FAILED
                assert str(path) in caught.value.message
                assert writer.failure(failed) is caught.value
            assert writer.wait(writer.append([big, later]), timeout=30)  # space is back
            assert writer._thread.is_alive()
        assert [(ticket, error is None) for ticket, error in reports] == [(1, True), (2, False), (3, True)]
        assert store.journal_of("s1") == [first, big, later]
    with SqliteStore(path) as reopened:
        assert reopened.journal_of("s1") == [first, big, later]


def test_a_callback_that_raises_does_not_end_the_journal_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def broken(ticket: int, _error: SimutradorError | None) -> None:
        calls.append(ticket)
        raise RuntimeError("a bug in the server's callback")

    entry = JournalEntry(session_id="s1", tick=1, kind="start")
    with SqliteStore(tmp_path / "sessions.db") as store, JournalWriter(store, broken) as writer:
        assert writer.wait(writer.append([entry]), timeout=30)
        assert writer.wait(writer.append([entry]), timeout=30)
        assert calls == [1, 2]
        assert store.journal_of("s1") == [entry, entry]
    assert "the journal's on_commit callback failed for ticket 1" in caplog.text


def test_an_engine_on_a_full_disk_refuses_and_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    spy = {"symbols": "SPY", "start": "2024-03-01", "end": "2024-03-28", "capital": 10_000}
    clock = ManualClock(T0)
    with SqliteStore(path) as store:
        engine = Engine(store=store, clock=clock, id_factory=SequentialIds())
        with disk_full(store):
            made = until_full(store, lambda _, n: engine.create_session(f"user-{n}", **spy))
            error = expect_error(ErrorCode.STORAGE_FAILED, lambda: engine.create_session(f"user-{made}", **spy))
            assert str(path) in error.message
        created = {n: engine.list_sessions(f"user-{n}") for n in range(made + 2)}
        again = engine.create_session(f"user-{made}", **spy)  # space is back
    assert [n for n, sessions in created.items() if sessions] == list(range(made))
    with SqliteStore(path) as reopened:
        engine = Engine(store=reopened, clock=clock)
        assert {n: engine.list_sessions(f"user-{n}") for n in range(made)} == {n: created[n] for n in range(made)}
        assert engine.list_sessions(f"user-{made}") == [again]


def test_a_failed_rollback_is_logged_and_the_first_error_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sessions.db"
    with SqliteStore(path) as store:

        def fail_inside() -> None:
            with store._writing() as db:
                db.execute("ROLLBACK")  # as SQLite does by itself after some errors
                db.execute("SELECT * FROM no_such_table")

        error = expect_error(ErrorCode.STORAGE_FAILED, fail_inside)
        assert "no such table: no_such_table" in error.message

        class Stuck:
            in_transaction = True

            def execute(self, _sql: str) -> None:
                raise sqlite3.OperationalError("disk I/O error")

        store._roll_back(Stuck())  # type: ignore[arg-type]
    assert f"the session store {path} could not roll back: disk I/O error" in caplog.text


# -- read-only files and folders ------------------------------------------------------------

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


def _without_permission_override() -> None:
    """In the child, before exec: give up root's power to ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(script: str, *args: str) -> dict[str, Any]:
    """Run `script` in a child process to which file permissions apply; its last stdout line as JSON."""
    as_root = os.geteuid() == 0
    if as_root and not sys.platform.startswith("linux"):
        pytest.skip("running as root, which ignores file permissions, and capabilities can only be dropped on Linux")
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            preexec_fn=_without_permission_override if as_root else None,
        )
    except subprocess.SubprocessError as exc:  # the prctl failed (no CAP_SETPCAP, say, in a container)
        if "preexec_fn" not in str(exc):
            raise
        pytest.skip(f"running as root, which ignores file permissions, and cannot drop CAP_DAC_OVERRIDE ({exc})")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


READ_ONLY_FILE = r"""
import json, os, sys
from pathlib import Path
from simutrador import SimutradorError, SqliteStore
from tests.core.stores import make_session

path = Path(sys.argv[1])
with SqliteStore(path) as store:
    store.save(make_session())
path.chmod(0o444)
try:
    SqliteStore(path)
except SimutradorError as error:
    owner = [error.code.value, error.message]
made_beside = sorted(p.name for p in path.parent.iterdir())
with SqliteStore(path, shared=True) as shared:  # reading still works
    read = [s.session_id for s in shared.sessions_of("alice")]
    try:
        shared.add_api_key("bob")
    except SimutradorError as error:
        write = [error.code.value, error.message]
for leftover in path.parent.iterdir():  # the file, and the -wal and -shm SQLite made with its mode
    leftover.chmod(0o644)
with SqliteStore(path) as store:
    store.save(make_session("alice", "s2"))
    after = sorted(s.session_id for s in store.sessions_of("alice"))
print(json.dumps({"owner": owner, "made_beside": made_beside, "read": read, "write": write, "after": after}))
"""


def test_a_read_only_file_is_refused_at_open_and_read_beside(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    found = run_unprivileged(READ_ONLY_FILE, str(path))
    assert found["owner"] == [
        "VALIDATION_FAILED",
        f"cannot use {path} as a session store: it is read-only: this process may not write it",
    ]
    assert found["made_beside"] == ["sessions.db", "sessions.db.lock"]  # no read-only -wal or -shm left behind
    assert found["read"] == ["s1"]
    assert found["write"] == [
        "STORAGE_FAILED",
        f"the session store {path} failed: attempt to write a readonly database",
    ]
    assert found["after"] == ["s1", "s2"]  # writable again: nothing was lost


READ_ONLY_FOLDER = r"""
import json, os, sys
from pathlib import Path
from simutrador import SimutradorError, SqliteStore
from tests.core.stores import make_session

folder = Path(sys.argv[1])
path = folder / "sessions.db"
with SqliteStore(path) as store:
    store.save(make_session())
errors = {}
folder.chmod(0o555)
for name, target in (("existing", path), ("new", folder / "new.db")):
    try:
        SqliteStore(target)
    except SimutradorError as error:
        errors[name] = [error.code.value, error.message]
folder.chmod(0o755)
Path(f"{path}.lock").unlink()
folder.chmod(0o555)
try:
    SqliteStore(path)
except SimutradorError as error:
    errors["no lock file"] = [error.code.value, error.message]
listed = sorted(p.name for p in folder.iterdir())
folder.chmod(0o755)
path.chmod(0o000)
try:
    SqliteStore(path, shared=True)
except SimutradorError as error:
    errors["unreadable"] = [error.code.value, error.message]
path.chmod(0o644)
with SqliteStore(path) as store:
    after = [s.session_id for s in store.sessions_of("alice")]
print(json.dumps({"errors": errors, "listed": listed, "after": after}))
"""


def test_a_read_only_folder_or_an_unreadable_file_is_refused_at_open(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "sessions.db"
    found = run_unprivileged(READ_ONLY_FOLDER, str(folder))
    assert found["errors"] == {
        "existing": [
            "VALIDATION_FAILED",
            f"cannot use {path} as a session store: it is read-only: this process may not write it, or its folder "
            "(SQLite keeps its -wal and -shm files there) (attempt to write a readonly database)",
        ],
        "new": [
            "VALIDATION_FAILED",
            f"cannot use {folder / 'new.db'} as a session store: it cannot be opened: its lock file "
            f"{folder / 'new.db'}.lock cannot be made (Permission denied)",
        ],
        "no lock file": [
            "VALIDATION_FAILED",
            f"cannot use {path} as a session store: it cannot be opened: its lock file {path}.lock "
            "cannot be made (Permission denied)",
        ],
        "unreadable": [
            "VALIDATION_FAILED",
            f"cannot use {path} as a session store: it cannot be read (Permission denied)",
        ],
    }
    assert found["listed"] == ["sessions.db"]
    assert found["after"] == ["s1"]


def test_the_writer_thread_is_not_left_running(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    with SqliteStore(tmp_path / "s.db") as store, JournalWriter(store):
        pass
    assert {t.name for t in threading.enumerate()} == before
