"""The sweep workloads run, agree across executors, and the bench step reports every figure."""

from __future__ import annotations

import attrs
from simutrador_bench import runner, sweeps

from tests.bench.test_wire_and_runner import TINY


def test_time_sweep_agrees_across_executors() -> None:
    serial = sweeps.time_sweep("serial", 1, runs=4)
    pooled = sweeps.time_sweep("processes", 2, runs=4)
    assert (serial.runs, pooled.runs) == (4, 4)
    assert serial.digests == pooled.digests
    assert all(serial.digests)
    assert serial.rate > 0


def test_the_sweep_step_reports_each_figure() -> None:
    report = runner.run(attrs.evolve(TINY, name="quick", sweep_runs=4), only=["sweep"])
    results = report.by_key()
    assert {"sweep.serial", "sweep.processes.1", "sweep.processes.2", "sweep.start.processes"} <= set(results)
    assert all(results[k].errors == 0 for k in results)
    assert results["sweep.processes.2"].extra["same_digests"] is True
