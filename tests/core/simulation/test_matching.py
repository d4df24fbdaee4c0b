"""The pure fill rules of one order on one bar (`match_order`), slippage and the price grid."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from simutrador.simulation.matching import FillReason, IntrabarPolicy, apply_slippage, match_order, to_grid
from simutrador.simulation.orders import OrderRecord, OrderSide, OrderType, TimeInForce
from tests.core.simulation.helpers import BUY, SELL, D, bar

PESSIMISTIC = IntrabarPolicy.PESSIMISTIC
OPTIMISTIC = IntrabarPolicy.OPTIMISTIC

# O 103, H 105, L 101, C 104
BAR = bar(3, 103, 105, 101, 104)


def order(side: OrderSide, kind: OrderType, limit: str | None = None, stop: str | None = None) -> OrderRecord:
    return OrderRecord(
        order_id="o-1",
        symbol="X",
        side=side,
        type=kind,
        quantity=D(10),
        limit_price=None if limit is None else D(limit),
        stop_price=None if stop is None else D(stop),
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        stop_loss=None,
        take_profit=None,
        submitted_at=datetime(2024, 1, 2, tzinfo=UTC),
        sequence=1,
    )


@pytest.mark.parametrize(
    ("side", "kind", "limit", "stop", "price", "reason", "at_open"),
    [
        # market: the open, 103
        (BUY, OrderType.MARKET, None, None, "103", FillReason.MARKET_OPEN, True),
        # buy limit 104 >= open 103: the open, better than the limit
        (BUY, OrderType.LIMIT, "104", None, "103", FillReason.LIMIT_OPEN, True),
        # buy limit 102 < open 103, low 101 <= 102: traded through, at the limit
        (BUY, OrderType.LIMIT, "102", None, "102", FillReason.LIMIT, False),
        # buy limit 100.99 < low 101: not reached
        (BUY, OrderType.LIMIT, "100.99", None, None, None, False),
        # sell limit 102 <= open 103: the open
        (SELL, OrderType.LIMIT, "102", None, "103", FillReason.LIMIT_OPEN, True),
        # sell limit 104.50 > open, high 105 >= 104.50: at the limit
        (SELL, OrderType.LIMIT, "104.50", None, "104.50", FillReason.LIMIT, False),
        # sell limit 105.01 > high: not reached
        (SELL, OrderType.LIMIT, "105.01", None, None, None, False),
        # buy stop 104: open 103 below it, high 105 reaches it: at the stop
        (BUY, OrderType.STOP, None, "104", "104", FillReason.STOP, False),
        # buy stop 102: the bar opened at 103, past it (gap): at the open
        (BUY, OrderType.STOP, None, "102", "103", FillReason.STOP_GAP, True),
        # buy stop 105.01 > high: not triggered
        (BUY, OrderType.STOP, None, "105.01", None, None, False),
        # sell stop 102: open 103 above, low 101 reaches it: at the stop
        (SELL, OrderType.STOP, None, "102", "102", FillReason.STOP, False),
        # sell stop 103.50: opened at 103, below it (gap): at the open
        (SELL, OrderType.STOP, None, "103.50", "103", FillReason.STOP_GAP, True),
        # sell stop 100.99 < low: not triggered
        (SELL, OrderType.STOP, None, "100.99", None, None, False),
    ],
)
def test_rule(
    side: OrderSide,
    kind: OrderType,
    limit: str | None,
    stop: str | None,
    price: str | None,
    reason: FillReason | None,
    at_open: bool,
) -> None:
    match = match_order(order(side, kind, limit, stop), BAR, PESSIMISTIC)
    assert match.price == (None if price is None else D(price))
    assert match.reason is reason
    assert match.at_open is at_open
    assert match.slippable is (price is not None and kind in {OrderType.MARKET, OrderType.STOP})
    assert not match.ambiguous


@pytest.mark.parametrize(
    ("side", "stop", "limit", "policy", "price", "reason", "ambiguous", "triggered"),
    [
        # buy stop 102 gapped at the open 103 (triggered at the open); limit 103.50 >= open: the open
        (BUY, "102", "103.50", PESSIMISTIC, "103", FillReason.STOP_LIMIT_OPEN, False, True),
        # same trigger; limit 102.50 < open 103 but low 101 <= 102.50: the limit, on the same bar
        (BUY, "102", "102.50", PESSIMISTIC, "102.50", FillReason.STOP_LIMIT, False, True),
        # same trigger; limit 100.50 < low 101: triggered, no fill
        (BUY, "102", "100.50", PESSIMISTIC, None, None, False, True),
        # buy stop 104 touched inside the bar; 104 is within the limit 104.50: at the stop
        (BUY, "104", "104.50", PESSIMISTIC, "104", FillReason.STOP_LIMIT, False, True),
        # buy stop 104 touched inside; limit 102 beyond it, reached (low 101) but maybe before the
        # trigger: pessimistic no fill, optimistic at the limit, ambiguous
        (BUY, "104", "102", PESSIMISTIC, None, None, False, True),
        (BUY, "104", "102", OPTIMISTIC, "102", FillReason.STOP_LIMIT, True, True),
        # limit 100.50 not reached at all: no fill under either policy
        (BUY, "104", "100.50", OPTIMISTIC, None, None, False, True),
        # buy stop 105.50 not reached: nothing, not triggered
        (BUY, "105.50", "106", OPTIMISTIC, None, None, False, False),
        # sell stop 102 touched inside (open 103, low 101), limit 101.50 <= 102: at the stop
        (SELL, "102", "101.50", PESSIMISTIC, "102", FillReason.STOP_LIMIT, False, True),
        # sell stop 102, limit 104.50 beyond it (high 105 reached it): policy decides
        (SELL, "102", "104.50", PESSIMISTIC, None, None, False, True),
        (SELL, "102", "104.50", OPTIMISTIC, "104.50", FillReason.STOP_LIMIT, True, True),
        # sell stop 103.50 gapped (open 103 <= 103.50); limit 102 <= open: the open
        (SELL, "103.50", "102", PESSIMISTIC, "103", FillReason.STOP_LIMIT_OPEN, False, True),
    ],
)
def test_stop_limit(
    side: OrderSide,
    stop: str,
    limit: str,
    policy: IntrabarPolicy,
    price: str | None,
    reason: FillReason | None,
    ambiguous: bool,
    triggered: bool,
) -> None:
    match = match_order(order(side, OrderType.STOP_LIMIT, limit, stop), BAR, policy)
    assert match.price == (None if price is None else D(price))
    assert match.reason is reason
    assert match.ambiguous is ambiguous
    assert match.triggered is triggered
    assert not match.slippable  # a stop-limit fills as a limit: its limit or better


def test_triggered_stop_limit_works_as_a_limit() -> None:
    # triggered on an earlier bar: buy limit 102 on O 103 / L 101 fills at 102 whatever the stop
    triggered = order(BUY, OrderType.STOP_LIMIT, "102", "110")
    triggered.triggered = True
    match = match_order(triggered, BAR, PESSIMISTIC)
    assert (match.price, match.reason, match.triggered) == (D(102), FillReason.STOP_LIMIT, True)


@pytest.mark.parametrize(
    ("price", "side", "bps", "increment", "expected"),
    [
        # 103 x 1.001 = 103.103, up to the cent: 103.11
        ("103", BUY, "10", "0.01", "103.11"),
        # 103 x 0.999 = 102.897, down to the cent: 102.89
        ("103", SELL, "10", "0.01", "102.89"),
        # 103 x 1.0005 = 103.0515, up to 0.05: 103.10
        ("103", BUY, "5", "0.05", "103.10"),
        # 104 x 1.01 = 105.04: capped at the high 105
        ("104", BUY, "100", "0.01", "105"),
        # 102 x 0.99 = 100.98: floored at the low 101
        ("102", SELL, "100", "0.01", "101"),
        # no slippage: unchanged
        ("103", BUY, "0", "0.01", "103"),
    ],
)
def test_slippage_is_adverse_on_the_grid_within_the_bar(
    price: str, side: OrderSide, bps: str, increment: str, expected: str
) -> None:
    assert apply_slippage(D(price), side, D(bps), D(increment), BAR) == D(expected)


def test_to_grid() -> None:
    assert to_grid(Decimal("10.031"), Decimal("0.05"), ROUND_CEILING) == Decimal("10.05")
    assert to_grid(Decimal("10.049"), Decimal("0.05"), ROUND_FLOOR) == Decimal("10.00")
    assert to_grid(Decimal("1.234567"), Decimal("0.00001"), ROUND_FLOOR) == Decimal("1.23456")
    assert to_grid(Decimal("7.123"), Decimal(0), ROUND_FLOOR) == Decimal("7.123")  # no grid
