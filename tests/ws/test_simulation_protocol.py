"""Every simulation message on the sans-I/O `Connection`: no socket, no loop, exact messages.

A `Peer` writes requests with the envelope codec and reads what the connection
queued. Orders are checked against the embedded engine: a run driven by these
messages must fill exactly as `Engine.run_simulation` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from simutrador_ws.auth import Identity
from simutrador_ws.connection import Connection
from simutrador_ws.envelope import Envelope, decode, encode_message
from simutrador_ws.settings import ServerSettings
from simutrador_ws.simulations import SimulationRegistry, order_request_from_wire

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SimutradorError
from simutrador.testing import ManualClock

DAYS = {"symbols": ["AAPL"], "start_date": "2023-01-03", "end_date": "2023-01-31", "initial_capital": "10000"}
TICKS = Engine().create_session("counter", **DAYS).estimated_ticks  # the sample catalog's bars in that span


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@attrs.define
class Peer:
    """The client's side of one connection."""

    connection: Connection
    counter: int = 0

    def send(self, type_: str, data: Mapping[str, Any] | None = None) -> str:
        self.counter += 1
        request_id = f"r{self.counter}"
        self.connection.receive(encode_message(type_, dict(data or {}), request_id))
        return request_id

    def received(self) -> list[Envelope]:
        return [decode(text, 1 << 22) for text in self.connection.outgoing()]

    def exchange(self, type_: str, data: Mapping[str, Any] | None = None) -> list[Envelope]:
        self.send(type_, data)
        return self.received()

    def error(self, type_: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        request_id = self.send(type_, data)
        (reply,) = self.received()
        assert reply.type == "session_error", reply
        assert reply.request_id == request_id
        return dict(reply.data)


def identity(user: str = "alice") -> Identity:
    return Identity(user_id=user, plan=Plan.PROFESSIONAL, expires_at=datetime.now(UTC) + timedelta(hours=1))


def new_engine() -> Engine:
    return Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))


def peer(
    engine: Engine,
    user: str = "alice",
    *,
    registry: SimulationRegistry | None = None,
    clock: FakeClock | None = None,
    settings: ServerSettings | None = None,
) -> Peer:
    connection = Connection(engine, identity(user), settings=settings, simulations=registry, clock=clock or FakeClock())
    connection.outgoing()  # connection_ready
    return Peer(connection)


def session_id(engine: Engine, user: str = "alice", **fields: Any) -> str:
    return engine.create_session(user, **(DAYS | fields)).session_id


def types(messages: list[Envelope]) -> list[str]:
    return [m.type for m in messages]


def started(p: Peer, sid: str, **options: Any) -> list[Envelope]:
    messages = p.exchange("start_simulation", {"session_id": sid, **options})
    assert messages[0].type == "simulation_started", messages[0]
    return messages


def order(order_id: str, **fields: Any) -> dict[str, Any]:
    return {"order_id": order_id, "symbol": "AAPL", "side": "buy", "type": "market", "quantity": 10} | fields


# -- start -------------------------------------------------------------------------------


def test_start_in_lockstep_sends_the_start_then_exactly_one_tick() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    messages = started(p, sid)
    assert types(messages) == ["simulation_started", "tick"]
    start = messages[0].data
    assert start["flow_control_enabled"] is True
    assert start["reproducible"] is True
    assert start["estimated_ticks"] == TICKS
    assert start["max_pending_ticks"] == 1
    tick = messages[1].data
    assert tick["session_id"] == sid
    assert tick["sequence_id"] == 1
    assert tick["sim_time"] == "2023-01-03T00:00:00Z"
    assert tick["resolved"] is True
    assert tick["cash"] == "10000"
    assert tick["equity"] == "10000"
    assert tick["is_eod"] is True
    assert tick["symbols_trading"] == ["AAPL"]
    bar = engine.catalog.bars("AAPL", datetime(2023, 1, 3, tzinfo=UTC), datetime(2023, 1, 3, 23, tzinfo=UTC), "daily")[
        0
    ]
    assert tick["candles"]["AAPL"] == {
        "date": "2023-01-03T00:00:00Z",
        "open": str(bar.open),
        "high": str(bar.high),
        "low": str(bar.low),
        "close": str(bar.close),
        "volume": str(bar.volume),
    }
    assert engine.get_session("alice", sid).state.value == "running"


def test_the_warmup_bars_come_first_in_a_history_snapshot() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine, warmup_bars=5)
    messages = started(p, sid)
    assert types(messages) == ["simulation_started", "history_snapshot", "tick"]
    assert messages[0].data["history_follows"] is True
    history = messages[1].data
    assert history["count"] == 5
    before = engine.catalog.bars(
        "AAPL", datetime(2022, 12, 1, tzinfo=UTC), datetime(2023, 1, 2, 23, tzinfo=UTC), "daily"
    )
    assert [c["date"] for c in history["candles"]["AAPL"]] == [
        b.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ") for b in before[-5:]
    ]
    assert messages[2].data["sim_time"] == "2023-01-03T00:00:00Z"


