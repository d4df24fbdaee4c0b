"""The HTTP listener on 127.0.0.1: real requests (``http.client``), real JWTs, and hostile clients.

Every test is capped in time; every hostile one also checks that a well-behaved
request is still answered afterwards.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from simutrador_ws.httpserver import HttpServer
from simutrador_ws.rest import HttpSettings, RestService
from simutrador_ws.server import HEALTH_PATH

from simutrador import Engine, EngineSettings, MemoryStore, Plan
from tests.ws.harness import AUTH, CREATE, fast_settings, raw_http, refused, running_server

pytestmark = pytest.mark.anyio

LIMIT = 20  # seconds: every test is capped


@asynccontextmanager
async def listening(store: MemoryStore | None = None, **overrides: Any) -> AsyncIterator[HttpServer]:
    settings = HttpSettings(**{"port": 0, "request_timeout": 2.0, "requests_per_second": 1000.0, **overrides})
    service = RestService(store if store is not None else MemoryStore(), AUTH, settings, clock=trio.current_time)
    server = HttpServer(service, settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            server.shutdown()


def port_of(server: HttpServer) -> int:
    assert server.port is not None
    return server.port


async def call(
    port: int | None, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request with the standard library's client (in a worker thread)."""
    assert port is not None

    def request() -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    return await trio.to_thread.run_sync(request)


async def token_for(port: int | None, key: str) -> tuple[int, dict[str, Any]]:
    status, _, body = await call(
        port, "POST", "/auth/token", {"X-API-Key": key, "Content-Type": "application/json"}, b"{}"
    )
    return status, json.loads(body)


async def test_the_minted_token_opens_a_real_websocket_session() -> None:
    store = MemoryStore()
    key = store.add_api_key("carol", Plan.PROFESSIONAL)
    with trio.fail_after(LIMIT):
        async with running_server() as ws, listening(store) as rest:
            status, answer = await token_for(rest.port, key)
            assert status == 200
            assert (answer["token_type"], answer["user_id"], answer["plan"]) == ("Bearer", "carol", "professional")
            async with trio_websocket.open_websocket_url(f"{ws.url}?token={answer['access_token']}") as socket_:
                ready = json.loads(await socket_.get_message())
                assert (ready["type"], ready["data"]["user_id"], ready["data"]["plan"]) == (
                    "connection_ready",
                    "carol",
                    "professional",
                )
                await socket_.send_message(json.dumps({"type": "create_session", "data": CREATE, "request_id": "r1"}))
                created = json.loads(await socket_.get_message())
                assert (created["type"], created["request_id"]) == ("session_created", "r1")
                await trio.aclose_forcefully(socket_._stream)


async def test_answers_over_the_wire() -> None:
    store = MemoryStore()
    key = store.add_api_key("alice")
    with trio.fail_after(LIMIT):
        async with listening(store) as server:
            status, headers, body = await call(server.port, "GET", "/health")
            assert status == 200
            assert (headers["content-type"], headers["connection"]) == ("application/json", "close")
            assert set(json.loads(body)) == {"status", "server_time", "server_version"}
            assert (await token_for(server.port, key))[0] == 200
            assert await token_for(server.port, key + "x") == (401, {"detail": "invalid API key"})
            store.revoke_api_key(key)
            assert await token_for(server.port, key) == (401, {"detail": "invalid API key"})
            status, _, body = await call(server.port, "GET", "/metrics")
            assert (status, json.loads(body)) == (404, {"detail": "not found"})
            status, headers, _ = await call(server.port, "DELETE", "/auth/token")
            assert (status, headers["allow"]) == (405, "POST")
            chunked = await raw_http(
                port_of(server),
                b"POST /auth/token HTTP/1.1\r\nHost: x\r\nX-API-Key: nope\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\n{}\r\n0\r\n\r\n",
            )
            assert chunked.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
            old = await raw_http(port_of(server), b"GET /health HTTP/1.0\r\n\r\n")
            assert old.startswith(b"HTTP/1.1 200 OK\r\n")
            assert server.responses == {200: 3, 401: 3, 404: 1, 405: 1}


