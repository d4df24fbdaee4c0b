"""``simutrador report`` and ``simutrador run --report``: HTML files from runs and result files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from simutrador_cli.main import cli

BUY_AND_HOLD = """
SESSION = {"symbols": ["SPY"], "start": "2024-01-02", "end": "2024-03-28", "capital": 10_000}

def on_tick(ctx, tick):
    if not ctx.position("SPY").quantity and not ctx.open_orders():
        ctx.buy("SPY", 10)
"""


@pytest.fixture
def strategy(tmp_path: Path) -> Path:
    path = tmp_path / "hold.py"
    path.write_text(BUY_AND_HOLD)
    return path


@pytest.fixture
def result_file(strategy: Path, tmp_path: Path) -> Path:
    done = CliRunner().invoke(cli, ["run", str(strategy), "--json"])
    assert done.exit_code == 0, done.output
    path = tmp_path / "hold.json"
    path.write_text(done.stdout)
    return path


def test_run_writes_a_report_after_its_table(strategy: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    done = CliRunner().invoke(cli, ["run", str(strategy), "--report", str(out)])
    assert done.exit_code == 0, done.output
    assert done.stdout.index("final equity") < done.stdout.index(f"report: {out}")
    text = out.read_text()
    assert "<title>hold on SPY</title>" in text
    assert "equity-chart" in text


def test_run_json_stays_one_document_with_a_report(strategy: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    done = CliRunner().invoke(cli, ["run", str(strategy), "--json", "--report", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["digest"]
    assert f"report: {out}" in done.stderr
    assert out.is_file()


def test_a_result_file_becomes_a_report(result_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = CliRunner().invoke(cli, ["report", str(result_file), "--html", str(out), "--title", "held"])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"report: {out} (")
    assert out.resolve().as_uri() in done.stdout
    text = out.read_text()
    assert "<title>held</title>" in text
    assert "buy and hold SPY" in text  # prices from the sample catalog the run recorded


def test_stdin_and_several_files_make_a_comparison(result_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare.html"
    text = result_file.read_text()
    done = CliRunner().invoke(cli, ["report", str(result_file), "-", "--html", str(out)], input=text)
    assert done.exit_code == 0, done.output
    page = out.read_text()
    assert "Comparison of 2 runs" in page
    assert ">hold<" in page
    assert ">stdin<" in page
    same = CliRunner().invoke(cli, ["report", str(result_file), str(result_file), "--html", str(out)])
    assert same.exit_code == 0, same.output
    assert ">1: hold<" in out.read_text()
    named = CliRunner().invoke(
        cli, ["report", str(result_file), str(result_file), "--html", str(out), "--label", "a", "--label", "b"]
    )
    assert named.exit_code == 0, named.output
    assert ">a<" in out.read_text()


def test_one_label_per_result(result_file: Path, tmp_path: Path) -> None:
    done = CliRunner().invoke(
        cli, ["report", str(result_file), str(result_file), "--html", str(tmp_path / "x.html"), "--label", "a"]
    )
    assert done.exit_code == 2
    assert "give one --label per result (1 for 2)" in done.output


def test_a_session_id_is_not_a_file_and_the_error_says_where_its_result_is(tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    done = CliRunner().invoke(cli, ["report", "Xk3v9sQ2", "--html", str(out)])
    assert done.exit_code == 2
    assert "simutrador session results Xk3v9sQ2 --report out.html" in done.output
    assert "simutrador run STRATEGY --json > result.json" in done.output
    assert not out.exists()


def test_missing_and_broken_files(tmp_path: Path) -> None:
    out = str(tmp_path / "x.html")
    missing = CliRunner().invoke(cli, ["report", str(tmp_path / "nope.json"), "--html", out])
    assert missing.exit_code == 2
    assert "no file" in missing.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = CliRunner().invoke(cli, ["report", str(broken), "--html", out])
    assert done.exit_code == 3
    assert "is not JSON" in done.stderr
    failed = tmp_path / "failed.json"
    failed.write_text(json.dumps({"error": {"code": "INVALID_SYMBOL", "message": "no"}}))
    done = CliRunner().invoke(cli, ["report", str(failed), "--html", out])
    assert done.exit_code == 3
    assert "holds an error, not a result" in done.stderr
    metrics_only = tmp_path / "metrics.json"
    metrics_only.write_text(json.dumps({"session_id": "s"}))
    done = CliRunner().invoke(cli, ["report", str(metrics_only), "--html", out])
    assert done.exit_code == 3
    assert "VALIDATION_FAILED" in done.stderr


def test_a_folder_run_reads_its_prices_with_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = ["date,open,high,low,close,volume"] + [f"2024-01-{d:02d},10,11,9,10.5,100" for d in range(1, 29)]
    (data / "KO.csv").write_text("\n".join(rows) + "\n")
    strategy = tmp_path / "ko.py"
    strategy.write_text(
        'SESSION = {"symbols": ["KO"], "start": "2024-01-01", "end": "2024-01-28", "capital": 1000}\n'
        "def on_tick(ctx, tick):\n"
        "    if not ctx.position('KO').quantity and not ctx.open_orders():\n"
        "        ctx.buy('KO', 1)\n"
    )
    saved = tmp_path / "ko.json"
    done = CliRunner().invoke(cli, ["run", str(strategy), "--data-dir", str(data), "--json"])
    assert done.exit_code == 0, done.output
    saved.write_text(done.stdout)
    without = tmp_path / "without.html"
    assert CliRunner().invoke(cli, ["report", str(saved), "--html", str(without)]).exit_code == 0
    assert "No prices, so no candles" in without.read_text()
    with_data = tmp_path / "with.html"
    done = CliRunner().invoke(cli, ["report", str(saved), "--html", str(with_data), "--data-dir", str(data)])
    assert done.exit_code == 0, done.output
    assert '"type":"candlestick"' in with_data.read_text()


def test_unwritable_paths_and_a_missing_plotly_are_errors(
    result_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "no" / "such" / "folder" / "x.html"
    done = CliRunner().invoke(cli, ["report", str(result_file), "--html", str(nowhere)])
    assert done.exit_code == 2
    assert f"cannot write {nowhere}" in done.stderr
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    done = CliRunner().invoke(cli, ["report", str(result_file), "--html", str(tmp_path / "x.html")])
    assert done.exit_code == 1
    assert "pip install 'simutrador[report]'" in done.stderr