def test_without_bars_ticks_carry_no_candles_and_no_history() -> None:
    engine = new_engine()
    p = peer(engine)
    messages = started(p, session_id(engine, warmup_bars=5), include_bars=False)
    assert types(messages) == ["simulation_started", "tick"]
    assert "candles" not in messages[1].data


def test_a_window_of_four_sends_four_ticks_only_the_first_resolved() -> None:
    engine = new_engine()
    p = peer(engine)
    messages = started(p, session_id(engine), max_pending_ticks=4)
    ticks = [m.data for m in messages if m.type == "tick"]
    assert [t["sequence_id"] for t in ticks] == [1, 2, 3, 4]
    assert [t["resolved"] for t in ticks] == [True, False, False, False]
    assert "cash" not in ticks[1]


def test_ack_start_holds_the_first_tick_for_orders_before_the_first_bar() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    assert types(started(p, sid, ack_start=True)) == ["simulation_started"]
    batch = p.exchange(
        "order_batch", {"session_id": sid, "batch_id": "b0", "for_sequence_id": 0, "orders": [order("o-1")]}
    )
    assert types(batch) == ["order_update", "batch_ack"]
    assert batch[1].data["accepted_orders"] == ["o-1"]
    after = p.exchange("tick_ack", {"session_id": sid, "sequence_id": 0})
    assert types(after) == ["execution_report", "account_snapshot", "tick"]
    fill = after[0].data
    assert fill["timestamp"] == "2023-01-03T00:00:00Z"  # the first bar's open, as embedded
    assert fill["fill_reason"] == "market_open"
    assert fill["order"]["status"] == "filled"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_pending_ticks": 0}, "max_pending_ticks"),
        ({"max_pending_ticks": 1001}, "max_pending_ticks"),
        ({"max_pending_ticks": "2"}, "max_pending_ticks"),
        ({"flow_control": "yes"}, "flow_control"),
        ({"include_bars": 1}, "include_bars"),
        ({"account_update_frequency": "hourly"}, "account_update_frequency"),
        ({"tick_interval_ms": -1}, "tick_interval_ms"),
    ],
)
def test_bad_start_options_are_named_and_change_nothing(options: dict[str, Any], field: str) -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    error = p.error("start_simulation", {"session_id": sid, **options})
    assert error["error_code"] == "VALIDATION_FAILED"
    assert error["details"]["fields"] == [field]
    assert engine.get_session("alice", sid).state.value == "ready"


def test_start_is_refused_for_another_users_session_an_unknown_one_and_a_running_one() -> None:
    engine = new_engine()
    p = peer(engine)
    bob = session_id(engine, "bob")
    assert p.error("start_simulation", {"session_id": bob})["error_code"] == "SESSION_NOT_FOUND"
    assert p.error("start_simulation", {"session_id": "nope"})["error_code"] == "SESSION_NOT_FOUND"
    assert p.error("start_simulation", {})["details"]["fields"] == ["session_id"]
    sid = session_id(engine)
    started(p, sid)
    assert p.error("start_simulation", {"session_id": sid})["error_code"] == "INVALID_STATE_TRANSITION"
    assert engine.get_session("bob", bob).state.value == "ready"


# -- acknowledgements and the window -------------------------------------------------------


def test_each_ack_brings_the_next_tick_and_the_last_the_completion() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    seen = [1]
    for sequence_id in range(1, TICKS):
        messages = p.exchange("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
        ticks = [m.data["sequence_id"] for m in messages if m.type == "tick"]
        assert ticks == [sequence_id + 1]
        seen += ticks
    end = p.exchange("tick_ack", {"session_id": sid, "sequence_id": TICKS})
    assert types(end)[-2:] == ["simulation_complete", "simulation_end"]
    complete = end[-2].data
    result = engine.get_result("alice", sid)
    assert complete["digest"] == result.digest
    assert complete["final_equity"] == str(result.final_equity)
    assert complete["total_trades"] == 0
    assert complete["ticks"] == TICKS
    assert seen == list(range(1, TICKS + 1))
    assert engine.get_session("alice", sid).state.value == "completed"


def test_the_server_never_has_more_unacknowledged_ticks_than_the_window() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    window = 3
    sent = [m.data["sequence_id"] for m in started(p, sid, max_pending_ticks=window) if m.type == "tick"]
    acked = 0
    while acked < TICKS:
        assert max(sent) - acked <= window
        acked += 1
        sent += [
            m.data["sequence_id"]
            for m in p.exchange("tick_ack", {"session_id": sid, "sequence_id": acked})
            if m.type == "tick"
        ]
    assert sent == list(range(1, TICKS + 1))


@pytest.mark.parametrize(
    ("sequence_id", "says"),
    [(2, "never sent"), (0, "already acknowledged"), (-1, "already acknowledged"), ("1", "whole number")],
)
def test_bad_acks_get_a_specific_error_and_the_run_goes_on(sequence_id: object, says: str) -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    error = p.error("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
    assert error["error_code"] == "VALIDATION_FAILED"
    assert says in error["message"]
    assert [m.data["sequence_id"] for m in p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})] == [2]