async def test_malformed_http_is_400_and_the_listener_lives_on() -> None:
    with trio.fail_after(LIMIT):
        async with listening() as server:
            for garbage in (
                b"NOT HTTP AT ALL\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS ClientHello
                b"GET /health HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
            ):
                answer = await raw_http(port_of(server), garbage)
                assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (garbage, answer)
                assert b"connection: close" in answer
                assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"detail": "malformed HTTP request"}
            assert (await call(server.port, "GET", "/health"))[0] == 200


async def test_huge_headers_are_431() -> None:
    with trio.fail_after(LIMIT):
        async with listening(max_header_bytes=4096) as server:
            huge = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
            answer = await raw_http(port_of(server), huge)
            assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
            many = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n"
            assert (await raw_http(port_of(server), many)).startswith(b"HTTP/1.1 431 ")
            assert (await call(server.port, "GET", "/health"))[0] == 200


async def test_large_bodies_are_413_read_or_not() -> None:
    with trio.fail_after(LIMIT):
        async with listening(max_body_bytes=100) as server:
            declared = await raw_http(
                port_of(server), b"POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000
            )
            assert declared.startswith(b"HTTP/1.1 413 Content Too Large\r\n") or declared.startswith(
                b"HTTP/1.1 413 Request Entity Too Large\r\n"
            )
            assert b"at most 100 bytes" in declared
            chunk = b"%x\r\n%s\r\n" % (80, b"y" * 80)
            chunked = await raw_http(
                port_of(server),
                b"POST /auth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunk * 3
                + b"0\r\n\r\n",
            )
            assert chunked.startswith(b"HTTP/1.1 413 ")
            status, _, _ = await call(server.port, "POST", "/auth/token", {"X-API-Key": "k"}, b"x" * 100)
            assert status == 401  # exactly the limit is read
            assert server.responses[413] == 2


async def test_a_slow_client_is_answered_408_at_the_deadline() -> None:
    with trio.fail_after(LIMIT):
        async with listening(request_timeout=0.5) as server:
            started = trio.current_time()
            answer = await raw_http(port_of(server), b"GET /health HTTP/1.1\r\nHost: x\r\n", read_for=5)
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert 0.4 < trio.current_time() - started < 3
            silent = await raw_http(port_of(server), b"", read_for=5)  # connects, says nothing
            assert silent.startswith(b"HTTP/1.1 408 ")
            assert (await call(server.port, "GET", "/health"))[0] == 200


async def test_a_client_that_never_reads_is_dropped_at_the_deadline() -> None:
    with trio.fail_after(LIMIT):
        async with listening(request_timeout=0.5) as server:
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", server.port))
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 50_000)  # pipelined, never read
            await trio.sleep(1.5)
            assert server.open_connections == 0
            client.close()
            assert (await call(server.port, "GET", "/health"))[0] == 200


async def test_a_flood_is_429_with_retry_after() -> None:
    with trio.fail_after(LIMIT):
        async with listening(requests_per_second=0.2, request_burst=5) as server:
            statuses = []
            retry_after = None
            for _ in range(8):
                status, headers, _ = await call(server.port, "GET", "/health")
                statuses.append(status)
                retry_after = headers.get("retry-after", retry_after)
            assert statuses == [200] * 5 + [429] * 3
            assert retry_after is not None and 1 <= int(retry_after) <= 5


async def test_connections_per_address_are_capped_before_reading() -> None:
    with trio.fail_after(LIMIT):
        async with listening(max_connections_per_ip=2) as server:
            assert server.port is not None
            idle = [await trio.open_tcp_stream("127.0.0.1", server.port) for _ in range(2)]
            await trio.testing.wait_all_tasks_blocked()
            while server.open_connections < 2:
                await trio.sleep(0.01)
            third = await trio.open_tcp_stream("127.0.0.1", server.port)
            assert await third.receive_some(100) == b""  # closed at once, unread
            await third.aclose()
            for stream in idle:
                await stream.aclose()
            while server.open_connections:
                await trio.sleep(0.01)
            assert (await call(server.port, "GET", "/health"))[0] == 200


async def test_a_full_server_drops_its_oldest_connection_for_a_new_one() -> None:
    with trio.fail_after(LIMIT):
        async with listening(max_connections=2, max_connections_per_ip=10) as server:
            assert server.port is not None
            oldest = await trio.open_tcp_stream("127.0.0.1", server.port)
            while server.open_connections < 1:
                await trio.sleep(0.01)
            older = await trio.open_tcp_stream("127.0.0.1", server.port)
            while server.open_connections < 2:
                await trio.sleep(0.01)
            assert (await call(server.port, "GET", "/health"))[0] == 200
            assert await oldest.receive_some(100) == b""  # shed, with no answer
            await oldest.aclose()
            await older.aclose()


