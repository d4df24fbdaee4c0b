"""Costs, positions and buying power: commission models, shorts, flips, leverage (DESIGN §4)."""

from __future__ import annotations

import pytest

from simutrador.simulation.account import Account, CommissionModel
from simutrador.simulation.events import OrderAccepted, OrderCanceled, OrderRejected
from simutrador.simulation.orders import OrderSide, OrderStatus
from tests.core.simulation.helpers import D, advance, bar, buy, fills_of, make_sim, sell

BARS = (
    bar(2, 100, 102, 99, 101, volume=2_000),
    bar(3, 103, 105, 101, 104, volume=2_000),
    bar(4, 104, 106, "101.50", 105, volume=2_000),
    bar(5, 99, 100, 97, 98, volume=2_000),
)


def test_commission_per_share() -> None:
    # 0.005 x 100 = 0.50; cash 100,000 - 10,300 - 0.50
    sim = make_sim(BARS, per_share="0.005")
    sim.advance()
    sim.submit(buy(100))
    [fill] = fills_of(sim.advance())
    assert fill.commission == D("0.500")
    assert sim.cash == D("89699.50")


def test_commission_minimum_per_order_across_partial_fills() -> None:
    # 10 % of 2,000 = 200 per bar. 0.002/share, minimum 1: the first 200 cost max(1, 0.40) = 1;
    # the next 100 raise the order's total to max(1, 0.60) = 1, so they cost 0.
    sim = make_sim(BARS, per_share="0.002", minimum=1, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(300, time_in_force="gtc"))
    fills = fills_of(advance(sim, 2))
    assert [(f.quantity, f.commission) for f in fills] == [(D(200), D(1)), (D(100), D(0))]
    # 0.004/share: 200 -> max(1, 0.80) = 1; 300 -> 1.20 in all, so the second part pays 0.20
    sim = make_sim(BARS, per_share="0.004", minimum=1, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(300, time_in_force="gtc"))
    fills = fills_of(advance(sim, 2))
    assert [f.commission for f in fills] == [D(1), D("0.20")]
    assert sim.account.total_commission == D("1.20")
    # cash: 100,000 - 200 x 103 - 100 x 104 - 1.20 = 68,998.80
    assert sim.cash == D("68998.80")


def test_commission_percentage_of_value() -> None:
    # 0.1 % of 100 x 103 = 10.30
    sim = make_sim(BARS, pct="0.1")
    sim.advance()
    sim.submit(buy(100))
    [fill] = fills_of(sim.advance())
    assert fill.commission == D("10.30")
    assert sim.cash == D(100_000) - D(10_300) - D("10.30")


def test_commission_model_on_its_own() -> None:
    model = CommissionModel(per_share=D("0.01"), minimum=D(2), pct=D("0.05"))
    # 50 shares at 20: 0.50 + 0.05 % of 1,000 = 0.50 + 0.50 = 1.00 -> the minimum 2
    commission, rate = model.for_fill(D(50), D(20), rate_before=D(0), paid=D(0))
    assert (commission, rate) == (D(2), D("1.00"))
    # 150 more at 20: rate 1.00 + 1.50 + 1.50 = 4.00 -> 4.00 - 2 paid = 2.00
    commission, rate = model.for_fill(D(150), D(20), rate_before=rate, paid=D(2))
    assert (commission, rate) == (D(2), D("4.00"))


def test_short_then_cover() -> None:
    # sell 100 at 103 (tick 2), buy 100 at 104 (tick 3): realized (103 - 104) x 100 = -100
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(sell(100))
    sim.advance()
    short = sim.position("X")
    assert (short.quantity, short.avg_cost, short.market_price) == (D(-100), D(103), D(104))
    assert short.unrealized_pnl == D(-100)  # (104 - 103) x -100
    assert short.market_value == D(-10_400)
    assert sim.cash == D(110_300)
    assert sim.equity == D(99_900)
    sim.submit(buy(100))
    sim.advance()
    flat = sim.position("X")
    assert (flat.quantity, flat.realized_pnl, flat.avg_cost) == (D(0), D(-100), D(0))
    assert sim.cash == D(99_900)
    advance(sim, 2)
    assert sim.result is not None
    [trade] = sim.result.trades
    assert (trade.side, trade.quantity, trade.entry_price, trade.exit_price) == (OrderSide.SELL, D(100), D(103), D(104))
    assert trade.pnl == D(-100)
    assert trade.return_pct == pytest.approx(-100 / 10_300 * 100)


