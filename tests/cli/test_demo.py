"""``simutrador demo``: through click's runner and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from simutrador_cli.main import cli

EXPECTED_CODES = (
    "INVALID_SYMBOL",
    "INVALID_DATE_RANGE",
    "INSUFFICIENT_CAPITAL",
    "SESSION_NOT_FOUND",
    "SESSION_LIMIT_EXCEEDED",
)


def test_embedded_demo_through_click() -> None:
    result = CliRunner().invoke(cli, ["demo", "--embedded"])
    assert result.exit_code == 0, result.output
    for code in EXPECTED_CODES:
        assert f"-> {code}" in result.output
    assert "AAPL,GOOGL" in result.output
    assert "EUR/USD,BTC-USD" in result.output
    assert result.output.rstrip().endswith("alice now holds 0.")


def test_server_demo_through_click() -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("A real backtest: the sma_crossover example")
    backtest, _, _ = result.output.partition("SimuTrador demo: a real server")
    for label in ("final equity", "trades (won)", "digest", "equity ▁"):
        assert label in backtest
    assert "a real server on ws://127.0.0.1:" in result.output
    for code in EXPECTED_CODES:
        assert f"-> {code}" in result.output
    assert "alice lists 2 sessions; bob lists 1" in result.output
    assert result.output.rstrip().endswith("she now holds 0.")


def test_demo_as_a_subprocess() -> None:
    exe = shutil.which("simutrador", path=str(Path(sys.executable).parent)) or shutil.which("simutrador")
    assert exe is not None, "the console script is installed with the package"
    result = subprocess.run([exe, "demo"], capture_output=True, text=True, timeout=120, env={**os.environ}, check=False)
    assert result.returncode == 0, result.stderr
    assert all(code in result.stdout for code in EXPECTED_CODES)
    assert "a real server on ws://127.0.0.1:" in result.stdout


def test_version_and_help() -> None:
    runner = CliRunner()
    assert "version 0.1.0" in runner.invoke(cli, ["--version"]).output
    assert "demo" in runner.invoke(cli, ["--help"]).output
