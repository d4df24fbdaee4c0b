"""Brackets: stop-loss and take-profit children placed when the entry fills, one-cancels-other,
and the intrabar policy when one bar could have hit either (DESIGN §4)."""

from __future__ import annotations

import pytest

from simutrador.data.catalog import Bar
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRequest
from simutrador.simulation.matching import FillReason
from simutrador.simulation.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from simutrador.simulation.simulator import Simulator
from tests.core.simulation.helpers import D, advance, at, bar, buy, fills_of, make_sim, sell

ENTRY = bar(2, 100, 102, 99, 101)  # tick 1: the entry is sent at its close
QUIET = bar(3, 103, 105, 101, 104)  # tick 2: a market entry fills at 103; neither 100 nor 108 is touched


def bracket_sim(*later: Bar, intrabar: str = "pessimistic") -> Simulator:
    sim = make_sim([ENTRY, QUIET, *later], intrabar=intrabar)
    sim.advance()
    sim.submit(buy(10, stop_loss=100, take_profit=108))
    return sim


def test_children_are_placed_when_the_entry_fills() -> None:
    sim = bracket_sim(bar(4, 104, 106, 102, 105))
    events = sim.advance()
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["OrderFilled", "AccountUpdated", "OrderAccepted", "OrderAccepted", "TickAdvanced"]
    stop, target = (e.order for e in events if isinstance(e, OrderAccepted))
    assert (stop.order_id, stop.type, stop.side, stop.stop_price) == ("o-1-sl", OrderType.STOP, OrderSide.SELL, D(100))
    assert (target.order_id, target.type, target.limit_price) == ("o-1-tp", OrderType.LIMIT, D(108))
    assert stop.quantity == target.quantity == D(10)
    assert stop.parent_id == target.parent_id == "o-1"
    assert stop.time_in_force is TimeInForce.GTC
    assert stop.submitted_at == at(3)


def test_take_profit_fills_and_cancels_the_stop() -> None:
    # tick 3 (O 104, H 109): the take-profit at 108 fills; cash 100,000 - 1,030 + 1,080 = 100,050
    sim = bracket_sim(bar(4, 104, 109, 103, 108))
    sim.advance()
    events = sim.advance()
    [fill] = fills_of(events)
    assert (fill.order_id, fill.price, fill.reason, fill.ambiguous) == ("o-1-tp", D(108), FillReason.LIMIT, False)
    [canceled] = [e for e in events if isinstance(e, OrderCanceled)]
    assert (canceled.order.order_id, canceled.reason) == ("o-1-sl", "one-cancels-other: o-1-tp filled")
    assert sim.cash == D(100_050)
    assert sim.positions() == {}
    assert sim.open_orders() == []


@pytest.mark.parametrize(
    ("intrabar", "order_id", "price", "cash"),
    [
        # O 104, H 109, L 99: both 100 and 108 were touched, in an unknown order.
        # pessimistic: the stop, 100 -> 100,000 - 1,030 + 1,000 = 99,970
        ("pessimistic", "o-1-sl", "100", 99_970),
        # optimistic: the target, 108 -> 100,050
        ("optimistic", "o-1-tp", "108", 100_050),
    ],
)
def test_both_touched_on_one_bar_follows_the_policy_and_is_flagged(
    intrabar: str, order_id: str, price: str, cash: int
) -> None:
    sim = bracket_sim(bar(4, 104, 109, 99, 105), intrabar=intrabar)
    sim.advance()
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price, fill.ambiguous) == (order_id, D(price), True)
    assert sim.cash == D(cash)
    advance(sim, 1)
    assert sim.result is not None
    assert [f.ambiguous for f in sim.result.fills] == [False, True]


@pytest.mark.parametrize("intrabar", ["pessimistic", "optimistic"])
def test_a_gap_through_the_stop_fills_at_the_open_unambiguously(intrabar: str) -> None:
    # O 98 < stop 100: the stop went first, at the open 98, even though 108 was reached later (H 109)
    sim = bracket_sim(bar(4, 98, 109, 97, 105), intrabar=intrabar)
    sim.advance()
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price, fill.reason, fill.ambiguous) == ("o-1-sl", D(98), FillReason.STOP_GAP, False)
    assert sim.cash == D(100_000 - 1_030 + 980)


