"""The WebSocket server: sockets, handshake, auth, caps, timeouts. No business rules.

What a client makes the server read is metered from the first byte: every connection's
stream is a `simutrador_ws.transport.MeteredStream` charged to its address's read
budget (bytes, plus a cost per WebSocket frame), and is not read while that budget is in
debt.

Structure (trio): `SimutradorServer.serve` follows the ``nursery.start`` protocol and
reports the bound port. It owns the listener loop (`trio.serve_listeners` with
`trio_websocket.wrap_server_stream` per connection), so a malformed handshake or a
bug in one connection drops only that connection, never the listener.

Per connection, in order: at accept, before any byte is read, the per-address
connection counts (`simutrador_ws.admission`: too many from one address closes the
connection; a full pending-handshake budget sheds the oldest pending handshake); then,
under one handshake deadline: read the HTTP upgrade; check the path; the per-IP
handshake limiter (429 + Retry-After); on `HEALTH_PATH` (``/ws/health``, no token),
accept, send one ``health`` message and close (1000); the global connection cap (503); duplicate
credentials (400); the Origin allow-list (403); the JWT (401); the per-user
connection cap of the plan (429); accept. Then a sans-I/O
`simutrador_ws.connection.Connection` holds the protocol, and one nursery runs the
reader (each message fed to it, what it emits sent at once; a client that stops
reading for ``send_timeout`` is disconnected with 4003; past its per-connection message
rate a message is refused unread), heartbeat pings (4004 when
unanswered), the idle timer (a warning, then 4002) and the token-expiry timer (an
``error``, then 4001). Every timer and rate limit reads trio's clock, so tests run
them under ``trio.testing.MockClock``; `SimutradorServer.handle_stream` serves any
byte stream (in tests, ``trio.testing.memory_stream_pair``).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import logging
import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, cast
from urllib.parse import parse_qs, urlsplit

import trio
import trio_websocket
from wsproto.utilities import RemoteProtocolError

from simutrador import Engine, ErrorCode, SimutradorError, SqliteStore
from simutrador.codec import format_datetime
from simutrador.storage import JournalWriter
from simutrador_ws.admission import Admission, Ticket
from simutrador_ws.auth import Identity, TokenVerifier
from simutrador_ws.connection import Connection
from simutrador_ws.dispatch import Push
from simutrador_ws.envelope import CloseCode, encode_reply
from simutrador_ws.metrics import Metrics
from simutrador_ws.ratelimit import DebtBucket, KeyedLimiter, TokenBucket
from simutrador_ws.rest import server_version
from simutrador_ws.settings import ServerSettings
from simutrador_ws.simulations import RemoteRun, SimulationRegistry
from simutrador_ws.transport import open_websocket_request

__all__ = ["HEALTH_PATH", "HTTP_STATUS", "SimutradorServer", "run_server", "tune_garbage_collector"]

logger = logging.getLogger(__name__)

HTTP_STATUS: Final = {
    ErrorCode.AUTHENTICATION_FAILED: 401,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.SESSION_LIMIT_EXCEEDED: 429,
}
"""Error code → HTTP status for refused handshakes (the adapter's one table)."""

HEALTH_PATH: Final = "/ws/health"
"""The unauthenticated path answering one ``health`` message (the original clients' ``health`` command)."""


class _Refusal(Exception):
    """A handshake refused with an HTTP status and a short reason."""

    def __init__(self, status: int, reason: str, *, retry_after: float | None = None, code: str = "") -> None:
        super().__init__(reason)
        self.status, self.reason, self.retry_after, self.code = status, reason, retry_after, code or str(status)


class _ConnectionIO:
    """The I/O side of one accepted WebSocket: its tasks, timers and close logic.

    Everything said on the wire comes from its sans-I/O `Connection`; this object
    only moves text. The reader feeds each message in and sends what comes out
    itself (a queue and a writer task per connection cost over a quarter of the
    server's CPU); the timers queue their messages on the `Connection` and flush.
    `flush` is the only sender: one task sends at a time, in queue order, and a task
    arriving while another sends waits until its messages have gone too. A send that
    takes longer than ``send_timeout`` means the client stopped reading:
    `_send_watchdog` closes with 4003 (a deadline per message is measurable).
    """

    def __init__(
        self,
        server: SimutradorServer,
        ws: trio_websocket.WebSocketConnection,
        identity: Identity,
        connection: Connection,
    ) -> None:
        self.server = server
        self.ws = ws
        self.identity = identity
        self.connection = connection
        settings = server.settings
        self.last_activity = now = trio.current_time()
        left = (identity.expires_at - datetime.now(UTC)).total_seconds()
        self.token_expires_at = now + max(left, 0.0)
        self.bucket = TokenBucket(settings.messages_per_second, settings.message_burst, trio.current_time)
        self.close_code: int | None = None
        self.close_reason = ""
        self.cancel_scope = trio.CancelScope()
        self.sending_since: float | None = None
        self._flushing = False
        self._flushed: trio.Event | None = None
        self._nursery: trio.Nursery | None = None

    async def flush(self) -> None:
        """Send every message the connection has queued, in order; return once they are sent.

        Raises:
            trio_websocket.ConnectionClosed: the connection is gone.
        """
        if self._flushing:  # another task is sending: it sends ours too
            if self._flushed is None:
                self._flushed = trio.Event()
            await self._flushed.wait()
            return
        self._flushing = True
        next_outgoing, ws = self.connection.next_outgoing, self.ws
        try:
            while (text := next_outgoing()) is not None:
                self.sending_since = trio.current_time()
                await ws.send_message(text)
        finally:
            self.sending_since = None
            self._flushing = False
            if self._flushed is not None:
                self._flushed.set()
                self._flushed = None

    async def _flush_or_close(self) -> None:
        """`flush` for the timers: a connection already gone just closes."""
        try:
            await self.flush()
        except trio_websocket.ConnectionClosed:
            self.close_soon(CloseCode.NORMAL, "")

    def close_soon(self, code: int, reason: str) -> None:
        """Ask the connection to close with `code` (first request wins)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.cancel_scope.cancel()

    async def run(self) -> None:
        """Greet, then serve until the client leaves or a timer closes the connection."""
        try:
            with self.cancel_scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._heartbeat)
                    nursery.start_soon(self._idle_timer)
                    nursery.start_soon(self._token_timer)
                    nursery.start_soon(self._send_watchdog)
                    nursery.start_soon(self._stall_timer)
                    await self._flush_or_close()  # connection_ready
                    await self._reader()
                    self.close_soon(CloseCode.NORMAL, "")
        finally:
            self.connection.desk.closed()  # its simulations pause, state kept
        await self._close()

    async def _reader(self) -> None:
        """Read a message, feed it in, send what comes out; until the client leaves."""
        connection, ws, bucket = self.connection, self.ws, self.bucket
        log_requests = logger.isEnabledFor(logging.INFO)
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed:
                return
            self.last_activity = trio.current_time()
            wait = bucket.take()
            if wait:
                connection.reject(
                    message,
                    SimutradorError(
                        ErrorCode.RATE_LIMIT_EXCEEDED,
                        f"more than {self.server.settings.messages_per_second:g} messages per second",
                        retry_after_ms=math.ceil(wait * 1000),
                    ),
                )
            else:
                served = connection.receive(message)
                if log_requests:
                    logger.info(
                        "user=%s type=%s request_id=%s outcome=%s duration_ms=%.3f",
                        self.identity.user_id,
                        served.request_type,
                        served.request_id,
                        served.outcome,
                        served.seconds * 1000,
                    )
            ticket = connection.desk.take_ticket()
            if ticket:  # what answers a journaled command goes out once the command is committed
                failure = await self.server.journal_committed(ticket)
                if failure is not None:
                    connection.outgoing()  # never acknowledge what was not committed
                    connection.push_all(connection.desk.fail_uncommitted(failure))
            await self._finish_runs()
            credits = connection.take_credits()
            if credits:
                bucket.grant(credits, most=self.server.settings.simulation_max_pending_ticks * 4)
            self._start_pumps()
            try:
                await self.flush()
            except trio_websocket.ConnectionClosed:
                return

    async def _finish_runs(self) -> None:
        """Record the results of runs that just completed, on a worker thread, then queue their completion.

        A long run's result takes a while to serialize and store; the event loop
        serves everyone else meanwhile. If recording fails (the session deleted or
        expired meanwhile, the store failing), the client gets that error instead.
        """
        engine = self.server.engine
        for run in self.connection.desk.take_finishing():
            assert run.finishing is not None
            result, pushes = run.finishing
            run.finishing = None
            try:
                await trio.to_thread.run_sync(engine.finish_simulation, run.user_id, run.session_id, result)
            except SimutradorError as error:
                pushes = [Push(type="session_error", data=error.to_dict() | {"session_id": run.session_id})]
            self.connection.push_all(pushes)

    def _start_pumps(self) -> None:
        """Start a pump for each simulation streamed without flow control since the last message."""
        nursery = self._nursery
        for run in self.connection.desk.take_new_streams():
            if nursery is not None:
                nursery.start_soon(self._pump, run)

    async def _pump(self, run: RemoteRun) -> None:
        """Stream `run` at its ``tick_interval_ms``: one tick, send it (waiting for the client), sleep, again."""
        interval = run.options.tick_interval_ms / 1000
        desk = self.connection.desk
        while not run.finished and not run.paused and desk.runs.get(run.session_id) is run:
            self.connection.push_all(run.stream_step())
            await self._finish_runs()
            await self._flush_or_close()
            await trio.sleep(interval)

    async def _stall_timer(self) -> None:
        """Pause simulations whose oldest tick waited past ``simulation_ack_timeout`` for its ``tick_ack``."""
        period = max(self.server.settings.simulation_ack_timeout / 4, 0.05)
        while True:
            await trio.sleep(period)
            pushes = self.connection.desk.stalled(trio.current_time())
            if pushes:
                self.connection.push_all(pushes)
                await self._flush_or_close()

    async def _send_watchdog(self) -> None:
        """Disconnect (4003) when one send has lasted ``send_timeout``; checks twice per period."""
        timeout = self.server.settings.send_timeout
        while True:
            since = self.sending_since
            if since is not None and trio.current_time() - since >= timeout:
                self.close_soon(CloseCode.SLOW_CONSUMER, "client is not reading")
                return
            await trio.sleep(timeout / 2)

    async def _heartbeat(self) -> None:
        settings = self.server.settings
        while True:
            await trio.sleep(settings.ping_interval)
            try:
                with trio.fail_after(settings.ping_timeout):
                    await self.ws.ping()
            except trio.TooSlowError:
                self.close_soon(CloseCode.HEARTBEAT_TIMEOUT, "no pong")
                return
            except trio_websocket.ConnectionClosed:
                return

    async def _idle_timer(self) -> None:
        settings = self.server.settings
        warned_for = None
        while True:
            idle_at = self.last_activity + settings.idle_timeout
            warn_at = idle_at - settings.idle_warning
            now = trio.current_time()
            if now >= idle_at:
                self.close_soon(CloseCode.IDLE_TIMEOUT, "idle timeout")
                return
            if now >= warn_at and warned_for != self.last_activity:
                warned_for = self.last_activity
                self.connection.push(
                    "idle_warning",
                    {"closes_in_sec": round(idle_at - now, 3), "idle_timeout_sec": settings.idle_timeout},
                )
                await self._flush_or_close()
            await trio.sleep_until(idle_at if now >= warn_at else warn_at)

    async def _token_timer(self) -> None:
        """At the token's ``exp`` (on trio's clock, counted from the connection's start): an ``error``, then 4001."""
        await trio.sleep_until(self.token_expires_at)
        self.connection.push_error(
            SimutradorError(ErrorCode.AUTHENTICATION_FAILED, "token expired; reconnect with a new token")
        )
        with trio.move_on_after(self.server.settings.send_timeout):
            await self._flush_or_close()
        self.close_soon(CloseCode.TOKEN_EXPIRED, "token expired")

    async def _close(self) -> None:
        code = self.close_code or CloseCode.NORMAL
        with trio.move_on_after(self.server.settings.send_timeout) as scope:
            await self.ws.aclose(code, self.close_reason or None)
        if scope.cancelled_caught:  # the peer never answered the close: drop the TCP connection
            await trio.aclose_forcefully(self.ws._stream)


class SimutradorServer:
    """Serves an `Engine` over WebSocket.

    Args:
        engine: The engine every request goes to.
        settings: Transport settings (limits, timeouts).
        verifier: Checks the JWT of each connection.
        clock: Seconds for the per-IP handshake limiter (trio's clock by default).
    """

    def __init__(
        self,
        engine: Engine,
        settings: ServerSettings,
        verifier: TokenVerifier,
        *,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.verifier = verifier
        self.metrics = Metrics()
        self._ip_limiter = KeyedLimiter(settings.handshakes_per_second, settings.handshake_burst, clock)
        self._clock = clock
        self._next_failure_report = -math.inf
        self._failures_unreported = 0
        self._per_user: Counter[str] = Counter()
        self._connections: set[_ConnectionIO] = set()
        self._admission = Admission(
            max_pending=settings.max_pending_handshakes,
            max_pending_per_address=settings.max_pending_handshakes_per_ip,
            max_per_address=settings.max_connections_per_ip,
            budget=lambda: DebtBucket(settings.receive_bytes_per_second, settings.receive_burst_bytes, clock),
        )
        self._stop = trio.Event()
        self.port: int | None = None
        self.simulations = SimulationRegistry()
        self.journal: JournalWriter | None = None
        self._committed = 0
        self._journal_errors: dict[int, SimutradorError] = {}
        self._journal_waiters: list[tuple[int, int, trio.Event]] = []

    @property
    def open_connections(self) -> int:
        """Accepted connections currently open."""
        return len(self._connections)

    def shutdown(self) -> None:
        """Stop accepting, close every connection with 1001, and make `serve` return."""
        self._stop.set()

    async def serve(self, *, task_status: trio.TaskStatus[SimutradorServer] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen and serve until `shutdown`; reports itself (with `port` set) once listening."""
        listeners = await trio.open_tcp_listeners(self.settings.port, host=self.settings.host)
        self.port = listeners[0].socket.getsockname()[1]
        try:
            await self._run(listeners, task_status)
        finally:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
        logger.info("server stopped")

    async def _run(self, listeners: list[trio.SocketListener], task_status: trio.TaskStatus[SimutradorServer]) -> None:
        self._open_journal()
        try:
            await self._serve_listeners(listeners, task_status)
        finally:
            if self.journal is not None:
                await trio.to_thread.run_sync(self.journal.close)  # commits what is queued

    def _open_journal(self) -> None:
        """A writer thread for the simulations' journal when the engine's store is durable."""
        store = self.engine.store
        if not isinstance(store, SqliteStore):
            return
        token = trio.lowlevel.current_trio_token()

        def committed(ticket: int, error: SimutradorError | None) -> None:
            # queued on the event loop without waiting for it: the writer goes on to the next group
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._journal_committed, ticket, error)

        self.journal = JournalWriter(store, committed)

    def _journal_committed(self, ticket: int, error: SimutradorError | None) -> None:
        self._committed = max(self._committed, ticket)
        if error is not None:
            self._journal_errors[ticket] = error
        while self._journal_waiters and self._journal_waiters[0][0] <= self._committed:
            heapq.heappop(self._journal_waiters)[2].set()

    async def journal_committed(self, ticket: int) -> SimutradorError | None:
        """Wait until the journal has committed `ticket`; the error when its group failed."""
        if ticket > self._committed:
            event = trio.Event()
            heapq.heappush(self._journal_waiters, (ticket, id(event), event))
            await event.wait()
        return self._journal_errors.pop(ticket, None) or next(
            (e for t, e in self._journal_errors.items() if t >= ticket), None
        )

    async def _serve_listeners(
        self, listeners: list[trio.SocketListener], task_status: trio.TaskStatus[SimutradorServer]
    ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._cleanup_loop)
            listen_scope = trio.CancelScope()

            async def listen() -> None:
                with listen_scope:
                    await trio.serve_listeners(self.handle_stream, listeners, handler_nursery=nursery)

            nursery.start_soon(listen)
            logger.info("serving on ws://%s:%s%s", self.settings.host, self.port, self.settings.path)
            task_status.started(self)
            await self._stop.wait()
            listen_scope.cancel()
            for connection in list(self._connections):
                connection.close_soon(CloseCode.GOING_AWAY, "server shutting down")
            with trio.move_on_after(self.settings.shutdown_timeout):
                while self._connections:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    async def _cleanup_loop(self) -> None:
        while True:
            await trio.sleep(self.settings.cleanup_interval)
            removed = self.engine.cleanup_expired_sessions()
            if removed:
                logger.info("expired %d sessions", removed)
            forgotten = self.simulations.prune(self.engine)
            if forgotten:
                logger.debug("forgot %d finished or orphaned simulations", forgotten)

    @property
    def pending_handshakes(self) -> int:
        """Connections accepted whose handshake has not finished."""
        return self._admission.pending

    async def handle_stream(self, stream: trio.abc.Stream, *, address: str | None = None) -> None:
        """Serve one byte stream, start to end: admission, handshake, then the connection until it closes.

        The listener calls it for each TCP connection; tests call it with one end of
        ``trio.testing.memory_stream_pair`` (and an `address` of their choosing: a
        socket's peer address is read when None). Nothing raised here reaches the
        caller (cancellation aside): a failure drops only this stream.
        """
        shed = trio.CancelScope()
        ticket = self._admission.arrive(address or _peer_address(stream), shed.cancel)
        if isinstance(ticket, str):  # too many from this address: not one byte is read
            self.metrics.handshakes_refused[ticket] += 1
            logger.debug("closed a connection at accept: %s", ticket)
            await trio.aclose_forcefully(stream)
            return
        self.metrics.handshakes_pending = self._admission.pending
        try:
            await self._serve_stream(stream, ticket, shed)
        except Exception as exc:  # one connection's failure, whatever it is, stays its own
            self._log_failure(exc)
        finally:
            self._admission.leave(ticket)
            self.metrics.handshakes_pending = self._admission.pending
            await trio.aclose_forcefully(stream)

    def _log_failure(self, exc: Exception) -> None:
        """A client that resets or garbles its connection is DEBUG; anything else one WARNING a minute.

        Before authentication anyone can make a connection fail, as often as they can
        connect: a traceback per failure let one client write megabytes of log a second.
        """
        if _is_network_event(exc):
            logger.debug("connection ended by the network or the client", exc_info=exc)
            return
        now = self._clock()
        if now < self._next_failure_report:
            self._failures_unreported += 1
            logger.debug("connection failed", exc_info=exc)
            return
        logger.warning(
            "connection failed: %s (%d more failures since the last report; each at DEBUG)",
            _describe(exc),
            self._failures_unreported,
            exc_info=exc,
        )
        self._failures_unreported = 0
        self._next_failure_report = now + _FAILURE_REPORT_INTERVAL

    async def _serve_stream(self, stream: trio.abc.Stream, ticket: Ticket, shed: trio.CancelScope) -> None:
        settings = self.settings
        accepted: tuple[trio_websocket.WebSocketConnection, Identity | None] | None = None
        async with trio.open_nursery() as nursery:
            with shed, trio.move_on_after(settings.handshake_timeout) as deadline:
                request = await open_websocket_request(
                    nursery,
                    stream,
                    budget=ticket.budget,
                    frame_cost=settings.frame_cost_bytes,
                    message_queue_size=4,
                    max_message_size=settings.hard_max_message_bytes,
                    on_wait=self.metrics.count_receive_wait,
                )
                if request is None:  # left, or no valid upgrade (wsproto answered 400)
                    self.metrics.handshakes_refused["no_request"] += 1
                else:
                    accepted = await self._handshake(request, ticket.key)
            if shed.cancelled_caught:
                self.metrics.handshakes_refused["shed"] += 1
            elif deadline.cancelled_caught:
                self.metrics.handshakes_refused["timeout"] += 1
            if accepted is None:
                nursery.cancel_scope.cancel()
                return
            self._admission.established(ticket)
            self.metrics.handshakes_pending = self._admission.pending
            ws, identity = accepted
            if identity is None:  # /ws/health
                await self._answer_health(ws)
                nursery.cancel_scope.cancel()
                return
            connection = _ConnectionIO(
                self,
                ws,
                identity,
                Connection(
                    self.engine,
                    identity,
                    settings=settings,
                    metrics=self.metrics,
                    simulations=self.simulations,
                    clock=trio.current_time,
                    journal=None if self.journal is None else self.journal.append,
                    deferred_finish=True,
                ),
            )
            self._connections.add(connection)
            self.metrics.connections_opened += 1
            self.metrics.connections_open = len(self._connections)
            try:
                await connection.run()
            finally:
                self._connections.discard(connection)
                self._per_user[identity.user_id] -= 1
                if self._per_user[identity.user_id] <= 0:
                    del self._per_user[identity.user_id]
                self.metrics.connections_open = len(self._connections)
                nursery.cancel_scope.cancel()

    async def _handshake(
        self, request: trio_websocket.WebSocketRequest, address: str
    ) -> tuple[trio_websocket.WebSocketConnection, Identity | None] | None:
        try:
            identity = self._admit(request, address)
        except _Refusal as refusal:
            self.metrics.handshakes_refused[refusal.code] += 1
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            if refusal.retry_after is not None:
                headers.append((b"retry-after", str(max(1, math.ceil(refusal.retry_after))).encode()))
            await request.reject(refusal.status, extra_headers=headers, body=refusal.reason.encode())
            return None
        if identity is None:  # a health check holds no user's connection
            return await request.accept(), None
        self._per_user[identity.user_id] += 1
        try:
            ws = await request.accept()
        except BaseException:
            self._per_user[identity.user_id] -= 1
            raise
        return ws, identity

    async def _answer_health(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Send one ``health`` message and close normally (1000), within ``send_timeout``."""
        data = {"status": "ok", "server_time": format_datetime(self.engine.clock()), "server_version": server_version()}
        with trio.move_on_after(self.settings.send_timeout):
            await ws.send_message(encode_reply("health", data, None, self.engine.clock()))
            await ws.aclose(CloseCode.NORMAL)

    def _admit(self, request: trio_websocket.WebSocketRequest, address: str) -> Identity | None:
        """Every handshake check, in order; raises `_Refusal`. None: a health check, to accept without a token."""
        settings = self.settings
        target = urlsplit(request.path)
        if target.path not in {settings.path, HEALTH_PATH}:
            raise _Refusal(404, f"not found; the WebSocket path is {settings.path}")
        wait = self._ip_limiter.take(address)
        if wait:
            raise _Refusal(429, "too many connection attempts", retry_after=wait, code="ip_rate_limit")
        if target.path == HEALTH_PATH:
            return None
        if len(self._connections) >= settings.max_connections:
            raise _Refusal(503, "server at connection capacity", retry_after=1, code="capacity")
        headers: dict[bytes, bytes] = {}
        for raw_name, value in request.headers:
            name = raw_name.lower()
            if name in _SINGLE_HEADERS and name in headers:  # which one would count? neither
                raise _Refusal(400, f"more than one {name.decode().title()} header", code="duplicate_header")
            headers[name] = value
        origin = headers.get(b"origin")
        if settings.allowed_origins and origin is not None and origin.decode("latin-1") not in settings.allowed_origins:
            raise _Refusal(403, "origin not allowed")
        try:
            identity = self.verifier.verify(_token_of(target.query, headers.get(b"authorization")))
        except SimutradorError as error:
            raise _Refusal(HTTP_STATUS[error.code], error.message, code="auth") from None
        allowed = self.engine.limits_for(identity.plan).websocket_connections  # None: unlimited
        if allowed is not None and self._per_user[identity.user_id] >= allowed:
            raise _Refusal(
                HTTP_STATUS[ErrorCode.RATE_LIMIT_EXCEEDED],
                f"at most {allowed} connections per user on the {identity.plan.value} plan",
                retry_after=1,
                code="user_connections",
            )
        return identity


_SINGLE_HEADERS: Final = frozenset({b"origin", b"authorization"})
_FAILURE_REPORT_INTERVAL: Final = 60.0
_NETWORK_EVENTS: Final = (
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio_websocket.ConnectionClosed,
    trio_websocket.HandshakeError,
    RemoteProtocolError,
    ConnectionError,
    TimeoutError,
)


def _is_network_event(exc: BaseException) -> bool:
    """True when `exc` (or every exception in its group) is the network or the client going away or garbling."""
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        return all(_is_network_event(inner) for inner in group.exceptions)
    return isinstance(exc, _NETWORK_EVENTS)


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = cast("BaseExceptionGroup[BaseException]", exc).exceptions[0]
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _token_of(query: str, authorization: bytes | None) -> str | None:
    if authorization is not None:
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = parse_qs(query, max_num_fields=20).get("token")
    return values[0] if values else None


def _peer_address(stream: Any) -> str:
    try:
        return str(stream.socket.getpeername()[0])
    except (AttributeError, OSError, IndexError):  # not a socket (a memory stream in tests)
        return "unknown"


def tune_garbage_collector(settings: ServerSettings) -> None:
    """Apply ``settings.gc_threshold`` to this process (a process-wide choice: servers only, never the core)."""
    if settings.gc_threshold:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold, middle, oldest)


async def run_server(
    server: SimutradorServer, *, task_status: trio.TaskStatus[SimutradorServer] = trio.TASK_STATUS_IGNORED
) -> None:
    """Tune the garbage collector, serve until SIGINT/SIGTERM, then shut down gracefully."""
    import signal  # noqa: PLC0415 - only the CLI entry point needs signals

    tune_garbage_collector(server.settings)
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            await nursery.start(partial(server.serve))
            task_status.started(server)
            async for _ in signals:
                server.shutdown()
                break
