"""The server's timers and limits over in-memory streams on trio's autojump clock: exact times, no sleeping."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import timedelta

import pytest
import trio
import trio_websocket
from simutrador_ws.envelope import CloseCode
from simutrador_ws.settings import ServerSettings
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from tests.ws.socketless import autojump, memory_client, memory_stream, new_server, raw_client

# production timings unless a test says otherwise: the clock jumps, so they cost nothing
DEFAULTS = ServerSettings(port=0)
DATES = {"start_date": "2024-03-04", "end_date": "2024-03-08", "initial_capital": "100000"}


def close_code(closed: trio_websocket.ConnectionClosed) -> int:
    assert closed.reason is not None
    return closed.reason.code


def test_a_served_memory_stream_speaks_the_whole_protocol() -> None:
    harness = new_server()

    async def main() -> None:
        async with memory_client(harness) as client:
            assert client.ready["data"]["user_id"] == "alice"
            created = await client.request("create_session", {"symbols": ["AAPL"], **DATES})
            assert created["type"] == "session_created"
            assert (await client.request("list_sessions"))["data"]["sessions"][0]["symbols"] == ["AAPL"]
            assert harness.server.open_connections == 1
        while harness.server.open_connections:
            await trio.sleep(0.01)
        assert harness.server.metrics.connections_opened == 1

    autojump(main)


def test_message_rate_limit_keeps_the_connection() -> None:
    harness = new_server(ServerSettings(port=0, messages_per_second=1, message_burst=3))

    async def main() -> None:
        async with memory_client(harness) as client:
            replies = [await client.request("ping") for _ in range(3)]
            assert [r["type"] for r in replies] == ["pong"] * 3
            request_id = await client.send("ping")
            limited = await client.receive()
            assert limited["data"]["error_code"] == "RATE_LIMIT_EXCEEDED"
            assert limited["request_id"] == limited["data"]["failed_request_id"] == request_id
            assert 0 < limited["data"]["retry_after_ms"] <= 1000
            await trio.sleep(limited["data"]["retry_after_ms"] / 1000)
            assert (await client.request("ping"))["type"] == "pong"
            assert (await client.request("ping"))["data"]["error_code"] == "RATE_LIMIT_EXCEEDED"
        assert harness.server.metrics.errors["RATE_LIMIT_EXCEEDED"] == 2
        assert harness.server.metrics.requests["ping"] == 4  # refused messages are not served

    autojump(main)


def test_idle_warning_then_close_at_the_configured_times() -> None:
    harness = new_server(DEFAULTS)  # idle_timeout 300 s, warning 30 s before

    async def main() -> None:
        async with memory_client(harness) as client:
            await trio.sleep(100)
            assert (await client.request("ping"))["type"] == "pong"  # activity moves the deadline
            warning = await client.receive()
            assert trio.current_time() == pytest.approx(100 + 270)
            assert (warning["type"], warning["request_id"]) == ("idle_warning", None)
            assert warning["data"] == {"closes_in_sec": 30.0, "idle_timeout_sec": 300.0}
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await client.receive()
            assert trio.current_time() == pytest.approx(100 + 300)
            assert close_code(closed.value) == CloseCode.IDLE_TIMEOUT

    autojump(main)


def test_token_expiring_during_the_connection() -> None:
    harness = new_server(DEFAULTS)

    async def main() -> None:
        async with memory_client(harness, expires_in=timedelta(minutes=10)) as client:
            for _ in range(5):  # a busy client is not idle; heartbeats are answered all along
                await trio.sleep(100)
                assert (await client.request("ping"))["type"] == "pong"
            message = await client.receive()
            assert 599 <= trio.current_time() <= 600  # ``exp`` is whole seconds
            assert (message["type"], message["data"]["error_code"]) == ("error", "AUTHENTICATION_FAILED")
            assert "expired" in message["data"]["message"]
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await client.receive()
            assert close_code(closed.value) == CloseCode.TOKEN_EXPIRED

    autojump(main)


def test_heartbeat_without_pong_closes_and_a_real_client_stays() -> None:
    harness = new_server(DEFAULTS)  # ping every 20 s, pong within 10 s

    async def main() -> None:
        async with memory_stream(harness) as stream:
            raw = await raw_client(stream, harness)  # never answers a ping
            texts, code = await raw.messages_until_closed()
            assert trio.current_time() == pytest.approx(20 + 10)
            assert [json.loads(t)["type"] for t in texts] == ["connection_ready"]
            assert code == CloseCode.HEARTBEAT_TIMEOUT
        started = trio.current_time()
        async with memory_client(harness) as client:
            await trio.sleep(250)  # a dozen pings, all answered by trio-websocket
            assert (await client.request("ping"))["type"] == "pong"
            assert trio.current_time() - started == pytest.approx(250)

    autojump(main)


def test_a_client_that_stops_reading_is_disconnected() -> None:
    harness = new_server(ServerSettings(port=0, send_timeout=10, ping_interval=1000))

    async def main() -> None:
        async with memory_stream(harness, lockstep=True) as stream:  # a send waits for the reader
            await raw_client(stream, harness)  # handshake, then never reads: the greeting cannot go
            assert harness.server.open_connections == 1
            while harness.server.open_connections:
                await trio.sleep(0.5)
            # the watchdog sees a send of 10 s within 15 s; the close frame gets 10 s more
            assert 10 <= trio.current_time() <= 25
            assert harness.server.metrics.connections_open == 0

    autojump(main)


def test_a_timer_message_waits_for_the_send_in_progress() -> None:
    harness = new_server(ServerSettings(port=0, send_timeout=100, ping_interval=1000))

    async def main() -> None:
        async with memory_stream(harness, lockstep=True) as stream:
            raw = await raw_client(stream, harness, expires_in=timedelta(seconds=30))
            await trio.sleep(40)  # the greeting is still being sent when the token expires
            texts, code = await raw.messages_until_closed()
            types = [json.loads(t)["type"] for t in texts]
            assert types == ["connection_ready", "error"]  # in order, the expiry after the greeting
            assert json.loads(texts[1])["data"]["error_code"] == "AUTHENTICATION_FAILED"
            assert code == CloseCode.TOKEN_EXPIRED

    autojump(main)


async def closed_at_once(stream: trio.abc.Stream) -> bool:
    """True when the server closed `stream` without waiting for a byte (EOF within a second)."""
    with trio.move_on_after(1):
        return await stream.receive_some() == b""
    return False


def test_connections_are_counted_per_address_from_accept_and_the_oldest_pending_is_shed() -> None:
    """Issue 13, defect 1: idle connections from one address filled every slot before anyone authenticated."""
    settings = ServerSettings(
        port=0, max_connections_per_ip=4, max_pending_handshakes_per_ip=3, max_pending_handshakes=5
    )
    harness = new_server(settings)
    server = harness.server

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            idle = [await stack.enter_async_context(memory_stream(harness, address="10.0.0.1")) for _ in range(3)]
            over = await stack.enter_async_context(memory_stream(harness, address="10.0.0.1"))
            assert await closed_at_once(over)  # a 4th pending from one address: closed before reading
            assert server.metrics.handshakes_refused["ip_pending"] == 1
            idle += [await stack.enter_async_context(memory_stream(harness, address="10.0.0.2")) for _ in range(2)]
            assert server.pending_handshakes == 5  # the budget is full
            async with memory_client(harness, address="10.0.0.3") as good:  # sheds the oldest idle one
                assert (await good.request("ping"))["type"] == "pong"
                assert await closed_at_once(idle[0])
                assert server.metrics.handshakes_refused["shed"] == 1
                assert not any([await closed_at_once(stream) for stream in idle[1:]])
                assert server.pending_handshakes == 4
            clients = [
                await stack.enter_async_context(memory_client(harness, f"user-{i}", address="10.0.0.9"))
                for i in range(4)
            ]
            assert server.open_connections == 4
            assert await closed_at_once(await stack.enter_async_context(memory_stream(harness, address="10.0.0.9")))
            assert server.metrics.handshakes_refused["ip_connections"] == 1
            assert (await clients[0].request("ping"))["type"] == "pong"
            await trio.sleep(settings.handshake_timeout)  # the idle ones time out; the clients stay
            assert server.pending_handshakes == 0
            assert server.metrics.handshakes_refused["timeout"] == 4
            assert (await clients[3].request("ping"))["type"] == "pong"

    autojump(main)


# 100 frames a second, 100 at once: each 6-byte frame costs 6 + 994 = 1000 bytes of budget
METERED = ServerSettings(
    port=0, receive_bytes_per_second=100_000, receive_burst_bytes=100_000, frame_cost_bytes=994, ping_interval=1000
)


@pytest.mark.parametrize("flood", ["pings", "continuations"])
def test_small_frames_are_read_no_faster_than_the_budget(flood: str) -> None:
    """Issue 13, defect 2: pings and empty continuation frames were not limited at all.

    5,000 frames sent at once cost 5,000,000 bytes of budget: at 100,000 a second the
    server reads them over ~49 s (less the 100,000 burst), never faster than one read
    (4 KiB, 682 frames) ahead of the budget.
    """
    harness = new_server(METERED)

    async def main() -> None:
        async with memory_stream(harness, address="10.0.0.1") as stream:
            raw = await raw_client(stream, harness)
            started = trio.current_time()
            if flood == "pings":
                await stream.send_all(raw.frames(Ping(payload=b"p"), 5000))
                expected = lambda events: sum(isinstance(e, Pong) for e in events) == 5000  # noqa: E731
            else:  # one text message in 5,001 frames: 5,000 empty ones, then its last (not JSON: an error reply)
                await stream.send_all(raw.frames(TextMessage(data="", message_finished=False), 5000))
                await stream.send_all(raw.conn.send(TextMessage(data="", message_finished=True)))
                expected = lambda events: any(isinstance(e, TextMessage) and '"error"' in e.data for e in events)  # noqa: E731
            events = await raw.events_until(expected)
            elapsed = raw.times[-1] - started
            assert 49 - 6.9 <= elapsed <= 50, elapsed  # 5,000,000 - 100,000 of burst at 100,000/s, give or take a read
            if flood == "pings":  # and no faster than that at any point: a read ahead at most
                pongs = [t - started for e, t in zip(events, raw.times, strict=True) if isinstance(e, Pong)]
                for second in (10, 20, 30, 40):
                    assert sum(t <= second for t in pongs) <= 100 + second * 100 + 700
            assert harness.server.metrics.receive_waits > 0

    autojump(main)


def test_addresses_have_budgets_of_their_own_and_connections_share_their_address_budget() -> None:
    harness = new_server(METERED)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            floods = []
            for _ in range(3):  # three connections from one address: one budget between them
                stream = await stack.enter_async_context(memory_stream(harness, address="10.0.0.1"))
                raw = await raw_client(stream, harness)
                await stream.send_all(raw.frames(Ping(payload=b"p"), 3000))
                floods.append(raw)
            async with memory_client(harness, address="10.0.0.2") as good:  # another address: served at once
                started = trio.current_time()
                assert (await good.request("ping"))["type"] == "pong"
                assert trio.current_time() - started < 0.1
            started = trio.current_time()
            for raw in floods:
                await raw.events_until(lambda events: sum(isinstance(e, Pong) for e in events) == 3000)
            # 9,000 frames at 1,000 bytes: 89 s on one shared budget, less a read (682 frames) per connection
            # ahead of it; on budgets of their own they would have taken at most 29 s
            assert trio.current_time() - started >= (9_000_000 - 100_000 - 3 * 682_000) / 100_000

    autojump(main)


def test_a_ping_while_the_server_closes_gets_no_pong_and_fails_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """wsproto refused to send that pong, and trio-websocket failed the whole connection over it."""
    harness = new_server(ServerSettings(port=0, idle_timeout=10, idle_warning=1, ping_interval=1000))
    closed: list[float] = []

    async def main() -> None:
        async with memory_stream(harness) as stream:
            raw = await raw_client(stream, harness)
            late_ping = raw.conn.send(Ping(payload=b"late"))  # written now: a closing client may not write one
            await raw.events_until(lambda events: any(isinstance(e, CloseConnection) for e in events))
            assert trio.current_time() == pytest.approx(10)  # the idle close: the server is closing
            await stream.send_all(late_ping + raw.conn.send(CloseConnection(code=1000)))
            while harness.server.open_connections:
                await trio.sleep(0.1)
            closed.append(trio.current_time())

    with caplog.at_level(logging.DEBUG):
        autojump(main)
    assert closed == [pytest.approx(10.1)]  # the close handshake completed at once (checked every 0.1 s)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