def test_acks_out_of_order_in_a_window_are_refused() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid, max_pending_ticks=3)
    error = p.error("tick_ack", {"session_id": sid, "sequence_id": 2})
    assert "in order: 1 first" in error["message"]


def test_ticks_ahead_are_resolved_only_when_orders_were_working() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid, max_pending_ticks=2)  # ticks 1 (resolved) and 2 (ahead)
    limit = order("o-1", type="limit", price="1", time_in_force="gtc")  # never fills
    p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "for_sequence_id": 1, "orders": [limit]})
    after = p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})
    assert types(after) == ["tick_resolved", "tick"]
    assert after[0].data["sequence_id"] == 2
    assert after[0].data["cash"] == "10000"
    p.exchange("cancel_order", {"session_id": sid, "order_id": "o-1", "for_sequence_id": 2})
    assert types(p.exchange("tick_ack", {"session_id": sid, "sequence_id": 2})) == ["tick"]  # nothing was working


# -- orders ----------------------------------------------------------------------------------


def test_a_batch_fills_exactly_as_the_embedded_engine_does() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine, commission_per_share="0.01", slippage_bps="5")
    started(p, sid)
    orders = [order("a"), order("b", side="sell", quantity=4, type="limit", price="1000", time_in_force="gtc")]
    batch = p.exchange("order_batch", {"session_id": sid, "batch_id": "b1", "for_sequence_id": 1, "orders": orders})
    assert types(batch) == ["order_update", "order_update", "batch_ack"]
    ack = batch[-1]
    assert ack.data["accepted_orders"] == ["a", "b"]
    assert ack.data["rejected_orders"] == {}
    assert ack.data["for_sequence_id"] == 1
    after = p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})
    report = next(m.data for m in after if m.type == "execution_report")

    twin = session_id(engine)
    twin_engine_session = engine.get_session("alice", twin)
    assert twin_engine_session.symbols == ("AAPL",)

    def strategy(ctx: Any, tick: Any) -> None:
        if tick.sequence_id == 1:
            ctx.buy("AAPL", 10, order_id="a")
            ctx.sell("AAPL", 4, limit_price="1000", order_id="b", time_in_force="gtc")

    embedded = engine.run_simulation(
        "alice", session_id(engine, commission_per_share="0.01", slippage_bps="5"), strategy
    )
    fill = embedded.fills[0]
    assert report["executed_price"] == str(fill.price)
    assert report["executed_quantity"] == "10"
    assert report["commission"] == str(fill.commission)
    assert report["slippage_bps_exact"] == str(fill.slippage_bps)
    assert report["timestamp"] == "2023-01-04T00:00:00Z"  # the next bar's open
    assert report["is_partial"] is False
    assert report["remaining_quantity"] == "0"
    snapshot = next(m.data for m in after if m.type == "account_snapshot")
    assert snapshot["positions"][0]["symbol"] == "AAPL"
    assert snapshot["positions"][0]["quantity"] == "10"
    assert snapshot["open_orders"] == ["b"]
    assert Decimal(snapshot["cash"]) == Decimal(10000) - fill.price * 10 - fill.commission


def test_inline_orders_in_a_tick_ack_apply_at_that_tick() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    messages = p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1, "orders": [order("x")]})
    assert types(messages) == ["order_update", "batch_ack", "execution_report", "account_snapshot", "tick"]
    assert messages[1].data["batch_id"] == "ack-1"
    assert messages[2].data["timestamp"] == "2023-01-04T00:00:00Z"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": "ten"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"side": "hold"}, "side"),
        ({"type": "iceberg"}, "type"),
        ({"type": "limit"}, "price"),
        ({"type": "market", "price": "10"}, "type"),
        ({"type": "stop_limit", "price": "10"}, "stop_price"),
        ({"time_in_force": "forever"}, "time_in_force"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 65}, "order_id"),
        ({"symbol": 7}, "symbol"),
        ({"colour": "red"}, "colour"),
        ({"expire_at": "soon"}, "expire_at"),
        ({"price": "NaN", "type": "limit"}, "price"),
        ({"price": "10", "limit_price": "10", "type": "limit"}, "price"),
        ({"type": "limit", "price": "10", "stop_price": "9"}, "stop_price"),
        ({"type": "stop", "price": "10", "stop_price": "9"}, "price"),
        ({"quantity": None}, "quantity"),
    ],
)
def test_malformed_orders_are_rejected_one_by_one_with_their_reason(bad: dict[str, Any], field: str) -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    orders = [order("good"), order("bad") | bad]
    messages = p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "for_sequence_id": 1, "orders": orders})
    ack = messages[-1].data
    assert ack["accepted_orders"] == ["good"]
    (key,) = ack["rejected_orders"]
    assert ack["errors"][key]["error_code"] == "INVALID_ORDER"
    assert ack["errors"][key]["details"]["field"] == field
    assert field in ack["rejected_orders"][key]


