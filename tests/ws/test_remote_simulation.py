"""Simulations over a real server on 127.0.0.1 with the real client: the same run as embedded, to the digest.

Each comparison runs one strategy embedded (`Engine.run_simulation`) and remotely
(`SessionClient.run_simulation`) on twin sessions and asserts the same digest, the
same final equity and fills, and — with `tests.ws.strategies.Busy` — the same
observation at every callback (time, cash, equity, positions, working orders, bars).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from simutrador_cli.examples.sma_crossover import SESSION as SMA_SESSION
from simutrador_cli.examples.sma_crossover import make_strategy
from simutrador_ws.client import ClientConnectionError, SessionClient, SessionClientSettings, SyncSessionClient
from simutrador_ws.remote import RemoteDriver, RemoteSimulation

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SimutradorError
from tests.ws.harness import fast_settings, running_server
from tests.ws.strategies import Busy
from tests.ws.thread_server import server_in_thread

BASE: dict[str, Any] = {
    "symbols": ["AAPL", "MSFT"],
    "initial_capital": "20000",
    "commission_per_share": "0.005",
    "slippage_bps": "2",
}

CASES = {
    "daily, warmup, next open": {
        "start_date": "2023-01-01",
        "end_date": "2023-04-30",
        "timeframe": "daily",
        "warmup_bars": 3,
    },
    "daily, fill at the close": {
        "start_date": "2023-01-01",
        "end_date": "2023-04-30",
        "timeframe": "daily",
        "fill_at": "close",
    },
    "1-minute, fill at the close": {
        "start_date": "2025-11-03",
        "end_date": "2025-11-03",
        "timeframe": "1min",
        "fill_at": "close",
    },
    "5-minute, optimistic": {
        "start_date": "2025-11-03",
        "end_date": "2025-11-04",
        "timeframe": "5min",
        "intrabar": "optimistic",
    },
}


def twin_runs(fields: dict[str, Any], window: int) -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    embedded_strategy = Busy()
    embedded = engine.run_simulation("alice", engine.create_session("alice", **fields).session_id, embedded_strategy)
    remote_strategy = Busy()
    with server_in_thread(engine) as harness, SyncSessionClient(harness.url, harness.token()) as client:
        session = client.create_session(**fields)
        remote = client.run_simulation(session.session_id, remote_strategy, max_pending_ticks=window)
        assert client.get_session_status(session.session_id).state.value == "completed"
    assert remote.digest == embedded.digest
    assert remote.final_equity == embedded.final_equity
    assert remote.fills == embedded.fills
    assert remote.metrics == embedded.metrics
    assert len(remote_strategy.seen) == len(embedded_strategy.seen)
    for index, (seen_remote, seen_embedded) in enumerate(
        zip(remote_strategy.seen, embedded_strategy.seen, strict=True)
    ):
        assert seen_remote == seen_embedded, f"observation {index} differs"
    assert remote_strategy.finished == embedded.final_equity
    assert any(o.status.value == "rejected" for o in embedded.orders)  # the case exercises rejections
    assert len(embedded.fills) > 5


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("window", [1, 6])
def test_a_busy_strategy_sees_and_does_the_same_remotely_as_embedded(case: str, window: int) -> None:
    twin_runs(BASE | CASES[case], window)


def test_the_shipped_sma_example_gives_the_embedded_digest_over_the_wire() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    embedded = engine.run_simulation("bob", engine.create_session("bob", **SMA_SESSION).session_id, make_strategy())
    progress: list[tuple[int, int]] = []
    with server_in_thread(engine) as harness, SyncSessionClient(harness.url, harness.token("bob")) as client:
        session = client.create_session(**SMA_SESSION)
        remote = client.run_simulation(
            session.session_id, make_strategy(), progress=lambda done, total: progress.append((done, total))
        )
        again = client.get_results(session.session_id)
    assert remote.digest == embedded.digest == again.digest
    assert remote.equity == embedded.equity
    assert remote.trades == embedded.trades
    assert progress[-1] == (embedded.ticks, embedded.ticks)


def test_many_simulations_share_one_connection() -> None:
    fields = BASE | CASES["daily, warmup, next open"]
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    expected = engine.run_simulation("alice", engine.create_session("alice", **fields).session_id, Busy()).digest
    digests: list[str] = []

    async def main() -> None:
        async with (
            running_server(engine=engine) as harness,
            SessionClient.connect(harness.url, harness.token()) as client,
        ):

            async def one(window: int) -> None:
                session = await client.create_session(**fields)
                digests.append(
                    (await client.run_simulation(session.session_id, Busy(), max_pending_ticks=window)).digest
                )

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for window in (1, 2, 3, 8):
                        nursery.start_soon(one, window)

    trio.run(main)
    assert digests == [expected] * 4


def test_the_low_level_iterator_steps_a_run_by_hand() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-02-28", "initial_capital": "10000"}

    def by_hand(ctx: Any, tick: Any) -> None:
        if tick.sequence_id == 3:
            ctx.buy("AAPL", 7)
        if tick.sequence_id == 5:
            ctx.buy("AAPL", 1_000_000)  # rejected: more than the account can buy
        if tick.sequence_id == 6:
            ctx.cancel(ctx.buy("AAPL", 1, limit_price="1", time_in_force="gtc"))
        if tick.sequence_id == 20:
            ctx.sell("AAPL", 7, limit_price="1")

    embedded = engine.run_simulation("alice", engine.create_session("alice", **fields).session_id, by_hand)

    async def main() -> tuple[Any, int, list[Any]]:
        async with (
            running_server(engine=engine) as harness,
            SessionClient.connect(harness.url, harness.token()) as client,
        ):
            session = await client.create_session(**fields)
            async with client.simulate(session.session_id, max_pending_ticks=4) as sim:
                ticks = 0
                async for tick in sim:
                    ticks += 1
                    if tick.sequence_id == 3:
                        sim.buy("AAPL", 7)
                    elif tick.sequence_id == 5:
                        sim.buy("AAPL", 1_000_000)
                    elif tick.sequence_id == 6:
                        sim.cancel(sim.buy("AAPL", 1, limit_price="1", time_in_force="gtc"))
                    elif tick.sequence_id == 20:
                        sim.sell("AAPL", 7, limit_price="1")
                assert [order.order_id for order, _ in sim.rejections] == ["o-2"]
                return await sim.result(), ticks, sim.fills

    result, ticks, fills = trio.run(main)
    assert ticks == embedded.ticks
    assert result.digest == embedded.digest
    assert fills == list(embedded.fills)


def test_the_sync_iterator_mirrors_the_async_one() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}
    with server_in_thread(engine) as harness, SyncSessionClient(harness.url, harness.token()) as client:
        session = client.create_session(**fields)
        sim = client.simulate(session.session_id)
        sequence = [tick.sequence_id for tick in sim if (tick.sequence_id != 2 or sim.buy("AAPL", 1))]
        result = sim.result()
    assert sequence == list(range(1, result.ticks + 1))
    assert [f.quantity for f in result.fills] == [1]
    assert sim.fills == list(result.fills)


def test_an_order_the_server_refuses_outright_raises_as_embedded() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}

    def wrong(ctx: Any, tick: Any) -> None:
        ctx.buy("MSFT", 1)

    with pytest.raises(SimutradorError) as embedded:
        engine.run_simulation("alice", engine.create_session("alice", **fields).session_id, wrong)
    with server_in_thread(engine) as harness, SyncSessionClient(harness.url, harness.token()) as client:
        session = client.create_session(**fields)
        with pytest.raises(SimutradorError) as remote:
            client.run_simulation(session.session_id, wrong)
        assert client.get_session_status(session.session_id).state.value in ("running", "paused")
    assert remote.value.code is embedded.value.code
    assert "MSFT" in remote.value.message


def test_a_strategy_that_raises_leaves_the_run_paused_on_the_server() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}

    def broken(ctx: Any, tick: Any) -> None:
        if tick.sequence_id == 4:
            raise ZeroDivisionError("oops")

    with server_in_thread(engine) as harness, SyncSessionClient(harness.url, harness.token()) as client:
        session = client.create_session(**fields)
        with pytest.raises(ZeroDivisionError) as raised:
            client.run_simulation(session.session_id, broken)
        assert "on_tick at tick 4" in raised.value.__notes__[-1]
        assert client.get_session_status(session.session_id).state.value == "paused"


def test_a_dropped_connection_pauses_the_run_and_another_connection_finishes_it() -> None:
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}

    async def main() -> None:
        async with running_server(settings=fast_settings()) as harness:
            engine = harness.server.engine
            async with harness.connect() as first:
                created = await first.request("create_session", fields)
                sid = created["data"]["session_id"]
                await first.request("start_simulation", {"session_id": sid, "max_pending_ticks": 2})
                await first.receive()  # tick 1
                await first.receive()  # tick 2 (ahead)
                await first.send("tick_ack", {"session_id": sid, "sequence_id": 1})
                assert (await first.receive())["data"]["sequence_id"] == 3
            with trio.fail_after(5):
                while engine.get_session("alice", sid).state.value != "paused":
                    await trio.sleep(0.01)
            async with harness.connect() as second:
                resumed = await second.request("resume_simulation", {"session_id": sid})
                assert resumed["type"] == "simulation_resumed"
                resent = [await second.receive(), await second.receive()]
                assert [m["data"]["sequence_id"] for m in resent] == [2, 3]
                total = engine.get_session("alice", sid).estimated_ticks
                for sequence_id in range(2, total + 1):
                    await second.send("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
                kinds: list[str] = []
                with trio.fail_after(10):
                    while "simulation_end" not in kinds:
                        kinds.append((await second.receive())["type"])
                assert "simulation_complete" in kinds
            assert engine.get_session("alice", sid).state.value == "completed"

    trio.run(main)


def test_the_original_clients_one_step_start_streams_without_acks() -> None:
    """What simutrador-client 0.2.11 sends (compat-original-client.md §2): no tick_ack ever."""

    async def main() -> None:
        async with running_server(settings=fast_settings(simulation_tick_interval_ms=1)) as harness:
            async with harness.connect() as client:
                request_id = await client.send(
                    "start_simulation",
                    {
                        "symbols": ["AAPL"],
                        "start_date": "2023-01-01T00:00:00",
                        "end_date": "2023-01-10T00:00:00",
                        "initial_capital": "10000",
                        "timeframe": "1d",
                        "warmup_bars": 5,
                        "adjusted": True,
                        "data_provider": None,
                        "commission_per_share": None,
                        "slippage_bps": None,
                        "metadata": None,
                    },
                )
                created = await client.receive()
                assert created["type"] == "session_created"
                assert created["request_id"] == request_id
                sid = created["data"]["session_id"]
                messages: list[dict[str, Any]] = []
                batch_sent = False
                with trio.fail_after(20):
                    while not messages or messages[-1]["type"] != "simulation_end":
                        message = await client.receive()
                        messages.append(message)
                        if message["type"] == "tick" and not batch_sent:
                            batch_sent = True
                            await client.send(
                                "order_batch",
                                {
                                    "session_id": sid,
                                    "batch_id": "b-1",
                                    "orders": [
                                        {
                                            "order_id": "o-1",
                                            "symbol": "AAPL",
                                            "side": "buy",
                                            "type": "market",
                                            "quantity": 5,
                                            "time_in_force": "day",
                                        }
                                    ],
                                    "execution_mode": "best_effort",
                                },
                            )
                kinds = [m["type"] for m in messages]
                assert kinds[:2] == ["simulation_started", "history_snapshot"]
                assert "batch_ack" in kinds
                assert "execution_report" in kinds
                assert all(m["data"].get("session_id") == sid for m in messages)
                end = messages[-1]["data"]
                assert int(end["total_trades"]) >= 0
                assert end["final_equity"]
                assert json.dumps(end)

    trio.run(main)


def test_a_run_throttled_by_the_message_rate_still_gives_the_embedded_digest() -> None:
    """Twenty messages per second beyond the ticks' credit: batches and acks wait and are sent again."""
    fields: dict[str, Any] = BASE | {"start_date": "2023-01-01", "end_date": "2023-01-20", "timeframe": "daily"}
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    expected = engine.run_simulation("alice", engine.create_session("alice", **fields).session_id, Busy(every=1))

    async def main() -> Any:
        settings = fast_settings(messages_per_second=20.0, message_burst=1)
        async with running_server(engine=engine, settings=settings) as harness:
            async with SessionClient.connect(harness.url, harness.token()) as client:
                session = await client.create_session(**fields)
                with trio.fail_after(60):
                    return await client.run_simulation(session.session_id, Busy(every=1))

    assert trio.run(main).digest == expected.digest