def test_flip_long_to_short_with_one_order() -> None:
    # buy 100 at 103 (tick 2); sell 300 at 104 (tick 3): closes the long (+100) and opens 200 short at 104
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(buy(100))
    sim.advance()
    sim.submit(sell(300))
    sim.advance()
    position = sim.position("X")
    assert (position.quantity, position.avg_cost, position.realized_pnl) == (D(-200), D(104), D(100))
    # cash 100,000 - 10,300 + 31,200 = 120,900; equity 120,900 - 200 x 105 = 99,900... plus nothing else
    assert sim.cash == D(120_900)
    assert sim.equity == D(120_900) - D(200) * D(105)
    advance(sim, 2)  # tick 4 closes at 98: short 200 from 104 -> unrealized +1,200
    result = sim.result
    assert result is not None
    closed, still_open = result.trades
    assert (closed.side, closed.entry_price, closed.exit_price, closed.pnl) == (OrderSide.BUY, D(103), D(104), D(100))
    assert (still_open.side, still_open.quantity, still_open.entry_price) == (OrderSide.SELL, D(200), D(104))
    assert still_open.is_open and still_open.exit_price is None and still_open.duration is None
    assert result.final_equity == D(120_900) - D(200) * D(98) == D(101_300)
    assert result.positions["X"].quantity == D(-200)


def test_scaling_in_and_out_averages_cost() -> None:
    # buy 100 at 103, 100 at 104: average 103.50; sell 50 at 99: realized (99 - 103.50) x 50 = -225
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(buy(100))
    sim.advance()
    sim.submit(buy(100))
    sim.advance()
    assert sim.position("X").avg_cost == D("103.5")
    sim.submit(sell(50))
    sim.advance()
    position = sim.position("X")
    assert (position.quantity, position.avg_cost, position.realized_pnl) == (D(150), D("103.5"), D(-225))


def test_buying_power_at_submission() -> None:
    # 10,000 cash, leverage 1: 100 shares at the last close 101 need 10,100 -> rejected, nothing booked
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    [rejected] = sim.submit(buy(100))
    assert isinstance(rejected, OrderRejected)
    assert rejected.code == "INSUFFICIENT_BUYING_POWER"
    assert rejected.details == {"required": "10100.00", "available": "10000.00"}
    assert rejected.order.status is OrderStatus.REJECTED
    assert sim.open_orders() == []
    assert sim.cash == D(10_000)
    assert not fills_of(advance(sim, 3))
    # 99 shares need 9,999: accepted
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    assert isinstance(sim.submit(buy(99))[0], OrderAccepted)


def test_limit_and_stop_orders_are_priced_at_their_own_price() -> None:
    # 10,000 cash, last close 101. A buy limit of 90 x 111 needs 9,990 (at 101 it would be 11,211)
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    assert not isinstance(sim.submit(buy(111, limit_price=90))[0], OrderRejected)
    # a buy stop of 110: 91 shares need 10,010, 90 need 9,900
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    assert isinstance(sim.submit(buy(91, stop_price=110))[0], OrderRejected)
    assert not isinstance(sim.submit(buy(90, stop_price=110))[0], OrderRejected)


def test_open_orders_reserve_buying_power() -> None:
    # 10,000: a first buy of 60 x 101 = 6,060 leaves 3,940; a second of 40 x 101 = 4,040 is rejected
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    sim.submit(buy(60))
    assert isinstance(sim.submit(buy(40))[0], OrderRejected)
    assert isinstance(sim.submit(buy(39))[0], OrderAccepted)


def test_commission_counts_towards_buying_power() -> None:
    # 99 x 101 = 9,999 plus a 5 minimum commission = 10,004 > 10,000
    sim = make_sim(BARS, capital=10_000, minimum=5)
    sim.advance()
    assert isinstance(sim.submit(buy(99))[0], OrderRejected)


