"""Hostile loads (issue 13): a good client's latency under each attack next to its baseline, same run.

The server (default limits) runs in one process, the attackers in another, the good client
here (see `simutrador_bench.hostile`). With ``--benchmark-disable`` (CI's smoke run) the
counts and windows are tiny and only the outcome is checked (the good client was served
throughout); timings are reported, never asserted.
Run:  .venv/bin/pytest benchmarks/test_hostile.py -o addopts="" -s
or:   python -m simutrador_bench.hostile  (the full table)
"""

from __future__ import annotations

from typing import Any

from simutrador_bench import hostile


def test_hostile(benchmark: Any) -> None:
    profile = hostile.SMOKE if benchmark.disabled else hostile.Profile()
    results = benchmark.pedantic(hostile.measure, args=(profile, print), rounds=1, iterations=1)
    for result in results:
        benchmark.extra_info[result.scenario] = result.figures()
    print(hostile.report(results))
    assert [r.scenario for r in results] == ["baseline", *hostile.ATTACKS]
    assert all(r.round_trips and r.connects for r in results), [(r.scenario, r.figures()) for r in results]
    assert all(not r.errors for r in results), [(r.scenario, dict(r.errors)) for r in results]
