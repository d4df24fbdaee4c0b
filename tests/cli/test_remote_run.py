"""``simutrador run --url`` and ``simutrador session start|pause|resume|results`` against a real server."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from simutrador_cli.main import cli
from simutrador_cli.run import load_strategy, show_result, sparkline
from simutrador_ws.client import SessionClient, SyncSessionClient

from simutrador import Engine, Plan, SessionState
from tests.ws.harness import Harness, tolerates_refused_handshake_leak
from tests.ws.thread_server import server_in_thread

HOLD = """
SESSION = {"symbols": ["SPY"], "start": "2024-01-02", "end": "2024-03-28", "capital": 10_000}

def on_tick(ctx, tick):
    if not ctx.position("SPY").quantity and not ctx.open_orders():
        ctx.buy("SPY", 10)
"""


@pytest.fixture
def harness() -> Iterator[Harness]:
    with server_in_thread() as running:
        yield running


def cli_run(harness: Harness, *args: str, user: str = "alice") -> Result:
    """The CLI with SIMUTRADOR_TOKEN set (and SIMUTRADOR_URL, which `run` must not read)."""
    env = {"SIMUTRADOR_URL": harness.url, "SIMUTRADOR_TOKEN": harness.token(user, Plan.PROFESSIONAL)}
    return CliRunner().invoke(cli, list(args), env=env)


def created_id(done: Result) -> str:
    return done.stderr.split("created session ", 1)[1].split()[0]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws/simulate"


def embedded_json(source: str) -> dict[str, Any]:
    done = CliRunner().invoke(cli, ["run", source, "--json"], env={"SIMUTRADOR_URL": None})
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def without_session_id(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "session_id"}


def test_run_url_prints_exactly_what_the_embedded_run_prints(harness: Harness) -> None:
    embedded = CliRunner().invoke(cli, ["run", "sma_crossover"], env={"SIMUTRADOR_URL": None})
    assert embedded.exit_code == 0, embedded.output
    remote = cli_run(harness, "run", "sma_crossover", "--url", harness.url)
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == embedded.stdout  # heading, every metric, the digest
    assert "SYNTHETIC sample data" in remote.stdout and "digest" in remote.stdout
    assert "simulating" in remote.stderr and "created session " in remote.stderr
    session_id = created_id(remote)
    with SyncSessionClient(harness.url, harness.token()) as client:
        assert client.get_session_status(session_id).state is SessionState.COMPLETED


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The credit windows the CLI asked `SessionClient.run_simulation` for (the run itself unchanged)."""
    asked: list[int] = []
    original = SessionClient.run_simulation

    async def run_simulation(client: SessionClient, session_id: str, strategy: object, **options: Any) -> Any:
        asked.append(options["max_pending_ticks"])
        return await original(client, session_id, strategy, **options)

    monkeypatch.setattr(SessionClient, "run_simulation", run_simulation)
    return asked


def test_run_url_json_is_the_embedded_document_and_the_window_changes_nothing(
    harness: Harness, windows: list[int]
) -> None:
    embedded = embedded_json("sma_crossover")
    for window in ("1", "4"):
        remote = cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--json", "--max-pending-ticks", window)
        assert remote.exit_code == 0, remote.output
        document = json.loads(remote.stdout)  # exactly one document on stdout
        assert document["session_id"] == created_id(remote) != embedded["session_id"]
        assert without_session_id(document) == without_session_id(embedded)
    assert windows == [1, 4]
    assert cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--json").exit_code == 0
    assert windows == [1, 4, 1]  # lockstep by default


def test_run_url_takes_session_fields_as_embedded_does(harness: Harness, tmp_path: Path) -> None:
    strategy = tmp_path / "hold.py"
    strategy.write_text(HOLD)
    config = tmp_path / "run.toml"
    config.write_text('end = "2024-02-29"\ncapital = 20000\n')
    args = ("run", str(strategy), "--config", str(config), "--capital", "30000", "--json")
    remote = json.loads(cli_run(harness, *args, "--url", harness.url).stdout)
    embedded = json.loads(CliRunner().invoke(cli, list(args), env={"SIMUTRADOR_URL": None}).stdout)
    assert (remote["initial_capital"], remote["ended_at"][:10]) == ("30000", "2024-02-29")
    assert without_session_id(remote) == without_session_id(embedded)


