"""The wire protocol, sans I/O: text in, `Engine` call, text out.

`ServerProtocol.handle` takes one client message (already received) and returns the
one reply to send. It owns strict JSON decoding (no NaN/Infinity, no numbers that
overflow, no huge integers, no deep nesting, no lone surrogates), the envelope
``{type, data, request_id, timestamp}``, the routing table `ROUTES` (message type →
payload model, engine call, reply type), and rendering `SimutradorError` as
``session_error`` (session operations) or ``error`` (protocol problems). A bug in a
handler becomes ``INTERNAL_ERROR`` with a correlation id, for that request only.
The server (`simutrador_ws.server`) owns the sockets; the client reuses the codec.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import IntEnum
from typing import Any, Final

import attrs
import orjson

from simutrador.codec import format_datetime, session_params_from_wire, session_to_wire, structure
from simutrador.engine import Engine
from simutrador.errors import ErrorCode, SimutradorError
from simutrador_ws.auth import Identity

__all__ = [
    "PROTOCOL_VERSION",
    "ROUTES",
    "CloseCode",
    "Envelope",
    "Metrics",
    "Reply",
    "ServerProtocol",
    "decode_json",
    "encode_message",
]

logger = logging.getLogger(__name__)

PROTOCOL_VERSION: Final = "2.0"
_MAX_REQUEST_ID: Final = 128
_MAX_INT_DIGITS: Final = 30


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (4xxx are application codes)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TOKEN_EXPIRED = 4001
    IDLE_TIMEOUT = 4002
    SLOW_CONSUMER = 4003
    HEARTBEAT_TIMEOUT = 4004


@attrs.frozen(kw_only=True, slots=True)
class Envelope:
    """One message: what it is, its payload, and the caller's correlation id."""

    type: str
    data: Mapping[str, Any]
    request_id: str | None = None
    timestamp: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class Reply:
    """What to send back for one message, and what to log about it.

    Attributes:
        text: The JSON text to send.
        request_type: The ``type`` received (``?`` when unreadable).
        request_id: The ``request_id`` received, if any.
        outcome: ``ok`` or the error code.
        seconds: How long serving it took.
    """

    text: str
    request_type: str
    request_id: str | None
    outcome: str
    seconds: float = 0.0


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError("integer too large")
    return int(text)


_DECODER: Final = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float, parse_int=_bounded_int)
# built once: json.loads with options builds a new decoder on every call


def _invalid(message: str) -> SimutradorError:
    return SimutradorError(ErrorCode.INVALID_MESSAGE, message)


