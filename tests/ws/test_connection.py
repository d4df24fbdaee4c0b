"""The sans-I/O `Connection` against a client-side envelope codec: two in-memory peers, no socket, no loop."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from simutrador_ws.auth import Identity
from simutrador_ws.connection import Connection, RequestServed
from simutrador_ws.envelope import Envelope, decode, encode_message
from simutrador_ws.metrics import Metrics
from simutrador_ws.routes import ROUTES, Emit, Push, Route, RouteContext
from simutrador_ws.settings import ServerSettings

from simutrador import Engine, EngineSettings, ErrorCode, MemoryStore, Plan, SimutradorError
from simutrador.testing import ManualClock, SequentialIds
from tests.ws.harness import CREATE

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
STAMP = "2025-06-02T09:30:00Z"


def identity(user: str = "alice", plan: Plan = Plan.PROFESSIONAL, *, admin: bool = False) -> Identity:
    return Identity(user_id=user, plan=plan, expires_at=NOW + timedelta(hours=1), admin=admin)


def new_engine() -> Engine:
    return Engine(EngineSettings(default_plan=Plan.PROFESSIONAL), clock=ManualClock(NOW), id_factory=SequentialIds())


@attrs.define
class Peer:
    """The client's side: requests written and replies read with the envelope codec."""

    connection: Connection
    counter: int = 0

    def send(self, type_: str, data: Mapping[str, Any] | None = None, request_id: str | None = "auto") -> RequestServed:
        if request_id == "auto":
            self.counter += 1
            request_id = f"r{self.counter}"
        return self.connection.receive(encode_message(type_, data or {}, request_id))

    def received(self) -> list[Envelope]:
        return [decode(text, 1 << 20) for text in self.connection.outgoing()]

    def request(self, type_: str, data: Mapping[str, Any] | None = None) -> Envelope:
        served = self.send(type_, data)
        (reply,) = self.received()
        assert reply.request_id == served.request_id == f"r{self.counter}"
        return reply


def connect(
    engine: Engine | None = None,
    who: Identity | None = None,
    *,
    routes: Mapping[str, Route[Any]] = ROUTES,
    metrics: Metrics | None = None,
    settings: ServerSettings | None = None,
) -> tuple[Peer, Envelope]:
    connection = Connection(
        engine or new_engine(), who or identity(), settings=settings, metrics=metrics, routes=routes
    )
    peer = Peer(connection)
    (ready,) = peer.received()
    return peer, ready


def test_the_greeting_comes_first_and_announces_limits_and_types() -> None:
    peer, ready = connect(settings=ServerSettings(idle_timeout=60, messages_per_second=5, message_burst=7))
    assert (ready.type, ready.request_id, ready.timestamp) == ("connection_ready", None, STAMP)
    data = ready.data
    assert (data["user_id"], data["plan"], data["protocol_version"]) == ("alice", "professional", "2.0")
    assert data["connection_expires_at"] == "2025-06-02T10:30:00Z"
    assert data["idle_timeout_sec"] == 60
    assert data["limits"]["max_live_sessions"] == 5
    assert (data["limits"]["messages_per_second"], data["limits"]["message_burst"]) == (5, 7)
    assert data["limits"]["max_message_bytes"] == 64 * 1024
    assert data["supported_features"] == sorted(set(ROUTES) - {"server_stats"})
    assert peer.connection.next_outgoing() is None  # nothing else queued
    _, admin_ready = connect(who=identity("root", admin=True))
    assert "server_stats" in admin_ready.data["supported_features"]


