"""The wire envelope, both ways: JSON text ⇄ `Envelope`, and the WebSocket close codes.

Every message is ``{"type", "data", "request_id", "timestamp"}``. `decode` is the one
strict reader used by every side of the wire (the server for requests, the client SDK
for replies, the bench load generator): binary frames, oversized text and anything
that is not strict JSON (the core's `simutrador.codec.loads_json`: no NaN/Infinity,
numbers that overflow, integers over 30 digits or nesting too deep; and no lone
surrogates) or not a well-formed envelope raise ``INVALID_MESSAGE``, and nothing else.
`encode_message` is the one writer: compact, ``type`` first, by orjson.

No I/O and no state: `simutrador_ws.connection` and the client feed it text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import IntEnum
from typing import Any, Final, cast

import attrs
import orjson

from simutrador import ErrorCode, SimutradorError
from simutrador.codec import ParseError, format_datetime, loads_json

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "CloseCode",
    "Envelope",
    "decode",
    "decode_json",
    "encode_message",
    "encode_reply",
    "peek_request_id",
    "parse_envelope",
    "request_id_of",
]

PROTOCOL_VERSION: Final = "2.0"
"""Sent in ``connection_ready``."""

DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024
"""The server's default ``max_message_bytes``."""

logger = logging.getLogger(__name__)

_FIELDS: Final = frozenset({"type", "data", "request_id", "timestamp"})
_MAX_TYPE: Final = 64
_MAX_REQUEST_ID: Final = 128
_MAX_TIMESTAMP: Final = 64


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
    """One message: what it is, its payload, and the caller's correlation id.

    Attributes:
        type: The message type (``create_session``, ``session_created``...).
        data: The payload (``{}`` when the message had none).
        request_id: The caller's correlation id, echoed by every reply; None for
            messages nobody asked for.
        timestamp: When the sender stamped it (ISO-8601), if it did.
    """

    type: str
    data: Mapping[str, Any]
    request_id: str | None = None
    timestamp: str | None = None


def _invalid(message: str, fields: list[str] | None = None) -> SimutradorError:
    return SimutradorError(ErrorCode.INVALID_MESSAGE, message, {"fields": fields} if fields else None)


