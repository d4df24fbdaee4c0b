"""A real server on 127.0.0.1 (ephemeral port) inside the test, real clients, real JWTs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import jwt
import pytest
import trio
import trio_websocket
import wsproto
from simutrador_ws.auth import TokenVerifier, issue_token
from simutrador_ws.server import SimutradorServer
from simutrador_ws.settings import AuthSettings, ServerSettings
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from simutrador import Engine, EngineSettings, Plan
from simutrador.clock import Clock, system_clock

SECRET = "test-secret-" + "x" * 40
AUTH = AuthSettings(jwt_secret=SECRET, jwt_audience="simutrador-tests")
CREATE: dict[str, Any] = {
    "symbols": ["AAPL", "MSFT"],
    "start_date": "2024-03-04",
    "end_date": "2024-03-08",
    "initial_capital": "100000",
}


@attrs.define
class Harness:
    server: SimutradorServer
    auth: AuthSettings

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws/simulate"

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def token(self, user: str = "alice", plan: Plan = Plan.PROFESSIONAL, **kwargs: Any) -> str:
        return issue_token(self.auth, user, plan=plan, **kwargs)

    def target(self, user: str = "alice", plan: Plan = Plan.PROFESSIONAL, **kwargs: Any) -> str:
        return f"/ws/simulate?token={self.token(user, plan, **kwargs)}"

    def url_for(self, user: str = "alice", plan: Plan = Plan.PROFESSIONAL, **kwargs: Any) -> str:
        return f"{self.url}?token={self.token(user, plan, **kwargs)}"

    @asynccontextmanager
    async def connect(
        self, user: str = "alice", plan: Plan = Plan.PROFESSIONAL, **kwargs: Any
    ) -> AsyncIterator[Client]:
        async with trio_websocket.open_websocket_url(self.url_for(user, plan, **kwargs)) as ws:
            try:
                client = Client(ws)
                client.ready = await client.receive()
                assert client.ready["type"] == "connection_ready"
                yield client
            finally:
                # trio-websocket's client never closes its TCP stream when the server closed first
                await trio.aclose_forcefully(ws._stream)


@attrs.define
class Client:
    ws: trio_websocket.WebSocketConnection
    ready: dict[str, Any] = attrs.field(factory=dict)
    counter: int = 0

    async def receive(self) -> dict[str, Any]:
        return json.loads(await self.ws.get_message())

    async def send(self, type_: str, data: Any = None, request_id: str | None = "auto") -> str | None:
        if request_id == "auto":
            self.counter += 1
            request_id = f"req-{self.counter}"
        await self.ws.send_message(json.dumps({"type": type_, "data": data or {}, "request_id": request_id}))
        return request_id

    async def request(self, type_: str, data: Any = None) -> dict[str, Any]:
        request_id = await self.send(type_, data)
        reply = await self.receive()
        assert reply["request_id"] == request_id, reply
        return reply

    async def raw(self, text: str | bytes) -> dict[str, Any]:
        await self.ws.send_message(text)
        return await self.receive()


def fast_settings(**overrides: Any) -> ServerSettings:
    base: dict[str, Any] = {
        "port": 0,
        "handshake_timeout": 2.0,
        "send_timeout": 2.0,
        "shutdown_timeout": 2.0,
        "handshakes_per_second": 1000.0,
        "handshake_burst": 1000,
    }
    base.update(overrides)
    return ServerSettings(**base)


@asynccontextmanager
async def running_server(
    *,
    engine: Engine | None = None,
    settings: ServerSettings | None = None,
    auth: AuthSettings = AUTH,
    clock: Clock = system_clock,
) -> AsyncIterator[Harness]:
    engine = engine or Engine(EngineSettings(default_plan=Plan.PROFESSIONAL), clock=clock)
    server = SimutradorServer(engine, settings or fast_settings(), TokenVerifier(auth))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield Harness(server, auth)
        finally:
            server.shutdown()


def forged_token(**claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {"sub": "mallory", "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())}
    payload.update(claims)
    return jwt.encode(payload, "another-secret-" + "y" * 40, algorithm="HS256")


class RawClient:
    """A WebSocket client on a bare byte stream, driven by wsproto: it can stop reading, and never answers pings."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.received = bytearray()
        self.times: list[float] = []

    @classmethod
    async def open(cls, port: int, target: str, *, source: str | None = None) -> RawClient:
        """Connect (from the loopback address `source`, when given) and finish the handshake."""
        client = cls(await trio.open_tcp_stream("127.0.0.1", port, local_address=source))
        await client.handshake(f"127.0.0.1:{port}", target)
        return client

    async def handshake(self, host: str, target: str) -> None:
        await self.stream.send_all(self.conn.send(Request(host=host, target=target)))
        while True:
            data = await self.stream.receive_some(65536)
            assert data, "server closed during the handshake"
            self.conn.receive_data(bytes(data))
            if any(isinstance(e, AcceptConnection) for e in self.conn.events()):
                return

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(self.conn.send(TextMessage(data=text)))

    def frames(self, event: Event, count: int) -> bytes:
        """`count` frames of `event`, as bytes to send in one go."""
        return b"".join(self.conn.send(event) for _ in range(count))

    async def events_until(self, done: Callable[[list[Event]], bool]) -> list[Event]:
        """Read and parse until `done(events so far)`; each event's arrival time is in `times`."""
        events: list[Event] = []
        while not done(events):
            data = await self.stream.receive_some(65536)
            assert data, "the server closed the connection"
            self.conn.receive_data(bytes(data))
            for event in self.conn.events():
                events.append(event)
                self.times.append(trio.current_time())
        return events

    async def drain(self) -> bytes:
        """Read until the server closes the TCP connection; return every byte."""
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                return bytes(self.received)
            if not data:
                return bytes(self.received)
            self.received += data

    async def messages_until_closed(self) -> tuple[list[str], int | None]:
        """Read the text messages until a close frame (its code) or the end of the stream (None)."""
        texts: list[str] = []
        partial = ""
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            self.conn.receive_data(bytes(data) or None)
            for event in self.conn.events():
                if isinstance(event, TextMessage):
                    partial += event.data
                    if event.message_finished:
                        texts.append(partial)
                        partial = ""
                elif isinstance(event, CloseConnection):
                    return texts, event.code
            if not data:
                return texts, None