async def test_a_client_that_leaves_early_costs_nothing() -> None:
    with trio.fail_after(LIMIT):
        async with listening() as server:
            assert server.port is not None
            for payload in (b"", b"GET /health HTTP/1.1\r\nHo"):
                stream = await trio.open_tcp_stream("127.0.0.1", server.port)
                await stream.send_all(payload)
                await stream.aclose()
            while server.open_connections:
                await trio.sleep(0.01)
            assert server.responses == {}
            assert (await call(server.port, "GET", "/health"))[0] == 200


async def test_shutdown_drops_open_connections() -> None:
    with trio.fail_after(LIMIT):
        async with listening() as server:
            assert server.port is not None
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            while server.open_connections < 1:
                await trio.sleep(0.01)
            server.shutdown()
            assert await stream.receive_some(100) == b""
            await stream.aclose()


# -- /ws/health on the WebSocket listener --------------------------------------------------


async def test_ws_health_answers_one_message_without_a_token_then_closes_normally() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    with trio.fail_after(LIMIT):
        async with running_server(engine=engine) as harness:
            url = f"ws://127.0.0.1:{harness.port}{HEALTH_PATH}"
            async with trio_websocket.open_websocket_url(url) as ws:
                message = json.loads(await ws.get_message())
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                await trio.aclose_forcefully(ws._stream)
            assert message["type"] == "health"
            assert message["request_id"] is None
            assert message["timestamp"].endswith("Z")
            assert set(message["data"]) == {"status", "server_time", "server_version"}
            assert message["data"]["status"] == "ok"
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1000
            assert harness.server.open_connections == 0
            async with harness.connect() as client:  # the real path still needs its token
                assert client.ready["data"]["user_id"] == "alice"
            assert (await refused(harness.port, "/ws/simulate")).status_code == 401
            assert (await refused(harness.port, "/ws/healthz")).status_code == 404


async def test_ws_health_is_subject_to_the_handshake_limiter() -> None:
    settings = fast_settings(handshakes_per_second=0.001, handshake_burst=1)
    with trio.fail_after(LIMIT):
        async with running_server(settings=settings) as harness:
            async with trio_websocket.open_websocket_url(f"ws://127.0.0.1:{harness.port}{HEALTH_PATH}") as ws:
                assert json.loads(await ws.get_message())["type"] == "health"
                await trio.aclose_forcefully(ws._stream)
            again = await refused(harness.port, HEALTH_PATH)
            assert again.status_code == 429
            assert b"retry-after" in again.headers


# -- socketless: streams that are not sockets ----------------------------------------------


class ScriptedStream(trio.abc.Stream):
    """Hands out `incoming` in one piece, then end of stream (or `error`); keeps what is sent. No ``send_eof``."""

    def __init__(self, incoming: bytes, error: Exception | None = None) -> None:
        self.incoming, self.error, self.sent, self.closed = incoming, error, bytearray(), False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self.error is not None:
            raise self.error
        data, self.incoming = self.incoming, b""
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data

    async def wait_send_all_might_not_block(self) -> None:
        pass

    async def aclose(self) -> None:
        self.closed = True


async def test_any_byte_stream_is_served_and_a_broken_one_stays_its_own(caplog: pytest.LogCaptureFixture) -> None:
    settings = HttpSettings(port=0, requests_per_second=1000.0)
    server = HttpServer(RestService(MemoryStore(), AUTH, settings, clock=trio.current_time), settings)
    with trio.fail_after(LIMIT):
        plain = ScriptedStream(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await server.handle_stream(plain)  # no peer address: "unknown"
        assert plain.sent.startswith(b"HTTP/1.1 200 OK\r\n") and plain.closed
        with caplog.at_level("DEBUG", logger="simutrador_ws.httpserver"):
            broken = ScriptedStream(b"", error=trio.BrokenResourceError("reset"))
            await server.handle_stream(broken, address="192.0.2.9")
        assert broken.closed and not broken.sent
        assert "HTTP connection from 192.0.2.9 failed" in caplog.text
        assert server.open_connections == 0
