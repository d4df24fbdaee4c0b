"""`simutrador_ws.transport` piece by piece: status lines, the metered stream, the hardened wsproto connection."""

from __future__ import annotations

import pytest
import trio
import trio.testing
import wsproto
from simutrador_ws.ratelimit import DebtBucket
from simutrador_ws.transport import MeteredStream, ServerProtocol, with_reason_phrase
from wsproto.events import AcceptConnection, Ping, Request
from wsproto.utilities import RemoteProtocolError

from tests.ws.socketless import autojump


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 401 \r\n\r\n", b"HTTP/1.1 401 Unauthorized\r\n\r\n"),
        (b"HTTP/1.1 400\r\ncontent-length: 0\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
        (b"HTTP/1.1 403 Go Away\r\n\r\n", b"HTTP/1.1 403 Go Away\r\n\r\n"),  # a phrase already there stays
        (b"HTTP/1.1 599 \r\n\r\n", b"HTTP/1.1 599 \r\n\r\n"),  # no standard phrase
        (b"garbage", b"garbage"),
    ],
)
def test_reason_phrases(head: bytes, expected: bytes) -> None:
    assert with_reason_phrase(head) == expected


def test_the_metered_stream_reads_while_the_budget_allows_and_charges_what_it_reads() -> None:
    async def main() -> None:
        client, server = trio.testing.memory_stream_pair()
        budget = DebtBucket(100.0, 100, trio.current_time)
        waits: list[float] = []
        metered = MeteredStream(server, budget, waits.append)
        plain = MeteredStream(server, budget)  # no one to tell of its waits
        await client.send_all(b"x" * 300)
        assert await metered.receive_some(250) == b"x" * 250  # the burst, and 150 of debt
        assert budget.delay() == pytest.approx(1.5)
        started = trio.current_time()
        assert await plain.receive_some(10) == b"x" * 10
        assert trio.current_time() - started == pytest.approx(1.5)
        assert await metered.receive_some() == b"x" * 40
        assert waits == [pytest.approx(0.1)]
        await metered.send_all(b"pong")
        await metered.wait_send_all_might_not_block()
        assert await client.receive_some() == b"pong"
        await metered.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await server.receive_some()

    autojump(main)


def test_server_protocol_passes_other_errors_through_once_the_handshake_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    protocol, client = ServerProtocol(), wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    with pytest.raises(RemoteProtocolError) as info:  # a Host that is not ASCII, during the handshake
        ServerProtocol().receive_data(
            b"GET / HTTP/1.1\r\nHost: \xff\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    assert info.value.event_hint is not None
    protocol.receive_data(client.send(Request(host="x", target="/")))
    client.receive_data(protocol.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)

    def broken(_self: object, _data: bytes | None) -> None:
        raise ValueError("a bug, not the client's handshake")

    monkeypatch.setattr(wsproto.WSConnection, "receive_data", broken)
    with pytest.raises(ValueError, match="a bug"):
        protocol.receive_data(client.send(Ping()))
