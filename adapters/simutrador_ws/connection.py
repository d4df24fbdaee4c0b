"""`Connection`: one authenticated client's protocol state, sans I/O (like h11's and wsproto's).

The server creates one per accepted WebSocket, with the engine and the caller's
`Identity`, and then only moves text: every message read goes into `receive`;
everything `next_outgoing` (or `outgoing`) hands back is sent, in order. One message
in may produce any number out (zero, one, several: see `simutrador_ws.routes.Emit`),
and the server side may queue messages with no message in (`push`, `push_error`:
idle warnings, token expiry, later ticks). The first queued message is the
``connection_ready`` greeting.

`receive` never raises: it decodes the envelope (`simutrador_ws.envelope`), routes it
(`simutrador_ws.routes`), and renders a `SimutradorError` as ``session_error``
(session operations) or ``error`` (protocol problems), echoing the ``request_id``.
A bug in a route becomes ``INTERNAL_ERROR`` with a correlation id (the traceback is
logged), for that request only. Every message is written by
`simutrador_ws.envelope.encode_reply`, which cannot fail: the reply to a change the
engine has committed always goes out. Each call returns a `RequestServed` record for
the request log; requests, errors and latencies are counted in the server's `Metrics`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from simutrador import Engine, ErrorCode, SimutradorError
from simutrador.codec import format_datetime
from simutrador.storage import JournalEntry
from simutrador_ws.auth import Identity
from simutrador_ws.envelope import PROTOCOL_VERSION, decode, encode_reply, peek_request_id
from simutrador_ws.metrics import Metrics
from simutrador_ws.routes import ROUTES, Emit, Push, Route, RouteContext, route_for, supported_types
from simutrador_ws.settings import ServerSettings
from simutrador_ws.simulations import SimulationDesk, SimulationLimits, SimulationRegistry

__all__ = ["Connection", "RequestServed"]

logger = logging.getLogger(__name__)

_UNREADABLE: Final = "?"


@attrs.frozen(kw_only=True, slots=True)
class RequestServed:
    """What the request log records about one message received.

    Attributes:
        request_type: The ``type`` received (``?`` when unreadable).
        request_id: The ``request_id`` received, if any.
        outcome: ``ok`` or the error code.
        seconds: How long serving it took.
    """

    request_type: str
    request_id: str | None
    outcome: str
    seconds: float


class Connection:
    """The protocol side of one authenticated connection: text in, texts out, no I/O.

    Args:
        engine: The engine every request goes to.
        identity: Who is connected (the token's user, plan, expiry, admin flag).
        settings: The server's settings (message size limit; the rate and idle
            limits announced in ``connection_ready``).
        metrics: Where counters go (a new `Metrics` when None).
        routes: The dispatch table (`simutrador_ws.routes.ROUTES` unless a test
            brings its own).
        simulations: The server's remote runs (a new registry when None).
        clock: Seconds, for the simulations' ack timeout and order rate (the server
            passes trio's clock).
        journal: Queues simulation journal entries and returns their ticket (a
            durable server's writer thread); the server sends what answers a
            journaled command only once its ticket is committed.
        deferred_finish: Simulations leave their results for the server to record on a
            worker thread (`SimulationDesk.take_finishing`); otherwise a run records
            its result when its last tick is processed, inside `receive`.
    """

    __slots__ = ("_context", "_credits", "_max_bytes", "_outgoing", "_routes", "_settings", "desk")

    def __init__(
        self,
        engine: Engine,
        identity: Identity,
        *,
        settings: ServerSettings | None = None,
        metrics: Metrics | None = None,
        routes: Mapping[str, Route[Any]] = ROUTES,
        simulations: SimulationRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        journal: Callable[[Sequence[JournalEntry]], int] | None = None,
        deferred_finish: bool = False,
    ) -> None:
        self._settings = settings = settings or ServerSettings()
        self._max_bytes = settings.max_message_bytes
        limits = engine.limits_for(identity.plan)
        self.desk = SimulationDesk(
            engine,
            identity.user_id,
            simulations if simulations is not None else SimulationRegistry(),
            SimulationLimits(
                max_pending_ticks=settings.simulation_max_pending_ticks,
                max_orders_per_batch=settings.simulation_max_orders_per_batch,
                max_open_orders=settings.simulation_max_open_orders,
                default_tick_interval_ms=settings.simulation_tick_interval_ms,
                ack_timeout=settings.simulation_ack_timeout,
                orders_per_minute=limits.orders_per_minute,
            ),
            clock=clock,
            journal=journal,
            deferred_finish=deferred_finish,
        )
        self._context = RouteContext(engine, identity, metrics if metrics is not None else Metrics(), self.desk)
        self._routes = routes
        self._outgoing: deque[str] = deque()
        self._credits = 0
        self.push("connection_ready", self._ready())

    @property
    def identity(self) -> Identity:
        """Who is connected."""
        return self._context.identity

    @property
    def metrics(self) -> Metrics:
        """The counters this connection adds to."""
        return self._context.metrics

    # -- in ----------------------------------------------------------------------------

    def receive(self, message: str | bytes) -> RequestServed:
        """Serve one client message: queue whatever it answers with. Never raises."""
        started = time.perf_counter()
        metrics = self._context.metrics
        request_id: str | None = None
        kind = _UNREADABLE
        try:
            envelope = decode(message, self._max_bytes)
            request_id, kind = envelope.request_id, envelope.type
            route = route_for(self._routes, kind, self._context.identity)
            self._answer(route, route.serve(self._context, envelope.data), request_id)
            outcome = "ok"
        except SimutradorError as error:
            outcome = self._queue_error(error, request_id, kind)
        except Exception:  # a bug: this request fails, the connection and server live on
            outcome = self._queue_error(_internal_error(kind), request_id, kind)
        metrics.requests[kind if kind in self._routes else _UNREADABLE] += 1
        if outcome != "ok":
            metrics.errors[outcome] += 1
        seconds = time.perf_counter() - started
        metrics.request_seconds.append(seconds)
        return RequestServed(request_type=kind, request_id=request_id, outcome=outcome, seconds=seconds)

    def reject(self, message: str | bytes, error: SimutradorError) -> None:
        """Answer `message` with `error` without serving it (the server's rate limit); counted as an error.

        `message` is not decoded by the strict reader (that is the work a rate limit
        saves): only its ``request_id`` is read, by `simutrador_ws.envelope.peek_request_id`.
        """
        outcome = self._queue_error(error, peek_request_id(message, self._max_bytes), _UNREADABLE)
        self._context.metrics.errors[outcome] += 1

    # -- out ---------------------------------------------------------------------------

    def push(self, type_: str, data: Mapping[str, Any]) -> None:
        """Queue a message nobody asked for (``request_id: null``), stamped with the engine's clock."""
        self._outgoing.append(encode_reply(type_, data, None, self._context.engine.clock()))

    def push_error(self, error: SimutradorError) -> None:
        """Queue `error` as an ``error`` message answering no request (token expiry)."""
        self._outgoing.append(self._error_text(error, None, session_operation=False))

    def take_credits(self) -> int:
        """Messages the client has earned beyond the rate limit since the last call: two per tick sent.

        A client in lockstep answers every tick with a ``tick_ack`` (and, when it
        trades, an ``order_batch``); the server's per-connection message rate must not
        throttle what the credit window itself bounds, so the server adds these to
        the connection's bucket.
        """
        credits, self._credits = self._credits, 0
        return credits

    def push_all(self, pushes: Iterable[Push]) -> None:
        """Queue `pushes` (a simulation's ticks from the server's pump or timers)."""
        now = self._context.engine.clock()
        for push in pushes:
            if push.type == "tick":
                self._credits += 2
            self._outgoing.append(encode_reply(push.type, push.data, None, now))

    def next_outgoing(self) -> str | None:
        """The next message to send, or None when nothing is queued."""
        return self._outgoing.popleft() if self._outgoing else None

    def outgoing(self) -> list[str]:
        """Every queued message, in order; the queue is left empty."""
        texts = list(self._outgoing)
        self._outgoing.clear()
        return texts

    # -- rendering ---------------------------------------------------------------------

    def _answer(self, route: Route[Any], answer: Mapping[str, Any] | Emit, request_id: str | None) -> None:
        now = self._context.engine.clock()
        if not isinstance(answer, Emit):
            self._outgoing.append(encode_reply(route.reply_type, answer, request_id, now))
            return
        outgoing = self._outgoing
        for push in answer.first:
            outgoing.append(encode_reply(push.type, push.data, None, now))
        if answer.reply is not None:
            outgoing.append(encode_reply(answer.reply_type or route.reply_type, answer.reply, request_id, now))
        for push in answer.then:
            if push.type == "tick":
                self._credits += 2
            outgoing.append(encode_reply(push.type, push.data, None, now))

    def _queue_error(self, error: SimutradorError, request_id: str | None, kind: str) -> str:
        """Queue `error` as the answer to one request; returns the outcome (the code sent)."""
        route = self._routes.get(kind)
        session_operation = route is not None and route.session_operation
        self._outgoing.append(self._error_text(error, request_id, session_operation=session_operation))
        return error.code.value

    def _error_text(self, error: SimutradorError, request_id: str | None, *, session_operation: bool) -> str:
        payload = error.to_dict()
        payload["failed_request_id"] = request_id
        return encode_reply(
            "session_error" if session_operation else "error", payload, request_id, self._context.engine.clock()
        )

    def _ready(self) -> dict[str, Any]:
        engine, identity, settings = self._context.engine, self._context.identity, self._settings
        limits = engine.limits_for(identity.plan)
        session = engine.settings.session
        duration = limits.max_simulation_duration
        duration_sec = None if duration is None else int(duration.total_seconds())
        return {
            "user_id": identity.user_id,
            "plan": identity.plan.value,
            "server_time": format_datetime(engine.clock()),
            "connection_expires_at": format_datetime(identity.expires_at),
            "idle_timeout_sec": int(settings.idle_timeout),  # whole seconds (rounded down), as core's model reads it
            "max_simulation_duration_sec": duration_sec,  # also in limits; top-level for the original clients
            "concurrent_connections_limit": limits.websocket_connections,
            "limits": {
                "max_live_sessions": limits.max_live_sessions,
                "sessions_per_hour": limits.sessions_per_hour,
                "max_symbols_per_session": limits.max_symbols,
                "websocket_connections": limits.websocket_connections,
                "orders_per_minute": limits.orders_per_minute,
                "max_simulation_duration_sec": duration_sec,
                "max_bars_per_session": limits.max_bars_per_session,
                "min_initial_capital": str(session.min_initial_capital),
                "max_initial_capital": str(session.max_initial_capital),
                "session_timeout_minutes": session.session_timeout_minutes,
                "max_message_bytes": self._max_bytes,
                "messages_per_second": settings.messages_per_second,
                "message_burst": settings.message_burst,
            },
            "supported_features": supported_types(self._routes, identity),
            "data_provider": engine.catalog.name,
            "protocol_version": PROTOCOL_VERSION,
        }


def _internal_error(kind: str) -> SimutradorError:
    """Log the exception being handled under a new correlation id; the error to send instead."""
    correlation_id = secrets.token_hex(8)
    logger.exception("internal error serving %s (correlation id %s)", kind, correlation_id)
    return SimutradorError(
        ErrorCode.INTERNAL_ERROR, "internal error; quote the correlation id", {"correlation_id": correlation_id}
    )