def test_orders_the_simulator_refuses_are_rejected_with_its_reason() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    orders = [order("unknown", symbol="MSFT"), order("lot", quantity="0.5"), order("rich", quantity=1_000_000)]
    ack = p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "for_sequence_id": 1, "orders": orders})
    data = ack[-1].data
    assert data["accepted_orders"] == []
    assert set(data["rejected_orders"]) == {"unknown", "lot", "rich"}
    assert data["errors"]["unknown"]["error_code"] == "INVALID_ORDER"
    assert data["errors"]["rich"]["error_code"] == "INSUFFICIENT_BUYING_POWER"
    rejected = [m.data for m in ack if m.type == "order_update"]
    assert [(u["event"], u["order"]["order_id"]) for u in rejected] == [("rejected", "rich")]


def test_duplicate_order_ids_are_rejected_in_a_batch_and_across_batches() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid, max_pending_ticks=1)
    first = p.exchange(
        "order_batch", {"session_id": sid, "batch_id": "b", "for_sequence_id": 1, "orders": [order("d"), order("d")]}
    )[-1].data
    assert first["accepted_orders"] == ["d"]
    assert "duplicate order id" in first["rejected_orders"]["d"]
    second = p.exchange(
        "order_batch", {"session_id": sid, "batch_id": "c", "for_sequence_id": 1, "orders": [order("d")]}
    )[-1].data
    assert second["accepted_orders"] == []


def test_an_atomic_batch_submits_nothing_unless_every_order_is_well_formed() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    data = {"session_id": sid, "batch_id": "b", "for_sequence_id": 1, "execution_mode": "atomic"}
    ack = p.exchange("order_batch", data | {"orders": [order("a"), order("b", side="up")]})[-1].data
    assert ack["accepted_orders"] == []
    assert set(ack["rejected_orders"]) == {"a", "b"}
    assert "atomic" in ack["rejected_orders"]["a"]
    again = {"batch_id": "b2", "orders": [order("a"), order("b")]}
    assert p.exchange("order_batch", data | again)[-1].data["accepted_orders"] == [
        "a",
        "b",
    ]


def test_ten_thousand_orders_in_one_batch_are_refused_whole() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    orders = [order(f"o{i}") for i in range(10_000)]
    p.send("order_batch", {"session_id": sid, "batch_id": "big", "for_sequence_id": 1, "orders": orders})
    (too_big,) = p.received()  # by default the message itself is over the size limit
    assert too_big.type == "error"
    assert too_big.data["error_code"] == "INVALID_MESSAGE"
    assert "larger than 65536 bytes" in too_big.data["message"]
    p = peer(engine, settings=ServerSettings(max_message_bytes=4 << 20))
    sid = session_id(engine)
    started(p, sid)
    error = p.error("order_batch", {"session_id": sid, "batch_id": "big", "for_sequence_id": 1, "orders": orders})
    assert error["error_code"] == "VALIDATION_FAILED"
    assert "10,000 orders in one batch; at most 1,000" in error["message"]
    assert p.exchange("query_positions", {"session_id": sid})[0].data["open_orders"] == []


@pytest.mark.parametrize(
    ("for_sequence_id", "says"), [(0, "in the past"), (2, "beyond the window"), ("1", "whole number"), (None, "whole")]
)
def test_a_batch_for_the_wrong_tick_is_refused(for_sequence_id: object, says: str) -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid, max_pending_ticks=2)
    data: dict[str, Any] = {
        "session_id": sid,
        "batch_id": "b",
        "orders": [order("a")],
        "for_sequence_id": for_sequence_id,
    }
    if for_sequence_id == 0:
        p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})
        data["for_sequence_id"] = 1
    error = p.error("order_batch", data)
    assert error["error_code"] == "VALIDATION_FAILED"
    assert says in error["message"]