def decode_json(message: str | bytes, max_bytes: int) -> object:
    """Strictly parse one text message.

    Raises:
        SimutradorError: ``INVALID_MESSAGE`` for binary frames, oversized text, and
            anything that is not strict JSON.
    """
    if isinstance(message, bytes):
        raise _invalid("binary frames are not supported; send JSON text")
    if len(message) > max_bytes or (
        len(message) * 4 > max_bytes and len(message.encode("utf-8", "replace")) > max_bytes
    ):
        raise SimutradorError(
            ErrorCode.INVALID_MESSAGE, f"message larger than {max_bytes} bytes", {"max_message_bytes": max_bytes}
        )
    try:
        value = _DECODER.decode(message)
    except RecursionError:
        raise _invalid("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and the parse hooks' errors
        raise _invalid(f"not valid JSON: {exc}") from None
    if "\\u" in message and not _encodable(value):
        raise _invalid("JSON contains a lone surrogate")
    return value


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode_message(type_: str, data: Mapping[str, Any], request_id: str | None, now: datetime) -> str:
    """One outgoing message as compact JSON, ``type`` first.

    Encoded by orjson (several times faster than the standard library on replies of a
    kilobyte). Replies never hold NaN or infinities: every float comes from validated
    settings, clocks or strictly decoded client data.
    """
    envelope = {"type": type_, "data": data, "request_id": request_id, "timestamp": format_datetime(now)}
    return orjson.dumps(envelope).decode()


def parse_envelope(value: object) -> Envelope:
    """Check the envelope's shape.

    Raises:
        SimutradorError: ``INVALID_MESSAGE`` naming what is wrong.
    """
    if not isinstance(value, dict):
        raise _invalid("a message must be a JSON object")
    fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    extra = sorted(str(k) for k in fields if k not in ("type", "data", "request_id", "timestamp"))
    if extra:
        raise SimutradorError(
            ErrorCode.INVALID_MESSAGE, f"unknown envelope fields: {', '.join(extra)}", {"fields": extra}
        )
    kind = fields.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise SimutradorError(ErrorCode.INVALID_MESSAGE, "type must be a non-empty string", {"fields": ["type"]})
    data = fields.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SimutradorError(ErrorCode.INVALID_MESSAGE, "data must be an object", {"fields": ["data"]})
    request_id = fields.get("request_id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > _MAX_REQUEST_ID or not request_id.isprintable()
    ):
        raise SimutradorError(
            ErrorCode.INVALID_MESSAGE,
            "request_id must be a string of at most 128 printable characters",
            {"fields": ["request_id"]},
        )
    stamp = fields.get("timestamp")
    if stamp is not None and (not isinstance(stamp, str) or len(stamp) > 64 or not _is_iso(stamp)):
        raise SimutradorError(
            ErrorCode.INVALID_MESSAGE, "timestamp must be ISO-8601 or null", {"fields": ["timestamp"]}
        )
    return Envelope(type=kind, data=data, request_id=request_id, timestamp=stamp)  # pyright: ignore[reportUnknownArgumentType]


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


@attrs.frozen(kw_only=True)
class _SessionRef:
    session_id: Any


@attrs.frozen(kw_only=True)
class _Nothing:
    pass


class Metrics:
    """Counters and latency samples for operators (``server_stats``)."""

    def __init__(self, window: int = 2048) -> None:
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.sessions_created = 0
        self.sessions_failed: Counter[str] = Counter()
        self.connections_opened = 0
        self.connections_open = 0
        self.handshakes_refused: Counter[str] = Counter()
        self.request_seconds: deque[float] = deque(maxlen=window)
        self.validation_seconds: deque[float] = deque(maxlen=window)

    @staticmethod
    def _summary(samples: deque[float]) -> dict[str, float | int]:
        if not samples:
            return {"count": 0}
        ordered = sorted(samples)
        quantiles = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else [ordered[0]] * 99
        return {
            "count": len(ordered),
            "p50_ms": round(quantiles[49] * 1000, 3),
            "p99_ms": round(quantiles[98] * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3),
        }

    def snapshot(self, live_sessions: int) -> dict[str, Any]:
        """Everything as JSON-ready data."""
        return {
            "requests": dict(self.requests),
            "errors": dict(self.errors),
            "sessions_created": self.sessions_created,
            "sessions_failed": dict(self.sessions_failed),
            "live_sessions": live_sessions,
            "connections_open": self.connections_open,
            "connections_opened": self.connections_opened,
            "handshakes_refused": dict(self.handshakes_refused),
            "request_latency": self._summary(self.request_seconds),
            "create_session_latency": self._summary(self.validation_seconds),
        }


Handler = Callable[["ServerProtocol", Identity, Mapping[str, Any]], Mapping[str, Any]]


@attrs.frozen(slots=True)
class Route:
    """How one message type is served.

    Attributes:
        reply_type: The ``type`` of the success reply.
        handler: ``(protocol, identity, data) -> reply data``.
        session_operation: Errors are ``session_error`` (else ``error``).
        admin_only: Only tokens with ``admin: true`` may call it.
    """

    reply_type: str
    handler: Handler
    session_operation: bool = True
    admin_only: bool = False


def _create(protocol: ServerProtocol, identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    started = time.perf_counter()
    try:
        session = protocol.engine.create_session(identity.user_id, session_params_from_wire(data), plan=identity.plan)
    except SimutradorError as error:
        protocol.metrics.sessions_failed[error.code.value] += 1
        raise
    protocol.metrics.validation_seconds.append(time.perf_counter() - started)
    protocol.metrics.sessions_created += 1
    wire = session_to_wire(session)
    return {
        "session_id": session.session_id,
        "status": "created",
        "state": wire["state"],
        "symbols": wire["symbols"],
        "start_date": wire["start_date"],
        "end_date": wire["end_date"],
        "initial_capital": wire["initial_capital"],
        "estimated_ticks": session.estimated_ticks,
        "data_range_actual": wire["data_ranges"],
        "expires_at": wire["expires_at"],
        "session": wire,
    }


def _get(protocol: ServerProtocol, identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = structure(data, _SessionRef)
    return {"session": session_to_wire(protocol.engine.get_session(identity.user_id, ref.session_id))}


def _list(protocol: ServerProtocol, identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    structure(data, _Nothing)
    return {"sessions": [session_to_wire(s) for s in protocol.engine.list_sessions(identity.user_id)]}


def _delete(protocol: ServerProtocol, identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = structure(data, _SessionRef)
    return {"session_id": protocol.engine.delete_session(identity.user_id, ref.session_id).session_id}


def _ping(protocol: ServerProtocol, _identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    structure(data, _Nothing)
    return {"server_time": format_datetime(protocol.engine.clock())}


@attrs.frozen(kw_only=True)
class _SymbolQuery:
    market: Any = None


def _symbols(protocol: ServerProtocol, _identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    query = structure(data, _SymbolQuery)
    if query.market is not None and not isinstance(query.market, str):
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "market must be a string", {"fields": ["market"]})
    catalog = protocol.engine.catalog
    return {
        "data_provider": catalog.name,
        "symbols": [
            {
                "symbol": info.symbol,
                "asset_class": info.asset_class.value,
                "market": info.market,
                "name": info.name,
                "synthetic": info.synthetic,
                "ranges": {
                    tf: {"start": format_datetime(r.start), "end": format_datetime(r.end)}
                    for tf, r in info.ranges.items()
                },
            }
            for info in catalog.symbols(market=query.market)
        ],
    }


def _stats(protocol: ServerProtocol, _identity: Identity, data: Mapping[str, Any]) -> Mapping[str, Any]:
    structure(data, _Nothing)
    return protocol.metrics.snapshot(protocol.engine.sessions.live_session_count)


ROUTES: Final[Mapping[str, Route]] = {
    "create_session": Route("session_created", _create),
    "get_session": Route("session_status", _get),
    "list_sessions": Route("session_list", _list),
    "delete_session": Route("session_deleted", _delete),
    "list_symbols": Route("symbol_list", _symbols, session_operation=False),
    "ping": Route("pong", _ping, session_operation=False),
    "server_stats": Route("server_stats", _stats, session_operation=False, admin_only=True),
}
"""Message type → how it is served. The one dispatch table."""


class ServerProtocol:
    """Turns client messages into engine calls and replies (no I/O).

    Args:
        engine: The engine every request goes to.
        max_message_bytes: Larger messages get ``INVALID_MESSAGE``.
        metrics: Where counters go (a new `Metrics` when None).
    """

    def __init__(self, engine: Engine, *, max_message_bytes: int = 64 * 1024, metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.max_message_bytes = max_message_bytes
        self.metrics = metrics or Metrics()

    def encode(self, type_: str, data: Mapping[str, Any], request_id: str | None = None) -> str:
        """An outgoing message stamped with the engine's clock."""
        return encode_message(type_, data, request_id, self.engine.clock())

    def error_text(
        self, error: SimutradorError, request_id: str | None = None, *, session_operation: bool = False
    ) -> str:
        """`error` rendered as ``session_error`` or ``error``."""
        payload = error.to_dict()
        payload["failed_request_id"] = request_id
        return self.encode("session_error" if session_operation else "error", payload, request_id)

    def request_id_of(self, message: str | bytes) -> str | None:
        """The ``request_id`` of `message` when it has a readable one (for replies to refused messages)."""
        try:
            return parse_envelope(decode_json(message, self.max_message_bytes)).request_id
        except SimutradorError:
            return None

    def connection_ready(self, identity: Identity, *, idle_timeout: float, extra_limits: Mapping[str, Any]) -> str:
        """The first message of every connection."""
        limits = self.engine.limits_for(identity.plan)
        settings = self.engine.settings.session
        return self.encode(
            "connection_ready",
            {
                "user_id": identity.user_id,
                "plan": identity.plan.value,
                "server_time": format_datetime(self.engine.clock()),
                "connection_expires_at": format_datetime(identity.expires_at),
                "idle_timeout_sec": idle_timeout,
                "limits": {
                    "max_live_sessions": limits.max_live_sessions,
                    "sessions_per_hour": limits.sessions_per_hour,
                    "max_symbols_per_session": limits.max_symbols,
                    "max_simulation_span_hours": limits.max_simulation_span_hours,
                    "websocket_connections": limits.websocket_connections,
                    "min_initial_capital": str(settings.min_initial_capital),
                    "max_initial_capital": str(settings.max_initial_capital),
                    "session_timeout_minutes": settings.session_timeout_minutes,
                    "max_message_bytes": self.max_message_bytes,
                    **extra_limits,
                },
                "supported_features": sorted(t for t, r in ROUTES.items() if identity.admin or not r.admin_only),
                "data_provider": self.engine.catalog.name,
                "protocol_version": PROTOCOL_VERSION,
            },
        )

    def handle(self, message: str | bytes, identity: Identity) -> Reply:
        """Serve one client message; always returns a reply, never raises."""
        started = time.perf_counter()
        request_id: str | None = None
        kind = "?"
        route: Route | None = None
        try:
            envelope = parse_envelope(decode_json(message, self.max_message_bytes))
            request_id, kind = envelope.request_id, envelope.type
            route = ROUTES.get(kind)
            if route is None:
                raise SimutradorError(
                    ErrorCode.UNKNOWN_MESSAGE_TYPE,
                    f"unknown message type {kind[:64]!r}",
                    {"supported_types": sorted(t for t, r in ROUTES.items() if identity.admin or not r.admin_only)},
                )
            if route.admin_only and not identity.admin:
                raise SimutradorError(ErrorCode.AUTHENTICATION_FAILED, f"{kind} needs an admin token")
            text = self.encode(route.reply_type, route.handler(self, identity, envelope.data), request_id)
            outcome = "ok"
        except SimutradorError as error:
            text = self.error_text(error, request_id, session_operation=route is not None and route.session_operation)
            outcome = error.code.value
        except Exception:  # a bug: this request fails, the connection and server live on
            correlation_id = secrets.token_hex(8)
            logger.exception("internal error serving %s (correlation id %s)", kind, correlation_id)
            error = SimutradorError(
                ErrorCode.INTERNAL_ERROR, "internal error; quote the correlation id", {"correlation_id": correlation_id}
            )
            text = self.error_text(error, request_id, session_operation=route is not None and route.session_operation)
            outcome = error.code.value
        self.metrics.requests[kind if kind in ROUTES else "?"] += 1
        if outcome != "ok":
            self.metrics.errors[outcome] += 1
        seconds = time.perf_counter() - started
        self.metrics.request_seconds.append(seconds)
        return Reply(text=text, request_type=kind, request_id=request_id, outcome=outcome, seconds=seconds)
