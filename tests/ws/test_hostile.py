"""Attacks on a real server on 127.0.0.1 (issue 13), each bounded in count and time, each now refused.

Every test reproduces one attack found by an adversarial run of ``simutrador serve`` and
checks the server's answer to it and that a well-behaved client is still served.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import trio
from wsproto.events import Ping, TextMessage

from tests.ws.harness import CREATE, Harness, RawClient, fast_settings, raw_http, refused, running_server

pytestmark = pytest.mark.anyio

LIMIT = 20  # seconds: every test is capped


def create_with_symbols(symbols_json: str) -> str:
    """A create_session message whose ``symbols`` is `symbols_json`, written by hand (json.dumps would recurse)."""
    fields = json.dumps({k: v for k, v in CREATE.items() if k != "symbols"})
    return '{"type": "create_session", "data": ' + fields[:-1] + ', "symbols": ' + symbols_json + "}}"


async def test_deeply_nested_symbols_are_validation_failed_not_an_internal_error() -> None:
    """Defect 7: ``symbols`` nested ~975 deep made the validator's ``repr`` recurse (INTERNAL_ERROR)."""
    with trio.fail_after(LIMIT):
        async with running_server() as harness, harness.connect() as client:
            outcomes: dict[int, str] = {}
            for depth in range(900, 1001, 5):  # around the JSON reader's nesting limit on the server's stack
                reply = await client.raw(create_with_symbols("[" * (depth + 1) + '"AAPL"' + "]" * (depth + 1)))
                outcomes[depth] = reply["data"]["error_code"]
                if outcomes[depth] == "VALIDATION_FAILED":
                    assert reply["data"]["message"].startswith("symbols must be a list of strings: item 0 is list")
            assert set(outcomes.values()) <= {"VALIDATION_FAILED", "INVALID_MESSAGE"}, outcomes
            assert outcomes[900] == "VALIDATION_FAILED"
            as_object = await client.request("create_session", {**CREATE, "symbols": {"AAPL": 1}})
            assert as_object["data"]["error_code"] == "VALIDATION_FAILED"
            assert "symbols must be a list of strings" in as_object["data"]["message"]
            assert (await client.request("list_sessions"))["data"]["sessions"] == []


async def test_an_integer_beyond_64_bits_in_metadata_is_refused_and_nothing_is_stored() -> None:
    """Defect 3: it was stored, then every reply holding it failed (INTERNAL_ERROR) and its live slot stuck."""
    with trio.fail_after(LIMIT):
        async with running_server() as harness, harness.connect() as client:
            for value in (2**64, -(2**63) - 1, 10**29):
                text = json.dumps(
                    {"type": "create_session", "request_id": "big", "data": {**CREATE, "metadata": {"n": value}}}
                )
                refused = await client.raw(text)
                assert (refused["type"], refused["data"]["error_code"]) == ("session_error", "VALIDATION_FAILED")
                assert "integers must fit in 64 bits" in refused["data"]["message"]
            assert harness.server.engine.live_session_count == 0
            fine = await client.request("create_session", {**CREATE, "metadata": {"n": 2**63 - 1, "m": str(2**70)}})
            session_id = fine["data"]["session_id"]
            listed = await client.request("list_sessions")
            assert listed["data"]["sessions"][0]["metadata"] == {"n": 2**63 - 1, "m": str(2**70)}
            assert (await client.request("delete_session", {"session_id": session_id}))["type"] == "session_deleted"


def signed(harness: Harness, **claims: Any) -> str:
    """A token signed with the server's own secret: only its claims are hostile."""
    now = int(datetime.now(UTC).timestamp())
    payload: dict[str, Any] = {"sub": "mallory", "iat": now, "exp": now + 3600, "aud": harness.auth.jwt_audience}
    payload.update(claims)
    return jwt.encode(payload, harness.auth.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 10**13}, b"token expiry (exp) is out of range"),  # dropped the connection with no status
        ({"exp": "9999999999"}, b"token expiry (exp) must be a number of seconds since 1970"),  # was accepted
        (
            {"nbf": int((datetime.now(UTC) + timedelta(hours=1)).timestamp())},
            b"token not valid yet: its nbf (not before) is in the future",
        ),
        (
            {"iat": int((datetime.now(UTC) + timedelta(hours=1)).timestamp())},
            b"token issued in the future (iat); check the issuer's clock",
        ),
        ({"sub": "  "}, b"token subject must be 1-128 printable characters, not only spaces"),
    ],
)
async def test_signed_tokens_with_hostile_claims_get_401_with_a_reason(claims: dict[str, Any], reason: bytes) -> None:
    """Defect 5 (and the whitespace ``sub``, future ``nbf``/``iat``): every one a 401 that says why."""
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            rejection = await refused(harness.port, "/ws/simulate?token=" + signed(harness, **claims))
            assert (rejection.status_code, rejection.body) == (401, reason)
            async with harness.connect() as client:  # and the server serves the next client
                assert (await client.request("ping"))["type"] == "pong"


