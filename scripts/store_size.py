"""How big a SQLite session store gets, and how small it gets again, as sessions come and go.

Sessions are made through an `Engine` (validated against the sample catalog) on a
manual clock, five per user. Two runs, each on a new file:

- **all at once**: N sessions created; half deleted one by one (``delete_session``);
  the clock moves past the timeout and one ``cleanup_expired_sessions`` removes the
  rest.
- **churn**: the same N sessions created in ten rounds, each round's sessions
  expiring and cleaned up before the next, so at most N/10 are live at once.

The file's size (database plus WAL) is printed at each stage, and once more after the
store is closed (which checkpoints the WAL into the file)::

    .venv/bin/python scripts/store_size.py --sessions 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from simutrador_bench.durability import PER_USER, STORE_SESSION, file_size, store_size

from simutrador import Engine, SqliteStore
from simutrador.testing import ManualClock, SequentialIds

SPY = STORE_SESSION


def say(line: str) -> None:
    """One line of the report on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def size(path: Path) -> int:
    """The database file and its WAL, in bytes."""
    return file_size(path)


def mib(count: int) -> str:
    """Bytes in MiB, for people."""
    return f"{count / 2**20:,.2f} MiB"


def all_at_once(path: Path, count: int) -> None:
    """Create `count` sessions, delete half, expire the rest (``simutrador bench --only durability`` does the same)."""
    figures = store_size(path, count)
    rate = count / figures.create_seconds
    say(f"{count:,} sessions created in {figures.create_seconds:.1f} s ({rate:,.0f}/s): {mib(figures.largest)}")
    say(f"{count - count // 2:,} deleted one by one in {figures.delete_seconds:.1f} s: {mib(figures.half)}")
    say(f"{count // 2:,} expired and removed by one cleanup in {figures.cleanup_seconds:.1f} s: {mib(figures.empty)}")
    assert figures.left == 0
    say(f"after closing (WAL checkpointed into the file): {figures.closed:,} bytes")


def churn(path: Path, count: int, rounds: int = 10) -> None:
    """Create `count` sessions in `rounds`, cleaning each round up before the next."""
    clock = ManualClock()
    largest = 0
    with SqliteStore(path) as store:
        engine = Engine(clock=clock, id_factory=SequentialIds(), store=store)
        for round_number in range(rounds):
            for n in range(count // rounds):
                engine.create_session(f"user-{round_number}-{n // PER_USER}", **SPY)
            largest = max(largest, size(path))
            clock.advance(minutes=61)
            engine.cleanup_expired_sessions()
        assert len(store) == 0
        shape = f"{count:,} sessions in {rounds} rounds of {count // rounds:,}"
        say(f"{shape}: largest {mib(largest)}, at the end {mib(size(path))}")
    say(f"after closing: {size(path):,} bytes")


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100_000)
    count: int = parser.parse_args().sessions
    with tempfile.TemporaryDirectory() as folder:
        say("all at once:")
        all_at_once(Path(folder) / "once.db", count)
        say("churn:")
        churn(Path(folder) / "churn.db", count)


if __name__ == "__main__":
    main()
