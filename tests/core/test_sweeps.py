"""Sweeps: grids, executors that agree digest for digest, failures recorded, interrupted sweeps resumed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import simutrador
from simutrador import ErrorCode, SimutradorError
from simutrador.sweeps import FactoryRef, expand_grid, parse_grid_spec, sweep
from simutrador.sweeps.examples import HoldFor, SmaCross

SESSION: dict[str, Any] = {"symbols": "SPY", "start": "2024-01-02", "end": "2024-06-28", "initial_capital": 10_000}
GRID = {"fast": [5, 10], "slow": [20, 40]}


def sma(**parameters: Any) -> SmaCross:
    return SmaCross(quantity=10, **parameters)


def digests(rows: Any) -> list[str | None]:
    return [row.digest for row in rows]


def test_the_grid_is_the_product_in_order() -> None:
    assert list(expand_grid({"a": [1, 2], "b": ["x", "y"]})) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    for grid, fragment in (({}, "the grid is empty"), ({"a": []}, "no values for a")):
        with pytest.raises(SimutradorError, match=fragment):
            list(expand_grid(grid))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("fast=5:20:5", ("fast", [5, 10, 15, 20])),
        ("slow=30,50", ("slow", [30, 50])),
        ("pct=0.5:1.5:0.5", ("pct", [0.5, 1.0, 1.5])),
        ("mode=long,short", ("mode", ["long", "short"])),
        (" x = 1 ", ("x", [1])),
    ],
)
def test_grid_specs(spec: str, expected: tuple[str, list[Any]]) -> None:
    assert parse_grid_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("fast", "write name=start:stop:step or name=v1,v2"),
        ("1fast=5", "name a Python identifier"),
        ("fast=", "no values after fast="),
        ("fast=5:20", "a range has three parts"),
        ("fast=20:5:5", "start <= stop and a step above 0"),
        ("fast=5:20:0", "start <= stop and a step above 0"),
        ("fast=a:b:c", "a range is name=start:stop:step with numbers"),
        ("fast=5,,10", "an empty value"),
        ("fast=0:1000000:1", "at most 100,000 per parameter"),
    ],
)
def test_bad_grid_specs_say_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(SimutradorError) as caught:
        parse_grid_spec(spec)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert fragment in caught.value.message


def test_serial_and_processes_give_the_same_digests_as_plain_runs() -> None:
    serial = sweep(sma, GRID, executor="serial", **SESSION)
    processes = sweep(sma, GRID, executor="processes", max_workers=2, **SESSION)
    assert [r.parameters for r in serial] == list(expand_grid(GRID))
    assert digests(serial) == digests(processes)
    assert all(serial.rows[i].metrics == processes.rows[i].metrics for i in range(len(serial)))
    alone = simutrador.backtest(sma(fast=10, slow=40), **{**SESSION, "start": SESSION["start"]})
    assert serial.rows[3].digest == alone.digest
    assert serial.rows[3].final_equity == str(alone.final_equity)


def test_ray_gives_the_same_digests() -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (the ray extra); .ci/run installs it with the dev extra")
    serial = sweep(sma, GRID, executor="serial", **SESSION)
    on_ray = sweep(sma, GRID, executor="ray", max_workers=2, **SESSION)
    assert digests(on_ray) == digests(serial)


def test_a_failing_run_is_recorded_and_the_sweep_goes_on() -> None:
    table = sweep(sma, {"fast": [5, 40], "slow": [30]}, executor="processes", max_workers=2, **SESSION)
    ok, failed = table.rows
    assert ok.digest is not None
    assert ok.error is None
    assert failed.digest is None
    assert failed.error == "ValueError: fast (40) must be shorter than slow (30)"
    assert table.errors == [failed]


def test_ranking_helpers() -> None:
    table = sweep(HoldFor, {"days": [1, 5, 20, 60]}, executor="serial", **SESSION)
    best = table.best("total_return_pct")[0]
    assert best.metrics["total_return_pct"] == max(r.metrics["total_return_pct"] for r in table)
    calm = table.best("max_drawdown_pct")[0]  # lower is better for drawdown
    assert calm.metrics["max_drawdown_pct"] == min(r.metrics["max_drawdown_pct"] for r in table)
    limited = table.where(max_drawdown_pct=("<=", calm.metrics["max_drawdown_pct"]))
    assert calm in limited.rows
    assert all(r.metrics["max_drawdown_pct"] <= calm.metrics["max_drawdown_pct"] for r in limited)
    assert len(table.best("sharpe_ratio", top=10)) <= 4


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_interrupted_sweep_resumes_from_its_table(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"runs{suffix}"
    grid = {"days": [1, 2, 3, 4, 5, 6]}

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(HoldFor, grid, executor="serial", out=out, progress=stop_after_three, **SESSION)
    text = out.read_text()
    assert text.count("\n") == (4 if suffix == ".csv" else 3)  # a header, then three finished runs
    calls: list[int] = []

    def counting(days: int) -> HoldFor:
        calls.append(days)
        return HoldFor(days=days)

    resumed = sweep(counting, grid, executor="serial", out=out, **SESSION)
    assert calls == [4, 5, 6]  # the finished runs were not run again
    full = sweep(HoldFor, grid, executor="serial", **SESSION)
    assert digests(resumed) == digests(full)
    assert [r.parameters["days"] for r in resumed] == [1, 2, 3, 4, 5, 6]


def test_parquet_output(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    out = tmp_path / "runs.parquet"
    table = sweep(HoldFor, {"days": [1, 2]}, executor="serial", out=out, **SESSION)
    assert not (tmp_path / "runs.parquet.partial.jsonl").exists()
    frame = pytest.importorskip("pandas").read_parquet(out)
    assert list(frame["digest"]) == digests(table)
    again = sweep(HoldFor, {"days": [1, 2]}, executor="serial", out=out, **SESSION)  # nothing left to run
    assert digests(again) == digests(table)


def test_bad_executor_and_output_are_refused_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(SimutradorError, match="executor must be one of serial, processes, ray"):
        sweep(HoldFor, {"days": [1]}, executor="threads", **SESSION)
    with pytest.raises(SimutradorError, match=r"must end in \.csv, \.jsonl or \.parquet"):
        sweep(HoldFor, {"days": [1]}, executor="serial", out=tmp_path / "runs.xlsx", **SESSION)


def test_a_strategy_file_by_reference_runs_in_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        "from simutrador.sweeps.examples import HoldFor\n\ndef make_strategy(days):\n    return HoldFor(days=days)\n"
    )
    table = sweep(
        FactoryRef(str(path), "make_strategy"), {"days": [2, 3]}, executor="processes", max_workers=2, **SESSION
    )
    assert digests(table) == digests(sweep(HoldFor, {"days": [2, 3]}, executor="serial", **SESSION))


def test_the_sweep_package_loads_only_when_used() -> None:
    code = "import sys, simutrador\nprint('simutrador.sweeps' in sys.modules)\nsimutrador.sweep\nprint('simutrador.sweeps' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.split() == ["False", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        simutrador.nope  # type: ignore[attr-defined]  # noqa: B018