@pytest.mark.parametrize("intrabar", ["pessimistic", "optimistic"])
def test_a_gap_through_the_target_fills_at_the_open_unambiguously(intrabar: str) -> None:
    # O 110 > 108: the target at the open, 110 (a limit fills at its price or better), though L 99
    sim = bracket_sim(bar(4, 110, 111, 99, 105), intrabar=intrabar)
    sim.advance()
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price, fill.reason, fill.ambiguous) == ("o-1-tp", D(110), FillReason.LIMIT_OPEN, False)


@pytest.mark.parametrize(
    ("stop_loss", "take_profit", "intrabar", "exit_id", "price"),
    [
        # the entry fills at the open (103): the whole bar comes after it, so an exit touched on
        # this bar fills here, unambiguously: the target 104.50 (H 105) ...
        (None, "104.50", "pessimistic", "o-1-tp", "104.50"),
        # ... or the stop 101.50 (L 101)
        ("101.50", None, "optimistic", "o-1-sl", "101.50"),
    ],
)
def test_entry_at_the_open_then_exit_on_the_same_bar(
    stop_loss: str | None, take_profit: str | None, intrabar: str, exit_id: str, price: str
) -> None:
    sim = make_sim([ENTRY, QUIET], intrabar=intrabar)
    sim.advance()
    sim.submit(buy(10, stop_loss=stop_loss, take_profit=take_profit))
    entry, exit_fill = fills_of(sim.advance())
    assert (entry.price, entry.time) == (D(103), at(3))
    assert (exit_fill.order_id, exit_fill.price, exit_fill.time, exit_fill.ambiguous) == (
        exit_id,
        D(price),
        at(3),
        False,
    )


@pytest.mark.parametrize(
    ("intrabar", "exit_id", "price"), [("pessimistic", "o-1-sl", "101.50"), ("optimistic", "o-1-tp", "104.50")]
)
def test_entry_at_the_open_then_both_exits_on_the_same_bar(intrabar: str, exit_id: str, price: str) -> None:
    sim = make_sim([ENTRY, QUIET], intrabar=intrabar)
    sim.advance()
    sim.submit(buy(10, stop_loss="101.50", take_profit="104.50"))
    _, exit_fill = fills_of(sim.advance())
    assert (exit_fill.order_id, exit_fill.price, exit_fill.ambiguous) == (exit_id, D(price), True)


@pytest.mark.parametrize(
    ("intrabar", "exit_id", "price"),
    [
        # buy limit 102 fills inside tick 2 (O 103, L 101). The bar also reached 101.50 (the stop)
        # and 104.50 (the target), but before or after the entry is unknown.
        # pessimistic: the stop hit after the entry, at 101.50; optimistic: the target, at 104.50
        ("pessimistic", "o-1-sl", "101.50"),
        ("optimistic", "o-1-tp", "104.50"),
    ],
)
def test_entry_inside_the_bar_then_an_exit_on_the_same_bar_is_ambiguous(
    intrabar: str, exit_id: str, price: str
) -> None:
    sim = make_sim([ENTRY, QUIET], intrabar=intrabar)
    sim.advance()
    sim.submit(buy(10, limit_price=102, stop_loss="101.50", take_profit="104.50"))
    entry, exit_fill = fills_of(sim.advance())
    assert (entry.price, entry.reason) == (D(102), FillReason.LIMIT)
    assert (exit_fill.order_id, exit_fill.price, exit_fill.time, exit_fill.ambiguous) == (
        exit_id,
        D(price),
        at(3),
        True,
    )
    assert sim.positions() == {}


def test_entry_inside_the_bar_the_favourable_exit_waits_when_pessimistic() -> None:
    # entry 102 inside tick 2; the target 104.50 was touched (H 105) but maybe before the entry:
    # pessimistic waits; tick 3 (O 104, H 106) fills it at 104.50, unambiguously
    sim = make_sim([ENTRY, QUIET, bar(4, 104, 106, "101.50", 105)])
    sim.advance()
    sim.submit(buy(10, limit_price=102, stop_loss=100, take_profit="104.50"))
    assert [f.order_id for f in fills_of(sim.advance())] == ["o-1"]
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price, fill.ambiguous) == ("o-1-tp", D("104.50"), False)


