"""Real process kills: ``simutrador serve`` SIGKILLed mid-simulation, restarted on the same store, resumed.

Each test runs the busy strategy (`tests.ws.strategies.Busy`) remotely against a
server in its own process with a SQLite store; at a chosen point the server is
killed with SIGKILL and a new one started on the same port and file. The client
(`SessionClient.run_simulation`) reconnects by itself and sends ``resume_session``;
the run must end with the digest, fills and observations of an uninterrupted
embedded run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from simutrador_bench import faults
from simutrador_bench.faults import Server, free_port, token
from simutrador_ws.client import SessionClient, SessionClientSettings
from simutrador_ws.remote import ClientConnectionError, RemoteDriver, run_remote_strategy

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SimutradorError, SqliteStore
from tests.ws.strategies import Busy

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

FIELDS: dict[str, Any] = {
    "symbols": ["AAPL", "MSFT"],
    "start_date": "2023-01-01",
    "end_date": "2023-06-30",
    "initial_capital": "20000",
    "commission_per_share": "0.005",
    "slippage_bps": "2",
}
SETTINGS = SessionClientSettings(reconnect_attempts=12, retry_backoff_seconds=0.1, max_backoff_seconds=1.0)


@contextmanager
def served(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "store.db", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def embedded(strategy: Busy) -> Any:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    return engine.run_simulation("alice", engine.create_session("alice", **FIELDS).session_id, strategy)


class KilledAt(Busy):
    """The busy strategy, which has the server killed (and restarted) on reaching given ticks."""

    def __init__(self, server: Server, ticks: set[int]) -> None:
        super().__init__()
        self.server, self.ticks = server, ticks

    def on_tick(self, ctx: Any, tick: Any) -> None:
        super().on_tick(ctx, tick)  # orders held now go out after the server is back
        if tick.sequence_id in self.ticks:
            self.ticks.discard(tick.sequence_id)
            self.server.restart()


def remote(server: Server, strategy: Busy, window: int = 1) -> Any:
    async def main() -> Any:
        async with SessionClient.connect(server.url, token(), settings=SETTINGS) as client:
            session = await client.create_session(**FIELDS)
            with trio.fail_after(120):
                return await client.run_simulation(session.session_id, strategy, max_pending_ticks=window)

    return trio.run(main)


def same_run(remote_result: Any, remote_strategy: Busy) -> None:
    reference_strategy = Busy()
    reference = embedded(reference_strategy)
    assert remote_result.digest == reference.digest
    assert remote_result.fills == reference.fills
    assert remote_strategy.seen == reference_strategy.seen


@pytest.mark.parametrize("window", [1, 4])
def test_killed_during_ticks_restarted_and_resumed_gives_the_uninterrupted_run(tmp_path: Path, window: int) -> None:
    with served(tmp_path) as server:
        strategy = KilledAt(server, {9, 40})
        result = remote(server, strategy, window)
        assert server.starts == 3
    same_run(result, strategy)


def test_killed_between_a_batch_and_its_ack(tmp_path: Path) -> None:
    """The batch reaches the server, which dies before answering: sent again, it is applied exactly once."""
    with served(tmp_path) as server:
        strategy = Busy()
        kills = {"left": 2}

        async def main() -> Any:
            async with SessionClient.connect(server.url, token(), settings=SETTINGS) as client:
                session = await client.create_session(**FIELDS)
                original = client.request

                async def request(type_: str, data: Any = None) -> Any:
                    if type_ == "order_batch" and kills["left"]:
                        kills["left"] -= 1
                        await client.send(type_, data, errors_to="nobody")
                        await trio.sleep(
                            0.2 if kills["left"] else 0.0
                        )  # committed the first time, maybe not the second
                        server.restart()
                        raise ClientConnectionError("the server was killed")
                    return await original(type_, data)

                client.request = request  # type: ignore[method-assign]
                driver = RemoteDriver(client, session.session_id, reconnection=SETTINGS.reconnection())
                with trio.fail_after(120):
                    return await run_remote_strategy(driver, strategy)

        result = trio.run(main)
        assert kills["left"] == 0
        assert server.starts == 3
    same_run(result, strategy)


def test_a_session_comes_back_paused_after_a_kill_and_its_result_survives(tmp_path: Path) -> None:
    with served(tmp_path) as server:

        async def main() -> tuple[str, str]:
            async with SessionClient.connect(server.url, token(), settings=SETTINGS) as client:
                done = await client.create_session(**FIELDS)
                finished = await client.run_simulation(done.session_id, Busy())
                running = await client.create_session(**FIELDS)
                await client.request("start_simulation", {"session_id": running.session_id})
                return done.session_id, finished.digest

        done_id, digest = trio.run(main)
        server.restart()
        server.stop()
    with SqliteStore(tmp_path / "store.db") as store:
        engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL), store=store)
        states = sorted(s.state.value for s in engine.list_sessions("alice"))
        assert states == ["completed", "paused"]
        assert engine.get_result("alice", done_id).digest == digest


def test_resuming_on_changed_data_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SqliteStore(tmp_path / "store.db") as store:
        engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL), store=store)
        session = engine.create_session("alice", **FIELDS)
        handle = engine.start_simulation("alice", session.session_id)
        handle.step()
        handle.pause()
        monkeypatch.setattr(type(engine.catalog), "fingerprint", property(lambda _self: "new data"))
        with pytest.raises(SimutradorError) as refused:
            engine.restore_simulation("alice", session.session_id, [], until=1)
        assert refused.value.code is ErrorCode.DATA_CHANGED
        assert refused.value.details == {
            "recorded_fingerprint": session.data_fingerprint,
            "current_fingerprint": "new data",
        }
        assert engine.get_session("alice", session.session_id).state.value == "paused"


def test_the_random_kill_script_passes_its_trials(capsys: pytest.CaptureFixture[str]) -> None:
    assert faults.main(["--trials", "2", "--seed", "7", "--max-seconds", "90"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 trials ended with the uninterrupted run's digest" in out
    assert out.count("same digest") == 2