def test_a_server_gone_mid_run_is_a_connection_error() -> None:
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-12-31", "initial_capital": "10000"}

    async def main() -> None:
        settings = SessionClientSettings(reconnect_attempts=2, retry_backoff_seconds=0.01)
        async with (
            running_server() as harness,
            SessionClient.connect(harness.url, harness.token(), settings=settings) as client,
        ):
            session = await client.create_session(**fields)

            def stop_midway(ctx: Any, tick: Any) -> None:
                if tick.sequence_id == 10:
                    harness.server.shutdown()

            with pytest.raises(ClientConnectionError, match="after 2 reconnection attempts"), trio.fail_after(20):
                await client.run_simulation(session.session_id, stop_midway)

    trio.run(main)


def test_the_driver_and_the_iterator_say_when_they_are_used_before_starting() -> None:
    driver = RemoteDriver(object(), "s")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="start"):
        trio.run(driver.acknowledge)
    with pytest.raises(RuntimeError, match="has not started"):
        _ = RemoteSimulation(driver).ctx


def test_pause_resume_and_positions_through_the_client() -> None:
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}

    async def main() -> None:
        async with running_server() as harness, SessionClient.connect(harness.url, harness.token()) as client:
            session = await client.create_session(**fields)
            sid = session.session_id
            async with client.simulate(sid) as sim:
                steps = sim.__aiter__()
                await steps.__anext__()  # tick 1
                sim.buy("AAPL", 3)
                await steps.__anext__()  # tick 2: filled at its open
                account = await client.query_positions(sid)
                assert [(p["symbol"], p["quantity"]) for p in account["positions"]] == [("AAPL", "3")]
                assert account["sequence_id"] == 2
                paused = await client.pause_simulation(sid)
                assert paused["reason"] == "requested by the client"
                assert (await client.get_session_status(sid)).state.value == "paused"
                resumed = await client.resume_simulation(sid)
                assert resumed["was_paused"] is True
                assert (await client.get_session_status(sid)).state.value == "running"
                async for _ in steps:
                    pass
                result = await sim.result()
            assert [f.quantity for f in result.fills] == [3]
            assert (await client.get_results(sid)).digest == result.digest

    trio.run(main)


