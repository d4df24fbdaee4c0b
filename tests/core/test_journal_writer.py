"""`JournalWriter`: tickets, group commit, failures that end no thread, and closing.

The store is a `MemoryStore` or a `SqliteStore`; a gate store blocks the writer
thread on a `threading.Event` so that a group forms deterministically (no sleeping).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from simutrador import ErrorCode, MemoryStore, SimutradorError, SqliteStore
from simutrador.storage.journal import JournalEntry, JournalStore, JournalWriter


def entry(tick: int, kind: str = "batch") -> JournalEntry:
    return JournalEntry(session_id="s1", tick=tick, kind=kind, body={"tick": tick})


class GateStore:
    """A journal store whose first append waits for `opened`, and that can be told to fail."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.fail_with: Exception | None = None
        self.groups: list[int] = []

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        self.entered.set()
        assert self.opened.wait(30)
        if self.fail_with is not None:
            raise self.fail_with
        self.groups.append(len(entries))
        self.inner.append_journal(entries)

    def journal_of(self, session_id: str) -> list[JournalEntry]:
        return self.inner.journal_of(session_id)


@pytest.fixture
def gate() -> GateStore:
    return GateStore()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JournalStore]:
    if request.param == "memory":
        yield MemoryStore()
    else:
        with SqliteStore(tmp_path / "journal.db") as opened:
            yield opened


def test_entries_are_kept_in_order_and_tickets_count_up(store: JournalStore) -> None:
    with JournalWriter(store) as writer:
        tickets = [writer.append([entry(1), entry(2)]), writer.append([entry(3, "cancel")])]
        assert tickets == [1, 2]
        assert writer.wait(2, timeout=30)
        assert writer.committed == 2
        assert writer.failure(1) is None
    assert store.journal_of("s1") == [entry(1), entry(2), entry(3, "cancel")]
    assert store.journal_of("s2") == []


def test_what_is_queued_while_a_group_is_written_goes_in_one_next_group(gate: GateStore) -> None:
    gate.opened.clear()
    with JournalWriter(gate) as writer:
        first = writer.append([entry(1)])
        assert gate.entered.wait(30)  # the thread is inside the first group
        assert not writer.wait(first, timeout=0)
        later = [writer.append([entry(tick)]) for tick in (2, 3, 4)]
        gate.opened.set()
        assert writer.wait(later[-1], timeout=30)
        assert writer.groups == 2
    assert gate.groups == [1, 3]
    assert [e.tick for e in gate.journal_of("s1")] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (SimutradorError(ErrorCode.STORAGE_FAILED, "the session store x failed: disk I/O error"), "disk I/O error"),
        (RuntimeError("a bug in the store"), "the journal could not be written: a bug in the store"),
    ],
)
def test_a_failed_group_fails_its_tickets_and_the_thread_goes_on(
    gate: GateStore, failure: Exception, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[tuple[int, ErrorCode | None]] = []
    gate.opened.set()
    gate.fail_with = failure
    with JournalWriter(gate, lambda ticket, error: reports.append((ticket, error and error.code))) as writer:
        failed = writer.append([entry(1)])
        with pytest.raises(SimutradorError) as caught:
            writer.wait(failed, timeout=30)
        assert caught.value.code is ErrorCode.STORAGE_FAILED
        assert message in caught.value.message
        assert writer.failure(failed) is caught.value
        gate.fail_with = None
        assert writer.wait(writer.append([entry(2)]), timeout=30)
        assert writer.failure(2) is None
    assert reports == [(1, ErrorCode.STORAGE_FAILED), (2, None)]
    assert [e.tick for e in gate.journal_of("s1")] == [2]
    assert "journal group of 1 entries failed" in caplog.text


def test_closing_commits_what_is_queued_and_refuses_more(gate: GateStore) -> None:
    writer = JournalWriter(gate)
    writer.append([entry(1)])
    assert gate.entered.wait(30)
    writer.append([entry(2)])
    gate.opened.set()
    writer.close()
    assert [e.tick for e in gate.journal_of("s1")] == [1, 2]
    with pytest.raises(SimutradorError) as caught:
        writer.append([entry(3)])
    assert caught.value.code is ErrorCode.INTERNAL_ERROR
    assert "closed" in caught.value.message
    writer.close()  # idempotent
