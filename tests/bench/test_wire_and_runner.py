"""Over-the-wire loads against real server processes on 127.0.0.1, the runner, and `simutrador bench`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio
from click.testing import CliRunner
from simutrador_bench import runner, wire
from simutrador_bench.serverproc import raise_open_files_limit
from simutrador_cli.main import cli
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_round_trips_on_both_servers() -> None:
    with wire.server_process("simutrador") as server, wire.server_process("echo") as echo:
        assert server.rss() > 1_000_000
        assert server.cpu_seconds() > 0
        load = await wire.round_trips(server, 3, warmup=0.05, window=0.3)
        assert load.connected == 3
        assert load.error_count == 0
        assert len(load.latencies) > 10
        assert load.throughput > 0
        assert load.server_cpu is not None
        (pair,) = await wire.alternating_round_trips([echo, server], 2, rounds=1, warmup=0.05, window=0.2)
        assert [r.error_count for r in pair] == [0, 0]
        assert all(r.latencies for r in pair)


async def test_wrong_replies_and_refused_connections_are_counted() -> None:
    with wire.server_process("simutrador") as server:
        pretend = attrs.evolve(server, kind="echo")  # expects its request back, gets SimuTrador's replies
        load = await wire.round_trips(pretend, 1, warmup=0.0, window=0.2, time_limit=5)
        assert load.errors["wrong reply"] >= 1
        assert load.latencies == []
    with wire.server_process("echo") as echo:
        nowhere = attrs.evolve(echo, port=closed_port())
        refused = await wire.round_trips(nowhere, 2, warmup=0.0, window=0.1)
        assert refused.connected == 0
        assert sum(n for kind, n in refused.errors.items() if kind.startswith("connect: ")) == 2, refused.errors
        assert refused.throughput == 0
        failed = await wire.handshakes(nowhere, 3, concurrency=2)
        assert sum(failed.errors.values()) == 3, failed.errors
        assert failed.rate == 0
        hold = await wire.hold_connections(nowhere, [5])
        assert hold.held == 0
        assert hold.stopped.startswith("could not connect at all: ")
        assert hold.bytes_per_connection() == 0


async def test_a_server_that_stops_answering_ends_the_load() -> None:
    with wire.server_process("simutrador") as server:
        server.process.kill()
        server.process.wait()
        load = await wire.round_trips(server, 1, warmup=0.0, window=0.2, time_limit=5)
        assert load.connected == 0
        assert load.error_count == 1


async def test_a_server_dying_mid_load_counts_closed_connections_in_that_round() -> None:
    with wire.server_process("echo") as echo, wire.server_process("simutrador") as server:

        async def kill_soon() -> None:
            await trio.sleep(2.0)  # connecting takes a few ms; the echo turn ends at ~1.5 s
            server.process.kill()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(kill_soon)
            (pair,) = await wire.alternating_round_trips([echo, server], 2, rounds=1, warmup=0.0, window=1.5)
        echo_load, dead = pair
        assert echo_load.error_count == 0  # the echo server's turn came first and finished
        assert dead.errors["connection closed"] == 2
        assert dead.server_cpu is not None


async def test_time_limits_stop_every_load() -> None:
    with wire.server_process("simutrador") as server:
        load = await wire.round_trips(server, 2, warmup=0.0, window=30, time_limit=0.5)
        assert load.errors["time limit"] == 1
        setups = await wire.handshakes(server, 10_000, concurrency=2, time_limit=0.3)
        assert setups.errors["time limit"] == 1
        assert 0 < len(setups.latencies) < 10_000
        hold = await wire.hold_connections(server, [5, 10_000], settle=0.05, time_limit=1.5)
        assert hold.held == 5
        assert hold.stopped.startswith("time limit")


async def test_handshakes_and_held_connections() -> None:
    with wire.server_process("simutrador") as server:
        setups = await wire.handshakes(server, 20, concurrency=4)
        assert len(setups.latencies) == 20
        assert setups.rate > 0
        steps: list[int] = []
        hold = await wire.hold_connections(server, [10, 30], sample=5, settle=0.05, on_step=steps.append)
        assert steps == [10, 30]
        assert hold.held == 30
        assert [n for n, _ in hold.steps] == [10, 30]
        assert hold.stopped == ""
        assert hold.bytes_per_connection() != 0
    with wire.server_process("echo") as echo:
        assert (await wire.hold_connections(echo, [10], settle=0.05)).held == 10


async def test_a_climb_stops_at_the_first_failing_step() -> None:
    with wire.server_process("echo") as echo:
        hold = await wire.hold_connections(echo, [5], settle=0.05)
        echo.process.kill()
        echo.process.wait()
    assert hold.held == 5
    with wire.server_process("echo") as echo:

        async def kill_soon() -> None:
            await trio.sleep(0.5)
            echo.process.kill()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(kill_soon)
            hold = await wire.hold_connections(echo, [5, 6, 7, 8], settle=0.4, time_limit=10)
        assert hold.held < 8
        assert hold.stopped.startswith("stopped at")
        assert sum(hold.errors.values()) >= 1


def test_the_server_process_stops_by_itself_and_can_profile(tmp_path: Path) -> None:
    started = time.monotonic()
    lonely = subprocess.Popen(
        [sys.executable, "-m", "simutrador_bench.serverproc", "echo", "--max-seconds", "0.5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert lonely.stdout is not None
    assert lonely.stdout.readline().startswith(b"PORT ")
    assert lonely.wait(timeout=20) == 0  # stdin still open: the time limit ended it
    assert time.monotonic() - started < 20
    assert lonely.stdin is not None
    lonely.stdin.close()
    lonely.stdout.close()
    profile = tmp_path / "server.prof"
    with wire.server_process("simutrador", profile=str(profile)) as server:
        assert server.pid > 0
    assert profile.stat().st_size > 0


def test_a_server_that_cannot_start_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(wire.SECRET_VARIABLE, raising=False)
    monkeypatch.setattr(wire, "generate_secret", lambda: "")  # an empty secret: the server refuses to start
    with pytest.raises(RuntimeError, match="did not start"), wire.server_process("simutrador"):
        pass


def test_open_files_limit_is_raised_as_far_as_allowed() -> None:
    limit = raise_open_files_limit(64)
    assert limit >= 64


def test_step_selection() -> None:
    assert [s.name for s in runner.select_steps(["inproc.floor"])] == ["inproc.floor"]
    assert {s.name for s in runner.select_steps(["wire"])} == {"wire.loads", "wire.handshake", "wire.connections"}
    assert [s.name for s in runner.select_steps(["*.cycle"])] == ["inproc.cycle"]
    assert len(runner.select_steps([])) == len(runner.STEPS)
    with pytest.raises(ValueError, match="no benchmark step matches nope"):
        runner.select_steps(["nope"])


TINY = runner.Profile(
    name="tiny",
    timing_seconds=0.01,
    memory_counts=(100, 200),
    rss_per_session=True,
    cleanup_sessions=300,
    wire_warmup=0.05,
    wire_window=0.15,
    rounds=1,
    handshakes=10,
    connection_steps=(10, 20),
    echo_connection_steps=(10,),
    time_limit=60,
)


def test_run_in_process_steps_reports_every_figure() -> None:
    lines: list[str] = []
    report = runner.run(TINY, only=["inproc"], progress=lines.append)
    keys = [r.key for r in report.results]
    assert keys[:4] == ["inproc.floor", "inproc.create.1", "inproc.create.5", "inproc.create.50"]
    assert "inproc.validation.cold.500" in keys
    assert {"inproc.cleanup.idle", "inproc.cleanup.expire", "inproc.memory.200", "inproc.live_sessions"} <= set(keys)
    live = report.by_key()["inproc.live_sessions"]
    assert live.value == 300  # the cleanup step held them all, then expired them all
    assert live.verdict == "short"  # 300 is far from 100,000
    assert lines[0] == "[1/6] floor: frozen attrs object in a dict"
    assert any("done in" in line for line in lines)
    assert report.seconds > 0


def test_run_wire_steps_against_real_servers() -> None:
    raise_open_files_limit()
    report = runner.run(
        attrs.evolve(TINY, wire_window=2.0, wire_warmup=0.5), only=["wire"]
    )  # 1,000 clients: room to connect
    results = report.by_key()
    assert set(results) == {
        "wire.echo.1",
        "wire.create.1",
        "wire.create.100",
        "wire.echo.1000",
        "wire.create.1000",
        "wire.ratio.1000",
        "wire.handshake",
        "wire.connections",
        "wire.memory.connection",
        "wire.memory.echo",
    }
    assert results["wire.create.1000"].errors == 0
    assert results["wire.create.1000"].extra["round_trips"] > 0
    assert results["wire.ratio.1000"].value > 0
    assert results["wire.connections"].value == 20
    assert results["wire.handshake"].value > 0
    assert results["wire.create.1"].p99 is not None


def test_latency_result_without_any_round_trip_is_an_error() -> None:
    empty = wire.LoadResult(clients=1)
    empty.errors["connect: OSError"] += 1
    result = runner._latency_result("wire.create.1", empty)
    assert result.errors == 1
    assert result.verdict == "short"


def test_cli_bench_lists_runs_saves_and_compares(tmp_path: Path) -> None:
    cli_runner = CliRunner()
    listing = cli_runner.invoke(cli, ["bench", "--list"])
    assert listing.exit_code == 0
    assert "wire.connections" in listing.output
    saved = tmp_path / "first.json"
    first = cli_runner.invoke(cli, ["bench", "--quick", "--only", "inproc.floor", "--json", str(saved)])
    assert first.exit_code == 0, first.output
    assert "floor: frozen attrs object stored in a dict" in first.output
    assert json.loads(saved.read_text())["benchmarks"][0]["name"] == "inproc.floor"
    again = cli_runner.invoke(cli, ["bench", "--quick", "--only", "inproc.floor", "--compare", str(saved)])
    assert again.exit_code == 0, again.output
    assert f"before: {saved}" in again.output
    assert "inproc.floor" in again.output.split("before:")[1]


def test_cli_bench_refuses_bad_options(tmp_path: Path) -> None:
    cli_runner = CliRunner()
    unknown = cli_runner.invoke(cli, ["bench", "--only", "nope"])
    assert unknown.exit_code == 2
    assert "no benchmark step matches nope" in unknown.output
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    bad = cli_runner.invoke(cli, ["bench", "--compare", str(junk)])
    assert bad.exit_code == 2
    assert "Expecting property name" in bad.output


async def _ping_while_closing(stream: trio.SocketStream) -> None:
    """A WebSocket server that answers the client's close with a ping first (as a heartbeat racing the close)."""
    connection = WSConnection(ConnectionType.SERVER)
    async with stream:
        while data := await stream.receive_some():
            connection.receive_data(data)
            for event in connection.events():
                if isinstance(event, Request):
                    await stream.send_all(connection.send(AcceptConnection()))
                elif isinstance(event, CloseConnection):
                    await stream.send_all(b"\x89\x04ping")  # an unmasked ping frame with a 4-byte payload
                    await stream.send_all(connection.send(event.response()))
                    return


async def test_a_ping_arriving_while_the_client_closes_is_not_an_error() -> None:
    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, _ping_while_closing, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        with trio.fail_after(10):
            async with wire._connect(f"ws://127.0.0.1:{port}/ws?token=x") as ws:
                assert not ws.closed
        nursery.cancel_scope.cancel()
