"""In-process speed and memory of the core (DESIGN §6), timed by pytest-benchmark.

The workloads are `simutrador_bench.inprocess`'s, the same `simutrador bench` times.
Run:  .venv/bin/pytest benchmarks/test_core.py -o addopts=""
(CI runs it with --benchmark-disable as a smoke check; the memory figure is asserted
because it is deterministic, timings are only reported.)
"""

from __future__ import annotations

from typing import Any

import pytest
from simutrador_bench import inprocess
from simutrador_bench.targets import SPECS


def figure(benchmark: Any, key: str) -> None:
    spec = SPECS[key]
    benchmark.extra_info.update(figure=key, title=spec.title, target=spec.target, seed_target=spec.seed)


def test_floor_frozen_attrs_object_stored_in_dict(benchmark: Any) -> None:
    """The physical floor quoted in DESIGN §6: build a frozen attrs object, store it in a dict."""
    figure(benchmark, "inproc.floor")
    benchmark(inprocess.floor_call())


@pytest.mark.parametrize("count", [1, 5, 50])
def test_create_session(benchmark: Any, count: int) -> None:
    figure(benchmark, f"inproc.create.{count}")
    benchmark(inprocess.create_call(count))


def test_get_list_create_delete(benchmark: Any) -> None:
    figure(benchmark, "inproc.cycle")
    benchmark(inprocess.cycle_call())


def test_cleanup_with_100000_live_sessions_none_due(benchmark: Any) -> None:
    figure(benchmark, "inproc.cleanup.idle")
    assert benchmark(inprocess.cleanup_idle_call(100_000)) == 0


@pytest.mark.parametrize("count", [1_000, 10_000, 100_000])
def test_memory_per_live_session(count: int) -> None:
    """Bytes per live session (excluding shared market data); 100,000 live sessions also proves the capacity."""
    figures = inprocess.memory_per_session(count)
    print(
        f"\nmemory per live session, {count:,} live: {figures.traced_bytes:.0f} B traced, "
        f"{figures.rss_bytes:.0f} B RSS (target <= 2048 B)"
    )
    limit = SPECS[f"inproc.memory.{count}"].limit
    assert limit is not None
    assert figures.traced_bytes <= limit