def test_leverage_allows_gross_exposure_up_to_equity_times_leverage() -> None:
    # leverage 2 on 10,000: 199 x 101 = 20,099 > 20,000 is rejected; 190 x 101 = 19,190 fits,
    # and at the open 190 x 103 = 19,570 still does: cash 10,000 - 19,570 = -9,570 (borrowed),
    # equity at the close 104: -9,570 + 19,760 = 10,190
    sim = make_sim(BARS, capital=10_000, leverage=2)
    sim.advance()
    assert isinstance(sim.submit(buy(199))[0], OrderRejected)
    sim.submit(buy(190))
    [fill] = fills_of(sim.advance())
    assert (fill.quantity, fill.price) == (D(190), D(103))
    assert (sim.cash, sim.equity) == (D(-9_570), D(10_190))
    # buying power left: 10,190 x 2 - 19,760 = 620 -> 5 x 104 = 520 fits, 6 x 104 = 624 does not
    assert isinstance(sim.submit(buy(6))[0], OrderRejected)
    assert not isinstance(sim.submit(buy(5))[0], OrderRejected)


def test_shorts_need_margin() -> None:
    # leverage 1: a short is covered by equity in full. 10,000: short 99 at 101 fits, 100 does not
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    assert isinstance(sim.submit(sell(100))[0], OrderRejected)
    assert not isinstance(sim.submit(sell(99))[0], OrderRejected)


def test_reducing_orders_are_always_allowed() -> None:
    # fully invested (bought 97 x 103 = 9,991 of 10,000): a sell that reduces needs no buying power
    sim = make_sim(BARS, capital=10_000)
    sim.advance()
    sim.submit(buy(97))
    sim.advance()
    assert isinstance(sim.submit(buy(10))[0], OrderRejected)
    assert not isinstance(sim.submit(sell(97))[0], OrderRejected)


def test_an_order_before_the_first_tick_is_not_judged_by_a_future_price() -> None:
    # before the first tick nothing is known of X. Two feeds differ only in the first bar's close
    # (a future price at that moment): whether the order is accepted must not depend on it. Buying
    # power is then checked at the fill: 100 x the open 100 = 10,000 <= 10,000.
    outcomes = []
    for close in ("99", "101"):
        sim = make_sim([bar(2, 100, 102, 98, close), bar(3, 100, 102, 98, 100)], capital=10_000)
        [event] = sim.submit(buy(100))
        outcomes.append(type(event).__name__)
        sim.advance()
        outcomes.append(str(sim.position("X").quantity))
    assert outcomes == ["OrderAccepted", "100", "OrderAccepted", "100"]


def test_buying_power_is_checked_again_at_fill() -> None:
    # 10,100 cash: 100 at the close 101 = 10,100 is accepted; the next open is 103: 10,300 > 10,100 -> canceled
    sim = make_sim(BARS, capital=10_100)
    sim.advance()
    sim.submit(buy(100))
    events = sim.advance()
    assert not fills_of(events)
    [canceled] = [e for e in events if isinstance(e, OrderCanceled)]
    assert canceled.reason == "INSUFFICIENT_BUYING_POWER at fill"
    assert sim.order("o-1").status is OrderStatus.CANCELED
    assert sim.cash == D(10_100)


def test_account_on_its_own() -> None:
    account = Account(D(1_000), D(2))
    account.fill("A", D(10), D(50), D("1.00"))  # long 500
    account.fill("B", D(-4), D(25), D(0))  # short 100
    account.mark({"A": D(55), "B": D(20), "C": D(1)})
    # cash 1,000 - 501 + 100 = 599; equity 599 + 550 - 80 = 1,069; gross 550 + 80 = 630
    assert account.cash == D(599)
    assert account.equity == D(1_069)
    assert account.gross_exposure == D(630)
    assert account.buying_power() == D(1_069) * 2 - D(630)
    assert account.buying_power(D(100)) == D(1_069) * 2 - D(730)
    assert account.added_exposure("A", D(-10), D(55)) == 0  # closing
    assert account.added_exposure("A", D(-15), D(55)) == 0  # flips to 5 short: gross falls from 10 to 5
    assert account.added_exposure("A", D(-25), D(55)) == D(5) * D(55)  # flips to 15 short: 5 more
    assert account.added_exposure("C", D(3), D(1)) == D(3)
    assert (account.bought, account.sold) == (D(500), D(100))
