"""The fill rules through the `Simulator`: when and at what price each order type fills (DESIGN §4).

Every test works on the same four daily bars unless it says otherwise; the numbers in
the comments are the expectations worked out by hand.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.events import (
    AccountUpdated,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    OrderRequest,
    TickAdvanced,
)
from simutrador.simulation.matching import FillReason
from simutrador.simulation.orders import OrderStatus, OrderType
from tests.core.simulation.helpers import D, advance, at, bar, buy, fills_of, make_sim, sell

BARS = (
    bar(2, 100, 102, 99, 101),  # tick 1
    bar(3, 103, 105, 101, 104),  # tick 2
    bar(4, 104, 106, "101.50", 105),  # tick 3
    bar(5, 99, 100, 97, 98),  # tick 4
)


def test_market_fills_at_the_next_open() -> None:
    sim = make_sim(BARS)
    sim.advance()  # tick 1, close 101
    events = sim.submit(buy(10))
    assert [type(e) for e in events] == [OrderAccepted]
    assert isinstance(events[0], OrderAccepted)
    assert events[0].order.status is OrderStatus.ACCEPTED
    events = sim.advance()  # tick 2 opens at 103
    [fill] = fills_of(events)
    assert (fill.price, fill.quantity, fill.time, fill.reason) == (D(103), D(10), at(3), FillReason.MARKET_OPEN)
    assert [type(e) for e in events] == [OrderFilled, AccountUpdated, TickAdvanced]
    # cash 100,000 - 10 x 103 = 98,970; marked at the close 104: 98,970 + 1,040 = 100,010
    assert sim.cash == D(98_970)
    assert sim.equity == D(100_010)
    assert isinstance(events[-1], TickAdvanced)
    assert events[-1].equity == D(100_010)
    position = sim.position("X")
    assert (position.quantity, position.avg_cost, position.market_price) == (D(10), D(103), D(104))
    assert position.unrealized_pnl == D(10)  # (104 - 103) x 10


def test_an_order_sent_before_the_first_tick_fills_at_the_first_open() -> None:
    sim = make_sim(BARS)
    sim.submit(buy(10))
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.time) == (D(100), at(2))


def test_market_fills_at_this_close_with_fill_at_close() -> None:
    sim = make_sim(BARS, fill_at="close")
    sim.advance()  # tick 1 closes at 101
    events = sim.submit(buy(10))
    [fill] = fills_of(events)
    assert (fill.price, fill.time, fill.reason) == (D(101), at(2), FillReason.MARKET_CLOSE)
    assert sim.cash == D(100_000 - 1_010)
    assert not fills_of(sim.advance())


def test_limit_orders_are_not_filled_on_the_bar_they_were_sent_on() -> None:
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(buy(10, limit_price=101))  # tick 1 traded at 101 already: no matter, eligible from tick 2
    [fill] = fills_of(sim.advance())  # tick 2: O 103 > 101, L 101 <= 101: at the limit
    assert (fill.price, fill.time, fill.reason) == (D(101), at(3), FillReason.LIMIT)


@pytest.mark.parametrize(
    ("order", "price", "reason"),
    [
        # buy limit 104, tick 2 opens at 103 <= 104: the open, better than asked
        (buy(10, limit_price=104), "103", FillReason.LIMIT_OPEN),
        # buy limit 102: opens above (103), trades down to 101: at the limit
        (buy(10, limit_price=102), "102", FillReason.LIMIT),
        # sell limit 102: opens at 103 >= 102: the open
        (sell(10, limit_price=102), "103", FillReason.LIMIT_OPEN),
        # sell limit 104.50: opens below, high 105: at the limit
        (sell(10, limit_price="104.50"), "104.50", FillReason.LIMIT),
        # buy stop 104: opens below it (103), high 105 reaches it: at the stop
        (buy(10, stop_price=104), "104", FillReason.STOP),
        # buy stop 102: gapped, opened at 103 above it: at the open
        (buy(10, stop_price=102), "103", FillReason.STOP_GAP),
        # sell stop 102: opens above it, low 101 reaches it: at the stop
        (sell(10, stop_price=102), "102", FillReason.STOP),
        # sell stop 103.50: gapped, opened at 103 below it: at the open
        (sell(10, stop_price="103.50"), "103", FillReason.STOP_GAP),
        # stop-limit triggered at the open (gap past 102), then a limit of 102.50 reached on the same bar
        (buy(10, stop_price=102, limit_price="102.50"), "102.50", FillReason.STOP_LIMIT),
        # stop-limit triggered at the open, limit 103.50 >= open 103: the open
        (buy(10, stop_price=102, limit_price="103.50"), "103", FillReason.STOP_LIMIT_OPEN),
        # stop-limit triggered inside the bar at 104, within the limit 104.50: at the stop
        (buy(10, stop_price=104, limit_price="104.50"), "104", FillReason.STOP_LIMIT),
    ],
)
def test_fill_price_on_the_next_bar(order: OrderRequest, price: str, reason: FillReason) -> None:
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(order)
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.reason, fill.time, fill.ambiguous) == (D(price), reason, at(3), False)


@pytest.mark.parametrize(
    "order",
    [
        buy(10, limit_price="100.99"),  # the low is 101
        sell(10, limit_price="105.01"),  # the high is 105
        buy(10, stop_price="105.01"),
        sell(10, stop_price="100.99"),
        buy(10, stop_price="105.50", limit_price=106),  # never triggered
    ],
)
def test_not_reached_no_fill_and_a_day_order_expires(order: OrderRequest) -> None:
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(order)
    events = sim.advance()
    assert not fills_of(events)
    [expired] = [e for e in events if isinstance(e, OrderExpired)]
    assert expired.order.status is OrderStatus.EXPIRED
    assert sim.cash == D(100_000)


def test_a_limit_gapped_through_fills_at_the_better_open() -> None:
    # tick 4 gaps down to 99 through a buy limit of 102: the buyer gets the open, 99, not 102;
    # a sell limit of 107 is gapped away from (open 99, high 100): no fill
    sim = make_sim(BARS)
    advance(sim, 3)
    sim.submit(buy(10, limit_price=102))
    sim.submit(sell(5, limit_price=107, time_in_force="gtc"))
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.reason, fill.quantity) == (D(99), FillReason.LIMIT_OPEN, D(10))


def test_a_stop_limit_triggered_inside_the_bar_with_the_limit_beyond_it() -> None:
    # buy stop 104 limit 102: tick 2 touches 104 (high 105) and trades at 101 too, but when is unknown.
    # pessimistic: triggered, no fill on tick 2; a GTC order then works as a limit of 102 and
    # fills on tick 3 (O 104, L 101.50) at 102. optimistic: 102 on tick 2, flagged ambiguous.
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(buy(10, stop_price=104, limit_price=102, time_in_force="gtc"))
    assert not fills_of(sim.advance())
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.time, fill.ambiguous, fill.reason) == (D(102), at(4), False, FillReason.STOP_LIMIT)

    sim = make_sim(BARS, intrabar="optimistic")
    sim.advance()
    sim.submit(buy(10, stop_price=104, limit_price=102, time_in_force="gtc"))
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.time, fill.ambiguous) == (D(102), at(3), True)


def test_a_triggered_stop_limit_stays_triggered_when_the_price_moves_back() -> None:
    # sell stop 102 limit 104.50: tick 2 triggers (low 101) but 104.50 was maybe before -> no fill;
    # tick 3 (O 104, H 106) no longer touches 102, but the order is a limit now: fills at 104.50
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(sell(10, stop_price=102, limit_price="104.50", time_in_force="gtc"))
    assert not fills_of(sim.advance())
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.time) == (D("104.50"), at(4))


def test_market_slippage_against_the_order_on_the_grid() -> None:
    # 10 bps: buy at 103 x 1.001 = 103.103 -> 103.11 (up to the cent); sell 103 x 0.999 = 102.897 -> 102.89
    sim = make_sim(BARS, slippage_bps=10)
    sim.advance()
    sim.submit(buy(10))
    sim.submit(sell(4))
    bought, sold = fills_of(sim.advance())
    assert (bought.price, sold.price) == (D("103.11"), D("102.89"))
    assert bought.slippage_bps == (D("0.11") / D(103) * 10_000)
    # cash: 100,000 - 1,031.10 + 411.56 = 99,380.46
    assert sim.cash == D("99380.46")


def test_stop_slippage_and_the_cap_at_the_bar() -> None:
    # buy stop 104, 10 bps: 104.104 -> 104.11. Sell stop 102 with 100 bps: 100.98, floored at the low 101.
    sim = make_sim(BARS, slippage_bps=10)
    sim.advance()
    sim.submit(buy(10, stop_price=104))
    [fill] = fills_of(sim.advance())
    assert fill.price == D("104.11")
    sim = make_sim(BARS, slippage_bps=100)
    sim.advance()
    sim.submit(sell(10, stop_price=102))
    [fill] = fills_of(sim.advance())
    assert fill.price == D(101)


def test_a_market_buy_is_capped_at_the_high() -> None:
    # open 103, high 103.05: 50 bps would be 103.515 -> capped at 103.05
    sim = make_sim([bar(2, 100, 101, 99, 100), bar(3, 103, "103.05", 102, 103)], slippage_bps=50)
    sim.advance()
    sim.submit(buy(1))
    [fill] = fills_of(sim.advance())
    assert fill.price == D("103.05")


def test_limit_and_stop_limit_fills_get_no_slippage() -> None:
    sim = make_sim(BARS, slippage_bps=50)
    sim.advance()
    sim.submit(buy(10, limit_price=102))  # at the limit, 102, not 102.51
    sim.submit(buy(10, stop_price=104, limit_price="104.50"))  # at the stop 104
    first, second = fills_of(sim.advance())
    assert (first.price, second.price) == (D(102), D(104))
    assert first.slippage_bps == second.slippage_bps == 0


def test_close_fills_get_slippage_too() -> None:
    # close 101, 20 bps: 101.202 -> 101.21 (the high is 102)
    sim = make_sim(BARS, slippage_bps=20, fill_at="close")
    sim.advance()
    [fill] = fills_of(sim.submit(buy(1)))
    assert fill.price == D("101.21")


def test_a_position_opened_at_the_close_is_marked_at_the_close() -> None:
    # close 101, 20 bps: bought at 101.21. The position is worth 101 (the close), not what was paid:
    # equity 100,000 - 101.21 + 101 = 99,999.79; on the last tick too, where it is the final equity
    sim = make_sim(BARS, slippage_bps=20, fill_at="close")
    sim.advance()
    [update] = [e for e in sim.submit(buy(1)) if isinstance(e, AccountUpdated)]
    assert sim.position("X").market_price == D(101)
    assert sim.equity == update.equity == D("99999.79")
    advance(sim, 3)  # the last tick closes at 98
    sim.submit(buy(1))  # 98 x 1.002 = 98.196 -> 98.20
    assert sim.equity == D(100_000) - D("101.21") - D("98.20") + 2 * D(98)
    advance(sim, 1)
    assert sim.result is not None and sim.result.final_equity == D("99996.59")


def test_prices_are_rounded_to_the_grid_never_in_the_orders_favour() -> None:
    # increment 0.05: a buy limit 102.03 becomes 102.00 (down), a sell limit 102.03 becomes 102.05 (up);
    # a buy stop 104.01 becomes 104.05 (up), a sell stop 102.04 becomes 102.00 (down);
    # a buy bracket's stop-loss 95.02 -> 95.00 (a sell stop, down), take-profit 110.01 -> 110.05 (up)
    sim = make_sim(BARS, increment="0.05")
    ids = [
        sim.submit(order)[0].order.order_id  # type: ignore[union-attr]
        for order in (
            buy(1, limit_price="102.03"),
            sell(1, limit_price="102.03"),
            buy(1, stop_price="104.01"),
            sell(1, stop_price="102.04"),
            buy(1, stop_loss="95.02", take_profit="110.01"),
        )
    ]
    orders = [sim.order(i) for i in ids]
    assert orders[0].limit_price == D("102.00")
    assert orders[1].limit_price == D("102.05")
    assert orders[2].stop_price == D("104.05")
    assert orders[3].stop_price == D("102.00")
    assert (orders[4].stop_loss, orders[4].take_profit) == (D("95.00"), D("110.05"))
    assert [o.type for o in orders] == [
        OrderType.LIMIT,
        OrderType.LIMIT,
        OrderType.STOP,
        OrderType.STOP,
        OrderType.MARKET,
    ]


@pytest.mark.parametrize(
    ("order", "field"),
    [
        (buy(1, symbol="NOPE"), "symbol"),
        (buy(0), "quantity"),
        (buy(-5), "quantity"),
        (buy(1, limit_price=0), "limit_price"),
        (buy(1, stop_price=-1), "stop_price"),
        (buy(1, stop_loss=110, take_profit=100), "stop_loss"),  # a long's stop must be below its target
        (sell(1, stop_loss=100, take_profit=110), "stop_loss"),
        (buy(1, time_in_force="gtd"), "expire_at"),  # GTD without a time
        (buy(1, expire_at=at(9)), "expire_at"),  # a time without GTD
    ],
)
def test_invalid_orders_are_refused_and_change_nothing(order: OrderRequest, field: str) -> None:
    sim = make_sim(BARS)
    sim.advance()
    with pytest.raises(SimutradorError) as caught:
        sim.submit(order)
    assert caught.value.code is ErrorCode.INVALID_ORDER
    assert field in caught.value.message or caught.value.details.get("field") == field
    assert sim.orders() == []
    assert sim.open_orders() == []
    assert sim.cash == D(100_000)


def test_quantity_off_the_lot_size_is_refused() -> None:
    sim = make_sim(BARS, lot="10")
    with pytest.raises(SimutradorError) as caught:
        sim.submit(buy(15))
    assert caught.value.code is ErrorCode.INVALID_ORDER
    assert caught.value.details == {"field": "quantity", "lot_size": "10"}
    sim.submit(buy(20))
    assert [o.quantity for o in sim.orders()] == [D(20)]


def test_fractional_lots() -> None:
    sim = make_sim(BARS, lot="0.001")
    sim.submit(buy("0.125"))
    [fill] = fills_of(sim.advance())
    assert (fill.quantity, sim.cash) == (D("0.125"), D(100_000) - D("12.5"))  # 0.125 x 100


def test_client_order_ids_are_unique() -> None:
    sim = make_sim(BARS)
    sim.submit(buy(1, order_id="mine"))
    with pytest.raises(SimutradorError) as caught:
        sim.submit(buy(1, order_id="mine"))
    assert caught.value.code is ErrorCode.INVALID_ORDER
    assert [o.order_id for o in sim.orders()] == ["mine"]


def test_generated_ids_skip_ids_a_client_chose() -> None:
    # the client took "o-2"; the next generated id would have been "o-2": it is "o-3"
    sim = make_sim(BARS)
    sim.submit(buy(1, order_id="o-2"))
    [accepted] = sim.submit(buy(1))
    assert isinstance(accepted, OrderAccepted)
    assert accepted.order.order_id == "o-3"
    assert [o.order_id for o in sim.orders()] == ["o-2", "o-3"]


def test_a_naive_expiry_is_an_invalid_order() -> None:
    sim = make_sim(BARS)
    sim.advance()
    with pytest.raises(SimutradorError) as caught:
        sim.submit(buy(1, time_in_force="gtd", expire_at=datetime(2024, 1, 9)))
    assert caught.value.code is ErrorCode.INVALID_ORDER
    assert caught.value.details == {"field": "expire_at"}
    assert sim.orders() == []


def test_orders_match_in_submission_order() -> None:
    # two orders on one bar match in the order they were sent; executions are numbered in that order
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(buy(3))
    sim.submit(buy(7, limit_price=104))
    first, second = fills_of(sim.advance())
    assert (first.order_id, second.order_id) == ("o-1", "o-2")
    assert (first.execution_id, second.execution_id) == ("x-1", "x-2")


def test_submitting_after_the_end_is_refused() -> None:
    sim = make_sim(BARS)
    advance(sim, 5)
    assert sim.done
    with pytest.raises(SimutradorError) as caught:
        sim.submit(buy(1))
    assert caught.value.code is ErrorCode.INVALID_ORDER
    with pytest.raises(SimutradorError) as state:
        sim.advance()
    assert state.value.code is ErrorCode.INVALID_STATE_TRANSITION
