"""The real server's connection handling over in-memory streams, under trio's autojump `MockClock`.

`SimutradorServer.handle_stream` serves one end of ``trio.testing.memory_stream_pair``
(or ``lockstep_stream_pair``, where a send waits for the peer to read); the other end
is a trio-websocket client, the SDK's `SessionClient`, or a wsproto `RawClient`. No
socket is opened and nothing sleeps: `autojump` runs a test on a clock that jumps to
the next deadline whenever every task is waiting, so a 300-second idle timeout takes
no time at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
import trio.testing
import trio_websocket
from simutrador_ws.auth import TokenVerifier
from simutrador_ws.client import SessionClient, SessionClientSettings
from simutrador_ws.server import SimutradorServer
from simutrador_ws.settings import ServerSettings

from simutrador import Engine, EngineSettings, Plan
from tests.ws.harness import AUTH, Client, Harness, RawClient

HOST = "127.0.0.1"


def autojump(test: Callable[[], Awaitable[None]]) -> None:
    """Run `test` under ``MockClock(autojump_threshold=0)``: trio time starts at 0 and never waits."""
    trio.run(test, clock=trio.testing.MockClock(autojump_threshold=0))


def new_server(settings: ServerSettings | None = None, engine: Engine | None = None) -> Harness:
    """A server that is never started: its connections are served with `memory_stream`."""
    engine = engine or Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    return Harness(SimutradorServer(engine, settings or ServerSettings(port=0), TokenVerifier(AUTH)), AUTH)


@asynccontextmanager
async def memory_stream(
    harness: Harness, *, lockstep: bool = False, address: str | None = None
) -> AsyncIterator[trio.abc.Stream]:
    """The client's end of a stream whose other end the server is serving (as if from `address`)."""
    pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
    client_end, server_end = pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(harness.server.handle_stream, server_end, address=address))
        try:
            yield client_end
        finally:
            nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(client_end)


@asynccontextmanager
async def websocket(stream: trio.abc.Stream, target: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A trio-websocket client on `stream` (it answers pings by itself)."""
    async with trio.open_nursery() as nursery:
        ws = await trio_websocket.wrap_client_stream(nursery, stream, HOST, target)  # pyright: ignore[reportArgumentType]
        try:
            yield ws
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def memory_client(
    harness: Harness, user: str = "alice", plan: Plan = Plan.PROFESSIONAL, *, address: str | None = None, **token: Any
) -> AsyncIterator[Client]:
    """A JSON client (see `tests.ws.harness.Client`) connected and greeted, no socket."""
    target = harness.target(user, plan, **token)
    async with memory_stream(harness, address=address) as stream, websocket(stream, target) as ws:
        client = Client(ws)
        client.ready = await client.receive()
        assert client.ready["type"] == "connection_ready"
        yield client


@asynccontextmanager
async def memory_session_client(
    harness: Harness, settings: SessionClientSettings | None = None, user: str = "alice"
) -> AsyncIterator[SessionClient]:
    """The SDK's client over a memory stream to the real server."""
    target = harness.target(user)
    async with (
        memory_stream(harness) as stream,
        websocket(stream, target) as ws,
        SessionClient.over(ws, settings=settings) as client,
    ):
        yield client


async def raw_client(stream: trio.abc.Stream, harness: Harness, **token: Any) -> RawClient:
    """A wsproto client that finished the handshake on `stream` and will read only when told."""
    client = RawClient(stream)
    await client.handshake(HOST, harness.target(**token))
    return client
