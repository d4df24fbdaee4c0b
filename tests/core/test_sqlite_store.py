"""`SqliteStore` beyond the protocol: restarts, schema versions, a killed writer, file size, API keys."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simutrador import (
    Engine,
    EngineSettings,
    ErrorCode,
    Plan,
    SessionSettings,
    SessionState,
    SimutradorError,
    SqliteStore,
)
from simutrador.codec import session_to_wire
from simutrador.storage import schema
from simutrador.storage.journal import JournalEntry
from simutrador.testing import ManualClock, SequentialIds
from tests.core.stores import T0, make_session

SPY = {"symbols": "SPY", "start": "2024-03-01", "end": "2024-03-28", "capital": 10_000}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def open_engine(path: Path, clock: ManualClock, **session: Any) -> tuple[Engine, SqliteStore]:
    store = SqliteStore(path)
    settings = EngineSettings(session=SessionSettings(**session))
    return Engine(settings, clock=clock, id_factory=SequentialIds(), store=store), store


def expect_error(code: ErrorCode, action: Any) -> SimutradorError:
    with pytest.raises(SimutradorError) as caught:
        action()
    assert caught.value.code is code, caught.value
    return caught.value


def buy_once(ctx: Any, tick: Any) -> None:
    if tick.sequence_id == 1:
        ctx.buy("SPY", 5)


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pragma(path: Path, name: str) -> Any:
    with sqlite3.connect(path) as raw:
        value = raw.execute(f"PRAGMA {name}").fetchone()[0]
    raw.close()
    return value


# -- restarts -----------------------------------------------------------------------------


def test_a_reopened_store_sees_sessions_results_and_creation_windows(path: Path, clock: ManualClock) -> None:
    engine, store = open_engine(path, clock)
    ready = engine.create_session("alice", **SPY)
    done = engine.create_session("alice", **SPY)
    result = engine.run_simulation("alice", done.session_id, buy_once)
    engine.create_session("bob", **SPY, plan=Plan.FREE)
    store.close()
    store.close()  # idempotent

    engine, store = open_engine(path, clock)
    with store:
        assert len(store) == 3
        assert engine.get_session("alice", ready.session_id) == ready
        assert engine.get_session("alice", done.session_id).state is SessionState.COMPLETED
        assert engine.get_result("alice", done.session_id).digest == result.digest
        assert [s.session_id for s in engine.list_sessions("alice")] == [ready.session_id, done.session_id]
        assert len(store.creations_since("alice", T0 - timedelta(hours=1))) == 2
        # bob's free plan allows one live session and five an hour: the window came back with the file
        expect_error(ErrorCode.SESSION_LIMIT_EXCEEDED, lambda: engine.create_session("bob", **SPY, plan=Plan.FREE))


def test_running_sessions_come_back_paused_with_a_fresh_expiry(path: Path, clock: ManualClock) -> None:
    engine, store = open_engine(path, clock)
    running = engine.create_session("alice", **SPY).session_id
    handle = engine.start_simulation("alice", running)
    next(iter(handle))
    paused = engine.create_session("bob", **SPY).session_id
    engine.start_simulation("bob", paused).pause()
    ready = engine.create_session("carol", **SPY)
    assert engine.get_session("alice", running).state is SessionState.RUNNING
    store.close()  # the process dies with its simulator

    clock.advance(hours=5)  # down longer than the timeout
    with SqliteStore(path) as reopened:
        assert [s.session_id for s in reopened.interrupted()] == [running]
    engine, store = open_engine(path, clock)
    with store:
        recovered = engine.get_session("alice", running)
        assert recovered.state is SessionState.PAUSED
        assert recovered.updated_at == clock()
        assert recovered.expires_at == clock() + timedelta(minutes=60)  # a full timeout to come back
        assert store.interrupted() == []
        assert store.get("carol", ready.session_id) == ready  # untouched by the recovery...
        expect_error(ErrorCode.SESSION_NOT_FOUND, lambda: engine.get_session("carol", ready.session_id))  # ...expired
        assert engine.delete_session("alice", running).state is SessionState.PAUSED

    engine, store = open_engine(path, clock)  # recovery happened once: nothing is left running
    with store:
        assert store.interrupted() == []
        bobs = store.get("bob", paused)  # paused by its own handle before the crash: not the recovery's business
        assert bobs is not None
        assert (bobs.state, bobs.expires_at) == (SessionState.PAUSED, T0 + timedelta(minutes=60))


def test_recovery_only_concerns_sessions_not_saved_since_the_file_was_opened(path: Path, clock: ManualClock) -> None:
    with SqliteStore(path) as store:
        store.save(make_session("alice", "kept", state=SessionState.RUNNING))
        store.save(make_session("alice", "gone", state=SessionState.RUNNING))
    with SqliteStore(path) as store:
        assert [s.session_id for s in store.interrupted()] == ["gone", "kept"]
        store.remove("alice", "gone")
        store.save(make_session("alice", "kept", state=SessionState.RUNNING))  # a live simulator saved it
        assert store.interrupted() == []


def test_engine_open_is_a_store_on_a_file(path: Path, clock: ManualClock) -> None:
    engine = Engine.open(path, synchronous="full", clock=clock, id_factory=SequentialIds())
    session = engine.create_session("alice", **SPY)
    assert session.session_id == "session-1"
    held = expect_error(ErrorCode.VALIDATION_FAILED, lambda: Engine.open(path, clock=clock))
    assert "already has it open" in held.message  # the file stays open (and owned) for the engine's life
    del engine  # a dropped engine's store lets the file go
    reopened = Engine.open(path, clock=clock)
    assert reopened.get_session("alice", "session-1") == session
    expect_error(ErrorCode.VALIDATION_FAILED, lambda: Engine.open(path, synchronous="sometimes"))


# -- the file -----------------------------------------------------------------------------


def test_the_file_is_wal_with_the_current_schema(path: Path) -> None:
    with SqliteStore(path, synchronous="FULL") as store:
        assert store.path == str(path)
        assert repr(store) == f"SqliteStore({str(path)!r})"
        assert store._connection is not None
        assert store._connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with SqliteStore(path) as store:
        assert store._connection is not None
        assert store._connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "user_version") == schema.SCHEMA_VERSION
    assert pragma(path, "application_id") == schema.APPLICATION_ID
    assert pragma(path, "auto_vacuum") == 2  # incremental


def test_a_database_from_a_newer_version_is_refused_and_left_untouched(path: Path) -> None:
    with SqliteStore(path) as store:
        store.save(make_session())
    newer = schema.SCHEMA_VERSION + 1
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {newer}")
    raw.close()
    before = digest_of(path)
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert str(path) in error.message
    assert f"schema version {newer}" in error.message
    assert f"up to {schema.SCHEMA_VERSION}" in error.message
    assert "newer SimuTrador" in error.message
    assert dict(error.details) == {
        "fields": ["store"],
        "path": str(path),
        "schema_version": newer,
        "supported_version": schema.SCHEMA_VERSION,
    }
    assert digest_of(path) == before
    assert pragma(path, "user_version") == newer


def build_at_version(path: Path, version: int) -> None:
    """A file as an older SimuTrador left it: the first `version` migrations, one session in it."""
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA auto_vacuum = INCREMENTAL")
    raw.execute("PRAGMA journal_mode = WAL")
    for step in schema.MIGRATIONS[:version]:
        for statement in step:
            raw.execute(statement)
    raw.execute(f"PRAGMA user_version = {version}")
    if version:
        session = make_session(expires_in=timedelta(days=1))
        raw.execute(
            "INSERT INTO sessions (user_id, session_id, state, expires_at, body) VALUES (?, ?, ?, ?, ?)",
            ("alice", "s1", "ready", 0, json.dumps(session_to_wire(session))),
        )
    raw.close()


@pytest.mark.parametrize("version", range(schema.SCHEMA_VERSION))
def test_older_files_are_migrated_forward(path: Path, version: int) -> None:
    build_at_version(path, version)
    with SqliteStore(path) as store:
        assert pragma(path, "user_version") == schema.SCHEMA_VERSION
        assert len(store) == (1 if version else 0)
        if version:
            assert store.get("alice", "s1") == make_session(expires_in=timedelta(days=1))
        key = store.add_api_key("alice", Plan.PROFESSIONAL)  # version 2 added API keys
        assert store.verify_api_key(key) == ("alice", Plan.PROFESSIONAL)
        entry = JournalEntry(session_id="s1", tick=3, kind="cancel", body={"order_id": "o-1"})  # version 3: journal
        store.append_journal([entry])
        assert store.journal_of("s1") == [entry]


def test_the_previous_version_gains_exactly_the_last_step(path: Path) -> None:
    build_at_version(path, schema.SCHEMA_VERSION - 1)
    with sqlite3.connect(path) as raw:
        tables_before = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        tables_after = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    assert tables_after - tables_before == {"journal"}


def test_a_failing_migration_changes_nothing(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SqliteStore(path) as store:
        store.save(make_session())
    broken = (*schema.MIGRATIONS, ("CREATE TABLE half_done (x)", "THIS IS NOT SQL"))
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(broken))
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert "cannot be read or written" in error.message
    monkeypatch.undo()
    assert pragma(path, "user_version") == schema.SCHEMA_VERSION
    with SqliteStore(path) as store:
        assert len(store) == 1
        assert store._connection is not None
        assert (
            store._connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
        )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"this is a text file, not a database" * 100, "not a SQLite database"),
        (None, "another program"),
    ],
)
def test_files_that_are_not_session_stores_are_refused(path: Path, content: bytes | None, fragment: str) -> None:
    if content is None:
        with sqlite3.connect(path) as raw:
            raw.execute("CREATE TABLE accounts (id INTEGER)")
        raw.close()
    else:
        path.write_bytes(content)
    before = digest_of(path)
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(path))
    assert fragment in error.message
    assert str(path) in error.message
    assert digest_of(path) == before


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    error = expect_error(ErrorCode.VALIDATION_FAILED, lambda: SqliteStore(tmp_path / "missing" / "sessions.db"))
    assert "cannot be opened" in error.message or "cannot be read" in error.message


def test_a_memory_database_works_without_wal(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="simutrador.storage.schema"), SqliteStore(":memory:") as store:
        store.save(make_session())
        assert len(store) == 1
    assert "journal_mode=memory" in caplog.text


def test_a_closed_store_says_so(path: Path) -> None:
    store = SqliteStore(path)
    store.close()
    error = expect_error(ErrorCode.INTERNAL_ERROR, lambda: store.get("alice", "s1"))
    assert "closed" in error.message
    expect_error(ErrorCode.INTERNAL_ERROR, lambda: store.save(make_session()))


def test_sqlite_failures_become_storage_errors_and_roll_back(path: Path) -> None:
    with SqliteStore(path) as store:
        store.save(make_session())
        with sqlite3.connect(path) as raw:
            raw.execute("DROP TABLE results")
        raw.close()
        error = expect_error(ErrorCode.STORAGE_FAILED, lambda: store.remove("alice", "s1"))
        assert error.details["path"] == str(path)
        assert store.get("alice", "s1") is not None  # the session's delete was rolled back with the result's
        expect_error(ErrorCode.STORAGE_FAILED, lambda: store.get_result("alice", "s1"))

        def delete_then_fail() -> None:
            with store._writing() as db:
                db.execute("DELETE FROM sessions")
                raise ValueError("not sqlite")

        with pytest.raises(ValueError, match="not sqlite"):
            delete_then_fail()
        assert len(store) == 1  # rolled back too


# -- a killed writer ----------------------------------------------------------------------

WRITER = """
import sys
from simutrador import Engine

