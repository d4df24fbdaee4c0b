"""``simutrador run``: strategy files, session fields from flags/config/SESSION, output, exit codes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from simutrador_cli.main import cli
from simutrador_cli.run import load_strategy, sparkline

from simutrador import Engine

BUY_AND_HOLD = """
SESSION = {"symbols": ["SPY"], "start": "2024-01-02", "end": "2024-03-28", "capital": 10_000}

def on_tick(ctx, tick):
    if not ctx.position("SPY").quantity and not ctx.open_orders():
        ctx.buy("SPY", 10)
"""


def write(tmp_path: Path, text: str, name: str = "strategy.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_example_runs_and_prints_its_metrics() -> None:
    result = CliRunner().invoke(cli, ["run", "sma_crossover"])
    assert result.exit_code == 0, result.output
    for label in (
        "final equity",
        "total return",
        "max drawdown",
        "Sharpe / Sortino / Calmar",
        "trades (won)",
        "digest",
    ):
        assert label in result.output
    assert "SYNTHETIC" in result.output


def test_json_is_the_whole_result_and_matches_an_embedded_run(tmp_path: Path) -> None:
    path = write(tmp_path, BUY_AND_HOLD)
    result = CliRunner().invoke(cli, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    [fill] = document["fills"]
    assert (fill["symbol"], fill["side"], fill["quantity"]) == ("SPY", "buy", "10")
    strategy, defaults = load_strategy(str(path))
    engine = Engine()
    session = engine.create_session("u", **defaults)
    embedded = engine.run_simulation("u", session.session_id, strategy)
    assert document["digest"] == embedded.digest
    assert Decimal(document["final_equity"]) == embedded.final_equity


def test_flags_override_config_which_overrides_session(tmp_path: Path) -> None:
    path = write(tmp_path, BUY_AND_HOLD)
    config = write(tmp_path, 'end = "2024-02-29"\ncapital = 20000\n', "run.toml")
    result = CliRunner().invoke(cli, ["run", str(path), "--config", str(config), "--capital", "30000", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["initial_capital"] == "30000"
    assert document["ended_at"].startswith("2024-02-29")


def test_missing_fields_bad_files_and_bad_config_are_usage_errors(tmp_path: Path) -> None:
    bare = write(tmp_path, "def on_tick(ctx, tick):\n    pass\n")
    missing = CliRunner().invoke(cli, ["run", str(bare), "--symbols", "SPY"])
    assert missing.exit_code == 2
    assert "missing --start, --end, --capital" in missing.output
    assert CliRunner().invoke(cli, ["run", str(tmp_path / "nope.py")]).exit_code == 2
    nothing = write(tmp_path, "x = 1\n", "nothing.py")
    refused = CliRunner().invoke(cli, ["run", str(nothing)])
    assert refused.exit_code == 2
    assert "defines neither on_tick" in refused.output
    broken = write(tmp_path, "import no_such_module_here\n", "broken.py")
    assert "does not import" in CliRunner().invoke(cli, ["run", str(broken)]).output
    config = write(tmp_path, '{"start": "2024-01-02", "start_date": "2024-01-03"}', "run.json")
    clash = CliRunner().invoke(cli, ["run", str(write(tmp_path, BUY_AND_HOLD)), "--config", str(config)])
    assert clash.exit_code == 2
    assert "give start or start_date, not both" in clash.output


def test_validation_errors_and_strategy_errors_have_their_exit_codes(tmp_path: Path) -> None:
    path = write(tmp_path, BUY_AND_HOLD)
    unknown = CliRunner().invoke(cli, ["run", str(path), "--symbols", "APPL"])
    assert unknown.exit_code == 3
    assert "INVALID_SYMBOL" in unknown.output
    as_json = CliRunner().invoke(cli, ["run", str(path), "--symbols", "APPL", "--json"])
    assert json.loads(as_json.stdout)["error"]["error_code"] == "INVALID_SYMBOL"
    crashing = write(tmp_path, BUY_AND_HOLD.replace("ctx.buy", "1 / 0; ctx.buy"), "crash.py")
    crashed = CliRunner().invoke(cli, ["run", str(crashing)])
    assert crashed.exit_code == 7
    assert "ZeroDivisionError" in crashed.output
    assert "in on_tick at tick 1" in crashed.output


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5.0] * 10) == "▁" * 10
    assert len(sparkline([float(i) for i in range(1000)], width=40)) == 40
