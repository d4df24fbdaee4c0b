"""The WebSocket under the server: trio-websocket over a metered stream and a wsproto connection of our own.

`open_websocket_request` does what ``trio_websocket.wrap_server_stream`` does (start the
connection's reader, wait for the client's upgrade request), with these differences:

- **what a client makes the server read is metered before anything is parsed.** The
  stream is a `MeteredStream`: every byte read, and every WebSocket frame wsproto
  parses from them (data, continuation, ping, pong, close: `frame_cost` bytes each,
  however small the frame), is charged to a `simutrador_ws.ratelimit.DebtBucket` that
  all connections from the client's address share; while it is in debt the stream
  does not read, so the client's own TCP window fills and it is slowed down (TCP
  backpressure). One address can make the server parse, decode and answer at most
  ``receive_bytes_per_second`` worth, whatever it sends and on however many
  connections: a flood of pings or of empty continuation frames costs it as much as
  the bytes of real messages would;
- the wsproto connection is `ServerProtocol`, which turns what wsproto lets escape
  while reading a handshake (a ``Host`` header that is not ASCII raised
  ``UnicodeDecodeError``) into the ``400`` wsproto gives every other malformed
  request, and writes every refusal's status line with its reason phrase
  (``HTTP/1.1 401 Unauthorized``, where h11 writes ``HTTP/1.1 401``);
- a client that leaves, or sends something that is not a WebSocket upgrade, ends the
  wait at once (None) instead of holding its handshake slot until the deadline;
- a ping that arrives while the server is closing gets no pong (wsproto refused to
  send one, and trio-websocket failed the whole connection over it).

trio-websocket has no public hook for either, so this module uses two of its private
names (``_reader_task``, ``_get_request``), pinned by the tests that serve through it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from http import HTTPStatus
from typing import Final

import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, Event, Pong, RejectConnection, TextMessage
from wsproto.utilities import RemoteProtocolError

from simutrador_ws.ratelimit import DebtBucket

__all__ = ["MeteredStream", "ServerProtocol", "open_websocket_request", "with_reason_phrase"]

_STATUS_LINE_END: Final = b"\r\n"


def with_reason_phrase(head: bytes) -> bytes:
    r"""The HTTP response `head` with the standard reason phrase on its status line, when it has none.

    Example:
        >>> with_reason_phrase(b"HTTP/1.1 429 \r\nretry-after: 1\r\n\r\n")
        b'HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\n\r\n'
    """
    line, separator, rest = head.partition(_STATUS_LINE_END)
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or (len(parts) == 3 and parts[2].strip()):
        return head
    try:
        phrase = HTTPStatus(int(parts[1])).phrase.encode()
    except ValueError:  # a status with no standard phrase
        return head
    return parts[0] + b" " + parts[1] + b" " + phrase + separator + rest


class MeteredStream(trio.abc.Stream):
    """`inner`, reading only while `budget` is not in debt, and charging it for every byte read.

    Args:
        inner: The client's byte stream.
        budget: The read budget of the client's address.
        on_wait: Told the seconds of each wait for the budget (metrics).
    """

    def __init__(
        self, inner: trio.abc.Stream, budget: DebtBucket, on_wait: Callable[[float], None] | None = None
    ) -> None:
        self.inner = inner
        self._budget = budget
        self._on_wait = on_wait

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Wait while the budget is in debt, then read and charge what was read."""
        delay = self._budget.delay()
        if delay > 0:
            if self._on_wait is not None:
                self._on_wait(delay)
            await trio.sleep(delay)
        data = await self.inner.receive_some(max_bytes)
        self._budget.spend(len(data))
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send through `inner` (sending is not metered: the send watchdog bounds it)."""
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """As `inner`."""
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        """Close `inner`."""
        await self.inner.aclose()


class ServerProtocol(WSConnection):
    """wsproto's server connection, hardened for what clients send before they are authenticated.

    Args:
        budget: Charged `frame_cost` for every frame parsed (None: nothing charged).
        frame_cost: What one frame costs, in bytes, on top of its bytes.
    """

    def __init__(self, budget: DebtBucket | None = None, frame_cost: int = 0) -> None:
        super().__init__(ConnectionType.SERVER)
        self._budget = budget
        self._frame_cost = frame_cost

    def events(self) -> Generator[Event, None, None]:
        """Wsproto's events, each whole frame charged to the budget."""
        budget, cost = self._budget, self._frame_cost
        for event in super().events():
            if budget is not None and (not isinstance(event, (TextMessage, BytesMessage)) or event.frame_finished):
                budget.spend(cost)  # a frame wsproto hands over in parts is charged once
            yield event

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes in; a handshake wsproto cannot decode is a protocol error (400), like any other.

        Raises:
            RemoteProtocolError: the client's handshake is malformed (``event_hint``: a 400).
        """
        try:
            super().receive_data(data)
        except ValueError as exc:  # UnicodeDecodeError from the Host header, among others
            if self.state is not ConnectionState.CONNECTING:
                raise
            raise RemoteProtocolError(
                f"malformed handshake ({type(exc).__name__})", event_hint=RejectConnection(status_code=400)
            ) from None

    def send(self, event: Event) -> bytes:
        """Bytes for `event`; a refusal's status line carries its reason phrase.

        A pong owed to a ping that arrived after the server started closing is dropped:
        wsproto refuses to send it (trio-websocket's reader then fails the connection),
        and a closing connection owes no pong.
        """
        if isinstance(event, Pong) and self.state is not ConnectionState.OPEN:
            return b""
        data = super().send(event)
        return with_reason_phrase(data) if isinstance(event, RejectConnection) else data


async def open_websocket_request(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    budget: DebtBucket,
    frame_cost: int,
    message_queue_size: int,
    max_message_size: int,
    on_wait: Callable[[float], None] | None = None,
) -> trio_websocket.WebSocketRequest | None:
    """Start a server WebSocket on `stream`, metered by `budget`, and return the client's upgrade request.

    Returns None when the client left or sent no valid upgrade (wsproto has already
    answered a malformed request with a 400 and the stream is closed).
    """
    connection = trio_websocket.WebSocketConnection(
        MeteredStream(stream, budget, on_wait),
        ServerProtocol(budget, frame_cost),
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
    )
    reader_done = trio.Event()

    async def read() -> None:
        try:
            await connection._reader_task()  # pyright: ignore[reportPrivateUsage]
        finally:
            reader_done.set()

    nursery.start_soon(read)
    request: trio_websocket.WebSocketRequest | None = None
    async with trio.open_nursery() as race:

        async def propose() -> None:
            nonlocal request
            request = await connection._get_request()  # pyright: ignore[reportPrivateUsage]
            race.cancel_scope.cancel()

        race.start_soon(propose)
        await reader_done.wait()  # the reader ended before a request came: nobody to serve
        race.cancel_scope.cancel()
    return request
