"""The order life cycle: one table (DESIGN §4), every state x state pair, and refusals that change nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.orders import (
    OPEN_STATUSES,
    ORDER_TRANSITIONS,
    OrderRecord,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

S = OrderStatus

# The table as DESIGN §4 words it, written out independently of the code's table.
ALLOWED = {
    (S.PENDING, S.ACCEPTED),
    (S.PENDING, S.REJECTED),
    (S.ACCEPTED, S.PARTIALLY_FILLED),
    (S.ACCEPTED, S.FILLED),
    (S.ACCEPTED, S.CANCELED),
    (S.ACCEPTED, S.EXPIRED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),  # a further part
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELED),
    (S.PARTIALLY_FILLED, S.EXPIRED),
}


def record(status: OrderStatus = S.PENDING) -> OrderRecord:
    result = OrderRecord(
        order_id="o-1",
        symbol="X",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal(10),
        limit_price=Decimal("9.50"),
        stop_price=None,
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        stop_loss=None,
        take_profit=None,
        submitted_at=datetime(2024, 1, 2, tzinfo=UTC),
        sequence=1,
    )
    result.status = status
    return result


def test_every_status_has_a_row() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert {S.ACCEPTED, S.PARTIALLY_FILLED} == OPEN_STATUSES


@pytest.mark.parametrize(("source", "target"), list(itertools.product(OrderStatus, OrderStatus)))
def test_transition(source: OrderStatus, target: OrderStatus) -> None:
    order = record(source)
    if (source, target) in ALLOWED:
        order.move(target)
        assert order.status is target
        return
    with pytest.raises(SimutradorError) as caught:
        order.move(target)
    assert caught.value.code is ErrorCode.INVALID_STATE_TRANSITION
    assert caught.value.details == {
        "order_id": "o-1",
        "current_status": source.value,
        "requested_status": target.value,
    }
    assert order.status is source  # a refused move changes nothing


def test_snapshot_reports_average_price_and_remaining() -> None:
    order = record(S.PARTIALLY_FILLED)
    assert order.snapshot().average_price is None
    # two parts: 4 at 9.50 and 2 at 9.20 -> (38.00 + 18.40) / 6 = 9.40
    order.filled = Decimal(6)
    order.notional = Decimal("38.00") + Decimal("18.40")
    snapshot = order.snapshot()
    assert snapshot.average_price == Decimal("9.40")
    assert snapshot.remaining_quantity == Decimal(4) == order.remaining
    assert snapshot.is_open and order.is_open
    order.move(S.CANCELED)
    assert not order.snapshot().is_open