engine = Engine.open(sys.argv[1])
spy = {"symbols": "SPY", "start": "2024-03-01", "end": "2024-03-28", "capital": 10_000}
done = engine.create_session("runner", **spy).session_id
result = engine.run_simulation("runner", done, lambda ctx, tick: ctx.buy("SPY", 1) if tick.sequence_id == 1 else None)
print("result", done, result.digest, flush=True)
number = 0
while True:
    number += 1
    session = engine.create_session(f"user-{number}", **spy)
    print("created", session.user_id, session.session_id, flush=True)
"""


def test_every_session_a_killed_process_reported_committed_is_there(path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(60, process.kill)  # a bound, should the child hang
    timer.start()
    try:
        for line in process.stdout:
            lines.append(line.split())
            if len(lines) > 300:
                os.kill(process.pid, signal.SIGKILL)  # mid-loop: maybe mid-transaction
                break
        lines.extend(line.split() for line in process.stdout)  # what it printed before dying
    finally:
        timer.cancel()
        process.wait()
        process.stdout.close()
        assert process.stderr is not None
        errors = process.stderr.read()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL, errors
    (kind, done, digest), *created = lines
    assert kind == "result"
    assert len(created) >= 300
    with SqliteStore(path) as store:
        for _, user_id, session_id in created:
            assert store.get(user_id, session_id) is not None, (user_id, session_id)
        assert len(created) + 1 <= len(store) <= len(created) + 2  # one more may have committed unprinted
        result = store.get_result("runner", done)
        assert result is not None
        assert result.digest == digest


# -- the file does not grow without bound -------------------------------------------------


def test_deleted_sessions_give_their_space_back(path: Path, clock: ManualClock) -> None:
    engine, store = open_engine(path, clock, max_sessions_per_user=1000)
    with store:
        for number in range(2000):
            engine.create_session(f"user-{number % 2}", **SPY)
        store._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        peak = path.stat().st_size
        clock.advance(minutes=61)
        assert engine.cleanup_expired_sessions() == 2000
        assert len(store) == 0
        assert store.tracked_creators == 0
    after = path.stat().st_size  # closing checkpoints the WAL into the file
    assert peak > 1_000_000
    assert after < peak / 4, (peak, after)


# -- API keys -----------------------------------------------------------------------------


def test_api_keys_verify_list_and_revoke(path: Path, clock: ManualClock) -> None:
    with SqliteStore(path, clock=clock) as store:
        alices = store.add_api_key("alice", Plan.PROFESSIONAL)
        clock.advance(minutes=1)
        bobs = store.add_api_key("bob", "free")
        assert alices.startswith("stk_")
        assert alices != bobs
        assert store.verify_api_key(alices) == ("alice", Plan.PROFESSIONAL)
        assert store.verify_api_key(f"  {bobs}\n") == ("bob", Plan.FREE)
        listed = store.list_api_keys()
        assert [(k.user_id, k.plan, k.created_at, k.active) for k in listed] == [
            ("alice", Plan.PROFESSIONAL, T0, True),
            ("bob", Plan.FREE, T0 + timedelta(minutes=1), True),
        ]
        assert alices.split("_")[1] == listed[0].key_id
        assert [k.user_id for k in store.list_api_keys("bob")] == ["bob"]
        assert "stk_" not in repr(listed)
        clock.advance(minutes=1)
        assert store.revoke_api_key(listed[0].key_id)
        assert not store.revoke_api_key(listed[0].key_id)  # once
        assert store.verify_api_key(alices) is None
        assert store.list_api_keys("alice")[0].revoked_at == clock()
        assert store.revoke_api_key(bobs)  # the whole key works too
        for nonsense in ("", "nonsense", "0123456789abcdef", 42):
            assert not store.revoke_api_key(nonsense)  # type: ignore[arg-type]
    with SqliteStore(path) as store:  # keys survive a restart
        assert [k.active for k in store.list_api_keys()] == [False, False]


def test_api_keys_refuse_forgeries(path: Path) -> None:
    with SqliteStore(path) as store:
        key = store.add_api_key("alice")
        prefix, key_id, secret = key[:3], key[4:20], key[21:]
        assert f"{prefix}_{key_id}_{secret}" == key
        flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        other_id = ("0" if key_id[0] != "0" else "1") + key_id[1:]
        for forged in (
            f"stk_{key_id}_{flipped}",  # wrong secret
            f"stk_{other_id}_{secret}",  # unknown id
            key[:-1],  # too short
            key.upper(),
            "Bearer " + key,
            None,
            b"bytes",
        ):
            assert store.verify_api_key(forged) is None  # type: ignore[arg-type]
        for user_id, plan, field in (
            ("", "free", "user_id"),
            ("x" * 129, "free", "user_id"),
            ("a\nb", "free", "user_id"),
            ("alice", "gold", "plan"),
        ):
            error = expect_error(ErrorCode.VALIDATION_FAILED, lambda u=user_id, p=plan: store.add_api_key(u, p))
            assert error.details["fields"] == [field]
        assert len(store.list_api_keys()) == 1


def test_keys_are_hashed_at_rest(path: Path) -> None:
    with SqliteStore(path) as store:
        keys = [store.add_api_key(f"user-{n}", Plan.ENTERPRISE) for n in range(5)]
        store._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        written = b"".join(p.read_bytes() for p in files)  # the database and its WAL, while open
    written += b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    assert len(written) > 0
    for key in keys:
        assert key.encode() not in written
        assert key[21:].encode() not in written  # the secret
        assert key[4:20].encode() in written  # the public key id is stored, as it should be


# -- threads ------------------------------------------------------------------------------


def test_engine_threads_share_one_store(path: Path, clock: ManualClock) -> None:
    engine, store = open_engine(path, clock, max_sessions_per_user=20)

    def churn(user: str) -> int:
        kept = 0
        for number in range(40):
            session = engine.create_session(user, **SPY)
            if number % 4:
                engine.delete_session(user, session.session_id)
            else:
                kept += 1
        return kept

    with store, ThreadPoolExecutor(8) as pool:
        users = [f"user-{n}" for n in range(8)]
        kept = list(pool.map(churn, users))
        assert len(store) == sum(kept) == 80
        assert all(len(engine.list_sessions(u)) == 10 for u in users)


def test_creations_since_reads_no_more_than_the_limit(path: Path) -> None:
    with SqliteStore(path) as store:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        for minute in range(5):
            store.record_creation("alice", start + timedelta(minutes=minute))
        assert list(store.creations_since("alice", start - timedelta(seconds=1), 2)) == [
            start,
            start + timedelta(minutes=1),
        ]
        assert len(store.creations_since("alice", start - timedelta(seconds=1))) == 5
