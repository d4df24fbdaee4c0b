"""The HTTP listener (trio + h11): sockets, sizes and deadlines for `simutrador_ws.rest`.

``trio-websocket`` only serves WebSocket upgrades, so the REST side (``POST
/auth/token``, ``GET /health``) has its own small listener, by default on port 8001
beside the WebSocket's 8003 (the original clients' defaults). Parsing is h11's, a
well-kept HTTP/1.1 state machine; this module only moves bytes and enforces limits.
`HttpServer.serve` follows the ``nursery.start`` protocol and reports the bound port.

One request per connection: every answer says ``Connection: close``. Defences, in
the order a connection meets them (each setting in `simutrador_ws.rest.HttpSettings`):

- at accept, before any byte is read, connection counts per client address
  (``max_connections_per_ip``: more are closed at once) and server-wide
  (``max_connections``: when full, the oldest connection is dropped to admit the new
  one), by `simutrador_ws.admission.Admission`;
- one deadline (``request_timeout``) for the whole exchange: a client that sends its
  request slowly, or never reads the answer, is answered 408 when it can be and
  dropped;
- the request line and headers are bounded by h11 (``max_header_bytes``: 431), the
  body by ``max_body_bytes`` (413, from ``Content-Length`` before reading it);
- malformed HTTP is h11's `h11.RemoteProtocolError`: answered with its status hint
  (400 mostly) and closed;
- then `simutrador_ws.rest.RestService.handle`: the per-address request rate (429
  with ``Retry-After``), 404, 405, the route.

After its answer the server stops sending (TCP FIN) and reads for a moment what the
client may still be sending, so a client whose body was refused sees the answer
rather than a reset. Nothing one connection does can end the listener: every failure
stays in its connection (logged at DEBUG).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

import h11
import trio

from simutrador_ws.admission import Admission
from simutrador_ws.rest import HttpRequest, HttpResponse, HttpSettings, RestService

__all__ = ["HttpServer"]

logger = logging.getLogger(__name__)

_RECEIVE_BYTES: Final = 16 * 1024
_LINGER_SECONDS: Final = 1.0
_LINGER_BYTES: Final = 256 * 1024


class _TooLarge(Exception):
    """The request's body is larger than ``max_body_bytes``."""