def test_a_session_flow_through_the_table() -> None:
    engine = new_engine()
    peer, _ = connect(engine)
    created = peer.request("create_session", CREATE)
    assert (created.type, created.timestamp) == ("session_created", STAMP)
    assert created.data["session_id"] == "session-1"
    assert created.data["status"] == "created"
    assert created.data["session"]["session_id"] == "session-1"
    assert peer.request("get_session", {"session_id": "session-1"}).type == "session_status"
    listed = peer.request("list_sessions")
    assert (listed.type, [s["session_id"] for s in listed.data["sessions"]]) == ("session_list", ["session-1"])
    deleted = peer.request("delete_session", {"session_id": "session-1"})
    assert (deleted.type, dict(deleted.data)) == (
        "session_deleted",
        {"session_id": "session-1", "message": "session session-1 deleted"},
    )
    assert engine.list_sessions("alice") == []
    assert peer.request("ping").data == {"server_time": STAMP}
    symbols = peer.request("list_symbols", {"market": "CRYPTO"})
    assert symbols.type == "symbol_list"
    assert {s["market"] for s in symbols.data["symbols"]} == {"CRYPTO"}


def test_request_records_and_metrics() -> None:
    metrics = Metrics()
    peer, _ = connect(metrics=metrics)
    ok = peer.send("list_sessions")
    assert (ok.request_type, ok.request_id, ok.outcome) == ("list_sessions", "r1", "ok")
    assert ok.seconds >= 0
    missing = peer.send("get_session", {"session_id": "nope"})
    assert (missing.request_type, missing.outcome) == ("get_session", "SESSION_NOT_FOUND")
    unreadable = peer.connection.receive("{not json")
    assert (unreadable.request_type, unreadable.request_id, unreadable.outcome) == ("?", None, "INVALID_MESSAGE")
    unknown = peer.send("teleport")
    assert (unknown.request_type, unknown.outcome) == ("teleport", "UNKNOWN_MESSAGE_TYPE")
    assert metrics.requests == {"list_sessions": 1, "get_session": 1, "?": 2}
    assert metrics.errors == {"SESSION_NOT_FOUND": 1, "INVALID_MESSAGE": 1, "UNKNOWN_MESSAGE_TYPE": 1}
    assert len(metrics.request_seconds) == 4


def test_errors_are_rendered_as_session_error_or_error() -> None:
    engine = new_engine()
    peer, _ = connect(engine)
    refused = peer.request("create_session", {**CREATE, "symbols": ["APPL"]})
    assert (refused.type, refused.data["error_code"]) == ("session_error", "INVALID_SYMBOL")
    assert refused.data["failed_request_id"] == refused.request_id == "r1"
    assert refused.data["error_type"] == "validation"
    assert engine.list_sessions("alice") == []  # refused: nothing changed
    unknown = peer.request("teleport")
    assert (unknown.type, unknown.data["error_code"]) == ("error", "UNKNOWN_MESSAGE_TYPE")
    assert unknown.data["details"]["supported_types"] == sorted(set(ROUTES) - {"server_stats"})
    admin_only = peer.request("server_stats")
    assert (admin_only.type, admin_only.data["error_code"]) == ("error", "AUTHENTICATION_FAILED")
    bad_market = peer.request("list_symbols", {"market": 5})
    assert (bad_market.type, bad_market.data["details"]["fields"]) == ("error", ["market"])
    extra = peer.request("ping", {"loud": True})
    assert extra.data["error_code"] == "VALIDATION_FAILED"
    peer.connection.receive('{"type": "ping", "request_id": 7}')
    (invalid,) = peer.received()
    assert (invalid.type, invalid.request_id, invalid.data["failed_request_id"]) == ("error", None, None)
    assert invalid.data["details"] == {"fields": ["request_id"]}


def test_server_stats_for_admins_count_creations_and_failures() -> None:
    peer, _ = connect(who=identity("root", admin=True))
    assert peer.request("server_stats").data["create_session_latency"] == {"count": 0}
    peer.request("create_session", CREATE)
    peer.request("create_session", {**CREATE, "symbols": ["NOPE"]})
    peer.request("create_session", {**CREATE, "bogus": 1})  # refused by the request model: counted too
    stats = peer.request("server_stats")
    assert stats.type == "server_stats"
    assert stats.data["sessions_created"] == 1
    assert stats.data["sessions_failed"] == {"INVALID_SYMBOL": 1, "VALIDATION_FAILED": 1}
    assert stats.data["live_sessions"] == 1
    assert stats.data["create_session_latency"]["count"] == 1
    assert stats.data["requests"] == {"create_session": 3, "server_stats": 1}


