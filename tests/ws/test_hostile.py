"""Attacks on a real server on 127.0.0.1 (issue 13), each bounded in count and time, each now refused.

Every test reproduces one attack found by an adversarial run of ``simutrador serve`` and
checks the server's answer to it and that a well-behaved client is still served.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import trio

from tests.ws.harness import CREATE, Harness, refused, running_server

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