async def raw_http(port: int, payload: bytes, *, read_for: float = 3.0) -> bytes:
    """Send raw bytes and return whatever comes back before the server closes (or `read_for` passes)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = bytearray()
    with trio.move_on_after(read_for):
        await stream.send_all(payload)
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break
            if not data:
                break
            received += data
    await trio.aclose_forcefully(stream)
    return bytes(received)


@attrs.frozen
class Refused:
    status_code: int
    headers: dict[bytes, bytes]
    body: bytes


async def refused(port: int, target: str, headers: list[tuple[bytes, bytes]] | None = None) -> Refused:
    """Attempt a handshake that must be refused; return the HTTP answer. Always closes the socket.

    (trio-websocket's own client leaks its TCP stream when a handshake is rejected.)
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        await stream.send_all(conn.send(Request(host=f"127.0.0.1:{port}", target=target, extra_headers=headers or [])))
        status, answer, body = 0, {}, bytearray()
        while True:
            data = await stream.receive_some(65536)
            conn.receive_data(data or None)
            for event in conn.events():
                if isinstance(event, AcceptConnection):
                    raise AssertionError("the handshake was accepted")
                if isinstance(event, RejectConnection):
                    status, answer = event.status_code, {k.lower(): v for k, v in event.headers}
                    if not event.has_body:
                        return Refused(status, answer, b"")
                if isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        return Refused(status, answer, bytes(body))
            if not data:
                raise AssertionError("the server closed without answering")
    finally:
        await trio.aclose_forcefully(stream)


def tolerates_refused_handshake_leak(test: Any) -> Any:
    """For tests that are refused through trio-websocket's client on purpose.

    That client never closes the TCP socket of a refused handshake (an upstream bug); the
    socket is collected when the test ends and its ResourceWarning ignored for this test only.
    Our own sockets are checked everywhere else with warnings as errors.
    """
    for mark in (
        pytest.mark.filterwarnings("ignore::ResourceWarning"),
        pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
        pytest.mark.usefixtures("collect_leaked_socket"),
    ):
        test = mark(test)
    return test
