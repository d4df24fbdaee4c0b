"""Embedded simulation speed and memory (DESIGN §9), timed by pytest-benchmark.

The workloads are `simutrador_bench.simulation`'s, the same `simutrador bench` times
(its ``simulation`` steps also put each figure beside its baselines in one run).
Each round is one whole run; bars/s is ``extra_info["bars"]`` ÷ the median.
Run:  .venv/bin/pytest benchmarks/test_simulation.py -o addopts=""
(CI runs it with --benchmark-disable as a smoke check; the memory figure is asserted
because it is deterministic, timings are only reported.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from simutrador_bench import simulation
from simutrador_bench.targets import SPECS

BARS = 100_000


@pytest.fixture(scope="module")
def minute() -> simulation.MinuteBars:
    return simulation.MinuteBars(BARS)


@pytest.fixture(scope="module")
def universe(tmp_path_factory: pytest.TempPathFactory) -> simulation.DailyUniverse:
    return simulation.DailyUniverse(tmp_path_factory.mktemp("daily"), 50)


def timed(benchmark: Any, key: str, call: Callable[[], simulation.Run]) -> simulation.Run:
    spec = SPECS[key]
    benchmark.extra_info.update(figure=key, title=spec.title, target=spec.target)
    run = benchmark(call)
    benchmark.extra_info.update(bars=run.bars, orders=run.orders, fills=run.fills)
    return run


def test_sma_crossover_100k_minute_bars(benchmark: Any, minute: simulation.MinuteBars) -> None:
    run = timed(benchmark, "sim.sma", simulation.engine_call(minute, lambda: simulation.SmaCrossover(minute.symbol)))
    assert run.bars == BARS
    assert run.orders > 1000


def test_sma_crossover_plain_python_loop(benchmark: Any, minute: simulation.MinuteBars) -> None:
    assert timed(benchmark, "sim.sma.plain", simulation.plain_sma_call(minute)).orders > 1000


@pytest.mark.skipif(not simulation.backtesting_available(), reason="backtesting.py is not installed")
def test_sma_crossover_backtesting_py(benchmark: Any, minute: simulation.MinuteBars) -> None:
    assert timed(benchmark, "sim.sma.backtesting", simulation.backtesting_call(minute, "sma")).orders > 1000


@pytest.mark.skipif(not simulation.backtrader_available(), reason="backtrader is not installed")
def test_sma_crossover_backtrader(benchmark: Any, minute: simulation.MinuteBars) -> None:  # pragma: no cover
    call = simulation.backtrader_call(minute, "sma")
    benchmark.extra_info.update(figure="sim.sma.backtrader", bars=BARS)
    assert benchmark.pedantic(call, rounds=1, iterations=1).orders > 1000  # about 15 s a run


def test_do_nothing_100k_minute_bars(benchmark: Any, minute: simulation.MinuteBars) -> None:
    assert timed(benchmark, "sim.nothing", simulation.engine_call(minute, lambda: simulation.do_nothing)).bars == BARS


def test_do_nothing_plain_python_loop(benchmark: Any, minute: simulation.MinuteBars) -> None:
    assert timed(benchmark, "sim.nothing.plain", simulation.plain_nothing_call(minute)).bars == BARS


@pytest.mark.skipif(not simulation.backtesting_available(), reason="backtesting.py is not installed")
def test_do_nothing_backtesting_py(benchmark: Any, minute: simulation.MinuteBars) -> None:
    assert timed(benchmark, "sim.nothing.backtesting", simulation.backtesting_call(minute, "nothing")).bars == BARS


def test_50_symbols_10_years_daily_do_nothing(benchmark: Any, universe: simulation.DailyUniverse) -> None:
    call = simulation.daily_call(universe, lambda: simulation.do_nothing)
    assert timed(benchmark, "sim.daily.nothing", call).bars == universe.bars


def test_50_symbols_10_years_daily_buy_and_hold(benchmark: Any, universe: simulation.DailyUniverse) -> None:
    assert timed(benchmark, "sim.daily.hold", simulation.daily_call(universe, universe.buy_and_hold)).orders == 50


def test_50_symbols_10_years_daily_buy_and_hold_plain_python_loop(
    benchmark: Any, universe: simulation.DailyUniverse
) -> None:
    assert timed(benchmark, "sim.daily.plain", simulation.plain_hold_call(universe)).orders == 50


def test_memory_per_concurrent_simulation() -> None:
    """1,000 simulations of one symbol stepped halfway through a year: the data held once, ≤ 10 KiB each beyond it."""
    figures = simulation.concurrent_memory(1000)
    print(
        f"\nmemory per simulation, 1,000 concurrent: {figures.bytes_per_simulation:.0f} B traced, of which "
        f"{figures.session_bytes:.0f} B the session; the bars ({figures.data_bytes:,} B) held once "
        f"(target <= 10,240 B)"
    )
    limit = SPECS["sim.concurrent.memory"].limit
    assert limit is not None
    assert figures.feeds_built == 0
    assert figures.bytes_per_simulation <= limit