def test_entry_inside_the_bar_the_adverse_exit_waits_when_optimistic() -> None:
    # entry 102 inside tick 2; the stop 101.50 was touched (L 101) but maybe before: optimistic waits;
    # tick 3 (L 101.50) then fills it at 101.50
    sim = make_sim([ENTRY, QUIET, bar(4, 104, 106, "101.50", 105)], intrabar="optimistic")
    sim.advance()
    sim.submit(buy(10, limit_price=102, stop_loss="101.50", take_profit=110))
    assert [f.order_id for f in fills_of(sim.advance())] == ["o-1"]
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price, fill.ambiguous) == ("o-1-sl", D("101.50"), False)


def test_children_of_a_close_fill_wait_for_the_next_bar() -> None:
    # fill_at="close": the entry fills at tick 1's close (101); tick 1's low 99 came before it, so the
    # stop 100 does not fill on tick 1. Tick 2 (L 101) does not reach it; tick 3 (L 99.50) does.
    sim = make_sim([ENTRY, QUIET, bar(4, 102, 103, "99.50", 100)], fill_at="close")
    sim.advance()
    events = sim.submit(buy(10, stop_loss=100))
    assert [f.price for f in fills_of(events)] == [D(101)]
    assert [e.order.order_id for e in events if isinstance(e, OrderAccepted)] == ["o-1", "o-1-sl"]
    assert not fills_of(sim.advance())
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price) == ("o-1-sl", D(100))


def test_a_short_entry_has_a_buy_stop_above_and_a_buy_limit_below() -> None:
    # sell 10 at 103; stop-loss 106 (a buy stop), take-profit 100 (a buy limit).
    # tick 3 (O 102, H 103, L 99.50): the target fills at 100 -> cash 100,000 + 1,030 - 1,000 = 100,030
    sim = make_sim([ENTRY, QUIET, bar(4, 102, 103, "99.50", 100)])
    sim.advance()
    sim.submit(sell(10, stop_loss=106, take_profit=100))
    sim.advance()
    stop, target = sim.open_orders()
    assert (stop.side, stop.type, stop.stop_price) == (OrderSide.BUY, OrderType.STOP, D(106))
    assert (target.side, target.type, target.limit_price) == (OrderSide.BUY, OrderType.LIMIT, D(100))
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.price) == ("o-1-tp", D(100))
    assert sim.cash == D(100_030)


VOLUME = [
    bar(2, 100, 102, 99, 101, volume=1_000),
    bar(3, 103, 105, 101, 104, volume=1_000),  # 100 may trade
    bar(4, 104, 106, 102, 105, volume=500),  # 50
    bar(5, 106, 110, 105, 109, volume=600),  # 60
    bar(8, 109, 111, 108, 110, volume=10_000),  # 1,000
]


def test_partial_entry_fills_grow_the_children_and_partial_exits_shrink_the_sibling() -> None:
    # 10 % of volume. GTC entry of 150: 100 on tick 2, 50 on tick 3 -> children of 100, then 150.
    # Tick 4 reaches the target 108 (H 110): 60 of 150 fill; the stop is cut to 90.
    # Tick 5 (O 109 >= 108): the other 90 at the open, 109; the stop is canceled.
    sim = make_sim(VOLUME, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(150, time_in_force="gtc", stop_loss=100, take_profit=108))
    sim.advance()
    assert [o.quantity for o in sim.open_orders() if o.parent_id] == [D(100), D(100)]
    sim.advance()
    assert [o.quantity for o in sim.open_orders() if o.parent_id] == [D(150), D(150)]
    [fill] = fills_of(sim.advance())
    assert (fill.order_id, fill.quantity, fill.price) == ("o-1-tp", D(60), D(108))
    stop = sim.order("o-1-sl")
    assert (stop.quantity, stop.status) == (D(90), OrderStatus.ACCEPTED)
    events = sim.advance()
    [fill] = fills_of(events)
    assert (fill.order_id, fill.quantity, fill.price) == ("o-1-tp", D(90), D(109))
    assert sim.order("o-1-sl").status is OrderStatus.CANCELED
    # cash: -100 x 103 - 50 x 104 + 60 x 108 + 90 x 109 = -10,300 - 5,200 + 6,480 + 9,810 = +790
    assert sim.cash == D(100_790)
    assert sim.positions() == {}


