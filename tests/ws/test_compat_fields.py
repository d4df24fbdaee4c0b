"""What the original SimuTrador clients read (shared/compat-original-client.md §2), additive to our protocol.

Socketless through `Connection` (the routes and the greeting), then over a real server
with the original client's own defaults (``data_provider: "polygon"``) and our SDK,
which must not mind the additions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from simutrador_ws.auth import Identity
from simutrador_ws.client import SessionClient
from simutrador_ws.connection import Connection
from simutrador_ws.envelope import Envelope, decode, encode_message
from simutrador_ws.settings import ServerSettings

from simutrador import Engine, EngineSettings, Plan, SessionSettings
from simutrador.codec import session_from_wire
from simutrador.testing import ManualClock, SequentialIds
from tests.ws.harness import CREATE, running_server

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
STAMP = "2025-06-02T09:30:00Z"


def connect(plan: Plan = Plan.PROFESSIONAL, **settings: Any) -> tuple[Connection, Envelope]:
    engine = Engine(
        EngineSettings(session=SessionSettings(**settings)), clock=ManualClock(NOW), id_factory=SequentialIds()
    )
    who = Identity(user_id="alice", plan=plan, expires_at=NOW + timedelta(hours=1))
    connection = Connection(engine, who, settings=ServerSettings(idle_timeout=299.9))
    ready = decode(connection.next_outgoing() or "")
    return connection, ready


def request(connection: Connection, type_: str, data: dict[str, Any] | None = None) -> Envelope:
    connection.receive(encode_message(type_, data or {}, "r"))
    reply = decode(connection.next_outgoing() or "")
    assert connection.next_outgoing() is None
    return reply


@pytest.mark.parametrize(
    ("plan", "duration", "connections"),
    [(Plan.FREE, 24 * 3600, 1), (Plan.PROFESSIONAL, 7 * 24 * 3600, 10), (Plan.ENTERPRISE, 365 * 24 * 3600, 100)],
)
def test_connection_ready_carries_core_fields(plan: Plan, duration: int, connections: int) -> None:
    _, ready = connect(plan)
    data = ready.data
    assert data["idle_timeout_sec"] == 299 and type(data["idle_timeout_sec"]) is int  # whole seconds, down
    assert data["max_simulation_duration_sec"] == duration == data["limits"]["max_simulation_duration_sec"]
    assert data["concurrent_connections_limit"] == connections == data["limits"]["websocket_connections"]


def test_session_created_carries_core_fields_and_the_real_provider() -> None:
    connection, _ = connect()
    created = request(connection, "create_session", {**CREATE, "data_provider": "polygon", "slippage_bps": "2.6"})
    data = created.data
    assert created.type == "session_created"
    assert (data["created_at"], data["data_provider"], data["commission_per_share"]) == (STAMP, "sample", "0")
    assert data["slippage_bps"] == 3 and type(data["slippage_bps"]) is int
    assert data["session"]["slippage_bps"] == "2.6"  # the exact value stays in the session
    assert data["symbols_loaded"] == data["symbols"] == ["AAPL", "MSFT"]
    assert data["session"]["data_provider"] == "sample"


def test_an_unknown_provider_is_still_refused_naming_the_aliases() -> None:
    connection, _ = connect(data_provider_aliases=("polygon",))
    refused = request(connection, "create_session", {**CREATE, "data_provider": "alpaca"})
    assert refused.type == "session_error"
    assert refused.data["error_code"] == "VALIDATION_FAILED"
    assert "also accepted as polygon" in refused.data["message"]


def test_session_status_is_flat_too_with_status() -> None:
    connection, _ = connect()
    session_id = request(connection, "create_session", CREATE).data["session_id"]
    status = request(connection, "get_session", {"session_id": session_id}).data
    session = status["session"]
    assert "status" not in session  # our SDK's copy is the session as it is
    assert {k: v for k, v in status.items() if k not in {"session", "status"}} == session
    assert status["status"] == status["state"] == "ready"
    assert session_from_wire(session).session_id == session_id


def test_every_listed_session_has_status_next_to_state() -> None:
    connection, _ = connect()
    for _ in range(2):
        request(connection, "create_session", CREATE)
    sessions = request(connection, "list_sessions").data["sessions"]
    assert [(s["state"], s["status"]) for s in sessions] == [("ready", "ready"), ("ready", "ready")]
    assert [session_from_wire(s).session_id for s in sessions] == ["session-1", "session-2"]


def test_session_deleted_says_so() -> None:
    connection, _ = connect()
    session_id = request(connection, "create_session", CREATE).data["session_id"]
    deleted = request(connection, "delete_session", {"session_id": session_id})
    assert dict(deleted.data) == {"session_id": session_id, "message": f"session {session_id} deleted"}


def test_a_status_that_is_not_the_state_is_refused() -> None:
    connection, _ = connect()
    request(connection, "create_session", CREATE)
    listed = dict(request(connection, "list_sessions").data["sessions"][0])
    listed["status"] = "running"
    with pytest.raises(Exception, match="status"):
        session_from_wire(listed)


@pytest.mark.anyio
async def test_our_sdk_and_the_original_defaults_over_a_real_server() -> None:
    with trio.fail_after(20):
        async with running_server() as harness, SessionClient.connect(harness.url, harness.token()) as client:
            session = await client.create_session(["AAPL"], "2024-03-04", "2024-03-08", 10_000, data_provider="polygon")
            assert session.data_provider == "sample"
            assert [s.session_id for s in await client.list_sessions()] == [session.session_id]
            assert (await client.get_session_status(session.session_id)) == session
            await client.delete_session(session.session_id)
