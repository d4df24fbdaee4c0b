"""Time in force (DAY, GTC, IOC, FOK, GTD), cancel, and partial fills from the volume limit (DESIGN §4)."""

from __future__ import annotations

import pytest

from simutrador.data.catalog import Bar
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.events import OrderCanceled, OrderExpired
from simutrador.simulation.orders import OrderStatus
from tests.core.simulation.helpers import D, advance, at, bar, buy, fills_of, make_sim, sell

# Daily bars; the low falls a little each day, so a buy limit of 100 is reached on tick 4 only.
FALLING = (
    bar(2, 103, 104, 102, 103),
    bar(3, 103, 104, 101, 102),
    bar(4, 102, 103, "100.50", 101),
    bar(5, 101, 102, 100, 101),
    bar(8, 101, 102, 99, 100),
)


def test_day_on_daily_bars_works_through_the_next_bar_only() -> None:
    # sent at the close of tick 1: works on tick 2 (low 101 > 100), expires with it; tick 4 would fill it
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10, limit_price=100))
    events = sim.advance()
    [expired] = [e for e in events if isinstance(e, OrderExpired)]
    assert expired.order.order_id == "o-1"
    assert expired.order.reason == "its trading day ended"
    assert not fills_of(advance(sim, 3))
    assert sim.open_orders() == []


def test_gtc_works_until_filled() -> None:
    # the same limit, GTC: ticks 2 and 3 do not reach 100, tick 4 (low 100) fills it at 100
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10, limit_price=100, time_in_force="gtc"))
    assert not fills_of(advance(sim, 2))
    assert [o.order_id for o in sim.open_orders("X")] == ["o-1"]
    [fill] = fills_of(sim.advance())
    assert (fill.price, fill.time) == (D(100), at(5))
    assert sim.order("o-1").status is OrderStatus.FILLED


def test_gtd_works_until_its_time_then_expires() -> None:
    # expire_at = Jan 4: works on the Jan 3 and Jan 4 bars (lows 101, 100.50), expires on Jan 5's
    # without matching it (its low of 100 would have filled it)
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10, limit_price=100, time_in_force="gtd", expire_at=at(4)))
    assert not fills_of(advance(sim, 2))
    assert sim.order("o-1").is_open
    events = sim.advance()
    assert not fills_of(events)
    [expired] = [e for e in events if isinstance(e, OrderExpired)]
    assert expired.order.reason == "its GTD time passed"


def test_gtd_fills_before_its_time() -> None:
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10, limit_price="100.50", time_in_force="gtd", expire_at=at(4)))
    [fill] = fills_of(advance(sim, 2))
    assert (fill.price, fill.time) == (D("100.50"), at(4))


def test_gtd_expiry_must_be_in_the_future() -> None:
    sim = make_sim(FALLING)
    advance(sim, 2)  # now Jan 3
    with pytest.raises(SimutradorError) as caught:
        sim.submit(buy(1, time_in_force="gtd", expire_at=at(3)))
    assert caught.value.code is ErrorCode.INVALID_ORDER
    assert caught.value.details == {"field": "expire_at"}
    assert sim.orders() == []


def hourly(day: int, *hours: int, low: str = "99") -> list[Bar]:
    return [bar(at(day, hour), 100, 101, low, 100) for hour in hours]


def test_day_on_intraday_bars_expires_at_the_end_of_its_trading_day() -> None:
    # hourly bars, Jan 2 10:00-12:00 and Jan 3 10:00 (low 95 there). A buy limit of 96 sent at 10:00
    # works at 11:00 and 12:00 (low 99), expires with the day's last bar, and never sees Jan 3.
    bars = [*hourly(2, 10, 11, 12), *hourly(3, 10, low="95")]
    sim = make_sim(bars, timeframe="1h")
    sim.advance()
    sim.submit(buy(10, limit_price=96))
    assert sim.advance() and sim.order("o-1").is_open  # 11:00: still working
    events = sim.advance()  # 12:00, the day's last bar
    assert [e.order.order_id for e in events if isinstance(e, OrderExpired)] == ["o-1"]
    assert not fills_of(sim.advance())


