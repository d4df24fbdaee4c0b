"""Test helpers for code that embeds SimuTrador, in the spirit of ``trio.testing``.

`ManualClock` is a clock that only moves when told to; `SequentialIds` hands out
predictable session ids. With both injected into an `Engine`, every rule that
depends on time or identity can be tested without sleeping::

    clock = ManualClock()
    engine = Engine(clock=clock, id_factory=SequentialIds())
    clock.advance(minutes=61)  # sessions older than the timeout have now expired
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock", "SequentialIds"]

DEFAULT_START = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)


class ManualClock:
    """A thread-safe clock that moves only when `advance` or `set` is called.

    Args:
        start: The initial time; must be timezone-aware. Defaults to 2025-01-02 12:00 UTC.
    """

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The clock's current time."""
        return self._now

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        """Move forward by `delta` or by keyword units (``seconds=``, ``minutes=``...).

        Returns:
            The new current time.
        """
        step = (delta or timedelta()) + timedelta(**units)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (timezone-aware; may not be earlier than now)."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware time")
        with self._lock:
            if when < self._now:
                raise ValueError("a clock does not go backwards")
            self._now = when.astimezone(UTC)


class SequentialIds:
    """Deterministic session ids: ``session-1``, ``session-2``... (thread-safe).

    Args:
        prefix: Text before the counter.
    """

    def __init__(self, prefix: str = "session-") -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self) -> str:
        """The next id."""
        with self._lock:
            return f"{self._prefix}{next(self._counter)}"
