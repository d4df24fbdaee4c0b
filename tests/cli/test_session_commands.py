"""``simutrador session ...`` and ``simutrador data ...``: CliRunner against a real server, and real processes."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from simutrador_cli import session as session_module
from simutrador_cli.main import cli

from simutrador import DirectoryCatalog, Engine, ErrorCode, Plan, SimutradorError
from tests.cli.test_serve import executable
from tests.ws.harness import Harness, tolerates_refused_handshake_leak
from tests.ws.thread_server import server_in_thread


@pytest.fixture
def harness() -> object:
    with server_in_thread() as running:
        yield running


def run(
    harness: Harness, *args: str, user: str = "alice", plan: Plan = Plan.PROFESSIONAL, input: str | None = None
) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"SIMUTRADOR_URL": harness.url, "SIMUTRADOR_TOKEN": harness.token(user, plan)}
    result = runner.invoke(cli, list(args), env=env, input=input)
    return result.exit_code, result.stdout, result.stderr


def test_create_status_list_delete_for_people_and_machines(harness: Harness) -> None:
    code, out, _ = run(
        harness,
        "session",
        "create",
        "--symbols",
        "AAPL,msft",
        "--start",
        "2024-03-04",
        "--end",
        "2024-03-08",
        "--capital",
        "100000",
    )
    assert code == 0, out
    assert "Created session" in out and "AAPL,MSFT" in out and "ready" in out
    session_id = out.split("Created session ", 1)[1].split(" ", 1)[0]
    code, out, _ = run(harness, "session", "status", session_id, "--json")
    document = json.loads(out)
    assert (code, document["session_id"], document["initial_capital"]) == (0, session_id, "100000")
    code, out, _ = run(harness, "session", "list")
    assert code == 0 and session_id in out and out.splitlines()[0].startswith("SESSION")
    code, out, _ = run(harness, "session", "list", "--json")
    assert [s["session_id"] for s in json.loads(out)] == [session_id]
    assert run(harness, "session", "delete", session_id) == (0, f"Deleted session {session_id}.\n", "")
    code, out, _ = run(harness, "session", "list")
    assert (code, out) == (0, "No live sessions.\n")
    code, out, _ = run(harness, "session", "delete", session_id, "--json")
    assert code == 3
    assert json.loads(out)["error"]["error_code"] == "SESSION_NOT_FOUND"


@tolerates_refused_handshake_leak
def test_exit_codes_for_each_kind_of_failure(harness: Harness, tmp_path: Path) -> None:
    code, _, err = run(
        harness,
        "session",
        "create",
        "--symbols",
        "APPL",
        "--start",
        "2024-03-04",
        "--end",
        "2024-03-08",
        "--capital",
        "5",
    )
    assert code == 3
    assert "INVALID_SYMBOL" in err and "below the minimum" in err  # every problem is listed
    args = (
        "session",
        "create",
        "--symbols",
        "SPY",
        "--start",
        "2024-03-04",
        "--end",
        "2024-03-04",
        "--capital",
        "5000",
    )
    assert run(harness, *args, user="free", plan=Plan.FREE)[0] == 0
    code, _, err = run(harness, *args, user="free", plan=Plan.FREE)
    assert (code, "SESSION_LIMIT_EXCEEDED" in err) == (6, True)
    runner = CliRunner()
    forged = runner.invoke(cli, ["session", "list", "--url", harness.url, "--token", "forged"])
    assert forged.exit_code == 4 and "AUTHENTICATION_FAILED" in forged.stderr
    gone = runner.invoke(cli, ["session", "list", "--url", "ws://127.0.0.1:9/ws/simulate", "--token", "x"])
    assert gone.exit_code == 5 and "connection" in gone.stderr
    as_json = runner.invoke(cli, ["session", "list", "--json", "--url", "ws://127.0.0.1:9/ws/simulate", "--token", "x"])
    assert json.loads(as_json.stdout)["error"]["error_code"] == "CONNECTION_ERROR"
    missing = runner.invoke(cli, ["session", "list"], env={"SIMUTRADOR_URL": None, "SIMUTRADOR_TOKEN": None})
    assert missing.exit_code == 2


def test_create_from_a_file_and_failing_fast_without_a_terminal(harness: Harness, tmp_path: Path) -> None:
    toml = tmp_path / "session.toml"
    toml.write_text(
        'symbols = ["EURUSD"]\nstart = "2024-03-04"\nend = "2024-03-05"\ncapital = "20000"\nmetadata = { team = "fx" }\n'
    )
    code, out, _ = run(harness, "session", "create", "--config", str(toml), "--json")
    document = json.loads(out)
    assert (code, document["symbols"], document["metadata"]) == (0, ["EUR/USD"], {"team": "fx"})
    as_json = tmp_path / "session.json"
    as_json.write_text(
        json.dumps(
            {"symbols": ["BTC-USD"], "start_date": "2024-03-04", "end_date": "2024-03-04", "initial_capital": 1000}
        )
    )
    code, out, _ = run(harness, "session", "create", "--config", str(as_json), "--capital", "2000", "--json")
    assert (code, json.loads(out)["initial_capital"]) == (0, "2000")
    code, _, err = run(harness, "session", "create", "--symbols", "AAPL")
    assert code == 2
    assert "missing --start, --end, --capital (no terminal to ask on)" in err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert run(harness, "session", "create", "--config", str(bad))[0] == 2
    broken = tmp_path / "broken.toml"
    broken.write_text("symbols = [")
    assert run(harness, "session", "create", "--config", str(broken))[0] == 2


def test_the_wizard_prompts_and_validates_as_it_goes(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "interactive", lambda: True)
    answers = "\n".join(["A B", "NOPE", "aapl,eurusd", "yesterday", "2024-03-04", "2024-03-06", "lots", "", "25000"])
    code, out, err = run(harness, "session", "create", input=answers + "\n")
    assert code == 0, out + err
    assert "The server offers 51 symbols (sample)" in out
    assert "'A B': contains whitespace" in err
    assert "NOPE is not in the server's catalog" in err
    assert "not a date" in err and "expected a decimal number" in err
    # no default capital: an empty answer is asked again; the range is the server's
    assert out.count("Initial capital (1000.00 to 10000000.00): ") == 3
    assert "AAPL,EUR/USD" in out and "25000" in out


def test_data_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["data", "list", "--market", "CRYPTO"])
    assert listed.exit_code == 0
    assert "sample catalog (SYNTHETIC data): 7 symbols" in listed.stdout and "SOL-USD" in listed.stdout
    document = json.loads(runner.invoke(cli, ["data", "list", "--json"]).stdout)
    assert len(document["symbols"]) == 51 and document["data_provider"] == "sample"
    shown = runner.invoke(cli, ["data", "show", "abnb"])
    assert shown.exit_code == 0 and "2020-12-10" in shown.stdout and "NASDAQ" in shown.stdout
    assert json.loads(runner.invoke(cli, ["data", "show", "eurusd", "--json"]).stdout)["symbol"] == "EUR/USD"
    assert runner.invoke(cli, ["data", "show", "NOPE"]).exit_code == 3
    assert runner.invoke(cli, ["data", "show", "A B"]).exit_code == 3
    (tmp_path / "XYZ.csv").write_text("date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    (tmp_path / "BAD.csv").write_text("date,open\n")
    own = runner.invoke(cli, ["data", "list", "--data-dir", str(tmp_path)])
    assert own.exit_code == 0 and "directory catalog: 1 symbols" in own.stdout and "skipped BAD" in own.stderr
    assert runner.invoke(cli, ["data", "list", "--data-dir", str(tmp_path / "none")]).exit_code == 3
    (tmp_path / "XYZ.csv").unlink()
    failed = runner.invoke(cli, ["data", "list", "--data-dir", str(tmp_path)])  # every file failed: an error
    assert failed.exit_code == 3 and "every data file failed (BAD: BAD.csv: missing columns" in failed.stderr


def test_data_commands_show_what_validation_accepts(tmp_path: Path) -> None:
    """Timezone-aware daily bars and hourly bars: `data list` prints exactly the days a session may use."""
    (tmp_path / "TZA.csv").write_text(  # pandas' df.to_csv() of a New York DatetimeIndex
        "Date,Open,High,Low,Close,Volume\n"
        + "".join(f"2024-01-0{d} 00:00:00-05:00,1.0,2.0,0.5,1.5,10\n" for d in (2, 3, 4, 5, 8))
    )
    (tmp_path / "HOURLY.csv").write_text(
        ",open,high,low,close,volume\n" + "".join(f"2024-01-02 {h}:00:00+00:00,1,2,0.5,1.5,1\n" for h in range(14, 21))
    )
    runner = CliRunner()
    document = json.loads(runner.invoke(cli, ["data", "list", "--data-dir", str(tmp_path), "--json"]).stdout)
    days = {row["symbol"]: (row["start"], row["end"]) for row in document["symbols"]}
    assert days == {"HOURLY": ("2024-01-02", "2024-01-02"), "TZA": ("2024-01-02", "2024-01-08")}
    engine = Engine(catalog=DirectoryCatalog(tmp_path))
    for symbol, (first, last) in days.items():  # the shown days are accepted...
        assert engine.create_session("alice", symbols=symbol, start_date=first, end_date=last, initial_capital=5000)
        before = (date.fromisoformat(first) - timedelta(days=1)).isoformat()
        with pytest.raises(SimutradorError) as info:  # ...and a day more is not
            engine.create_session("alice", symbols=symbol, start_date=before, end_date=last, initial_capital=5000)
        assert info.value.code is ErrorCode.INVALID_DATE_RANGE
    hourly = json.loads(
        runner.invoke(cli, ["data", "list", "--data-dir", str(tmp_path), "--timeframe", "1wk", "--json"]).stdout
    )
    assert [(r["symbol"], r["from_timeframe"], r["start"]) for r in hourly["symbols"]] == [
        ("HOURLY", "1h", "2024-01-02"),
        ("TZA", "daily", "2024-01-02"),
    ]
    minutes = runner.invoke(cli, ["data", "list", "--data-dir", str(tmp_path), "--timeframe", "5min"])
    assert "(no 5min)" in minutes.stdout  # TZA's daily bars cannot make 5-minute bars
    assert runner.invoke(cli, ["data", "list", "--timeframe", "1M"]).exit_code == 2
    shown = runner.invoke(cli, ["data", "show", "hourly", "--data-dir", str(tmp_path)])
    assert "4h: 2024-01-02 .. 2024-01-02  (resampled from 1h)" in shown.stdout
    assert "5min" not in shown.stdout
    card = json.loads(runner.invoke(cli, ["data", "show", "aapl", "--json"]).stdout)
    assert (card["price_increment"], card["currency"], card["sessions"]["weekly"]["from"]) == ("0.01", "USD", "daily")


def test_end_to_end_processes_two_users_in_parallel(harness: Harness) -> None:
    """CLI process -> client -> server -> engine -> catalog, several at once, two users."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMUTRADOR_")} | {"SIMUTRADOR_URL": harness.url}

    def create(job: tuple[str, str, str]) -> subprocess.CompletedProcess[str]:
        user, symbols, start = job
        return subprocess.run(
            [
                executable(),
                "session",
                "create",
                "--symbols",
                symbols,
                "--start",
                start,
                "--end",
                start,
                "--capital",
                "10000",
                "--json",
            ],
            env=env | {"SIMUTRADOR_TOKEN": harness.token(user)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    jobs = [
        ("ann", "AAPL", "2024-03-04"),
        ("ann", "MSFT", "2024-03-05"),
        ("ben", "BTC-USD", "2024-03-09"),
        ("ben", "ZZZZ", "2024-03-04"),
        ("ann", "SPY", "2030-01-01"),
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(create, jobs))
    assert [r.returncode for r in results] == [0, 0, 0, 3, 3]
    assert json.loads(results[3].stdout)["error"]["error_code"] == "INVALID_SYMBOL"
    assert json.loads(results[4].stdout)["error"]["error_code"] == "INVALID_DATE_RANGE"
    listing = subprocess.run(
        [executable(), "session", "list", "--json"],
        env=env | {"SIMUTRADOR_TOKEN": harness.token("ann")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert sorted(s["symbols"][0] for s in json.loads(listing.stdout)) == ["AAPL", "MSFT"]
    listing = subprocess.run(
        [executable(), "session", "list", "--json"],
        env=env | {"SIMUTRADOR_TOKEN": harness.token("ben")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [s["symbols"] for s in json.loads(listing.stdout)] == [["BTC-USD"]]
