"""The envelope codec: strict decoding, the writer, and Hypothesis round trips."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from simutrador_ws.envelope import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Envelope,
    decode,
    decode_json,
    encode_message,
    encode_reply,
    parse_envelope,
    peek_request_id,
    request_id_of,
)

from simutrador import ErrorCode, SimutradorError
from simutrador.testing import DEFAULT_START

BIG = 1 << 22

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)  # JSON text holds no lone surrogates
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
message_types = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64)
request_ids = st.none() | st.text(
    st.characters(exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp", "Zs", "Co", "Cn"]), max_size=128
)


def invalid(message: str | bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> SimutradorError:
    with pytest.raises(SimutradorError) as info:
        decode(message, max_bytes)
    assert info.value.code is ErrorCode.INVALID_MESSAGE
    return info.value


@given(
    kind=message_types,
    data=st.dictionaries(text, json_values, max_size=6),
    request_id=request_ids,
    stamped=st.booleans(),
)
def test_encode_then_decode_gives_the_message_back(
    kind: str, data: dict[str, Any], request_id: str | None, stamped: bool
) -> None:
    envelope = decode(encode_message(kind, data, request_id, DEFAULT_START if stamped else None), BIG)
    assert (envelope.type, envelope.data, envelope.request_id) == (kind, data, request_id)
    assert envelope.timestamp == ("2025-01-02T12:00:00Z" if stamped else None)


@given(st.text(max_size=200))
def test_decode_refuses_arbitrary_text_only_with_invalid_message(message: str) -> None:
    try:
        envelope = decode(message)
    except SimutradorError as error:
        assert error.code is ErrorCode.INVALID_MESSAGE
    else:
        assert isinstance(envelope, Envelope)


@given(json_values)
def test_decode_refuses_any_json_that_is_not_an_envelope_only_with_invalid_message(value: object) -> None:
    text_value = json.dumps(value)
    try:
        decode(text_value)
    except SimutradorError as error:
        assert error.code is ErrorCode.INVALID_MESSAGE


@given(st.binary(max_size=50))
def test_binary_frames_are_refused(message: bytes) -> None:
    assert "binary frames" in invalid(message).message


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "ping", "data": {"x": NaN}}', "NaN is not valid JSON"),
        ('{"type": "ping", "data": {"x": -Infinity}}', "-Infinity is not valid JSON"),
        ('{"type": "ping", "data": {"x": 1e999}}', "number out of range"),
        ('{"type": "ping", "data": {"x": ' + "9" * 31 + "}}", "integer too large"),
        ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
        ('{"type": "ping", "data": {"x": "\\ud800"}}', "lone surrogate"),
        ("[1, 2]", "must be a JSON object"),
        ('{"data": {}}', "type must be a non-empty string"),
        ('{"type": ""}', "type must be a non-empty string"),
        ('{"type": "' + "t" * 65 + '"}', "type must be a non-empty string"),
        ('{"type": "ping", "data": []}', "data must be an object"),
        ('{"type": "ping", "request_id": "' + "r" * 129 + '"}', "request_id must be a string"),
        ('{"type": "ping", "request_id": "a\\nb"}', "request_id must be a string"),
        ('{"type": "ping", "timestamp": 5}', "timestamp must be ISO-8601"),
        ('{"type": "ping", "extra": 1, "more": 2}', "unknown envelope fields: extra, more"),
    ],
)
def test_what_decode_refuses(message: str, fragment: str) -> None:
    assert fragment in invalid(message, BIG).message


def test_field_errors_name_the_field() -> None:
    assert invalid('{"type": "ping", "data": 1}').details == {"fields": ["data"]}
    assert invalid('{"type": "ping", "zzz": 1}').details == {"fields": ["zzz"]}
    assert invalid("[]").details == {}


def test_size_is_counted_in_utf8_bytes() -> None:
    ascii_text = json.dumps({"type": "ping", "data": {"pad": "x" * 63}})
    assert len(ascii_text) == 100
    assert decode(ascii_text, 100).type == "ping"
    assert invalid(ascii_text, 99).details == {"max_message_bytes": 99}
    accented = json.dumps({"type": "ping", "data": {"pad": "é" * 60}}, ensure_ascii=False)
    assert len(accented) < 100 < len(accented.encode())
    assert "larger than 100 bytes" in invalid(accented, 100).message


def test_the_parts_and_the_defaults() -> None:
    assert decode_json('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_envelope({"type": "ping", "data": None, "request_id": None, "timestamp": None}) == Envelope(
        type="ping", data={}
    )
    stamped = decode('{"type": "ping", "timestamp": "2025-06-02T09:30:00+00:00"}')
    assert stamped.timestamp == "2025-06-02T09:30:00+00:00"
    assert request_id_of('{"type": "ping", "request_id": "r7"}') == "r7"
    assert request_id_of('{"type": 5, "request_id": "r7"}') is None
    assert request_id_of(b"\x00") is None


def test_the_writer_is_compact_and_type_first() -> None:
    assert encode_message("session_deleted", {"session_id": "s-1"}, "r5", DEFAULT_START) == (
        '{"type":"session_deleted","data":{"session_id":"s-1"},"request_id":"r5","timestamp":"2025-01-02T12:00:00Z"}'
    )
    with pytest.raises(TypeError):
        encode_message("x", {"n": 2**70})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('{"type": "ping", "request_id": "r7", "data": {"x": [1, 2]}}', "r7"),
        ('{"type": 5, "request_id": "r7"}', "r7"),  # not a valid envelope, yet its id can be read
        ('{"request_id": "r7"', None),  # not JSON
        ("[1, 2]", None),
        ('{"request_id": 7}', None),
        ('{"request_id": "' + "x" * 129 + '"}', None),
        ('{"request_id": "a\\nb"}', None),
        (b'{"request_id": "r7"}', None),  # binary frames are never read
        ('{"request_id": "r7", "pad": "' + "x" * 300 + '"}', None),  # over the size limit: not read
    ],
)
def test_peek_request_id_reads_only_the_id(message: str | bytes, expected: str | None) -> None:
    assert peek_request_id(message, 300) == expected


def test_encode_reply_cannot_fail(caplog: pytest.LogCaptureFixture) -> None:
    deep: object = 1
    for _ in range(100):
        deep = [deep]

    class Unshowable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    data = {
        "n": 2**70,
        "negative": -(2**63) - 1,
        "fine": 2**64 - 1,
        "price": Decimal("1.50"),
        "at": DEFAULT_START,
        "naive": datetime(2025, 1, 2, 12, 0),
        3: "a key that is not text",
        "deep": deep,
        "odd": Unshowable(),
        "huge": 10**5000,
        "many": (1, "x", None, True, 1.5),
    }
    with caplog.at_level(logging.WARNING, logger="simutrador_ws.envelope"):
        written = json.loads(encode_reply("session_status", data, "r1"))
    assert caplog.records[0].getMessage().startswith("session_status held a value JSON cannot carry")
    sent = written["data"]
    assert (sent["n"], sent["negative"], sent["fine"]) == (str(2**70), str(-(2**63) - 1), 2**64 - 1)
    assert (sent["price"], sent["at"], sent["naive"], sent["3"]) == (
        "1.50",
        "2025-01-02T12:00:00Z",
        "2025-01-02 12:00:00",
        "a key that is not text",
    )
    depth, node = 0, sent["deep"]
    while isinstance(node, list):
        depth, node = depth + 1, node[0]
    assert (depth, node) == (63, "<nested too deeply>")
    assert sent["odd"] == "<Unshowable>"
    assert sent["huge"] == "<integer of about 5001 digits>"
    assert sent["many"] == [1, "x", None, True, 1.5]
    assert encode_reply("pong", {"ok": 1}) == encode_message("pong", {"ok": 1})  # the common case: orjson as is
