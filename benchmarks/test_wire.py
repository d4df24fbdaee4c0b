"""Over the wire on 127.0.0.1 (DESIGN §6): round trips, connection setup and capacity.

Each load runs once (``benchmark.pedantic``, one round): its own figures (p50/p95/p99,
round trips per second, connections held, memory) go into ``extra_info`` of the JSON.
The server runs in another process. With ``--benchmark-disable`` (CI's smoke run)
the loads are tiny; `simutrador bench` runs the same loads with the full settings.
Run:  .venv/bin/pytest benchmarks/test_wire.py -o addopts="" --benchmark-json=wire.json
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from simutrador_bench import runner
from simutrador_bench.serverproc import raise_open_files_limit

SMOKE = attrs.evolve(
    runner.QUICK,
    name="smoke",
    wire_warmup=0.05,
    wire_window=1.0,
    rounds=1,
    handshakes=20,
    connection_steps=(50, 100),
    echo_connection_steps=(50,),
)


@pytest.mark.parametrize("step", ["wire.loads", "wire.handshake", "wire.connections"])
def test_wire(benchmark: Any, step: str) -> None:
    raise_open_files_limit()
    profile = SMOKE if benchmark.disabled else runner.FULL
    (chosen,) = runner.select_steps([step])
    results = benchmark.pedantic(chosen.measure, args=(profile, print), rounds=1, iterations=1)
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
    assert all(result.errors == 0 for result in results), [(r.key, r.errors, r.extra) for r in results]
