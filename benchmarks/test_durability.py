"""The durable store (DESIGN §7, §9): its overhead on remote lockstep, journal commit latency, recovery, size.

The step runs once (``benchmark.pedantic``, one round): its figures (the lockstep
rates on a SQLite and a memory server and the ratio, the commit latencies' p50/p99,
the recovery's phases, create_session on both stores, the store's size) go into
``extra_info`` of the JSON. With ``--benchmark-disable`` (CI's smoke run) the sizes are
tiny; otherwise the full ones (a 1,022,400-bar recovery, 100,000 sessions: minutes).
``simutrador bench --only durability`` runs the same code.
Run:  .venv/bin/pytest benchmarks/test_durability.py -o addopts="" --benchmark-json=durability.json
"""

from __future__ import annotations

from typing import Any

import attrs
from simutrador_bench import durability, runner
from simutrador_bench.serverproc import raise_open_files_limit

SMOKE = attrs.evolve(
    runner.QUICK,
    name="smoke",
    durable=attrs.evolve(
        durability.QUICK,
        ticks=50,
        rounds=1,
        create_window=0.2,
        appends=50,
        recovery_symbols=1,
        recovery_days=1,
        replay_rounds=1,
        sessions=50,
    ),
)


def test_durability(benchmark: Any) -> None:
    raise_open_files_limit()
    profile = SMOKE if benchmark.disabled else runner.FULL
    (step,) = runner.select_steps(["durability"])
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
