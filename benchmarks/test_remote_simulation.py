"""Simulations over the wire on 127.0.0.1 (DESIGN §9): lockstep against a tick-sized echo, SDK, 100 at once.

The step runs once (``benchmark.pedantic``, one round): its figures (ticks/s per
contender, the ratios to the bare echo measured in the same run, the concurrent
load's p50/p99) go into ``extra_info`` of the JSON. The server runs in another
process. With ``--benchmark-disable`` (CI's smoke run) the sizes are tiny;
`simutrador bench --only remote` runs the same code with the full settings.
Run:  .venv/bin/pytest benchmarks/test_remote_simulation.py -o addopts="" --benchmark-json=remote.json
"""

from __future__ import annotations

from typing import Any

import attrs
from simutrador_bench import runner
from simutrador_bench.serverproc import raise_open_files_limit

SMOKE = attrs.evolve(
    runner.QUICK,
    name="smoke",
    wire_warmup=0.05,
    remote_ticks=100,
    remote_rounds=1,
    remote_clients=10,
    remote_concurrent_ticks=20,
)


def test_remote_simulation(benchmark: Any) -> None:
    raise_open_files_limit()
    profile = SMOKE if benchmark.disabled else runner.FULL
    (step,) = runner.select_steps(["remote.simulation"])
    results = benchmark.pedantic(step.measure, args=(profile, print), rounds=1, iterations=1)
    for result in results:
        benchmark.extra_info[result.key] = {
            "value": result.value,
            "p99": result.p99,
            "unit": result.spec.unit,
            "target": result.spec.target,
            "verdict": result.verdict,
            "errors": result.errors,
            **result.extra,
        }
        print(f"{result.spec.title}: {result.measured()} {result.verdict}")
    assert all(result.errors == 0 for result in results), [(r.key, r.errors, r.note) for r in results]
