"""Remote simulations over the wire at tiny sizes: the step's figures and verdicts, and every failure path."""

from __future__ import annotations

import math
import socket

import attrs
import pytest
import trio
from simutrador_bench import remote_simulation, runner, wire
from simutrador_bench.remote_simulation import ConcurrentResult, Contender, LeanClient, ProtocolError
from simutrador_bench.serverproc import raise_open_files_limit

pytestmark = pytest.mark.anyio

TINY = attrs.evolve(
    runner.QUICK,
    name="tiny",
    wire_warmup=0.05,
    time_limit=60,
    remote_ticks=60,
    remote_rounds=2,
    remote_clients=4,
    remote_concurrent_ticks=20,
)

ONE_CONNECTION = {
    "remote.echo.1",
    "remote.lockstep.1",
    "remote.lockstep.vs_echo",
    "remote.sdk.nothing",
    "remote.sdk.nothing.vs_echo",
    "remote.sdk.sma",
    "remote.sdk.sma.vs_echo",
    "remote.bars_off.1",
    "remote.bars.vs_off",
    "remote.window.8",
    "remote.window.8.vs_1",
}
CONCURRENT = {"remote.concurrent", "remote.concurrent.latency", "remote.concurrent.echo", "remote.concurrent.vs_echo"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_step_reports_every_figure_with_its_verdict() -> None:
    raise_open_files_limit()
    lines: list[str] = []
    report = runner.run(TINY, only=["remote"], progress=lines.append)
    results = report.by_key()
    assert set(results) == ONE_CONNECTION | CONCURRENT
    assert [r.key for r in report.results][:3] == ["remote.echo.1", "remote.lockstep.1", "remote.lockstep.vs_echo"]
    for result in report.results:
        assert result.errors == 0, (result.key, result.note, result.extra)
        assert result.value > 0, result.key
    assert results["remote.lockstep.vs_echo"].verdict in ("pass", "short")
    assert results["remote.lockstep.vs_echo"].spec.limit == 70
    assert all(results[key].verdict == "" for key in (ONE_CONNECTION | CONCURRENT) - {"remote.lockstep.vs_echo"})
    echo = results["remote.echo.1"]
    assert echo.extra["payload_bytes"] > 300  # a real tick, candles included
    assert len(echo.samples) == 2  # one per round
    lockstep = results["remote.lockstep.1"]
    assert lockstep.extra["ticks"] == 60
    assert lockstep.extra["server_cpu_us_per_tick"] >= 0  # psutil counts CPU in 10 ms steps
    assert len(results["remote.lockstep.vs_echo"].extra["ratio_per_round"]) == 2
    assert results["remote.sdk.sma"].extra["ticks"] == 60
    assert len(results["remote.sdk.sma"].extra["embedded_digest"]) == 64
    concurrent = results["remote.concurrent"]
    rounds = TINY.rounds
    assert concurrent.extra["connected"] == concurrent.extra["completed"] == [4] * rounds
    assert concurrent.extra["total_ticks"] == 80 * rounds
    assert len(results["remote.concurrent.vs_echo"].extra["ratio_per_round"]) == rounds
    assert concurrent.note == "4 clients (the figure is for 100)"
    latency = results["remote.concurrent.latency"]
    assert latency.p99 is not None
    assert latency.p99 >= latency.value > 0
    assert any("1 connection, 60 ticks, 2 rounds" in line for line in lines)


def test_the_step_is_listed_and_selected_by_its_group() -> None:
    assert [s.name for s in runner.select_steps(["remote"])] == ["remote.simulation"]
    assert runner.QUICK.remote_ticks * runner.QUICK.remote_rounds <= 2_000  # CI runs --quick: keep it short


async def test_the_lean_client_reports_the_servers_refusals() -> None:
    with wire.server_process("simutrador") as server:
        async with wire._connect(server.url("lean")) as ws:
            await ws.get_message()
            lean = LeanClient(ws)
            with pytest.raises(ProtocolError, match="create_session: session_error"):
                await lean.create_session(0)  # ends before it starts
            with pytest.raises(ProtocolError, match="session_error: "):
                await lean.run("no-such-session")
            session_id = await lean.create_session(5)
            run = await lean.run(session_id, window=8, include_bars=False)
            assert run.ticks == 5
            assert '"candles"' not in run.first_tick
            with pytest.raises(ProtocolError, match="session_error"):
                await lean.run(session_id)  # completed: it cannot start again
            with pytest.raises(ProtocolError, match="something else"):
                await remote_simulation.echo_round_trips(ws, "not an echo server", 1)


async def test_a_failing_contender_is_counted_and_left_out_of_ratios() -> None:
    calls = 0

    async def flaky() -> tuple[int, float]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ProtocolError("refused")
        return 10, 0.5

    async def steady() -> tuple[int, float]:
        return 10, 1.0

    mine, baseline = Contender("flaky", flaky, cpu_seconds=lambda: 1.0), Contender("steady", steady)
    await remote_simulation.alternate([mine, baseline], rounds=2, time_limit=10)
    assert mine.errors == {"ProtocolError: refused": 1}
    assert math.isnan(mine.rates[0])
    assert mine.rate == 20
    assert mine.ratios(baseline) == [2.0]
    assert mine.server_cpu_per_tick == 0.0
    assert math.isnan(baseline.server_cpu_per_tick)  # no CPU reader
    never = Contender("never", steady)
    never.seconds, never.server_cpu = [math.nan], [math.nan]
    assert never.rate == 0.0
    percent = remote_simulation._percent("remote.lockstep.vs_echo", never, baseline)
    assert percent.value == 0.0
    assert percent.errors == 1
    assert percent.verdict == "short"


async def test_turns_stop_at_the_time_limit() -> None:
    async def slow() -> tuple[int, float]:
        await trio.sleep(5)
        return 1, 5.0

    contender = Contender("slow", slow)
    await remote_simulation.alternate([contender], rounds=3, time_limit=0.1)
    assert contender.errors["time limit"] == 1
    assert contender.seconds == []


async def test_concurrent_loads_count_refused_connections_and_time_limits() -> None:
    with wire.server_process("echo") as echo:
        nowhere = attrs.evolve(echo, port=closed_port())
        refused = await remote_simulation.concurrent(nowhere, 3, 5, payload="x")
        assert refused.connected == 0
        assert sum(n for kind, n in refused.errors.items() if kind.startswith("connect: ")) == 3, refused.errors
        assert refused.throughput == 0
        assert math.isnan(refused.server_cpu)
        late = await remote_simulation.concurrent(echo, 2, 10**9, payload="x", time_limit=0.5)
        assert late.errors["time limit"] == 1
        assert late.completed == 0
        assert late.total_ticks > 0
    results = remote_simulation.concurrent_results([refused], [late])
    assert [r.key for r in results] == [
        "remote.concurrent",
        "remote.concurrent.latency",
        "remote.concurrent.echo",
        "remote.concurrent.vs_echo",
    ]
    assert results[1].value == math.inf
    assert results[1].errors == 3
    assert results[3].value == 0.0
    assert results[3].extra == {"ratio_per_round": []}
    nothing = remote_simulation.concurrent_results([], [])
    assert [r.value for r in nothing] == [0.0, math.inf, 0.0, 0.0]
    assert nothing[0].extra["clients"] == 0


async def test_a_concurrent_run_that_drops_is_an_error() -> None:
    with wire.server_process("simutrador") as server:

        async def kill_soon() -> None:
            await trio.sleep(1.0)
            server.process.kill()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(kill_soon)
            load = await remote_simulation.concurrent(server, 2, 100_000, time_limit=20)
    assert load.connected == 2
    assert load.completed == 0
    assert sum(n for kind, n in load.errors.items() if kind.startswith("ConnectionClosed")) == 2, load.errors


def test_the_window_is_the_whole_first_run_when_shorter_than_the_warm_up() -> None:
    load = ConcurrentResult(2)
    load.measure([[1.0, 1.1, 1.2], [1.05, 1.3]], started=1.0, ends=[1.2, 1.3], warmup=5.0)
    assert load.window == pytest.approx(0.2)
    assert load.ticks == 4  # 1.3 arrived after the first client ended
    assert load.latencies == pytest.approx([0.1, 0.1])
    assert load.total_ticks == 5
    assert load.elapsed == pytest.approx(0.3)
    assert load.throughput == pytest.approx(20)


def test_the_sma_example_digest_is_the_embedded_runs() -> None:
    assert remote_simulation.embedded_digest(60) == remote_simulation.embedded_digest(60)
    request = remote_simulation.session_request(3)
    assert request["end_date"] == "2025-10-01T00:02:00Z"


async def test_a_digest_unlike_the_embedded_runs_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_simulation, "embedded_digest", lambda ticks: "not the digest")
    with wire.server_process("echo") as echo, wire.server_process("simutrador") as server:
        one = await remote_simulation.one_connection(server, echo, 40, rounds=1, time_limit=30)
    assert one.contenders["sdk_sma"].errors == {
        "ProtocolError: the SMA example's digest differs from the embedded run's": 1
    }
    assert one.contenders["sdk_nothing"].errors == {}
    assert one.payload.startswith('{"type":"tick",')