def test_a_batch_without_for_sequence_id_applies_at_the_current_tick() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    ack = p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "orders": [order("a")]})[-1]
    assert ack.data["for_sequence_id"] == 1
    assert ack.data["accepted_orders"] == ["a"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"batch_id": "", "orders": []}, "VALIDATION_FAILED"),
        ({"batch_id": 5, "orders": []}, "VALIDATION_FAILED"),
        ({"batch_id": "b", "orders": {"a": 1}}, "VALIDATION_FAILED"),
        ({"batch_id": "b", "orders": [], "execution_mode": "yolo"}, "VALIDATION_FAILED"),
    ],
)
def test_a_malformed_batch_is_refused(data: dict[str, Any], code: str) -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    assert p.error("order_batch", {"session_id": sid, **data})["error_code"] == code


def test_orders_for_a_session_not_running_or_not_the_callers_are_refused() -> None:
    engine = new_engine()
    alice, bob = peer(engine), peer(engine, "bob")
    ready = session_id(engine)
    batch = {"batch_id": "b", "orders": [order("a")]}
    assert "not simulating" in alice.error("order_batch", {"session_id": ready, **batch})["message"]
    bobs = session_id(engine, "bob")
    started(bob, bobs)
    assert alice.error("order_batch", {"session_id": bobs, **batch})["error_code"] == "SESSION_NOT_FOUND"
    assert alice.error("tick_ack", {"session_id": bobs, "sequence_id": 1})["error_code"] == "SESSION_NOT_FOUND"
    assert alice.error("query_positions", {"session_id": bobs})["error_code"] == "SESSION_NOT_FOUND"
    assert [m.data["sequence_id"] for m in bob.exchange("tick_ack", {"session_id": bobs, "sequence_id": 1})] == [2]


def test_the_plans_orders_per_minute_rejects_orders_past_it() -> None:
    engine = Engine(EngineSettings(default_plan=Plan.FREE))
    connection = Connection(
        engine,
        Identity(user_id="f", plan=Plan.FREE, expires_at=datetime.now(UTC) + timedelta(hours=1)),
        clock=(clock := FakeClock()),
    )
    connection.outgoing()
    p = Peer(connection)
    sid = engine.create_session("f", **DAYS, plan=Plan.FREE).session_id
    started(p, sid)
    limit = engine.limits_for(Plan.FREE).orders_per_minute
    assert limit is not None
    orders = [order(f"o{i}", type="limit", price="1", time_in_force="gtc") for i in range(limit + 2)]
    ack = p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "orders": orders[: limit + 1]})[-1].data
    assert len(ack["accepted_orders"]) == limit
    assert ack["errors"][f"o{limit}"]["error_code"] == "RATE_LIMIT_EXCEEDED"
    clock.now += 61
    ack = p.exchange("order_batch", {"session_id": sid, "batch_id": "c", "orders": orders[limit + 1 :]})[-1].data
    assert ack["accepted_orders"] == [f"o{limit + 1}"]


def test_open_orders_per_session_are_capped() -> None:
    engine = new_engine()
    p = peer(engine, settings=ServerSettings(simulation_max_open_orders=2))
    sid = session_id(engine)
    started(p, sid)
    orders = [order(f"o{i}", type="limit", price="1", time_in_force="gtc") for i in range(3)]
    ack = p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "orders": orders})[-1].data
    assert ack["accepted_orders"] == ["o0", "o1"]
    assert "2 orders are already working" in ack["rejected_orders"]["o2"]


def test_cancel_order_answers_with_what_it_canceled() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    bracket = order("e", type="limit", price="1", stop_loss="0.5", take_profit="2", time_in_force="gtc")
    p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "orders": [bracket]})
    messages = p.exchange("cancel_order", {"session_id": sid, "order_id": "e"})
    assert types(messages) == ["order_update", "order_canceled"]
    assert messages[0].data["event"] == "canceled"
    assert messages[1].data["canceled"] == ["e"]
    again = p.error("cancel_order", {"session_id": sid, "order_id": "e"})
    assert again["error_code"] == "INVALID_ORDER"
    assert "canceled and can no longer be canceled" in again["message"]
    assert p.error("cancel_order", {"session_id": sid, "order_id": "zzz"})["error_code"] == "INVALID_ORDER"
    assert p.error("cancel_order", {"session_id": sid, "order_id": 5})["error_code"] == "VALIDATION_FAILED"


# -- control ---------------------------------------------------------------------------------


def test_pause_holds_the_run_and_resume_goes_on() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    (paused,) = p.exchange("pause_simulation", {"session_id": sid})
    assert paused.type == "simulation_paused"
    assert paused.data["reason"] == "requested by the client"
    assert engine.get_session("alice", sid).state.value == "paused"
    again = p.exchange("pause_simulation", {"session_id": sid})[0]
    assert again.data["already_paused"] is True
    error = p.error("tick_ack", {"session_id": sid, "sequence_id": 1})
    assert "paused" in error["message"]
    resumed = p.exchange("resume_simulation", {"session_id": sid})
    assert types(resumed) == ["simulation_resumed"]
    assert engine.get_session("alice", sid).state.value == "running"
    assert [m.data["sequence_id"] for m in p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})] == [2]


