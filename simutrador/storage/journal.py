"""The command journal of running simulations, and the writer thread that commits it in groups.

A simulation is deterministic: the same session, data and commands at the same ticks
give the same fills. So what must survive a crash is not the simulator but what was
asked of it: a `JournalEntry` per command (``start`` with its options, ``batch`` of
orders with what was answered, ``cancel``), each stamped with the tick it applies at,
plus ``progress`` marks (the last tick acknowledged, written now and then, never
waited for). Ticks are re-derived from the data, never stored. Replaying the entries
on a fresh simulator (`simutrador.Engine.restore_simulation`) rebuilds the run.

`JournalWriter` keeps SQLite off the caller's thread: `JournalWriter.append` queues
entries and returns a ticket at once; one thread commits everything queued in one
transaction (group commit), then reports the highest ticket committed through
`on_commit`. A server answers a batch only once its ticket is committed.

A group that cannot be written (a full disk, an I/O error) fails its tickets with
``STORAGE_FAILED`` and nothing else: the thread goes on, and later groups commit
once the store can write again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["ENTRY_KINDS", "JournalEntry", "JournalStore", "JournalWriter"]

logger = logging.getLogger(__name__)

ENTRY_KINDS = ("start", "batch", "cancel", "progress")
"""What a journal entry records."""


def _frozen_body(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


@attrs.frozen(kw_only=True, slots=True)
class JournalEntry:
    """One command of a simulation, at the tick it applies at.

    Attributes:
        session_id: The session.
        tick: The tick (sequence id) the command applies at; 0 before the first.
        kind: One of `ENTRY_KINDS`.
        body: JSON-ready data (orders through the core converter, the answer sent).
    """

    session_id: str
    tick: int
    kind: str
    body: Mapping[str, Any] = attrs.field(factory=dict[str, Any], converter=_frozen_body)


@runtime_checkable
class JournalStore(Protocol):
    """Where journal entries are kept (both stores implement it)."""

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        """Keep `entries`, in order, in one transaction.

        Raises:
            SimutradorError: ``STORAGE_FAILED`` when they could not be written.
        """
        ...

    def journal_of(self, session_id: str) -> list[JournalEntry]:
        """Every entry of `session_id`, in the order appended."""
        ...


class JournalWriter:
    """One thread that commits journal entries in groups.

    Args:
        store: Where entries go.
        on_commit: Called from the writer thread with the highest ticket committed
            (and None), or with the tickets that failed and the error.

    Use `close` (or ``with``) to commit what is queued and stop the thread.
    """

    def __init__(
        self,
        store: JournalStore,
        on_commit: Callable[[int, SimutradorError | None], object] | None = None,
    ) -> None:
        self._store = store
        self._on_commit = on_commit
        self._queue: list[tuple[int, Sequence[JournalEntry]]] = []
        self._ticket = 0
        self._committed = 0
        self._failed: dict[int, SimutradorError] = {}
        self._condition = threading.Condition()
        self._closing = False
        self.groups = 0
        self._thread = threading.Thread(target=self._run, name="simutrador-journal", daemon=True)
        self._thread.start()

    @property
    def committed(self) -> int:
        """The highest ticket committed (every lower one is committed or failed)."""
        return self._committed

    def append(self, entries: Sequence[JournalEntry]) -> int:
        """Queue `entries` for the next group; returns their ticket (at once)."""
        with self._condition:
            if self._closing:
                raise SimutradorError(ErrorCode.INTERNAL_ERROR, "the journal writer is closed")
            self._ticket += 1
            self._queue.append((self._ticket, entries))
            self._condition.notify()
            return self._ticket

    def failure(self, ticket: int) -> SimutradorError | None:
        """Why `ticket` was not committed (None when it was, or is still queued)."""
        with self._condition:
            return self._failed.get(ticket)

    def wait(self, ticket: int, timeout: float | None = None) -> bool:
        """Block until `ticket` is committed; False on timeout.

        Raises:
            SimutradorError: ``STORAGE_FAILED`` when its group could not be written.
        """
        with self._condition:
            done = self._condition.wait_for(lambda: self._committed >= ticket, timeout)
            failed = self._failed.get(ticket)
        if failed is not None:
            raise failed
        return done

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        self._thread.join()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: bool(self._queue) or self._closing)
                group, self._queue = self._queue, []
                if not group and self._closing:
                    return
            entries = [entry for _, batch in group for entry in batch]
            last = group[-1][0]
            error: SimutradorError | None = None
            try:
                self._store.append_journal(entries)
            except SimutradorError as exc:
                error = exc
            except Exception as exc:
                error = SimutradorError(ErrorCode.STORAGE_FAILED, f"the journal could not be written: {exc}")
            with self._condition:
                if error is not None:
                    logger.error("journal group of %d entries failed: %s", len(entries), error.message)
                    for ticket, _ in group:
                        self._failed[ticket] = error
                self._committed = last
                self.groups += 1
                self._condition.notify_all()
            if self._on_commit is not None:
                try:
                    self._on_commit(last, error)
                except Exception:  # a bug in the callback must not end the writer (later waits would hang)
                    logger.exception("the journal's on_commit callback failed for ticket %d", last)
