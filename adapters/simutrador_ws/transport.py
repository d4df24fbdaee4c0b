"""The WebSocket under the server: trio-websocket over a wsproto connection of our own.

`open_websocket_request` does what ``trio_websocket.wrap_server_stream`` does (start the
connection's reader, wait for the client's upgrade request), with two differences:

- the wsproto connection is `ServerProtocol`, which turns what wsproto lets escape
  while reading a handshake (a ``Host`` header that is not ASCII raised
  ``UnicodeDecodeError``) into the ``400`` wsproto gives every other malformed
  request, and writes every refusal's status line with its reason phrase
  (``HTTP/1.1 401 Unauthorized``, where h11 writes ``HTTP/1.1 401``);
- a client that leaves, or sends something that is not a WebSocket upgrade, ends the
  wait at once (None) instead of holding its handshake slot until the deadline.

trio-websocket has no public hook for either, so this module uses two of its private
names (``_reader_task``, ``_get_request``), pinned by the tests that serve through it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import Event, RejectConnection
from wsproto.utilities import RemoteProtocolError

__all__ = ["ServerProtocol", "open_websocket_request", "with_reason_phrase"]

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


class ServerProtocol(WSConnection):
    """wsproto's server connection, hardened for what clients send before they are authenticated."""

    def __init__(self) -> None:
        super().__init__(ConnectionType.SERVER)

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
        """Bytes for `event`; a refusal's status line carries its reason phrase."""
        data = super().send(event)
        return with_reason_phrase(data) if isinstance(event, RejectConnection) else data


async def open_websocket_request(
    nursery: trio.Nursery, stream: trio.abc.Stream, *, message_queue_size: int, max_message_size: int
) -> trio_websocket.WebSocketRequest | None:
    """Start a server WebSocket on `stream` and return the client's upgrade request.

    Returns None when the client left or sent no valid upgrade (wsproto has already
    answered a malformed request with a 400 and the stream is closed).
    """
    connection = trio_websocket.WebSocketConnection(
        stream, ServerProtocol(), message_queue_size=message_queue_size, max_message_size=max_message_size
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
