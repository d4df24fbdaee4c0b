"""Sweep workloads: runs per second of a grid by executor and workers, and each executor's start cost.

Every run of the grid is one backtest of `simutrador.sweeps.examples.SmaCross` on nine
years of AAPL's daily bars (about 2,300 bars and a few dozen trades, tens of
milliseconds), its fast average the swept parameter: enough work per run for workers
to pay off, small enough for a grid to take seconds. The serial rate in the same run is the
baseline; rates and ratios come from whole sweeps.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Final

import attrs

from simutrador.sweeps import SmaCross, SweepResult, sweep

__all__ = ["GRID_RUNS", "SweepTiming", "ray_available", "time_sweep"]

GRID_RUNS: Final = 100
"""Runs of the benchmark grid (DESIGN §8 figures are for a 100-run grid)."""

_SESSION: Final = {"symbols": "AAPL", "start": "2016-01-04", "end": "2024-12-31", "initial_capital": 100_000}


@attrs.frozen
class SweepTiming:
    """One whole sweep, timed.

    Attributes:
        executor: ``serial``, ``processes`` or ``ray``.
        workers: Workers used.
        runs: Runs in the grid.
        seconds: Wall-clock time of the whole sweep, executor start included.
        digests: Each run's digest, in grid order (to check executors agree).
    """

    executor: str
    workers: int
    runs: int
    seconds: float
    digests: tuple[str | None, ...]

    @property
    def rate(self) -> float:
        """Runs per second."""
        return self.runs / self.seconds if self.seconds > 0 else 0.0


def ray_available() -> bool:
    """Whether the ``ray`` extra is installed."""
    return importlib.util.find_spec("ray") is not None


def time_sweep(executor: str, workers: int, runs: int = GRID_RUNS) -> SweepTiming:
    """Sweep a `runs`-run grid with `executor` and `workers`, timing the whole of it."""
    started = time.perf_counter()
    result: SweepResult = sweep(
        SmaCross, {"fast": list(range(1, runs + 1)), "slow": [200]}, executor=executor, max_workers=workers, **_SESSION
    )
    seconds = time.perf_counter() - started
    return SweepTiming(executor, workers, runs, seconds, tuple(r.digest for r in result))