def decode_json(message: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> object:
    """Strictly parse one text message into plain JSON values.

    Raises:
        SimutradorError: ``INVALID_MESSAGE`` for binary frames, text larger than
            `max_bytes` (in UTF-8), and anything that is not strict JSON.
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
        value = loads_json(message)  # the core's one strict JSON reader
        if "\\u" in message and not _encodable(value):
            raise _invalid("JSON contains a lone surrogate")
    except ParseError as exc:
        raise _invalid(str(exc)) from None
    return value


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    except RecursionError:  # nested just below the reader's limit: too deep all the same
        raise ParseError("JSON nested too deeply") from None
    return True


def parse_envelope(value: object) -> Envelope:
    """Check a decoded message's shape and return it as an `Envelope`.

    Raises:
        SimutradorError: ``INVALID_MESSAGE`` naming what is wrong (``details.fields``).
    """
    if not isinstance(value, dict):
        raise _invalid("a message must be a JSON object")
    fields: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
    extra = sorted(str(k) for k in fields if k not in _FIELDS)
    if extra:
        raise _invalid(f"unknown envelope fields: {', '.join(extra)}", extra)
    kind = fields.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > _MAX_TYPE:
        raise _invalid("type must be a non-empty string", ["type"])
    data = fields.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _invalid("data must be an object", ["data"])
    request_id = fields.get("request_id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > _MAX_REQUEST_ID or not request_id.isprintable()
    ):
        raise _invalid("request_id must be a string of at most 128 printable characters", ["request_id"])
    stamp = fields.get("timestamp")
    if stamp is not None and (not isinstance(stamp, str) or len(stamp) > _MAX_TIMESTAMP or not _is_iso(stamp)):
        raise _invalid("timestamp must be ISO-8601 or null", ["timestamp"])
    return Envelope(type=kind, data=data, request_id=request_id, timestamp=stamp)  # pyright: ignore[reportUnknownArgumentType]


def _is_iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def decode(message: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Envelope:
    """One received message as an `Envelope` (`decode_json`, then `parse_envelope`).

    Raises:
        SimutradorError: ``INVALID_MESSAGE``, and never anything else.

    Example:
        >>> decode('{"type": "ping", "request_id": "r1"}')
        Envelope(type='ping', data={}, request_id='r1', timestamp=None)
    """
    return parse_envelope(decode_json(message, max_bytes))


def request_id_of(message: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> str | None:
    """The ``request_id`` of `message` when it has a readable one, else None (never raises)."""
    try:
        return decode(message, max_bytes).request_id
    except SimutradorError:
        return None


def peek_request_id(message: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> str | None:
    """The top-level ``request_id`` of `message`, read without the strict checks; None when none can be read.

    For answering a message the server refuses unread (its rate limit): orjson reads
    it in a fraction of the strict reader's time (a 58 KB array of integers: about
    0.3 ms instead of 3.4), and what it cannot read has no request_id to echo. Never
    raises.

    Example:
        >>> peek_request_id('{"type": "ping", "request_id": "r7"}'), peek_request_id("[1]")
        ('r7', None)
    """
    if isinstance(message, bytes) or len(message) > max_bytes:
        return None
    try:
        value = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    found = cast("dict[str, object]", value).get("request_id")
    if isinstance(found, str) and len(found) <= _MAX_REQUEST_ID and found.isprintable():
        return found
    return None


def encode_message(
    type_: str, data: Mapping[str, Any], request_id: str | None = None, timestamp: datetime | None = None
) -> str:
    """One outgoing message as compact JSON text, ``type`` first.

    Encoded by orjson (several times faster than the standard library on messages of
    a kilobyte). `data` must hold only JSON values: str keys, finite floats, integers
    within 64 bits (orjson writes a NaN float as ``null``: callers never pass one).

    Raises:
        TypeError: (``orjson.JSONEncodeError``) for values JSON cannot hold.

    Example:
        >>> encode_message("ping", {}, "r1")
        '{"type":"ping","data":{},"request_id":"r1","timestamp":null}'
    """
    envelope = {
        "type": type_,
        "data": data,
        "request_id": request_id,
        "timestamp": None if timestamp is None else format_datetime(timestamp),
    }
    return orjson.dumps(envelope).decode()


def encode_reply(
    type_: str, data: Mapping[str, Any], request_id: str | None = None, timestamp: datetime | None = None
) -> str:
    """`encode_message` that cannot fail: the server's writer for replies and pushes.

    A reply often reports a change the engine has already committed (a session
    created, deleted): failing to write it would leave the client unaware of its own
    change. Values orjson cannot write (an integer beyond 64 bits stored before such
    values were refused, a `Decimal` or `datetime` a route forgot to convert) are
    written as text, the way the codec writes them, and a WARNING names the message
    type: it is a bug to fix, not a reason to lose the reply.

    Example:
        >>> encode_reply("session_status", {"n": 2**70})
        '{"type":"session_status","data":{"n":"1180591620717411303424"},"request_id":null,"timestamp":null}'
    """
    try:
        return encode_message(type_, data, request_id, timestamp)
    except TypeError as exc:
        logger.warning("%s held a value JSON cannot carry (%s); sent it as text", type_, exc)
        return encode_message(type_, _wire_safe(data, 0), request_id, timestamp)


_MIN_WIRE_INT: Final = -(2**63)
_MAX_WIRE_INT: Final = 2**64 - 1
_MAX_SAFE_DEPTH: Final = 64


def _wire_safe(value: Any, depth: int) -> Any:
    """`value` with everything orjson cannot write turned into text (bounded in depth, never raises)."""
    if value is None or isinstance(value, (bool, str, float)):
        return value  # orjson writes a non-finite float as null
    if isinstance(value, int):
        return value if _MIN_WIRE_INT <= value <= _MAX_WIRE_INT else _int_text(value)
    if depth >= _MAX_SAFE_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return {str(key): _wire_safe(item, depth + 1) for key, item in items}
    if isinstance(value, (list, tuple)):
        return [_wire_safe(item, depth + 1) for item in cast("Sequence[object]", value)]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return format_datetime(value)
    try:
        return str(value)
    except Exception:  # a value that cannot even be shown
        return f"<{type(value).__name__}>"


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts by default
        return f"<integer of about {value.bit_length() * 30103 // 100000 + 1} digits>"
