"""``simutrador sweep``: the grid syntax, output, the table on disk, and agreement with ``run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from simutrador_cli.main import cli

ARGS = ["sweep", "sma_crossover", "--start", "2022-01-03", "--end", "2023-12-29"]


def test_json_rows_carry_the_same_digests_as_single_runs() -> None:
    result = CliRunner().invoke(cli, [*ARGS, "--grid", "fast=5,10", "--grid", "slow=30", "--json", "--workers", "2"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["runs"], document["errors"]) == (2, 0)
    assert [r["parameters"] for r in document["rows"]] == [{"fast": 5, "slow": 30}, {"fast": 10, "slow": 30}]
    single = CliRunner().invoke(cli, ["run", "sma_crossover", "--start", "2022-01-03", "--end", "2023-12-29", "--json"])
    assert json.loads(single.stdout)["digest"] == document["rows"][1]["digest"]  # the example's defaults: 10/30


def test_the_table_ranks_runs_and_failures_are_reported(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    result = CliRunner().invoke(
        cli, [*ARGS, "--grid", "fast=10:40:30", "--grid", "slow=30", "--executor", "serial", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs, 1 failed; the best 2 by sharpe_ratio:" in result.stdout
    assert "RANK  FAST  SLOW  SHARPE_RATIO" in result.stdout
    assert "failed {'fast': 40, 'slow': 30}: ValueError: fast (40) must be shorter than slow (30)" in result.stderr
    assert len(out.read_text().splitlines()) == 3  # header and two rows
    again = CliRunner().invoke(cli, [*ARGS, "--grid", "fast=10:40:30", "--grid", "slow=30", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert len(out.read_text().splitlines()) == 4  # only the failed run was tried again


@pytest.mark.parametrize(
    ("grid", "fragment"),
    [
        (["fast"], "write name=start:stop:step or name=v1,v2"),
        (["fast=5:20"], "a range has three parts"),
        (["fast=20:5:5"], "start <= stop and a step above 0"),
        (["fast=5", "fast=6"], "fast is given twice"),
        ([], "give at least one --grid name=values"),
    ],
)
def test_malformed_grids_are_usage_errors(grid: list[str], fragment: str) -> None:
    args = [*ARGS]
    for spec in grid:
        args += ["--grid", spec]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert fragment in result.output


def test_files_without_a_factory_or_session_fields(tmp_path: Path) -> None:
    plain = tmp_path / "plain.py"
    plain.write_text("def on_tick(ctx, tick):\n    pass\n")
    refused = CliRunner().invoke(cli, ["sweep", str(plain), "--grid", "x=1"])
    assert refused.exit_code == 2
    assert "defines no make_strategy(**parameters) function or Strategy class" in refused.output
    bare = tmp_path / "bare.py"
    bare.write_text("from simutrador.sweeps.examples import HoldFor as Strategy\n")
    missing = CliRunner().invoke(cli, ["sweep", str(bare), "--grid", "days=1,2", "--symbols", "SPY"])
    assert missing.exit_code == 2
    assert "missing start_date, end_date, initial_capital" in missing.output
    ok = CliRunner().invoke(
        cli,
        [
            "sweep",
            str(bare),
            "--grid",
            "days=1,2",
            "--symbols",
            "SPY",
            "--start",
            "2024-01-02",
            "--end",
            "2024-02-29",
            "--capital",
            "10000",
            "--json",
            "--executor",
            "serial",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["runs"] == 2
    invalid = CliRunner().invoke(
        cli,
        [
            "sweep",
            str(bare),
            "--grid",
            "days=1",
            "--symbols",
            "APPL",
            "--start",
            "2024-01-02",
            "--end",
            "2024-02-29",
            "--capital",
            "10000",
            "--executor",
            "serial",
            "--json",
        ],
    )
    assert invalid.exit_code == 0  # a run that fails is a row, not the sweep's failure
    assert json.loads(invalid.stdout)["errors"] == 1