def test_cancel_of_an_unfilled_entry_places_no_children() -> None:
    sim = make_sim([ENTRY, QUIET, bar(4, 104, 106, 102, 105)])
    sim.advance()
    sim.submit(buy(10, limit_price=90, time_in_force="gtc", stop_loss=85, take_profit=120))
    assert [type(e) for e in sim.cancel("o-1")] == [OrderCanceled]
    assert not [e for e in advance(sim, 2) if isinstance(e, (OrderFilled, OrderAccepted))]
    assert [o.order_id for o in sim.orders()] == ["o-1"]


@pytest.mark.parametrize("intrabar", ["pessimistic", "optimistic"])
def test_an_exit_already_past_an_entry_inside_the_bar_fills_at_the_entry_price(intrabar: str) -> None:
    # buy limit 102 fills inside tick 2 (O 103, H 105, L 101). Its stop-loss, 106, is above the entry:
    # once bought at 102 the market is below the stop, which triggers at once and sells at 102
    # (not at 106, above the bar's high), whatever the policy: no intrabar order is in doubt.
    sim = make_sim([ENTRY, QUIET], intrabar=intrabar)
    sim.advance()
    sim.submit(buy(10, limit_price=102, stop_loss=106))
    entry, exit_fill = fills_of(sim.advance())
    assert entry.price == D(102)
    assert (exit_fill.order_id, exit_fill.price, exit_fill.reason) == ("o-1-sl", D(102), FillReason.STOP_GAP)
    assert not exit_fill.ambiguous
    assert D(101) <= exit_fill.price <= D(105)
    assert sim.cash == D(100_000)


def test_an_exit_after_an_entry_inside_the_bar_fills_at_its_own_price_not_the_open() -> None:
    # buy stop 104 fills inside tick 2 (O 103, H 105, L 101). The stop-loss 103.50 is above the open:
    # read from the bar's open it would look gapped (fill at 103); but the bar opened before the entry,
    # and after it the stop is hit at 103.50 (pessimistic, ambiguous).
    sim = make_sim([ENTRY, QUIET])
    sim.advance()
    sim.submit(buy(10, stop_price=104, stop_loss="103.50"))
    entry, exit_fill = fills_of(sim.advance())
    assert (entry.price, entry.reason) == (D(104), FillReason.STOP)
    assert (exit_fill.price, exit_fill.reason, exit_fill.ambiguous) == (D("103.50"), FillReason.STOP, True)
    assert sim.cash == D(100_000 - 1_040 + 1_035)


def test_client_ids_may_not_take_a_brackets_exit_names() -> None:
    # a client order "o-1-sl" would be taken over by o-1's bracket: such ids are refused
    sim = make_sim([ENTRY, QUIET])
    for order_id in ("o-1-sl", "mine-tp"):
        with pytest.raises(SimutradorError) as caught:
            sim.submit(
                OrderRequest(symbol="X", side=OrderSide.SELL, quantity=D(5), limit_price=D(200), order_id=order_id)
            )
        assert caught.value.code is ErrorCode.INVALID_ORDER
        assert "name a bracket's exits" in caught.value.message
    assert sim.orders() == []


def test_canceling_a_partly_filled_entry_keeps_the_exits_of_what_it_bought() -> None:
    # 10 % of volume: 100 of the 150 fill on tick 2, the children cover 100; canceling the rest of the
    # entry leaves the stop-loss and take-profit working for the 100 held
    sim = make_sim(VOLUME, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(150, time_in_force="gtc", stop_loss=100, take_profit=108))
    sim.advance()
    [canceled] = sim.cancel("o-1")
    assert isinstance(canceled, OrderCanceled)
    assert canceled.order.order_id == "o-1"
    assert [(o.order_id, o.quantity) for o in sim.open_orders()] == [("o-1-sl", D(100)), ("o-1-tp", D(100))]
    assert sim.position("X").quantity == D(100)