def test_query_positions_answers_the_account() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1, "orders": [order("a")]})
    (answer,) = p.exchange("query_positions", {"session_id": sid})
    assert answer.type == "current_positions"
    assert answer.data["positions"][0]["quantity"] == "10"
    assert answer.data["sequence_id"] == 2
    assert Decimal(answer.data["equity"]) == Decimal(answer.data["cash"]) + Decimal(
        answer.data["positions"][0]["market_value"]
    )


def test_a_flood_of_control_messages_changes_nothing_else() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    for _ in range(500):
        p.exchange("pause_simulation", {"session_id": sid})
        p.exchange("resume_simulation", {"session_id": sid})
        p.exchange("query_positions", {"session_id": sid})
    assert [m.data["sequence_id"] for m in p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})] == [2]
    assert engine.get_session("alice", sid).state.value == "running"


def test_a_client_that_stops_acknowledging_is_paused_after_the_timeout() -> None:
    engine = new_engine()
    clock = FakeClock()
    p = peer(engine, clock=clock, settings=ServerSettings(simulation_ack_timeout=30))
    sid = session_id(engine)
    started(p, sid)
    assert p.connection.desk.stalled(clock.now + 29) == []
    (paused,) = p.connection.desk.stalled(clock.now + 30)
    assert paused.type == "simulation_paused"
    assert paused.data["reason"] == "no tick_ack for 30 s"
    assert engine.get_session("alice", sid).state.value == "paused"
    assert p.connection.desk.stalled(clock.now + 300) == []  # paused once


def test_a_disconnect_pauses_the_run_and_a_new_connection_takes_it_over() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    first = peer(engine, registry=registry)
    sid = session_id(engine)
    started(first, sid, max_pending_ticks=2)
    first.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})
    first.connection.desk.closed()
    assert engine.get_session("alice", sid).state.value == "paused"
    second = peer(engine, registry=registry)
    error = second.error("tick_ack", {"session_id": sid, "sequence_id": 2})
    assert "resume_simulation" in error["message"]
    messages = second.exchange("resume_simulation", {"session_id": sid})
    assert types(messages) == ["simulation_resumed", "tick", "tick"]  # the unacknowledged ticks again
    assert [m.data["sequence_id"] for m in messages[1:]] == [2, 3]
    assert messages[1].data["resolved"] is True
    intruder = peer(engine, "mallory", registry=registry)
    assert intruder.error("resume_simulation", {"session_id": sid})["error_code"] == "SESSION_NOT_FOUND"
    for sequence_id in range(2, TICKS + 1):
        messages = second.exchange("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
    assert "simulation_complete" in types(messages)
    assert engine.get_session("alice", sid).state.value == "completed"


# -- results -------------------------------------------------------------------------------------


def test_results_are_paged_and_join_into_the_embedded_result() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1, "orders": [order("a")]})
    for sequence_id in range(2, TICKS + 1):
        p.exchange("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
    first = p.exchange("get_results", {"session_id": sid, "limit": 7})[0].data
    assert first["totals"]["equity_curve"] == TICKS
    assert len(first["result"]["equity_curve"]) == 7
    assert first["next_offset"] == 7
    last = p.exchange("get_results", {"session_id": sid, "offset": 14, "limit": 7})[0].data
    assert len(last["result"]["equity_curve"]) == TICKS - 14
    assert last["next_offset"] is None
    assert first["result"]["digest"] == engine.get_result("alice", sid).digest
    assert p.error("get_results", {"session_id": sid, "limit": 0})["details"]["fields"] == ["limit"]
    assert p.error("get_results", {"session_id": sid, "offset": -1})["details"]["fields"] == ["offset"]
    other = session_id(engine)
    assert p.error("get_results", {"session_id": other})["error_code"] == "INVALID_STATE_TRANSITION"


# -- without flow control, and the original clients' one-step start ---------------------------


def test_the_one_step_start_creates_answers_session_created_and_streams() -> None:
    engine = new_engine()
    p = peer(engine)
    request_id = p.send(
        "start_simulation",
        {
            "symbols": ["AAPL"],
            "start_date": "2023-01-01T00:00:00Z",
            "end_date": "2023-01-10T00:00:00Z",
            "initial_capital": "10000",
            "timeframe": "1d",
            "warmup_bars": 5,
            "adjusted": True,
            "data_provider": "polygon",
        },
    )
    messages = p.received()
    assert types(messages) == ["session_created", "simulation_started", "history_snapshot"]
    assert messages[0].request_id == request_id
    sid = messages[0].data["session_id"]
    assert messages[1].data["flow_control_enabled"] is False
    assert messages[1].data["reproducible"] is False
    assert messages[1].data["tick_interval_ms"] == 100
    (run,) = p.connection.desk.take_new_streams()
    streamed: list[Envelope] = []
    while not run.finished:
        streamed += [decode(encode_message(x.type, dict(x.data), None), 1 << 20) for x in run.stream_step()]
        if run.position == 2:
            ack = p.exchange("order_batch", {"session_id": sid, "batch_id": "b", "orders": [order("o")]})[-1]
            assert ack.data["accepted_orders"] == ["o"]
    kinds = types(streamed)
    assert kinds.count("tick") == engine.get_session("alice", sid).estimated_ticks
    assert "execution_report" in kinds
    assert kinds[-2:] == ["simulation_complete", "simulation_end"]
    assert all(m.data["session_id"] == sid for m in streamed)
    assert p.error("tick_ack", {"session_id": sid, "sequence_id": 1})["error_code"] == "INVALID_STATE_TRANSITION"


def test_acks_are_refused_without_flow_control() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid, flow_control=False)
    (run,) = p.connection.desk.take_new_streams()
    run.stream_step()
    error = p.error("tick_ack", {"session_id": sid, "sequence_id": 1})
    assert "without flow control" in error["message"]