def test_a_sync_iteration_left_early_is_closed_and_the_run_stays_on_the_server() -> None:
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}
    with server_in_thread() as harness, SyncSessionClient(harness.url, harness.token()) as client:
        session = client.create_session(**fields)
        with client.simulate(session.session_id) as sim:
            for tick in sim:
                if tick.sequence_id == 3:
                    break
        assert client.get_session_status(session.session_id).state.value == "running"
        assert client.query_positions(session.session_id)["sequence_id"] == 3


def test_a_dropped_connection_mid_run_is_resumed_by_the_client_itself() -> None:
    fields = BASE | CASES["daily, warmup, next open"]
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    reference = Busy()
    expected = engine.run_simulation("alice", engine.create_session("alice", **fields).session_id, reference)
    settings = SessionClientSettings(reconnect_attempts=3, retry_backoff_seconds=0.01)
    strategy = Busy()

    async def main() -> Any:
        async with (
            running_server(engine=engine) as harness,
            SessionClient.connect(harness.url, harness.token(), settings=settings) as client,
        ):
            session = await client.create_session(**fields)
            original = client.request
            drops = {"left": 2}

            async def request(type_: str, data: Any = None) -> Any:
                if type_ == "order_batch" and drops["left"]:
                    drops["left"] -= 1
                    await client.aclose()  # the connection is gone before the batch is sent
                    raise ClientConnectionError("dropped")
                return await original(type_, data)

            client.request = request  # type: ignore[method-assign]
            with trio.fail_after(60):
                result = await client.run_simulation(session.session_id, strategy, max_pending_ticks=3)
            assert drops["left"] == 0
            return result

    result = trio.run(main)
    assert result.digest == expected.digest
    assert strategy.seen == reference.seen


def test_a_result_the_server_cannot_record_is_an_error_not_a_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = {"symbols": ["AAPL"], "start_date": "2023-01-01", "end_date": "2023-01-31", "initial_capital": "10000"}
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    recorded: list[str] = []

    def full_disk(user_id: str, session_id: str, result: Any) -> None:
        recorded.append(session_id)
        raise SimutradorError(ErrorCode.STORAGE_FAILED, "the disk is full")

    monkeypatch.setattr(engine, "finish_simulation", full_disk)
    with server_in_thread(engine) as harness, SyncSessionClient(harness.url, harness.token()) as client:
        session = client.create_session(**fields)
        with pytest.raises(SimutradorError) as failed:
            client.run_simulation(session.session_id, lambda ctx, tick: None)
    assert failed.value.code is ErrorCode.STORAGE_FAILED
    assert recorded == [session.session_id]
