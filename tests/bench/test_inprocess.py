"""The in-process workloads at small sizes: they build what they claim and measure something real."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from simutrador_bench import inprocess


def test_time_calls_times_each_round() -> None:
    calls: list[int] = []
    samples = inprocess.time_calls(lambda: calls.append(1), seconds=0.01, max_rounds=50)
    assert len(samples) == 50
    assert len(calls) == 50 + 20  # twenty warm-up calls are not timed
    assert all(s >= 0 for s in samples)
    assert len(inprocess.time_calls(lambda: None, seconds=0.0)) == 1  # the deadline ends it after one round


def test_floor_create_and_cycle_do_their_work() -> None:
    floor = inprocess.floor_call()
    floor()
    floor()
    create = inprocess.create_call(5)
    create()
    cycle = inprocess.cycle_call()
    for _ in range(3):
        cycle()
    fresh = inprocess.unlimited_engine()
    session = fresh.create_session("u", inprocess.request(inprocess.sample_symbols(50)))
    assert len(session.symbols) == 50


def test_sample_symbols_refuses_more_than_the_catalog_has() -> None:
    with pytest.raises(ValueError, match="only 51 symbols"):
        inprocess.sample_symbols(52)


def test_validation_warm_cold_and_folder(tmp_path: Path) -> None:
    assert inprocess.validation_call(1, warm=True)()
    cold = inprocess.validation_call(50, warm=False)
    assert cold()
    assert cold()
    catalog = inprocess.write_folder_catalog(tmp_path / "csv", count=60)
    assert len(list((tmp_path / "csv").glob("*.csv"))) == 60
    assert inprocess.validation_call(60, warm=True, folder=catalog)()
    assert inprocess.validation_call(60, warm=False, folder=catalog)()
    with pytest.raises(ValueError, match="need a folder catalog"):
        inprocess.validation_call(60, warm=True)
    with pytest.raises(ValueError, match="only 60 symbols"):
        inprocess.validation_call(61, warm=True, folder=catalog)


def test_tickers_are_distinct() -> None:
    assert len({inprocess.ticker(i) for i in range(500)}) == 500


def test_cleanup_figures() -> None:
    idle = inprocess.cleanup_idle_call(200)
    assert idle() == 0  # nothing is due
    assert inprocess.expire_all(200) > 0


def test_memory_per_session_measures_both_ways() -> None:
    both = inprocess.memory_per_session(2000)
    assert both.sessions == 2000
    assert 100 < both.traced_bytes < 4096
    assert not math.isnan(both.rss_bytes)
    traced_only = inprocess.memory_per_session(500, rss=False)
    assert math.isnan(traced_only.rss_bytes)
    assert traced_only.traced_bytes > 100