def test_day_on_intraday_bars_uses_the_instruments_time_zone() -> None:
    # New York: 22:00Z and 23:00Z on Jan 2 and 01:00Z on Jan 3 are all Jan 2 (17:00-20:00 EST);
    # 05:00Z on Jan 3 is midnight, Jan 3. A DAY limit of 96 sent at 22:00Z works at 23:00Z and
    # 01:00Z (a UTC calendar would have expired it there) and expires before 05:00Z (low 95).
    bars = [
        bar(at(2, 22), 100, 101, 99, 100),
        bar(at(2, 23), 100, 101, 99, 100),
        bar(at(3, 1), 100, 101, "96.50", 100),
        bar(at(3, 5), 100, 101, 95, 100),
    ]
    sim = make_sim(bars, timeframe="1h", timezone="America/New_York")
    sim.advance()
    sim.submit(buy(10, limit_price=96))
    assert not fills_of(sim.advance())
    events = sim.advance()  # 01:00Z: still Jan 2 in New York, and the day's last bar
    assert sim.order("o-1").status is OrderStatus.EXPIRED
    assert [e.order.order_id for e in events if isinstance(e, OrderExpired)] == ["o-1"]
    assert not fills_of(sim.advance())


def test_ioc_takes_what_the_bar_allows_and_cancels_the_rest() -> None:
    # volume 1,000 at 10 %: 100 per bar. IOC buy 250 fills 100 at the open 103, the other 150 is canceled
    bars = [bar(2, 100, 101, 99, 100, volume=1_000), bar(3, 103, 104, 102, 103, volume=1_000)]
    sim = make_sim(bars, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(250, time_in_force="ioc"))
    events = sim.advance()
    [fill] = fills_of(events)
    assert (fill.quantity, fill.price, fill.is_partial, fill.remaining_quantity) == (D(100), D(103), True, D(150))
    [canceled] = [e for e in events if isinstance(e, OrderCanceled)]
    assert canceled.order.status is OrderStatus.CANCELED
    assert canceled.order.filled_quantity == D(100)
    assert canceled.reason == "IOC: not filled on its first eligible bar"


def test_ioc_not_reached_is_canceled() -> None:
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(sell(10, limit_price=110, time_in_force="ioc"))
    events = sim.advance()
    assert not fills_of(events)
    assert sim.order("o-1").status is OrderStatus.CANCELED


def test_fok_is_all_or_nothing() -> None:
    # 100 available per bar: FOK 250 is canceled with nothing filled; FOK 100 fills whole
    bars = [bar(2, 100, 101, 99, 100, volume=1_000), bar(3, 103, 104, 102, 103, volume=1_000)]
    sim = make_sim(bars, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(250, time_in_force="fok"))
    sim.submit(buy(100, time_in_force="fok"))
    events = sim.advance()
    [fill] = fills_of(events)
    assert (fill.order_id, fill.quantity, fill.is_partial) == ("o-2", D(100), False)
    first = sim.order("o-1")
    assert (first.status, first.filled_quantity) == (OrderStatus.CANCELED, D(0))
    assert first.reason == "FOK: the bar's volume limit could not fill it whole"


def test_fok_limit_not_reached_is_canceled() -> None:
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10, limit_price=90, time_in_force="fok"))
    sim.advance()
    assert sim.order("o-1").status is OrderStatus.CANCELED
    assert not fills_of(advance(sim, 3))


VOLUME = [
    bar(2, 100, 101, 99, 100, volume=1_000),
    bar(3, 103, 104, 102, 103, volume=1_000),
    bar(4, 104, 105, 103, 104, volume=500),
    bar(5, 105, 106, 104, 105, volume=2_000),
]


def test_partial_fills_carry_over_for_gtc() -> None:
    # 10 % of volume: 100 on Jan 3, 50 on Jan 4, 200 on Jan 5. GTC market 250:
    # 100 @ 103, 50 @ 104, 100 @ 105 -> cash 100,000 - 10,300 - 5,200 - 10,500 = 74,000
    sim = make_sim(VOLUME, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(250, time_in_force="gtc"))
    fills = fills_of(advance(sim, 3))
    assert [(f.quantity, f.price) for f in fills] == [(D(100), D(103)), (D(50), D(104)), (D(100), D(105))]
    assert [f.remaining_quantity for f in fills] == [D(150), D(100), D(0)]
    order = sim.order("o-1")
    assert order.status is OrderStatus.FILLED
    assert order.average_price == D(26_000) / D(250)
    assert sim.cash == D(74_000)


