"""The real server on 127.0.0.1 with real clients and JWTs: flows, errors, auth, limits, hardening."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import pytest
import trio
import trio_websocket
from simutrador_ws.envelope import CloseCode

from simutrador import Engine, EngineSettings, Plan
from simutrador.testing import ManualClock
from tests.ws.harness import (
    CREATE,
    RawClient,
    Refused,
    fast_settings,
    forged_token,
    raw_http,
    refused,
    running_server,
)

pytestmark = pytest.mark.anyio

LIMIT = 20  # seconds: every test is capped


def close_code(closed: trio_websocket.ConnectionClosed) -> int:
    assert closed.reason is not None
    return closed.reason.code


def header(rejection: Refused, name: bytes) -> bytes | None:
    return rejection.headers.get(name)


async def test_full_session_flow() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness, harness.connect() as client:
            ready = client.ready["data"]
            assert (ready["user_id"], ready["plan"], ready["protocol_version"]) == ("alice", "professional", "2.0")
            assert ready["limits"]["max_live_sessions"] == 5
            assert {"create_session", "get_session", "list_sessions", "delete_session"} <= set(
                ready["supported_features"]
            )
            assert "server_stats" not in ready["supported_features"]

            created = await client.request(
                "create_session",
                {"symbols": ["aapl", "btcusd"], "start": "2024-03-04", "end": "2024-03-10", "initial_cash": 2500.5},
            )
            assert created["type"] == "session_created"
            body = created["data"]
            assert body["status"] == "created" and body["state"] == "ready"
            assert body["symbols"] == ["AAPL", "BTC-USD"]
            assert body["initial_capital"] == "2500.5"
            assert body["start_date"] == "2024-03-04T00:00:00Z"
            assert body["estimated_ticks"] == 7
            assert body["data_range_actual"]["AAPL"] == {"start": "2016-01-04T00:00:00Z", "end": "2025-12-31T00:00:00Z"}
            session_id = body["session_id"]

            status = await client.request("get_session", {"session_id": session_id})
            assert status["type"] == "session_status"
            assert status["data"]["session"]["session_id"] == session_id
            listed = await client.request("list_sessions")
            assert [s["session_id"] for s in listed["data"]["sessions"]] == [session_id]
            deleted = await client.request("delete_session", {"session_id": session_id})
            assert deleted == {
                **deleted,
                "type": "session_deleted",
                "data": {"session_id": session_id, "message": f"session {session_id} deleted"},
            }
            assert (await client.request("list_sessions"))["data"]["sessions"] == []
            pong = await client.request("ping")
            assert pong["type"] == "pong"
            null_envelope = await client.raw(
                json.dumps({"type": "list_sessions", "data": None, "request_id": None, "timestamp": None})
            )
            assert (null_envelope["type"], null_envelope["request_id"]) == ("session_list", None)


async def test_every_error_code_over_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(LIMIT):
        async with (
            running_server(settings=fast_settings(message_burst=200)) as harness,
            harness.connect(plan=Plan.FREE) as client,
        ):

            async def code_of(type_: str, data: Any = None) -> tuple[str, dict[str, Any]]:
                reply = await client.request(type_, data)
                assert reply["type"] in ("session_error", "error"), reply
                return reply["data"]["error_code"], reply

            code, reply = await code_of("create_session", {**CREATE, "symbols": ["APPL"], "end_date": "2024-03-04"})
            assert code == "INVALID_SYMBOL" and reply["type"] == "session_error"
            assert reply["data"]["details"]["problems"][0]["suggestions"]["APPL"][0] == "AAPL"
            assert reply["data"]["failed_request_id"] == reply["request_id"]
            code, reply = await code_of(
                "create_session", {**CREATE, "symbols": ["ABNB"], "start_date": "2020-12-01", "end_date": "2020-12-01"}
            )
            assert code == "INVALID_DATE_RANGE"
            assert (
                reply["data"]["details"]["problems"][0]["symbols"]["ABNB"]["available_start"]
                == "2020-12-10T00:00:00+00:00"
            )
            assert (await code_of("create_session", {**CREATE, "end_date": "2024-03-04", "initial_capital": 10}))[
                0
            ] == "INSUFFICIENT_CAPITAL"
            assert (await code_of("create_session", {**CREATE, "bogus": 1}))[0] == "VALIDATION_FAILED"
            assert (await code_of("create_session", {**CREATE, "initial_capital": True}))[0] == "VALIDATION_FAILED"
            assert (await code_of("get_session", {"session_id": "nope"}))[0] == "SESSION_NOT_FOUND"
            assert (await code_of("teleport"))[0] == "UNKNOWN_MESSAGE_TYPE"
            assert (await code_of("server_stats"))[0] == "AUTHENTICATION_FAILED"
            one_day = {**CREATE, "symbols": ["SPY"], "end_date": "2024-03-04"}
            first = await client.request("create_session", one_day)
            assert first["type"] == "session_created"
            assert (await code_of("create_session", one_day))[0] == "SESSION_LIMIT_EXCEEDED"
            for _ in range(4):  # the free plan allows 5 sessions per hour
                await client.request(
                    "delete_session",
                    {"session_id": (await client.request("list_sessions"))["data"]["sessions"][0]["session_id"]},
                )
                assert (await client.request("create_session", one_day))["type"] == "session_created"
            await client.request(
                "delete_session",
                {"session_id": (await client.request("list_sessions"))["data"]["sessions"][0]["session_id"]},
            )
            code, reply = await code_of("create_session", one_day)
            assert code == "RATE_LIMIT_EXCEEDED" and reply["data"]["retry_after_ms"] > 0
            bad = await client.raw("{not json")
            assert (bad["type"], bad["data"]["error_code"]) == ("error", "INVALID_MESSAGE")

            def explode(*_args: Any, **_kwargs: Any) -> Any:
                raise RuntimeError("bug")

            monkeypatch.setattr(harness.server.engine, "list_sessions", explode)
            code, reply = await code_of("list_sessions")
            assert code == "INTERNAL_ERROR" and len(reply["data"]["details"]["correlation_id"]) == 16
            assert (await client.request("ping"))["type"] == "pong"  # the connection survives the bug


async def test_two_users_are_isolated() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness, harness.connect("alice") as alice, harness.connect("bob") as bob:
            session_id = (await alice.request("create_session", CREATE))["data"]["session_id"]
            for type_ in ("get_session", "delete_session"):
                reply = await bob.request(type_, {"session_id": session_id})
                assert reply["data"]["error_code"] == "SESSION_NOT_FOUND"
            assert (await bob.request("list_sessions"))["data"]["sessions"] == []
            same_id = await bob.request("create_session", {**CREATE, "session_id": "shared-name"})
            mine = await alice.request("create_session", {**CREATE, "session_id": "shared-name"})
            assert same_id["type"] == mine["type"] == "session_created"
            assert (await alice.request("get_session", {"session_id": session_id}))["type"] == "session_status"


@pytest.mark.parametrize(
    ("make_query", "reason"),
    [
        (lambda h: "", b"missing token"),
        (lambda h: "?token=" + forged_token(aud="simutrador-tests"), b"bad token signature"),
        (lambda h: "?token=" + h.token(expires_in=timedelta(seconds=-30)), b"token expired"),
        (lambda h: "?token=" + forged_token(), b"bad token signature"),
        (
            lambda h: "?token=" + "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5In0.",
            b"token algorithm not allowed",
        ),
        (lambda h: "?token=garbage", b"malformed token"),
        (lambda h: "?token=" + "a" * 9000, b"malformed token"),
    ],
)
async def test_auth_refusals_at_the_handshake(make_query: Any, reason: bytes) -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            rejection = await refused(harness.port, "/ws/simulate" + make_query(harness))
            assert rejection.status_code == 401
            assert rejection.body == reason
            assert harness.server.open_connections == 0


async def test_wrong_audience_and_bearer_header() -> None:
    from simutrador_ws.auth import issue_token
    from simutrador_ws.settings import AuthSettings

    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            other = AuthSettings(jwt_secret=harness.auth.jwt_secret, jwt_audience="another-service")
            rejection = await refused(harness.port, f"/ws/simulate?token={issue_token(other, 'alice')}")
            assert (rejection.status_code, rejection.body) == (401, b"wrong token audience")
            headers = [(b"Authorization", f"Bearer {harness.token('carol')}".encode())]
            async with trio_websocket.open_websocket_url(harness.url, extra_headers=headers) as ws:
                assert json.loads(await ws.get_message())["data"]["user_id"] == "carol"
                await trio.aclose_forcefully(ws._stream)


async def test_per_user_connection_cap_and_release() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            async with harness.connect("dana", Plan.FREE):
                rejection = await refused(harness.port, harness.target("dana", Plan.FREE))
                assert rejection.status_code == 429
                assert header(rejection, b"retry-after") == b"1"
                async with harness.connect("erin", Plan.FREE):
                    pass
            with trio.fail_after(5):
                while harness.server.open_connections:
                    await trio.sleep(0.01)
            async with harness.connect("dana", Plan.FREE) as again:
                assert again.ready["data"]["user_id"] == "dana"


async def test_global_cap_and_per_ip_handshake_limit() -> None:
    with trio.fail_after(LIMIT):
        async with running_server(settings=fast_settings(max_connections=1)) as harness, harness.connect("a"):
            rejection = await refused(harness.port, harness.target("b"))
            assert (rejection.status_code, header(rejection, b"retry-after")) == (503, b"1")
        async with running_server(settings=fast_settings(handshakes_per_second=0.5, handshake_burst=2)) as harness:
            for user in ("a", "b"):
                async with harness.connect(user):
                    pass
            rejection = await refused(harness.port, harness.target("c"))
            assert rejection.status_code == 429
            assert int(header(rejection, b"retry-after") or 0) >= 1
            assert rejection.body == b"too many connection attempts"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "ping", "data": {"x": NaN}}', "NaN is not valid JSON"),
        ('{"type": "ping", "data": {"x": Infinity}}', "Infinity is not valid JSON"),
        ('{"type": "ping", "data": {"x": -Infinity}}', "-Infinity is not valid JSON"),
        ('{"type": "ping", "data": {"x": 1e999}}', "number out of range"),
        ('{"type": "ping", "data": {"x": ' + "9" * 50 + "}}", "integer too large"),
        ("[" * 100_000 + "]" * 100_000, "larger than"),
        ("[" * 20_000 + "]" * 20_000, "nested too deeply"),
        ('{"type": "ping", "data": {"x": "\\ud800"}}', "lone surrogate"),
        ("[1, 2]", "must be a JSON object"),
        ('"ping"', "must be a JSON object"),
        ('{"data": {}}', "type must be a non-empty string"),
        ('{"type": 5}', "type must be a non-empty string"),
        ('{"type": "ping", "data": []}', "data must be an object"),
        ('{"type": "ping", "request_id": 7}', "request_id must be a string"),
        ('{"type": "ping", "timestamp": "yesterday"}', "timestamp must be ISO-8601"),
        ('{"type": "ping", "extra": 1}', "unknown envelope fields: extra"),
    ],
)
async def test_malformed_messages_get_invalid_message_and_the_connection_stays(text: str, fragment: str) -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness, harness.connect() as client:
            reply = await client.raw(text)
            assert (reply["type"], reply["data"]["error_code"]) == ("error", "INVALID_MESSAGE")
            assert fragment in reply["data"]["message"]
            assert (await client.request("ping"))["type"] == "pong"


async def test_oversized_and_binary_frames() -> None:
    settings = fast_settings(max_message_bytes=1024, hard_max_message_bytes=8192)
    with trio.fail_after(LIMIT):
        async with running_server(settings=settings) as harness, harness.connect() as client:
            too_big = await client.raw(json.dumps({"type": "ping", "data": {"pad": "x" * 2000}}))
            assert too_big["data"]["error_code"] == "INVALID_MESSAGE"
            assert too_big["data"]["details"]["max_message_bytes"] == 1024
            multibyte = await client.raw(json.dumps({"type": "ping", "data": {"pad": "é" * 600}}, ensure_ascii=False))
            assert multibyte["data"]["error_code"] == "INVALID_MESSAGE"
            binary = await client.raw(b"\x00\x01")
            assert "binary frames" in binary["data"]["message"]
            assert (await client.request("ping"))["type"] == "pong"
            await client.ws.send_message("x" * 10_000)  # past the hard cap: the connection closes with 1009
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await client.receive()
            assert close_code(closed.value) == CloseCode.MESSAGE_TOO_BIG


async def test_abrupt_disconnects_leave_nothing_behind() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            for round_ in range(5):
                raw = await RawClient.open(harness.port, f"/ws/simulate?token={harness.token('frank', Plan.FREE)}")
                await raw.send_text(
                    json.dumps(
                        {
                            "type": "create_session",
                            "request_id": str(round_),
                            "data": {**CREATE, "symbols": ["SPY"], "end_date": "2024-03-04"},
                        }
                    )
                )
                await trio.aclose_forcefully(raw.stream)  # gone mid-request, no close frame
                with trio.fail_after(5):
                    while harness.server.open_connections:
                        await trio.sleep(0.01)
            async with harness.connect("frank", Plan.FREE) as client:  # the free plan's one connection is free again
                sessions = (await client.request("list_sessions"))["data"]["sessions"]
                assert len(sessions) <= 1  # the first create may have completed; the rest hit the live cap


async def test_listener_survives_malformed_handshakes() -> None:
    garbage = [
        b"GET /ws/simulate HTTP/1.1\r\nHost: \x00\xff\r\n\r\n",
        b"GET /ws/simulate HTTP/1.1\r\nHost: a b c\r\nUpgrade: websocket\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"GET /ws/simulate HTTP/1.1\r\n" + b"X: " + b"y" * 70_000 + b"\r\n\r\n",
    ]
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            for payload in garbage:
                await raw_http(harness.port, payload, read_for=3)
            wrong_path = await refused(harness.port, f"/elsewhere?token={harness.token()}")
            assert wrong_path.status_code == 404
            async with harness.connect() as client:
                assert (await client.request("ping"))["type"] == "pong"


async def test_handshake_deadline_drops_silent_connections() -> None:
    with trio.fail_after(LIMIT):
        async with running_server(settings=fast_settings(handshake_timeout=0.3)) as harness:
            stream = await trio.open_tcp_stream("127.0.0.1", harness.port)
            await stream.send_all(b"GET /ws/simulate HTTP/1.1\r\nHost: x\r\n")  # never finished
            with trio.fail_after(3):
                assert await stream.receive_some(1024) == b""  # the server hung up
            await stream.aclose()
            assert harness.server.metrics.handshakes_refused["timeout"] == 1
            async with harness.connect() as client:
                assert (await client.request("ping"))["type"] == "pong"


async def test_origin_allow_list() -> None:
    with trio.fail_after(LIMIT):
        async with running_server(settings=fast_settings(allowed_origins=("https://app.example",))) as harness:
            async with trio_websocket.open_websocket_url(
                harness.url_for(), extra_headers=[(b"Origin", b"https://app.example")]
            ) as ws:
                assert json.loads(await ws.get_message())["type"] == "connection_ready"
                await trio.aclose_forcefully(ws._stream)
            evil = await refused(harness.port, harness.target(), [(b"Origin", b"https://evil.example")])
            assert (evil.status_code, evil.body) == (403, b"origin not allowed")


async def test_stalled_reader_is_disconnected_and_others_are_served() -> None:
    settings = fast_settings(send_timeout=0.5, message_burst=5000, messages_per_second=5000)
    with trio.fail_after(LIMIT):
        async with running_server(settings=settings) as harness:
            async with harness.connect("gina") as setup:
                for _ in range(5):
                    await setup.request("create_session", {**CREATE, "metadata": {"pad": "z" * 3000}})
            raw = await RawClient.open(harness.port, f"/ws/simulate?token={harness.token('gina')}")
            request = json.dumps({"type": "list_sessions", "data": {}})
            with trio.move_on_after(5), contextlib.suppress(trio.BrokenResourceError):
                for _ in range(3000):  # never read: replies pile up until the server hangs up
                    await raw.send_text(request)
            with trio.fail_after(8):
                while harness.server.open_connections:
                    await trio.sleep(0.05)
            await trio.aclose_forcefully(raw.stream)
            async with harness.connect("hank") as other:
                assert (await other.request("ping"))["type"] == "pong"


async def test_admin_stats_and_background_cleanup() -> None:
    clock = ManualClock()
    engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL), clock=clock)
    with trio.fail_after(LIMIT):
        async with running_server(engine=engine, settings=fast_settings(cleanup_interval=0.05)) as harness:
            async with harness.connect("root", admin=True) as admin:
                assert "server_stats" in admin.ready["data"]["supported_features"]
                await admin.request("create_session", CREATE)
                await admin.request("create_session", {**CREATE, "symbols": ["NOPE"]})
                stats = (await admin.request("server_stats"))["data"]
                assert stats["sessions_created"] == 1
                assert stats["sessions_failed"] == {"INVALID_SYMBOL": 1}
                assert stats["live_sessions"] == 1
                assert stats["connections_open"] == 1
                assert stats["request_latency"]["count"] >= 2
                clock.advance(minutes=61)
                with trio.fail_after(5):
                    while engine.live_session_count:
                        await trio.sleep(0.02)


async def test_graceful_shutdown_closes_with_going_away() -> None:
    with trio.fail_after(LIMIT):
        async with running_server() as harness, harness.connect() as client:
            harness.server.shutdown()
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await client.receive()
            assert close_code(closed.value) == CloseCode.GOING_AWAY


async def test_a_thousand_concurrent_clients() -> None:
    settings = fast_settings(
        max_connections=5000,
        handshake_timeout=60,
        send_timeout=30,
        max_connections_per_ip=2000,  # all from 127.0.0.1
        max_pending_handshakes_per_ip=2000,
        max_pending_handshakes=2000,
    )
    outcomes: list[str] = []
    with trio.fail_after(180):
        async with running_server(settings=settings) as harness:

            async def one(index: int) -> None:
                plan = Plan.FREE if index % 10 == 0 else Plan.ENTERPRISE
                async with harness.connect(f"load-{index}", plan) as client:
                    request = {**CREATE, "symbols": ["SPY"], "end_date": "2024-03-04"}
                    first = await client.request("create_session", request)
                    outcomes.append(
                        first["type"] if first["type"] == "session_created" else first["data"]["error_code"]
                    )
                    if plan is Plan.FREE:  # a second session is over the free plan's cap
                        second = await client.request("create_session", request)
                        outcomes.append(second["data"]["error_code"])

            async with trio.open_nursery() as nursery:
                for index in range(1000):
                    nursery.start_soon(one, index)
    assert outcomes.count("session_created") == 1000
    assert outcomes.count("SESSION_LIMIT_EXCEEDED") == 100
    assert len(outcomes) == 1100


async def test_one_log_line_per_request_and_never_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="simutrador_ws")
    with trio.fail_after(LIMIT):
        async with running_server() as harness:
            token = harness.token("ivy")
            async with harness.connect("ivy") as client:
                await client.request("list_sessions")
                await client.request("get_session", {"session_id": "nope"})
    lines = [r.getMessage() for r in caplog.records if r.name == "simutrador_ws.server" and "type=" in r.getMessage()]
    assert lines[0].startswith("user=ivy type=list_sessions request_id=req-1 outcome=ok duration_ms=")
    assert lines[1].startswith("user=ivy type=get_session request_id=req-2 outcome=SESSION_NOT_FOUND")
    assert all(token not in r.getMessage() and harness.auth.jwt_secret not in r.getMessage() for r in caplog.records)
