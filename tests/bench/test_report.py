"""Targets, statistics, the JSON report and run-to-run comparison (pure code, no timing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from simutrador_bench.report import (
    Report,
    Result,
    compare,
    format_compare,
    load_json,
    percentile,
    timing_stats,
)
from simutrador_bench.targets import SPECS, Spec


def test_verdicts_follow_the_spec() -> None:
    lower = Spec(key="k", title="t", unit="µs", limit=20, p99_limit=100)
    assert lower.verdict(20, 100) == "pass"
    assert lower.verdict(20.1, 50) == "short"
    assert lower.verdict(10, 101) == "short"
    assert lower.verdict(10, None) == "short"  # a p99 limit needs a p99
    higher = Spec(key="k", title="t", unit="/s", limit=75, higher_is_better=True, zero_errors=True)
    assert higher.verdict(75) == "pass"
    assert higher.verdict(74.9) == "short"
    assert higher.verdict(90, errors=1) == "short"
    assert Spec(key="k", title="t", unit="ms").verdict(1e9) == ""
    assert Spec(key="k", title="t", unit="ms", zero_errors=True).verdict(1, errors=0) == "pass"


def test_every_design_target_has_a_spec() -> None:
    judged = {key for key, spec in SPECS.items() if spec.limit is not None}
    assert {
        "inproc.create.1",
        "inproc.validation.warm.1",
        "inproc.validation.cold.500",
        "inproc.memory.100000",
        "inproc.live_sessions",
        "wire.create.1",
        "wire.ratio.1000",
        "wire.connections",
        "wire.memory.connection",
        "remote.lockstep.vs_echo",
    } <= judged
    assert SPECS["wire.create.1"].p99_limit == 1.2
    assert SPECS["inproc.create.50"].seed == "< 100 ms"


def test_percentiles_interpolate() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_timing_stats_have_pytest_benchmark_keys() -> None:
    stats = timing_stats([0.001, 0.002, 0.003, 0.004, 1.0])
    assert stats["rounds"] == 5
    assert stats["median"] == 0.003
    assert stats["min"] == 0.001
    assert stats["max"] == 1.0
    assert stats["iqr_outliers"] == 1  # 1.0 is far outside the fences
    assert stats["hd15iqr"] == 0.004
    assert math.isclose(stats["total"], 1.01)
    assert stats["outliers"] == f"{stats['stddev_outliers']};1"
    assert timing_stats([]) == {}
    single = timing_stats([0.5])
    assert single["stddev"] == 0.0
    assert single["ops"] == 2.0


def test_results_show_median_and_p99() -> None:
    result = Result.from_timings("inproc.create.1", [10e-6, 12e-6, 14e-6, 200e-6], scale=1e6)
    assert result.value == pytest.approx(13.0)
    assert result.p99 == pytest.approx(194.42, rel=1e-3)
    assert result.measured() == "13.0 / 194 µs"
    assert result.verdict == "short"  # p99 over 100 µs
    size = Result(key="inproc.memory.1000", value=1420.4)
    assert size.measured() == "1,420 B"
    assert size.verdict == "pass"
    assert Result(key="wire.echo.1", value=0.314).measured() == "0.31 ms"
    assert Result(key="wire.echo.1", value=3.14159).measured() == "3.14 ms"


def make_report() -> Report:
    report = Report(profile="test")
    report.results = [
        Result.from_timings("inproc.create.1", [10e-6, 12e-6, 14e-6], scale=1e6),
        Result(key="wire.ratio.1000", value=80.0, errors=2, extra={"ratio_per_round": [79.0, 81.0]}),
        Result(key="wire.connections", value=2000, note="stopped at 2,500 connections: OSError x3"),
    ]
    report.seconds = 3.0
    return report


def test_report_json_is_pytest_benchmark_shaped(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    make_report().write_json(path)
    document = load_json(path)
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= document.keys()
    assert document["machine_info"]["cpu"]["count"] >= 1
    first, second, _ = document["benchmarks"]
    assert first["name"] == "inproc.create.1"
    assert first["stats"]["rounds"] == 3
    assert first["stats"]["median"] == pytest.approx(12e-6)
    assert first["extra_info"]["verdict"] == "pass"
    assert first["extra_info"]["target"] == "≤ 20 / p99 ≤ 100 µs"
    assert second["extra_info"]["ratio_per_round"] == [79.0, 81.0]
    assert second["extra_info"]["verdict"] == "short"  # errors, though the ratio is met
    assert second["stats"] == {}


def test_table_lists_figures_targets_errors_and_notes() -> None:
    table = make_report().format_table()
    assert "create_session in-process, 1 symbol" in table
    assert "12.0 / 14.0 µs" in table
    assert "wire.ratio.1000: 2 errors" in table
    assert "wire.connections: stopped at 2,500 connections" in table
    assert "1 of 3 targets met." in table


def test_load_json_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="not a benchmark JSON file"):
        load_json(path)


def test_compare_reads_direction_from_the_figure() -> None:
    before = make_report().to_json()
    after_report = make_report()
    after_report.results[0].value = 6.0  # µs, lower is better
    after_report.results[1].value = 60.0  # %, higher is better
    after_report.results[2].value = 2000
    rows = {row[0]: row for row in compare(before, after_report.to_json())}
    assert rows["inproc.create.1"][4] == "-50% better"
    assert rows["wire.ratio.1000"][4] == "-25% worse"
    assert rows["wire.connections"][4] == "same"
    text = format_compare(rows.values(), before="a.json", after="b.json")
    assert "-50% better" in text
    assert text.startswith("before: a.json")


def test_compare_handles_plain_pytest_benchmark_files_and_zeros() -> None:
    plain = {"benchmarks": [{"name": "test_x", "fullname": "bench.py::test_x", "stats": {"median": 2e-6}}]}
    faster = {"benchmarks": [{"name": "test_x", "fullname": "bench.py::test_x", "stats": {"median": 1e-6}}]}
    assert compare(plain, faster) == [("bench.py::test_x", 2.0, 1.0, "µs", "-50% better")]
    zero = {"benchmarks": [{"extra_info": {"figure": "wire.connections", "value": 0, "unit": "conn"}}]}
    assert compare(zero, zero)[0][4] == "n/a"
    assert compare(plain, zero) == []
    assert format_compare([], before="a", after="b") == "no figure in common between a and b"


def test_rates_and_counts_are_better_when_higher() -> None:
    for key, spec in SPECS.items():
        if spec.unit in {"/s", "bars/s", "ticks/s", "runs/s", "x", "conn", "sessions", "%"}:
            assert spec.higher_is_better, key
        else:
            assert not spec.higher_is_better, key
