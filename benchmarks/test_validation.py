"""Validation speed, warm (cached verdict) and cold, for 1, 50 and 500 symbols (DESIGN §6).

The 500-symbol universe is a real DirectoryCatalog over 500 CSV files written to a
temporary folder (the sample catalog holds 51 symbols).
Run:  .venv/bin/pytest benchmarks/test_validation.py
"""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simutrador import EngineSettings, Plan, PlanLimits, SessionSettings
from simutrador.catalog import Catalog
from simutrador.directory_catalog import DirectoryCatalog
from simutrador.sample_catalog import SampleCatalog
from simutrador.testing import ManualClock
from simutrador.validator import MarketDataValidator

TARGET_WARM_US = 5
TARGET_COLD_US = 1000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def settings() -> EngineSettings:
    wide = PlanLimits(
        sessions_per_hour=10**9,
        concurrent_sessions=10**9,
        symbols_per_session=500,
        websocket_connections=10,
        max_simulation_span_hours=24 * 366,
    )
    return EngineSettings(
        session=SessionSettings(max_symbols_per_session=500),
        plans={Plan.ENTERPRISE: wide},
        default_plan=Plan.ENTERPRISE,
    )


def ticker(i: int) -> str:
    return "X" + "".join(chr(65 + (i // 26**k) % 26) for k in range(3))


@pytest.fixture(scope="module")
def folder_catalog(tmp_path_factory: pytest.TempPathFactory) -> DirectoryCatalog:
    root: Path = tmp_path_factory.mktemp("five-hundred")
    first = datetime(2023, 1, 2, tzinfo=UTC)
    days = [first + timedelta(days=d) for d in range(365) if (first + timedelta(days=d)).weekday() < 5]
    for i in range(500):
        with (root / f"{ticker(i)}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("date", "open", "high", "low", "close", "volume"))
            writer.writerows((d.date().isoformat(), 10, 11, 9, 10.5, 1000) for d in days)
    catalog = DirectoryCatalog(root, refresh_interval=3600)
    assert len(catalog.symbols()) == 500
    return catalog


def symbols_for(catalog: Catalog, count: int) -> tuple[str, ...]:
    symbols = tuple(i.symbol for i in catalog.symbols())[:count]
    assert len(symbols) == count
    return symbols


def case(count: int, folder: DirectoryCatalog) -> tuple[Catalog, tuple[str, ...], str, str]:
    if count <= 50:
        catalog: Catalog = SampleCatalog()
        return catalog, symbols_for(catalog, count), "2022-03-07", "2022-03-11"
    return folder, symbols_for(folder, count), "2023-03-06", "2023-03-10"


@pytest.mark.parametrize("count", [1, 50, 500])
def test_validation_warm(benchmark: Any, count: int, folder_catalog: DirectoryCatalog) -> None:
    catalog, symbols, start, end = case(count, folder_catalog)
    validator = MarketDataValidator(catalog, settings(), clock=ManualClock(NOW))
    assert validator.validate_date_range(start, end, symbols=symbols).is_valid
    benchmark.extra_info["target_median_us"] = TARGET_WARM_US
    result = benchmark(validator.validate_date_range, start, end, symbols=symbols)
    assert result.is_valid


@pytest.mark.parametrize("count", [1, 50, 500])
def test_validation_cold(benchmark: Any, count: int, folder_catalog: DirectoryCatalog) -> None:
    """Every call asks for a range never seen before, so the verdict cache always misses."""
    catalog, symbols, start, _ = case(count, folder_catalog)
    validator = MarketDataValidator(catalog, settings(), clock=ManualClock(NOW))
    base = datetime.fromisoformat(start).replace(tzinfo=UTC)
    offsets = itertools.count(1)
    benchmark.extra_info["target_median_us"] = TARGET_COLD_US

    def cold() -> bool:
        moment = base + timedelta(microseconds=next(offsets))
        return validator.validate_date_range(moment, moment + timedelta(days=4), symbols=symbols).is_valid

    assert benchmark(cold)