class HttpServer:
    """Serves a `RestService` over HTTP/1.1 on its own port.

    Args:
        service: What answers each request.
        settings: Port, sizes, deadline and connection caps.
        host: Interface to listen on (the WebSocket server's).

    Attributes:
        port: The bound port, once listening.
        responses: How many answers of each status were sent.
    """

    def __init__(self, service: RestService, settings: HttpSettings, *, host: str = "127.0.0.1") -> None:
        self.service = service
        self.settings = settings
        self.host = host
        self.port: int | None = None
        self.responses: Counter[int] = Counter()
        self._admission = Admission(
            max_pending=settings.max_connections,
            max_pending_per_address=settings.max_connections_per_ip,
            max_per_address=settings.max_connections_per_ip,
        )
        self._stop = trio.Event()

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return self._admission.pending

    def shutdown(self) -> None:
        """Stop listening, drop open connections, and make `serve` return."""
        self._stop.set()

    async def serve(self, *, task_status: trio.TaskStatus[HttpServer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until `shutdown`; reports itself (with `port` set) once listening."""
        listeners = await trio.open_tcp_listeners(self.settings.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.serve_listeners, self.handle_stream, listeners)
                logger.info("serving HTTP on http://%s:%s", self.host, self.port)
                task_status.started(self)
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)

    async def handle_stream(self, stream: trio.abc.Stream, *, address: str | None = None) -> None:
        """Serve one connection: admission, one request, its answer, close. Never raises (cancellation aside).

        The listener calls it per TCP connection; tests may call it with a memory
        stream and an `address` of their choosing.
        """
        shed = trio.CancelScope()
        host = address or _peer_address(stream)
        ticket = self._admission.arrive(host, shed.cancel)
        if isinstance(ticket, str):  # too many from this address: not one byte is read
            logger.debug("HTTP connection from %s closed at accept: %s", host, ticket)
            await trio.aclose_forcefully(stream)
            return
        try:
            with shed:
                await self._exchange(stream, host)
        except Exception as exc:  # one connection's failure stays its own
            logger.debug("HTTP connection from %s failed", host, exc_info=exc)
        finally:
            self._admission.leave(ticket)
            await trio.aclose_forcefully(stream)

    async def _exchange(self, stream: trio.abc.Stream, host: str) -> None:
        """Read one request and answer it, all within ``request_timeout``; then linger and close."""
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=self.settings.max_header_bytes)
        answered = False
        with trio.move_on_after(self.settings.request_timeout):
            response: HttpResponse | None
            try:
                request = await self._read_request(stream, connection, host)
            except h11.RemoteProtocolError as exc:
                response = HttpResponse.problem(exc.error_status_hint, "malformed HTTP request")
            except _TooLarge:
                response = HttpResponse.problem(413, f"the body may hold at most {self.settings.max_body_bytes} bytes")
            else:
                response = None if request is None else self.service.handle(request)
            if response is None:  # the client left without a request
                return
            answered = True
            await self._send(stream, connection, response)
            await _linger(stream)
        if not answered and connection.our_state in {h11.IDLE, h11.SEND_RESPONSE}:  # the deadline passed
            with trio.move_on_after(_LINGER_SECONDS):
                await self._send(stream, connection, HttpResponse.problem(408, "request timeout"))

    async def _read_request(self, stream: trio.abc.Stream, connection: h11.Connection, host: str) -> HttpRequest | None:
        """The next whole request, or None when the client closed first.

        Raises:
            h11.RemoteProtocolError: malformed HTTP (also headers over ``max_header_bytes``).
            _TooLarge: a body over ``max_body_bytes``.
        """
        limit = self.settings.max_body_bytes
        head: h11.Request | None = None
        body = bytearray()
        ended = False
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError:
                if ended:  # the client left halfway through its request: nobody to answer
                    return None
                raise
            if event is h11.NEED_DATA:
                data = bytes(await stream.receive_some(_RECEIVE_BYTES))
                ended = not data
                connection.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
                if _head_size(event) > self.settings.max_header_bytes:  # h11 bounds only a head still arriving
                    raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
                length = _content_length(event.headers)
                if length is not None and length > limit:
                    raise _TooLarge
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise _TooLarge
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return HttpRequest(
                    method=head.method.decode("ascii", "replace").upper(),
                    target=head.target.decode("ascii", "replace"),
                    headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers),
                    body=bytes(body),
                    address=host,
                )
            else:  # ConnectionClosed (the client left), or nothing left to read
                return None

    async def _send(self, stream: trio.abc.Stream, connection: h11.Connection, response: HttpResponse) -> None:
        """Send `response` whole, saying the connection closes after it."""
        headers = [
            ("content-type", "application/json"),
            ("content-length", str(len(response.body))),
            ("connection", "close"),
            *response.headers,
        ]
        self.responses[response.status] += 1
        parts = (
            h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status)),
            h11.Data(data=response.body),
            h11.EndOfMessage(),
        )
        await stream.send_all(b"".join(connection.send(part) or b"" for part in parts))


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:  # pragma: no cover - every status this module sends is standard
        return b""


def _head_size(request: h11.Request) -> int:
    """About the bytes of `request`'s line and headers as sent."""
    return (
        len(request.method) + len(request.target) + sum(len(name) + len(value) + 4 for name, value in request.headers)
    )


def _content_length(headers: Any) -> int | None:
    """The ``Content-Length`` h11 has already checked (one well-formed value), if any."""
    for name, value in headers:
        if name == b"content-length":
            return int(value)
    return None


async def _linger(stream: trio.abc.Stream) -> None:
    """Half-close, then read (and drop) what the client still sends, briefly: its answer is not lost to a reset."""
    send_eof: Callable[[], Any] | None = getattr(stream, "send_eof", None)
    if send_eof is None:
        return
    with trio.move_on_after(_LINGER_SECONDS):
        await send_eof()
        read = 0
        while read < _LINGER_BYTES:
            data = await stream.receive_some(_RECEIVE_BYTES)
            if not data:
                return
            read += len(data)


def _peer_address(stream: Any) -> str:
    try:
        return str(stream.socket.getpeername()[0])
    except (AttributeError, OSError, IndexError):  # not a socket (a memory stream in tests)
        return "unknown"
