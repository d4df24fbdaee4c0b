"""SessionClient against the real server (and against deliberately broken fake servers)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
import trio
import trio_websocket
from simutrador_ws.client import ClientConnectionError, SessionClient, SessionClientSettings, SyncSessionClient

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SessionSettings, SessionState, SimutradorError
from tests.ws.harness import fast_settings, running_server, tolerates_refused_handshake_leak
from tests.ws.thread_server import server_in_thread

pytestmark = pytest.mark.anyio
LIMIT = 20


async def test_the_seed_api_returns_typed_sessions_and_tracks_them() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness, SessionClient.connect(harness.url, harness.token()) as client:
            assert client.ready["user_id"] == "alice"
            session = await client.create_session("AAPL,msft", "2024-03-04", "2024-03-08", 250_000, metadata={"k": [1]})
            assert session.symbols == ("AAPL", "MSFT")
            assert session.initial_capital == Decimal(250_000)
            assert session.state is SessionState.READY
            assert session.metadata == {"k": (1,)}
            assert client.sessions == {session.session_id: session}
            again = await client.get_session_status(session.session_id)
            assert again == session
            other = await client.create_session(
                ["BTC-USD"], "2024-03-04", "2024-03-04", Decimal("5000"), session_id="mine"
            )
            assert [s.session_id for s in await client.list_sessions()] == [session.session_id, "mine"]
            assert await client.delete_session("mine") == "mine"
            assert set(client.sessions) == {session.session_id}
            assert other.session_id == "mine"
            symbols = await client.list_symbols("FOREX")
            assert {s["market"] for s in symbols} == {"FOREX"}


async def test_concurrent_requests_on_one_connection_are_matched() -> None:
    with trio.fail_after(LIMIT):
        engine = Engine(
            EngineSettings(session=SessionSettings(max_sessions_per_user=100), default_plan=Plan.ENTERPRISE)
        )
        async with running_server(engine=engine, settings=fast_settings(message_burst=500)) as harness:
            async with SessionClient.connect(harness.url, harness.token("multi", Plan.ENTERPRISE)) as client:
                results: dict[int, str] = {}

                async def create(index: int) -> None:
                    session = await client.create_session(
                        "SPY", "2024-03-04", "2024-03-04", 10_000, session_id=f"s-{index}"
                    )
                    results[index] = session.session_id

                async with trio.open_nursery() as nursery:
                    for index in range(40):
                        nursery.start_soon(create, index)
                assert results == {i: f"s-{i}" for i in range(40)}
                assert len(await client.list_sessions()) == 40


async def test_validation_errors_are_raised_once_never_retried() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness, SessionClient.connect(harness.url, harness.token()) as client:
            with pytest.raises(SimutradorError) as info:
                await client.create_session("APPL", "2024-03-04", "2024-03-08", 100_000)
            assert info.value.code is ErrorCode.INVALID_SYMBOL
            assert info.value.details["problems"][0]["suggestions"]["APPL"][0] == "AAPL"
            assert harness.server.metrics.requests["create_session"] == 1


@asynccontextmanager
async def fake_server(handler: Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]) -> AsyncIterator[str]:
    """A bare trio-websocket server that says connection_ready and then misbehaves."""

    async def serve(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        with contextlib.suppress(trio_websocket.ConnectionClosed):  # the client leaving first is normal
            await ws.send_message(
                json.dumps({"type": "connection_ready", "data": {"user_id": "x"}, "request_id": None})
            )
            await handler(ws)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, serve, "127.0.0.1", 0, None)
        try:
            yield f"ws://127.0.0.1:{server.port}/ws/simulate"
        finally:
            nursery.cancel_scope.cancel()


async def test_a_dropped_connection_fails_every_pending_request_promptly() -> None:
    async def hang_up(ws: trio_websocket.WebSocketConnection) -> None:
        for _ in range(3):
            await ws.get_message()
        await ws.aclose(1011, "boom")

    slow = SessionClientSettings(session_timeout_seconds=15)
    with trio.fail_after(LIMIT):
        async with fake_server(hang_up) as url, SessionClient.connect(url, "t", settings=slow) as client:
            failures: list[str] = []
            started = time.monotonic()

            async def call() -> None:
                with pytest.raises(ClientConnectionError) as info:
                    await client.get_session_status("x")
                failures.append(str(info.value))

            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(call)
            assert len(failures) == 3
            assert all("1011" in f for f in failures)
            assert time.monotonic() - started < 5  # not the 15 s request timeout
            assert client.closed
            with pytest.raises(ClientConnectionError, match="closed"):
                await client.list_sessions()


@tolerates_refused_handshake_leak
async def test_refused_and_unreachable_connections() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            with pytest.raises(SimutradorError) as info:
                async with SessionClient.connect(harness.url, "forged"):
                    pass
            assert (info.value.code, info.value.message) == (ErrorCode.AUTHENTICATION_FAILED, "malformed token")
            async with SessionClient.connect(harness.url, harness.token("solo", Plan.FREE)):
                with pytest.raises(SimutradorError) as limited:
                    async with SessionClient.connect(harness.url, harness.token("solo", Plan.FREE)):
                        pass
                assert (limited.value.code, limited.value.retry_after_ms) == (ErrorCode.RATE_LIMIT_EXCEEDED, 1000)
            with pytest.raises(ClientConnectionError, match="HTTP 404"):
                async with SessionClient.connect(harness.url.replace("/ws/simulate", "/nope"), harness.token()):
                    pass
            port = harness.port
        with pytest.raises(ClientConnectionError, match="cannot connect"):
            async with SessionClient.connect(f"ws://127.0.0.1:{port}/ws/simulate", "t"):
                pass
        with pytest.raises(ClientConnectionError, match="not a WebSocket URL"):
            async with SessionClient.connect("http://127.0.0.1:1/", "t"):
                pass


@tolerates_refused_handshake_leak
def test_the_sync_client() -> None:
    with server_in_thread() as harness, SyncSessionClient(harness.url, harness.token("sync")) as client:
        session = client.create_session(["AAPL"], "2024-03-04", "2024-03-08", "20000")
        assert client.get_session_status(session.session_id).symbols == ("AAPL",)
        assert [s.session_id for s in client.list_sessions()] == [session.session_id]
        assert set(client.sessions) == {session.session_id}
        assert len(client.list_symbols("CRYPTO")) == 7
        with pytest.raises(SimutradorError) as info:
            client.create_session(["AAPL"], "2024-03-08", "2024-03-04", "20000")
        assert info.value.code is ErrorCode.INVALID_DATE_RANGE
        assert client.delete_session(session.session_id) == session.session_id
        pong = client.request("ping")
        assert pong.type == "pong"
        assert pong.request_id is not None and pong.request_id.startswith("c")
        assert client.ready["user_id"] == "sync"
        assert (client.notices, client.closed) == ([], False)
        assert client.settings == SessionClientSettings()
        with pytest.raises(SimutradorError) as refused:
            SyncSessionClient(harness.url, "bad")
        assert refused.value.code is ErrorCode.AUTHENTICATION_FAILED


TRANSPORT_HOOKS = {"send", "subscribe", "unsubscribe", "reconnect", "can_reconnect"}  # the remote driver's Transport


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_the_sync_client_offers_everything_the_async_one_does() -> None:
    lifecycle = {"connect": "__init__", "over": "__init__", "aclose": "close"}  # async with / with
    expected = {lifecycle.get(name, name) for name in public_names(SessionClient)} - TRANSPORT_HOOKS
    assert expected - {"__init__"} <= public_names(SyncSessionClient)
    instance_attributes = {"sessions", "ready", "notices", "settings"}  # set in SessionClient.__init__
    assert instance_attributes <= public_names(SyncSessionClient)
    for name in public_names(SessionClient) - set(lifecycle) - TRANSPORT_HOOKS:
        assert getattr(SyncSessionClient, name).__doc__, name