# -- one message in, any number out ----------------------------------------------------


@attrs.frozen(kw_only=True)
class Start:
    ticks: int


def start_model(data: Mapping[str, Any]) -> Start:
    return Start(ticks=int(data["ticks"]))


def start(context: RouteContext, request: Start) -> Emit:
    pushed = [
        Push(type="tick", data={"sequence_id": n, "user": context.identity.user_id}) for n in range(request.ticks)
    ]
    return Emit(reply={"ticks": request.ticks}, then=pushed)


def ack(_context: RouteContext, _request: Start) -> Emit:
    return Emit()  # credit renewed: nothing to say


def quiet_push(_context: RouteContext, _request: Start) -> Emit:
    return Emit(then=[Push(type="simulation_progress", data={"done": 1})])


def broken(_context: RouteContext, _request: Start) -> Emit:
    return Emit(reply={"fine": True}, then=[Push(type="tick", data={"price": Decimal("1.5")})])  # not JSON


STREAMING: Mapping[str, Route[Any]] = {
    **ROUTES,
    "start_simulation": Route(start_model, start, "simulation_started"),
    "tick_ack": Route(start_model, ack, "never_sent"),
    "nudge": Route(start_model, quiet_push, "never_sent"),
    "broken": Route(start_model, broken, "simulation_started"),
}


def test_one_message_in_several_out_in_order() -> None:
    peer, _ = connect(routes=STREAMING)
    served = peer.send("start_simulation", {"ticks": 3})
    assert served.outcome == "ok"
    started, *ticks = peer.received()
    assert (started.type, started.request_id, dict(started.data)) == ("simulation_started", "r1", {"ticks": 3})
    assert [(t.type, t.request_id, t.data["sequence_id"]) for t in ticks] == [
        ("tick", None, 0),
        ("tick", None, 1),
        ("tick", None, 2),
    ]
    assert all(t.data["user"] == "alice" and t.timestamp == STAMP for t in ticks)


def test_one_message_in_none_out_and_pushes_without_a_reply() -> None:
    peer, _ = connect(routes=STREAMING)
    assert peer.send("tick_ack", {"ticks": 0}).outcome == "ok"
    assert peer.received() == []
    peer.send("nudge", {"ticks": 0})
    (progress,) = peer.received()
    assert (progress.type, progress.request_id, dict(progress.data)) == ("simulation_progress", None, {"done": 1})


def test_messages_queued_with_no_message_in() -> None:
    peer, _ = connect()
    peer.connection.push("idle_warning", {"closes_in_sec": 30.0})
    peer.connection.push_error(SimutradorError(ErrorCode.AUTHENTICATION_FAILED, "token expired"))
    first = peer.connection.next_outgoing()
    assert first is not None
    warning = decode(first)
    assert (warning.type, warning.request_id, dict(warning.data)) == ("idle_warning", None, {"closes_in_sec": 30.0})
    (expired,) = peer.received()
    assert (expired.type, expired.data["error_code"], expired.data["failed_request_id"]) == (
        "error",
        "AUTHENTICATION_FAILED",
        None,
    )
    assert peer.connection.next_outgoing() is None
    assert peer.connection.outgoing() == []


def test_reject_answers_without_serving() -> None:
    engine = new_engine()
    metrics = Metrics()
    peer, _ = connect(engine, metrics=metrics)
    limited = SimutradorError(ErrorCode.RATE_LIMIT_EXCEEDED, "slow down", retry_after_ms=250)
    peer.connection.reject(encode_message("create_session", CREATE, "r9"), limited)
    (reply,) = peer.received()
    assert (reply.type, reply.request_id, reply.data["failed_request_id"]) == ("error", "r9", "r9")
    assert (reply.data["error_code"], reply.data["retry_after_ms"]) == ("RATE_LIMIT_EXCEEDED", 250)
    peer.connection.reject(b"\x00", limited)  # unreadable: answered without a request_id
    assert peer.received()[0].request_id is None
    assert engine.list_sessions("alice") == []
    assert metrics.requests == {}
    assert metrics.errors == {"RATE_LIMIT_EXCEEDED": 2}
    assert peer.connection.identity.user_id == "alice"
    assert peer.connection.metrics is metrics


