"""Sweep throughput (DESIGN §8), timed by pytest-benchmark: whole 100-run grids by executor.

The workloads are `simutrador_bench.sweeps`'s, the same `simutrador bench --only sweep`
times beside the serial baseline. CI runs this with --benchmark-disable as a smoke check.
"""

from __future__ import annotations

import pytest
from simutrador_bench import sweeps


@pytest.mark.parametrize(("executor", "workers"), [("serial", 1), ("processes", 1), ("processes", 2)])
def test_sweep(benchmark: pytest.FixtureRequest, executor: str, workers: int) -> None:
    timing = benchmark.pedantic(sweeps.time_sweep, args=(executor, workers), rounds=1, iterations=1)  # type: ignore[attr-defined]
    assert timing.runs == sweeps.GRID_RUNS
    assert all(timing.digests)