def test_partial_fills_of_a_day_order_on_daily_bars_expire_with_the_next_bar() -> None:
    sim = make_sim(VOLUME, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(250))
    events = sim.advance()
    assert [f.quantity for f in fills_of(events)] == [D(100)]
    order = sim.order("o-1")
    assert (order.status, order.filled_quantity) == (OrderStatus.EXPIRED, D(100))
    assert not fills_of(advance(sim, 2))


def test_the_volume_limit_is_shared_by_a_symbols_orders_in_submission_order() -> None:
    # 100 available on Jan 3: the first order takes 70, the second gets 30 of its 50
    sim = make_sim(VOLUME, max_volume_pct=10)
    sim.advance()
    sim.submit(buy(70))
    sim.submit(sell(50, time_in_force="gtc"))
    first, second = fills_of(sim.advance())
    assert (first.quantity, second.quantity) == (D(70), D(30))
    # Jan 4: 50 available, the 20 left of the GTC sell fill
    [third] = fills_of(sim.advance())
    assert (third.quantity, third.price) == (D(20), D(104))


def test_volume_limit_respects_lot_sizes() -> None:
    # 10 % of 1,000 = 100, in lots of 30: 90
    sim = make_sim(VOLUME, max_volume_pct=10, lot="30")
    sim.advance()
    sim.submit(buy(300, time_in_force="gtc"))
    [fill] = fills_of(sim.advance())
    assert fill.quantity == D(90)
    # Jan 4: 50 -> one lot of 30
    [fill] = fills_of(sim.advance())
    assert fill.quantity == D(30)


def test_a_bar_with_no_volume_fills_nothing() -> None:
    bars = [bar(2, 100, 101, 99, 100), bar(3, 100, 101, 99, 100, volume=0), bar(4, 100, 101, 99, 100)]
    sim = make_sim(bars, max_volume_pct=50)
    sim.advance()
    sim.submit(buy(10, time_in_force="gtc"))
    assert not fills_of(sim.advance())
    assert [f.quantity for f in fills_of(sim.advance())] == [D(10)]


def test_cancel_a_working_order() -> None:
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10, limit_price=100, time_in_force="gtc"))
    events = sim.cancel("o-1")
    [canceled] = events
    assert isinstance(canceled, OrderCanceled)
    assert (canceled.order.status, canceled.reason) == (OrderStatus.CANCELED, "canceled by the strategy")
    assert sim.open_orders() == []
    assert not fills_of(advance(sim, 4))


def test_cancel_what_cannot_be_canceled() -> None:
    sim = make_sim(FALLING)
    sim.advance()
    sim.submit(buy(10))
    sim.advance()  # filled
    for order_id, status in (("o-1", "filled"), ("o-404", None)):
        with pytest.raises(SimutradorError) as caught:
            sim.cancel(order_id)
        assert caught.value.code is ErrorCode.INVALID_ORDER
        assert caught.value.details.get("status") == status
    assert sim.order("o-1").status is OrderStatus.FILLED
    sim.submit(buy(1, limit_price=1, time_in_force="gtc"))
    sim.cancel("o-2")
    with pytest.raises(SimutradorError):
        sim.cancel("o-2")  # canceled already
    with pytest.raises(SimutradorError) as unknown:
        sim.order("o-404")
    assert unknown.value.code is ErrorCode.INVALID_ORDER


def test_a_day_market_order_at_the_close_carries_its_rest_through_the_trading_day() -> None:
    # fill_at="close" on hourly bars, 10 % of 1,000 = 100 per bar. A DAY market buy of 250 sent at
    # 10:00 takes 100 at that close (100), then works through the rest of Jan 2: 100 at the 11:00
    # open (101) and 50 at the 12:00 open (102). (Its trading day is the one it was filled on.)
    bars = [
        bar(at(2, 10), 99, 101, 98, 100, volume=1_000),
        bar(at(2, 11), 101, 102, 100, 101, volume=1_000),
        bar(at(2, 12), 102, 103, 101, 102, volume=1_000),
        bar(at(3, 10), 103, 104, 102, 103, volume=1_000),
    ]
    sim = make_sim(bars, timeframe="1h", fill_at="close", max_volume_pct=10)
    sim.advance()
    [first] = fills_of(sim.submit(buy(250)))
    assert (first.quantity, first.price) == (D(100), D(100))
    assert sim.order("o-1").is_open
    fills = fills_of(advance(sim, 2))
    assert [(f.quantity, f.price) for f in fills] == [(D(100), D(101)), (D(50), D(102))]