# -- bugs ------------------------------------------------------------------------------


def test_a_bug_is_internal_error_for_that_request_only(caplog: pytest.LogCaptureFixture) -> None:
    def explode(_context: RouteContext, _request: Start) -> Mapping[str, Any]:
        raise RuntimeError("bug")

    peer, _ = connect(
        routes={**STREAMING, "explode": Route(start_model, explode, "never_sent", session_operation=True)}
    )
    with caplog.at_level(logging.ERROR, logger="simutrador_ws.connection"):
        served = peer.send("explode", {"ticks": 1})
    assert served.outcome == "INTERNAL_ERROR"
    (reply,) = peer.received()
    assert (reply.type, reply.request_id, reply.data["error_code"]) == ("session_error", "r1", "INTERNAL_ERROR")
    correlation_id = reply.data["details"]["correlation_id"]
    assert len(correlation_id) == 16
    assert any(correlation_id in r.getMessage() and r.exc_info for r in caplog.records)
    assert peer.request("ping").type == "pong"  # the connection lives on


def test_an_answer_json_cannot_hold_still_goes_out_and_the_bug_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    peer, _ = connect(routes=STREAMING)
    with caplog.at_level(logging.WARNING, logger="simutrador_ws.envelope"):
        assert peer.send("broken", {"ticks": 1}).outcome == "ok"
    reply, tick = peer.received()  # the reply and every push: the change they report has happened
    assert (reply.type, reply.data, tick.type, tick.data) == (
        "simulation_started",
        {"fine": True},
        "tick",
        {"price": "1.5"},
    )
    assert [r.getMessage() for r in caplog.records] == [
        "tick held a value JSON cannot carry (Type is not JSON serializable: decimal.Decimal); sent it as text"
    ]


def test_an_error_whose_details_json_cannot_hold_is_still_sent() -> None:
    def refuse(_context: RouteContext, _request: Start) -> Mapping[str, Any]:
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "bad", {"price": Decimal("1.5"), "n": 2**70})

    peer, _ = connect(routes={"refuse": Route(start_model, refuse, "never_sent")})
    assert peer.send("refuse", {"ticks": 1}).outcome == "VALIDATION_FAILED"
    (reply,) = peer.received()
    assert (reply.type, reply.data["error_code"]) == ("session_error", "VALIDATION_FAILED")
    assert reply.data["details"] == {"price": "1.5", "n": str(2**70)}


def test_a_session_stored_with_an_integer_beyond_64_bits_can_still_be_listed_and_deleted() -> None:
    """Issue 13, defect 3: such a session (stored before they were refused) made every reply holding it fail."""
    store = MemoryStore()
    engine = Engine(
        EngineSettings(default_plan=Plan.PROFESSIONAL), clock=ManualClock(NOW), id_factory=SequentialIds(), store=store
    )
    session = engine.create_session(
        "alice", symbols="AAPL", start_date="2024-03-04", end_date="2024-03-08", initial_capital=100_000
    )
    store.save(attrs.evolve(session, metadata=MappingProxyType({"n": 2**70})))  # as an older server stored it
    peer, _ = connect(engine)
    assert peer.request("list_sessions").data["sessions"][0]["metadata"] == {"n": str(2**70)}
    status = peer.request("get_session", {"session_id": session.session_id})
    assert status.data["session"]["metadata"] == {"n": str(2**70)}
    assert peer.request("delete_session", {"session_id": session.session_id}).type == "session_deleted"
    assert engine.list_sessions("alice") == []