def test_order_request_from_wire_reads_a_stop_order_as_the_original_clients_send_it() -> None:
    request = order_request_from_wire(order("s", side="sell", type="stop", price="90.5"))
    assert request.stop_price == Decimal("90.5")
    assert request.limit_price is None
    with pytest.raises(SimutradorError) as refused:
        order_request_from_wire(["not", "an", "order"])
    assert refused.value.code is ErrorCode.INVALID_ORDER


def test_a_run_past_the_plans_wall_clock_limit_ends_in_error() -> None:
    now = datetime(2025, 6, 2, tzinfo=UTC)
    clock = ManualClock(now)
    engine = Engine(EngineSettings(default_plan=Plan.FREE), clock=clock)
    connection = Connection(engine, Identity(user_id="f", plan=Plan.FREE, expires_at=now + timedelta(days=9)))
    connection.outgoing()
    p = Peer(connection)
    sid = engine.create_session(
        "f", symbols=["AAPL"], start="2016-01-04", end="2024-12-31", capital=1_000, plan=Plan.FREE
    ).session_id
    started(p, sid)
    messages: list[Envelope] = []
    sequence_id = 0
    while not any(m.type == "session_error" for m in messages):  # an hour per tick: 24 h pass by tick 1,024
        sequence_id += 1
        clock.advance(timedelta(hours=1))
        messages = p.exchange("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
    assert sequence_id == 1023
    error = next(m.data for m in messages if m.type == "session_error")
    assert error["error_code"] == "SESSION_LIMIT_EXCEEDED"
    assert error["session_id"] == sid
    assert engine.get_session("f", sid).state.value == "error"
    assert "has ended" in p.error("tick_ack", {"session_id": sid, "sequence_id": 1024})["message"]
    assert "has ended" in p.error("pause_simulation", {"session_id": sid})["message"]


@pytest.mark.parametrize("kind", ["tick_ack", "order_batch", "resume_simulation", "query_positions"])
def test_a_session_id_that_is_not_a_string_is_named(kind: str) -> None:
    engine = new_engine()
    p = peer(engine)
    error = p.error(kind, {"session_id": 7, "sequence_id": 1, "batch_id": "b", "orders": []})
    assert error["error_code"] == "VALIDATION_FAILED"
    assert error["details"]["fields"] == ["session_id"]


def test_a_finished_run_cannot_be_taken_over() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    first = peer(engine, registry=registry)
    sid = session_id(engine)
    started(first, sid)
    for sequence_id in range(1, TICKS + 1):
        first.exchange("tick_ack", {"session_id": sid, "sequence_id": sequence_id})
    first.connection.desk.closed()
    second = peer(engine, registry=registry)
    error = second.error("resume_simulation", {"session_id": sid})
    assert error["error_code"] == "INVALID_STATE_TRANSITION"
    assert "completed" in error["message"]


def test_a_stream_taken_over_after_a_disconnect_is_paced_again() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    first = peer(engine, registry=registry)
    sid = session_id(engine)
    started(first, sid, flow_control=False)
    (run,) = first.connection.desk.take_new_streams()
    run.stream_step()
    first.connection.desk.closed()
    assert run.stream_step() == []  # paused: nothing moves
    second = peer(engine, registry=registry)
    assert types(second.exchange("resume_simulation", {"session_id": sid})) == ["simulation_resumed"]
    assert second.connection.desk.take_new_streams() == [run]
    assert [m.type for m in run.stream_step()] == ["tick"]


def test_a_batch_sent_again_gets_the_same_answer_and_submits_nothing_twice() -> None:
    engine = new_engine()
    p = peer(engine)
    sid = session_id(engine)
    started(p, sid)
    batch = {"session_id": sid, "batch_id": "once", "for_sequence_id": 1, "orders": [order("a")]}
    first = p.exchange("order_batch", batch)
    second = p.exchange("order_batch", batch)
    assert [m.type for m in second] == [m.type for m in first] == ["order_update", "batch_ack"]
    assert [m.data for m in second] == [m.data for m in first]
    assert p.exchange("query_positions", {"session_id": sid})[0].data["open_orders"] == ["a"]
    p.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})
    late = p.error("order_batch", batch)  # the tick was acknowledged: its batches are history
    assert "in the past" in late["message"]


