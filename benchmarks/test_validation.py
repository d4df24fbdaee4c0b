"""Validation speed, warm (cached verdict) and cold, for 1, 50 and 500 symbols (DESIGN §6).

The 500-symbol universe is a real DirectoryCatalog over 500 CSV files written to a
temporary folder (the sample catalog holds 51 symbols).
Run:  .venv/bin/pytest benchmarks/test_validation.py -o addopts=""
"""

from __future__ import annotations

from typing import Any

import pytest
from simutrador_bench import inprocess
from simutrador_bench.targets import SPECS

from simutrador import DirectoryCatalog


@pytest.fixture(scope="module")
def folder_catalog(tmp_path_factory: pytest.TempPathFactory) -> DirectoryCatalog:
    catalog = inprocess.write_folder_catalog(tmp_path_factory.mktemp("five-hundred"))
    assert len(catalog.symbols()) == 500
    return catalog


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
@pytest.mark.parametrize("count", [1, 50, 500])
def test_validation(benchmark: Any, count: int, warm: bool, folder_catalog: DirectoryCatalog) -> None:
    key = f"inproc.validation.{'warm' if warm else 'cold'}.{count}"
    benchmark.extra_info.update(figure=key, target=SPECS[key].target)
    assert benchmark(inprocess.validation_call(count, warm=warm, folder=folder_catalog))