def test_session_results_reads_a_remote_run_back(harness: Harness, tmp_path: Path) -> None:
    ran = cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--json")
    document = json.loads(ran.stdout)
    session_id = document["session_id"]
    as_json = cli_run(harness, "session", "results", session_id, "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == document  # the same document, session id included
    table = cli_run(harness, "session", "results", session_id)
    embedded = CliRunner().invoke(cli, ["run", "sma_crossover"], env={"SIMUTRADOR_URL": None})
    heading, _, body = table.stdout.partition("\n")
    assert heading == f"session {session_id} on AAPL (SYNTHETIC sample data)"
    assert body == embedded.stdout.partition("\n")[2]  # the same table, digest included
    report = tmp_path / "out.html"
    reported = cli_run(harness, "session", "results", session_id, "--json", "--report", str(report))
    assert reported.exit_code == 0, reported.output
    assert json.loads(reported.stdout) == document and f"report: {report}" in reported.stderr
    assert f"session {session_id} on AAPL" in report.read_text()
    other = cli_run(harness, "session", "results", session_id, user="mallory")
    assert other.exit_code == 3 and "SESSION_NOT_FOUND" in other.stderr


def test_session_results_of_an_unfinished_session_and_a_missing_data_dir(harness: Harness, tmp_path: Path) -> None:
    with SyncSessionClient(harness.url, harness.token()) as client:
        ready = client.create_session("SPY", "2024-03-04", "2024-03-08", "10000")
    done = cli_run(harness, "session", "results", ready.session_id, "--json")
    assert done.exit_code == 3
    assert json.loads(done.stdout)["error"]["error_code"] == "INVALID_STATE_TRANSITION"
    missing = cli_run(harness, "session", "results", ready.session_id, "--data-dir", str(tmp_path / "none"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_session_results_report_reads_prices_from_data_dir(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "XYZ.csv").write_text("date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    ran = cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--json")
    session_id = json.loads(ran.stdout)["session_id"]
    report = tmp_path / "out.html"
    done = cli_run(harness, "session", "results", session_id, "--report", str(report), "--data-dir", str(folder))
    assert done.exit_code == 0, done.output
    assert "No prices for AAPL: the directory catalog does not have it" in report.read_text()


def test_session_start_runs_a_strategy_on_a_ready_session(harness: Harness, tmp_path: Path) -> None:
    strategy = tmp_path / "hold.py"
    strategy.write_text(HOLD.replace('"capital": 10_000', '"capital": 99_999'))  # SESSION is not read
    with SyncSessionClient(harness.url, harness.token()) as client:
        ready = client.create_session("SPY", "2024-01-02", "2024-03-28", "10000")
    done = cli_run(harness, "session", "start", ready.session_id, "--strategy", str(strategy), "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    strategy_object, _ = load_strategy(str(strategy))
    engine = Engine()
    session = engine.create_session(
        "u", symbols="SPY", start_date="2024-01-02", end_date="2024-03-28", initial_capital=10000
    )
    embedded = engine.run_simulation("u", session.session_id, strategy_object)
    assert (document["session_id"], document["digest"]) == (ready.session_id, embedded.digest)
    assert document["initial_capital"] == "10000"
    table = cli_run(harness, "session", "start", ready.session_id, "--strategy", str(strategy))
    assert table.exit_code == 3  # it ran already
    assert "INVALID_STATE_TRANSITION" in table.stderr


def test_session_start_prints_the_table_and_writes_the_report(
    harness: Harness, tmp_path: Path, windows: list[int]
) -> None:
    with SyncSessionClient(harness.url, harness.token()) as client:
        ready = client.create_session("AAPL", "2019-01-02", "2024-12-31", "100000", timeframe="daily")
    report = tmp_path / "start.html"
    args = ("session", "start", ready.session_id, "--strategy", "sma_crossover", "--max-pending-ticks", "3")
    done = cli_run(harness, *args, "--report", str(report))
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "sma_crossover on AAPL (SYNTHETIC sample data)"
    assert (
        lines[1].split() == ["METRIC", "VALUE"]
        and lines[-1] == f"report: {report} ({report.stat().st_size / 1e6:.1f} MB)"
    )
    assert "sma_crossover on AAPL" in report.read_text()
    assert windows == [3]


def test_session_start_without_a_strategy_is_refused_and_says_why(harness: Harness) -> None:
    with SyncSessionClient(harness.url, harness.token()) as client:
        ready = client.create_session("SPY", "2024-03-04", "2024-03-08", "10000")
        done = cli_run(harness, "session", "start", ready.session_id)
        assert done.exit_code == 2
        assert "session start needs --strategy FILE" in done.stderr
        assert "nothing would answer the ticks" in done.stderr
        assert client.get_session_status(ready.session_id).state is SessionState.READY  # nothing was sent
    unknown = cli_run(harness, "session", "start", "no-such-session", "--strategy", "sma_crossover")
    assert unknown.exit_code == 3 and "SESSION_NOT_FOUND" in unknown.stderr


def test_pause_and_resume_of_an_unknown_session_are_clear_errors(harness: Harness) -> None:
    for command in ("pause", "resume"):
        human = cli_run(harness, "session", command, "no-such-session")
        assert human.exit_code == 3, human.output
        assert "error: SESSION_NOT_FOUND (validation): session 'no-such-session' not found" in human.stderr
        machine = cli_run(harness, "session", command, "no-such-session", "--json")
        assert (machine.exit_code, json.loads(machine.stdout)["error"]["error_code"]) == (3, "SESSION_NOT_FOUND")
        gone = CliRunner().invoke(cli, ["session", command, "x", "--url", closed_port_url(), "--token", "t"])
        assert gone.exit_code == 5 and "error: connection: cannot connect" in gone.stderr


def _paused_after_a_disconnect(harness: Harness) -> str:
    """A run whose client left without acknowledging its first tick: the server keeps it, paused."""
    with SyncSessionClient(harness.url, harness.token()) as client:
        session_id = client.create_session("SPY", "2024-01-02", "2024-03-28", "10000").session_id
        client.request("start_simulation", {"session_id": session_id, "flow_control": True, "max_pending_ticks": 1})
        assert client.get_session_status(session_id).state is SessionState.RUNNING
    return session_id


def test_resume_takes_a_paused_run_over_and_prints_the_answer(harness: Harness) -> None:
    session_id = _paused_after_a_disconnect(harness)
    with SyncSessionClient(harness.url, harness.token()) as client:
        assert client.get_session_status(session_id).state is SessionState.PAUSED
    human = cli_run(harness, "session", "resume", session_id)
    assert human.exit_code == 0, human.output
    assert human.stdout == f"Resumed session {session_id} at tick 1 (it was paused).\n"
    assert "the server pauses the run again when it exits" in human.stderr
    machine = cli_run(harness, "session", "resume", session_id, "--json")  # paused again when `human` left
    assert machine.exit_code == 0, machine.output
    assert json.loads(machine.stdout) == {"session_id": session_id, "sequence_id": 1, "was_paused": True}
    refused = cli_run(harness, "session", "pause", session_id)  # not driven by the asking connection
    assert refused.exit_code == 3
    assert "INVALID_STATE_TRANSITION" in refused.stderr and "send resume_simulation here" in refused.stderr


def test_resume_leaves_a_live_run_to_its_client(harness: Harness) -> None:
    with SyncSessionClient(harness.url, harness.token()) as client:
        session_id = client.create_session("SPY", "2024-01-02", "2024-03-28", "10000").session_id
        simulation = client.simulate(session_id)
        last = 0
        for tick in simulation:
            last = tick.sequence_id
            if tick.sequence_id == 2:
                refused = cli_run(harness, "session", "resume", session_id)
                assert refused.exit_code == 3
                assert "is running, driven by another client" in refused.stderr
                as_json = json.loads(cli_run(harness, "session", "resume", session_id, "--json").stdout)
                assert as_json["error"]["details"] == {"session_id": session_id, "state": "running"}
        result = simulation.result()  # the run went on to its end, undisturbed
        assert result.ticks == last > 2
        assert client.get_session_status(session_id).state is SessionState.COMPLETED


def test_pause_prints_what_the_server_answered(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI connection never drives a run, so the server refuses it (above); the answers it would print."""
    answers = [
        {"session_id": "s1", "reason": "requested by the client", "sequence_id": 7, "last_acknowledged": 6},
        {"session_id": "s1", "reason": "disconnected", "sequence_id": 7, "already_paused": True},
        {"session_id": "s1", "reason": "", "sequence_id": 7, "already_paused": True},
        {"session_id": "s1", "reason": "", "sequence_id": 7, "already_paused": True},
    ]

    async def pause_simulation(_client: SessionClient, session_id: str) -> dict[str, Any]:
        assert session_id == "s1"
        return answers.pop(0)

    answers_left = answers[3:]
    monkeypatch.setattr(SessionClient, "pause_simulation", pause_simulation)
    assert (
        cli_run(harness, "session", "pause", "s1").stdout
        == "Session s1 is paused at tick 7 (requested by the client).\n"
    )
    assert (
        cli_run(harness, "session", "pause", "s1").stdout == "Session s1 is already paused at tick 7 (disconnected).\n"
    )
    assert cli_run(harness, "session", "pause", "s1").stdout == "Session s1 is already paused at tick 7.\n"
    assert json.loads(cli_run(harness, "session", "pause", "s1", "--json").stdout) == answers_left[0]
    assert not answers


@tolerates_refused_handshake_leak
def test_run_url_failures_are_clear_with_their_exit_codes(harness: Harness, tmp_path: Path) -> None:
    gone = cli_run(harness, "run", "sma_crossover", "--url", closed_port_url())
    assert gone.exit_code == 5
    assert gone.stderr.startswith("error: connection: cannot connect to ws://127.0.0.1:")
    assert gone.stdout == ""
    gone_json = cli_run(harness, "run", "sma_crossover", "--url", closed_port_url(), "--json")
    assert json.loads(gone_json.stdout)["error"]["error_code"] == "CONNECTION_ERROR"
    forged = CliRunner().invoke(cli, ["run", "sma_crossover", "--url", harness.url, "--token", "forged"])
    assert forged.exit_code == 4 and "error: AUTHENTICATION_FAILED (auth)" in forged.stderr
    invalid = cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--symbols", "APPL", "--capital", "5")
    assert invalid.exit_code == 3
    assert "INVALID_SYMBOL" in invalid.stderr and "below the minimum" in invalid.stderr  # every problem
    not_url = cli_run(harness, "run", "sma_crossover", "--url", "http://127.0.0.1:1/")
    assert not_url.exit_code == 5 and "not a WebSocket URL" in not_url.stderr


def test_run_url_option_mistakes_are_usage_errors(harness: Harness, tmp_path: Path) -> None:
    no_token = CliRunner().invoke(
        cli, ["run", "sma_crossover", "--url", harness.url], env={"SIMUTRADOR_TOKEN": None, "SIMUTRADOR_URL": None}
    )
    assert (no_token.exit_code, no_token.stderr) == (2, "error: --url needs --token (or SIMUTRADOR_TOKEN)\n")
    window = cli_run(harness, "run", "sma_crossover", "--max-pending-ticks", "4")
    assert (window.exit_code, "--max-pending-ticks needs --url" in window.stderr) == (2, True)
    data_dir = cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--data-dir", str(tmp_path))
    assert (data_dir.exit_code, "a server reads its own data" in data_dir.stderr) == (2, True)
    assert cli_run(harness, "run", "sma_crossover", "--url", harness.url, "--max-pending-ticks", "0").exit_code == 2


def test_without_url_run_stays_embedded_even_with_simutrador_url_set(harness: Harness) -> None:
    done = cli_run(harness, "run", "sma_crossover", "--json")
    assert done.exit_code == 0, done.output
    assert "created session" not in done.stderr
    assert json.loads(done.stdout)["digest"]
    with SyncSessionClient(harness.url, harness.token()) as client:
        assert client.list_sessions() == []  # nothing reached the server


def test_a_strategy_that_raises_remotely_exits_7_and_names_the_paused_session(harness: Harness, tmp_path: Path) -> None:
    crashing = tmp_path / "crash.py"
    crashing.write_text(HOLD.replace("ctx.buy", "1 / 0; ctx.buy"))
    done = cli_run(harness, "run", str(crashing), "--url", harness.url)
    assert done.exit_code == 7
    assert "error: the strategy raised ZeroDivisionError: division by zero" in done.stderr
    assert "in on_tick at tick 1" in done.stderr
    session_id = created_id(done)
    assert f"session {session_id} stays on the server, paused" in done.stderr
    assert done.stdout == ""
    with SyncSessionClient(harness.url, harness.token()) as client:
        assert client.get_session_status(session_id).state is SessionState.PAUSED


def test_a_terminal_also_gets_the_equity_sparkline(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with SyncSessionClient(harness.url, harness.token()) as client:
        session_id = client.create_session("SPY", "2024-01-02", "2024-03-28", "10000").session_id
        strategy, _ = load_strategy("sma_crossover")
        result = client.run_simulation(session_id, strategy)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    show_result(result, f"session {session_id}", as_json=False, report_path=None)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"equity {sparkline(list(result.equity))}"
    assert len(last) > len("equity ") + 10