def upgrade(target: str, *headers: bytes) -> bytes:
    """A WebSocket upgrade request written by hand, with any headers (malformed ones included)."""
    lines = [
        f"GET {target} HTTP/1.1".encode(),
        *headers,
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def reset_after(port: int, payload: bytes, *, read_first: bool = False) -> None:
    """Send `payload` and abort the TCP connection with a reset (SO_LINGER 0), as a hostile client does."""
    sock = trio.socket.socket()
    await sock.connect(("127.0.0.1", port))
    await sock.send(payload)
    if read_first:
        await sock.recv(1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_unauthenticated_clients_cannot_flood_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """Defect 4: a bad Host header or a reset during the handshake logged a full ERROR traceback each."""
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            token = harness.token()
            for _ in range(20):
                answer = await raw_http(
                    harness.port, upgrade(f"/ws/simulate?token={token}", b"Host: \xff\xfe"), read_for=2
                )
                assert answer == b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
                await reset_after(harness.port, upgrade(f"/ws/simulate?token={token}", b"Host: x"))
                await reset_after(harness.port, upgrade("/ws/simulate?token=bad", b"Host: x"))
            with trio.fail_after(5):
                while harness.server.open_connections or harness.server.metrics.handshakes_refused["auth"] < 20:
                    await trio.sleep(0.02)
            async with harness.connect() as client:
                assert (await client.request("ping"))["type"] == "pong"
    assert loud(caplog) == []
    assert any(r.levelno == logging.DEBUG and r.name == "simutrador_ws.server" for r in caplog.records)


async def test_an_unexpected_failure_is_one_warning_a_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(LIMIT):
        async with running_server() as harness:

            def broken(*_args: Any) -> Any:
                raise RuntimeError("a bug in the handshake")

            monkeypatch.setattr(harness.server, "_admit", broken)
            for _ in range(10):
                assert await raw_http(harness.port, upgrade(harness.target(), b"Host: x"), read_for=2) == b""
    (warning,) = loud(caplog)
    assert warning.getMessage().startswith("connection failed: RuntimeError: a bug in the handshake (0 more failures")
    assert warning.exc_info is not None  # its traceback, once
    later = [r for r in caplog.records if r.levelno == logging.DEBUG and r.getMessage() == "connection failed"]
    assert len(later) == 9


async def test_refusals_carry_a_reason_phrase_and_duplicate_credentials_are_refused() -> None:
    with trio.fail_after(LIMIT):
        async with running_server(settings=fast_settings(allowed_origins=("https://app.example",))) as harness:
            unauthorized = await raw_http(harness.port, upgrade("/ws/simulate", b"Host: x"), read_for=2)
            assert unauthorized.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
            assert unauthorized.endswith(b"\r\n\r\nmissing token")
            bearer = f"Authorization: Bearer {harness.token()}".encode()
            for headers in (
                (b"Host: x", bearer, b"Authorization: Bearer " + harness.token("mallory").encode()),
                (b"Host: x", b"Origin: https://app.example", b"Origin: https://evil.example"),
            ):
                answer = await raw_http(harness.port, upgrade(harness.target(), *headers), read_for=2)
                name = headers[1].split(b":")[0]
                assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
                assert answer.endswith(b"more than one " + name + b" header")
            assert harness.server.metrics.handshakes_refused["duplicate_header"] == 2


async def idle_connections(port: int, source: str, count: int) -> list[trio.SocketStream]:
    """`count` TCP connections from the loopback address `source` that never send a byte."""
    return [await trio.open_tcp_stream("127.0.0.1", port, local_address=source) for _ in range(count)]


async def test_idle_connections_cannot_lock_others_out_before_authenticating() -> None:
    """Defect 1: 10,100 idle TCP connections from one address filled every slot (1 of 17 good clients got in).

    Here the server has room for 100 + 150 connections (established + handshakes): 300 idle
    connections from one address, then 10 addresses x 8 (more than the pending budget), all held
    open; a good client from another address connects ten times, and gets in each time.
    """
    settings = fast_settings(
        handshake_timeout=10.0,  # the production deadline: the idle ones stay for the whole test
        max_connections=100,
        handshake_burst=150,
        max_connections_per_ip=20,
        max_pending_handshakes_per_ip=8,
        max_pending_handshakes=32,
    )
    held: list[trio.SocketStream] = []
    with trio.fail_after(LIMIT):
        async with running_server(settings=settings) as harness:
            server = harness.server
            try:
                held += await idle_connections(harness.port, "127.0.0.2", 300)
                for source in range(3, 13):
                    held += await idle_connections(harness.port, f"127.0.0.{source}", 8)
                await trio.sleep(0.5)  # every one accepted
                for attempt in range(10):
                    with trio.fail_after(2):
                        async with harness.connect(f"good-{attempt}") as client:
                            assert (await client.request("ping"))["type"] == "pong"
                refused = server.metrics.handshakes_refused
                assert refused["ip_pending"] == 300 - 8  # closed at accept: not one byte read
                assert refused["shed"] == 8 + 10 * 8 - 32 + 1  # the oldest pending made room (for one good client too)
                assert server.pending_handshakes == 31  # the budget, less the last good one, now established
                assert server.metrics.connections_opened == 10
            finally:
                for stream in held:
                    await trio.aclose_forcefully(stream)


def big_message(request_id: str) -> str:
    """A 58 KB array of integers: the most work per byte for the strict JSON reader."""
    numbers = ",".join(str((i * 7919) % 10_000) for i in range(12_000))
    return f'{{"type": "ping", "request_id": "{request_id}", "data": {{"x": [{numbers}]}}}}'


class CountingDecode:
    """Wraps the server's strict JSON reader, counting the texts it reads (`big`: those over 10 KB)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from simutrador_ws import envelope

        self.calls = 0
        self.big = 0
        self._loads = envelope.loads_json
        monkeypatch.setattr(envelope, "loads_json", self)

    def __call__(self, text: str) -> Any:
        self.calls += 1
        self.big += len(text) > 10_000
        return self._loads(text)


async def test_messages_over_the_rate_limit_are_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 2: a rate-limited message was still fully parsed (a 58 KB array of integers: ~15 ms each)."""
    decoded = CountingDecode(monkeypatch)
    with trio.fail_after(LIMIT):
        async with (
            running_server(settings=fast_settings(messages_per_second=1, message_burst=2)) as harness,
            harness.connect() as client,
        ):
            for i in range(6):
                await client.ws.send_message(big_message(f"big-{i}"))
            replies = [await client.receive() for _ in range(6)]
            codes = [r["data"]["error_code"] for r in replies]  # a ping has no data: the served two are refused
            assert codes == ["VALIDATION_FAILED"] * 2 + ["RATE_LIMIT_EXCEEDED"] * 4
            assert [r["request_id"] for r in replies] == [f"big-{i}" for i in range(6)]  # echoed, though unread
            assert decoded.calls == 2


async def test_floods_are_read_no_faster_than_the_address_budget_and_others_are_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defect 2: 20 connections of 58 KB messages, pings and empty continuation frames, from one address.

    The server reads from that address no faster than its budget (a 4 KiB read ahead per connection
    at most); a client from another address has every ping answered meanwhile.
    """
    decoded = CountingDecode(monkeypatch)
    settings = fast_settings(receive_bytes_per_second=256 * 1024, receive_burst_bytes=256 * 1024)
    flood_seconds = 1.5
    with trio.fail_after(LIMIT):
        async with running_server(settings=settings) as harness:
            attackers = [
                await RawClient.open(harness.port, harness.target(f"flood-{i}"), source="127.0.0.2") for i in range(20)
            ]
            sent = {"big": 0, "ping": 0, "continuation": 0}

            async def flood(raw: RawClient, index: int) -> None:
                kind = ("big", "ping", "continuation")[index % 3]
                chunk = {
                    "big": lambda: raw.conn.send(TextMessage(data=big_message("flood"))),
                    "ping": lambda: raw.frames(Ping(payload=b"p"), 1000),
                    "continuation": lambda: raw.frames(TextMessage(data="", message_finished=False), 1000),
                }[kind]()
                with trio.move_on_after(flood_seconds):
                    while True:
                        await raw.stream.send_all(chunk)
                        sent[kind] += 1

            async def drain(raw: RawClient) -> None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while await raw.stream.receive_some(65536):
                        pass

            round_trips: list[float] = []
            async with trio.open_nursery() as nursery:
                for index, raw in enumerate(attackers):
                    nursery.start_soon(flood, raw, index)
                    nursery.start_soon(drain, raw)
                async with harness.connect("good") as good:
                    ends = trio.current_time() + flood_seconds
                    while trio.current_time() < ends:
                        started = trio.current_time()
                        assert (await good.request("ping"))["type"] == "pong"
                        round_trips.append(trio.current_time() - started)
                        await trio.sleep(0.025)
                for raw in attackers:
                    await trio.aclose_forcefully(raw.stream)
                nursery.cancel_scope.cancel()
            budget_bytes = 256 * 1024 * (1 + flood_seconds + 1)  # burst + the flood + slack for the last reads
            read_ahead = 20 * 4096  # at most one read per connection beyond the budget
            assert decoded.big <= (budget_bytes + read_ahead) / len(big_message("flood")) + 1
            assert harness.server.metrics.receive_waits > 0
            assert len(round_trips) >= 20
            assert max(round_trips) < 0.5, sorted(round_trips)[-5:]
