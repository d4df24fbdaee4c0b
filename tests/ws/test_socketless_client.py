"""SessionClient over in-memory streams on trio's autojump clock: retries, timeouts, notices, broken servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import trio
import trio.testing
import trio_websocket
from simutrador_ws.client import ClientConnectionError, SessionClient, SessionClientSettings
from simutrador_ws.envelope import decode, encode_message
from simutrador_ws.settings import ServerSettings

from simutrador import ErrorCode, SimutradorError
from tests.ws.socketless import autojump, memory_session_client, new_server, websocket

FAST = SessionClientSettings(session_timeout_seconds=0.5, retry_backoff_seconds=0.05)
READY = encode_message("connection_ready", {"user_id": "x"})


def test_rate_limits_are_retried_after_retry_after() -> None:
    harness = new_server(ServerSettings(port=0, messages_per_second=2, message_burst=1))

    async def main() -> None:
        async with memory_session_client(harness, FAST) as client:
            await client.list_sessions()
            started = trio.current_time()
            assert await client.list_sessions() == []  # limited once, then retried after retry_after_ms
            assert trio.current_time() - started == pytest.approx(0.5)
            assert harness.server.metrics.errors["RATE_LIMIT_EXCEEDED"] == 1
        stingy = SessionClientSettings(max_retry_attempts=0)
        async with memory_session_client(harness, stingy, user="bo") as client:
            await client.list_sessions()
            with pytest.raises(SimutradorError) as info:
                await client.list_sessions()
            assert info.value.code is ErrorCode.RATE_LIMIT_EXCEEDED
            assert info.value.retry_after_ms == 500

    autojump(main)


def test_server_notices_are_kept() -> None:
    harness = new_server(ServerSettings(port=0, idle_timeout=60, idle_warning=20))

    async def main() -> None:
        async with memory_session_client(harness) as client:
            assert client.ready["idle_timeout_sec"] == 60
            await trio.sleep(45)
            assert [(n.type, n.request_id) for n in client.notices] == [("idle_warning", None)]
            assert client.notices[0].data["closes_in_sec"] == 20

    autojump(main)


@asynccontextmanager
async def fake_server(
    handler: Callable[[trio_websocket.WebSocketConnection], Awaitable[None]],
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A bare WebSocket server on a memory stream, running `handler`; yields the client's WebSocket."""
    client_end, server_end = trio.testing.memory_stream_pair()

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(nursery, server_end)
            ws = await request.accept()
            with contextlib.suppress(trio_websocket.ConnectionClosed):  # the client leaving first is normal
                await handler(ws)
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        async with websocket(client_end, "/ws/simulate") as ws:
            yield ws
        nursery.cancel_scope.cancel()


async def greet_then_ignore(ws: trio_websocket.WebSocketConnection) -> None:
    await ws.send_message(READY)
    while True:
        await ws.get_message()


def test_a_reply_that_never_comes_times_out() -> None:
    async def main() -> None:
        async with fake_server(greet_then_ignore) as ws, SessionClient.over(ws, settings=FAST) as client:
            started = trio.current_time()
            with pytest.raises(ClientConnectionError, match=r"no reply to list_sessions within 0\.5 s"):
                await client.list_sessions()
            assert trio.current_time() - started == pytest.approx(0.5)
            assert not client.closed

    autojump(main)


def test_a_server_that_never_greets() -> None:
    async def silent(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.get_message()

    async def main() -> None:
        async with fake_server(silent) as ws:
            with pytest.raises(ClientConnectionError, match="did not complete the connection"):
                async with SessionClient.over(ws):
                    pass
            assert trio.current_time() == pytest.approx(10)  # connect_timeout_seconds

    autojump(main)


@pytest.mark.parametrize(
    ("greeting", "fragment"),
    [
        (encode_message("hello", {}), "unexpected first message 'hello'"),
        ("{nope", "unexpected first message (not valid JSON"),
    ],
)
def test_a_server_that_greets_wrongly(greeting: str, fragment: str) -> None:
    async def wrong(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(greeting)

    async def main() -> None:
        async with fake_server(wrong) as ws:
            with pytest.raises(ClientConnectionError) as info:
                async with SessionClient.over(ws):
                    pass
            assert fragment in str(info.value)

    autojump(main)


def test_an_unreadable_reply_fails_pending_requests() -> None:
    async def garbage(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(READY)
        await ws.get_message()
        await ws.send_message('{"type": "pong", "data": {"x": NaN}}')

    async def main() -> None:
        async with fake_server(garbage) as ws, SessionClient.over(ws, settings=FAST) as client:
            with pytest.raises(ClientConnectionError, match="unreadable message from the server: not valid JSON"):
                await client.request("ping")
            assert client.closed
            with pytest.raises(ClientConnectionError, match="the connection is closed"):
                await client.request("ping")

    autojump(main)


def test_values_json_cannot_hold_are_refused_before_sending() -> None:
    async def main() -> None:
        async with fake_server(greet_then_ignore) as ws, SessionClient.over(ws, settings=FAST) as client:
            with pytest.raises(ValueError, match="JSON has no NaN"):
                await client.request("ping", {"x": float("nan")})

    autojump(main)


async def echo_data(ws: trio_websocket.WebSocketConnection) -> None:
    """Answer each request with its own data (type ``echo``); ``fail`` gets an error with an unknown code."""
    await ws.send_message(READY)
    while True:
        request = decode(await ws.get_message())
        if request.type == "fail":
            await ws.send_message(
                encode_message("error", {"error_code": "NEW_CODE", "retry_after_ms": "soon"}, request.request_id)
            )
        else:
            await ws.send_message(encode_message("echo", request.data, request.request_id))


def test_python_values_go_on_the_wire_as_json() -> None:
    moment = datetime(2024, 3, 4, 9, 30, tzinfo=UTC)

    async def main() -> None:
        async with fake_server(echo_data) as ws, SessionClient.over(ws, settings=FAST) as client:
            sent = {
                "capital": Decimal("100000.50"),
                "aware": moment,
                "naive": moment.replace(tzinfo=None),
                "day": date(2024, 3, 4),
                "nested": {1: (Decimal(1), [date(2024, 1, 2)])},
                "plain": [1, 2.5, "x", None, True],
            }
            echoed = await client.request("anything", sent)
            assert dict(echoed.data) == {
                "capital": "100000.50",
                "aware": "2024-03-04T09:30:00Z",
                "naive": "2024-03-04T09:30:00",
                "day": "2024-03-04",
                "nested": {"1": ["1", ["2024-01-02"]]},
                "plain": [1, 2.5, "x", None, True],
            }

    autojump(main)


def test_an_error_with_a_code_the_client_does_not_know_is_internal_error() -> None:
    async def main() -> None:
        async with fake_server(echo_data) as ws, SessionClient.over(ws, settings=FAST) as client:
            started = trio.current_time()
            with pytest.raises(SimutradorError) as info:
                await client.request("fail")
            assert (info.value.code, info.value.retry_after_ms) == (ErrorCode.INTERNAL_ERROR, None)
            assert trio.current_time() - started == pytest.approx(0.05 + 0.1 + 0.2)  # retried with backoff

    autojump(main)