def test_resume_session_after_a_dropped_connection_resends_what_was_missed() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    first = peer(engine, registry=registry)
    sid = session_id(engine)
    started(first, sid)
    first.exchange("tick_ack", {"session_id": sid, "sequence_id": 1, "orders": [order("a")]})  # fills at tick 2
    first.connection.desk.closed()  # tick 2 and its fill were sent, and lost
    second = peer(engine, registry=registry)
    messages = second.exchange("resume_session", {"session_id": sid, "last_processed_sequence_id": 1})
    assert types(messages) == ["state_sync", "tick"]
    sync = messages[0].data
    assert sync["next_sequence_id"] == 2
    assert sync["last_acknowledged"] == 1
    assert [m["type"] for m in sync["missed_messages"]] == ["execution_report", "account_snapshot"]
    assert sync["missed_executions"][0]["order_id"] == "a"
    assert sync["account_snapshot"]["positions"][0]["quantity"] == "10"
    assert messages[1].data["sequence_id"] == 2
    assert engine.get_session("alice", sid).state.value == "running"
    assert [m.data["sequence_id"] for m in second.exchange("tick_ack", {"session_id": sid, "sequence_id": 2})] == [3]


def test_resume_session_on_the_tick_still_unacknowledged_expects_its_ack() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    first = peer(engine, registry=registry)
    sid = session_id(engine)
    started(first, sid, max_pending_ticks=3)
    first.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})
    first.connection.desk.closed()  # the client took in tick 2 but its ack never arrived
    second = peer(engine, registry=registry)
    messages = second.exchange("resume_session", {"session_id": sid, "last_processed_sequence_id": 2})
    assert types(messages) == ["state_sync", "tick", "tick"]  # the window ahead, sent again
    assert messages[0].data["missed_messages"] == []
    assert messages[0].data["last_acknowledged"] == 1
    assert [m.data["sequence_id"] for m in messages[1:]] == [3, 4]
    wrong = second.error("resume_session", {"session_id": sid, "last_processed_sequence_id": 7})
    assert "does not match the run" in wrong["message"]
    assert second.error("resume_session", {"session_id": sid, "last_processed_sequence_id": "2"})["error_code"] == (
        "VALIDATION_FAILED"
    )


def test_resume_session_is_refused_for_a_run_another_connection_drives_and_for_nothing_to_resume() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    first, second = peer(engine, registry=registry), peer(engine, registry=registry)
    sid = session_id(engine)
    started(first, sid)
    busy = second.error("resume_session", {"session_id": sid, "last_processed_sequence_id": 1})
    assert "another open connection" in busy["message"]
    assert second.error("resume_simulation", {"session_id": sid})["error_code"] == "INVALID_STATE_TRANSITION"
    ready = session_id(engine)
    nothing = second.error("resume_session", {"session_id": ready, "last_processed_sequence_id": 0})
    assert "not simulating" in nothing["message"]
    assert [m.data["sequence_id"] for m in first.exchange("tick_ack", {"session_id": sid, "sequence_id": 1})] == [2]


def test_the_registry_forgets_finished_runs_and_runs_of_deleted_sessions() -> None:
    engine = new_engine()
    registry = SimulationRegistry()
    p = peer(engine, registry=registry)
    done, deleted, live = session_id(engine), session_id(engine), session_id(engine)
    for sid in (done, deleted, live):
        started(p, sid)
    for sequence_id in range(1, TICKS + 1):
        p.exchange("tick_ack", {"session_id": done, "sequence_id": sequence_id})
    engine.delete_session("alice", deleted)
    assert len(registry) == 3
    assert registry.prune(engine) == 2
    assert len(registry) == 1
    assert set(p.connection.desk.runs) == {live}
    assert [m.data["sequence_id"] for m in p.exchange("tick_ack", {"session_id": live, "sequence_id": 1})] == [2]
    assert "completed" in p.error("tick_ack", {"session_id": done, "sequence_id": 1})["message"]
