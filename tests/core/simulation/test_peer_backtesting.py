"""SimuTrador against backtesting.py (https://github.com/kernc/backtesting.py) on the same bars.

1. The SMA(10/30) crossover with market orders: backtesting.py with ``trade_on_close=False``
   (market orders fill at the next bar's open, as our default ``fill_at="next_open"``),
   ``commission=0`` (our default), 100 shares and ``exclusive_orders=True``: a new signal
   closes the open trade and opens the opposite one at the same next open, which we do with
   one order of 200. Same fills, same equity at every bar and at the end, to the cent.
2. The same signals entering with GTC limit (long) and stop (short) orders: the same fills.
3. Where the two deliberately differ (a stop-limit gapped past its stop; exits touched on
   the bar an entry filled inside of), each engine's answer is asserted and explained;
   docs/simulation.md has the same text ("Compared with backtesting.py").

The signals are computed once, exactly, from our Decimal closes, and both strategies read
them by bar time: what is compared is the fills, not float moving averages.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest

from simutrador import Engine
from simutrador.data.catalog import Bar
from simutrador.data.sample import SampleCatalog
from simutrador.simulation.events import Tick
from simutrador.simulation.orders import OrderSide
from simutrador.simulation.runner import StrategyContext
from tests.core.simulation.helpers import advance, bar, buy, fills_of, make_sim

backtesting = pytest.importorskip("backtesting")  # in the dev extra: installed wherever CI runs
pandas = pytest.importorskip("pandas")

SYMBOL = "AAPL"
START, END = "2019-01-02", "2023-12-29"
SIZE = 100
CASH = 100_000
CENT = Decimal("0.01")


def crossover_signals(closes: list[Decimal], times: list[datetime]) -> dict[datetime, int]:
    """+1 where SMA(10) crosses above SMA(30), -1 where below (exactly: 3 x sum10 against sum30)."""
    signals: dict[datetime, int] = {}
    previous = 0
    for i in range(29, len(closes)):
        fast3 = 3 * sum(closes[i - 9 : i + 1])
        slow = sum(closes[i - 29 : i + 1])
        side = (fast3 > slow) - (fast3 < slow)
        if side and side != previous:
            if previous:
                signals[times[i]] = side
            previous = side
    return signals


def frame_of(bars: list[Bar]) -> Any:
    """Our bars as backtesting.py's DataFrame (floats, naive index)."""
    return pandas.DataFrame(
        {
            "Open": [float(b.open) for b in bars],
            "High": [float(b.high) for b in bars],
            "Low": [float(b.low) for b in bars],
            "Close": [float(b.close) for b in bars],
            "Volume": [float(b.volume) for b in bars],
        },
        index=pandas.DatetimeIndex([b.timestamp.replace(tzinfo=None) for b in bars]),
    )


@pytest.fixture(scope="module")
def market() -> tuple[list[Bar], dict[datetime, int]]:
    start, end = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in (START, END))
    bars = list(SampleCatalog().bars(SYMBOL, start, end))
    return bars, crossover_signals([b.close for b in bars], [b.timestamp for b in bars])


def backtest(frame: Any, on_bar: Any) -> Any:
    """Run backtesting.py with our settings; `on_bar(strategy, time)` places the orders."""

    class Peer(backtesting.Strategy):  # type: ignore[misc, name-defined]
        def init(self) -> None:
            pass

        def next(self) -> None:
            on_bar(self, self.data.index[-1].to_pydatetime().replace(tzinfo=UTC))

    run = backtesting.Backtest(
        frame, Peer, cash=CASH, commission=0, trade_on_close=False, exclusive_orders=True, finalize_trades=False
    )
    with warnings.catch_warnings():  # the peer's own (open trades at the end; its pandas deprecations)
        warnings.simplefilter("ignore")
        return run.run()


def simulate(strategy: Any) -> Any:
    engine = Engine()
    session = engine.create_session("peer", symbols=[SYMBOL], start=START, end=END, capital=CASH)
    return engine.run_simulation("peer", session.session_id, strategy)


def cents(value: object) -> Decimal:
    return Decimal(repr(float(value))).quantize(CENT)  # type: ignore[arg-type]


Fills = dict[tuple[datetime, Decimal], int]


def peer_fills(stats: Any, frame: Any) -> Fills:
    """backtesting.py's trades (an entry and an exit each) as net signed quantity by (bar, price)."""
    fills: Fills = {}

    def add(moment: Any, size: int, price: float) -> None:
        key = (moment.to_pydatetime().replace(tzinfo=UTC), cents(price))
        fills[key] = fills.get(key, 0) + size

    for trade in stats._trades.itertuples():
        add(trade.EntryTime, int(trade.Size), trade.EntryPrice)
        add(trade.ExitTime, -int(trade.Size), trade.ExitPrice)
    for trade in stats._strategy.trades:  # still open at the end
        add(pandas.Timestamp(frame.index[trade.entry_bar]), int(trade.size), trade.entry_price)
    return {key: size for key, size in fills.items() if size}


def our_fills(result: Any) -> Fills:
    """Our fills as net signed quantity by (bar, price)."""
    fills: Fills = {}
    for f in result.fills:
        key = (f.time, f.price)
        fills[key] = fills.get(key, 0) + (int(f.quantity) if f.side is OrderSide.BUY else -int(f.quantity))
    return {key: size for key, size in fills.items() if size}


def test_market_orders_same_fills_and_equity(market: tuple[list[Bar], dict[datetime, int]]) -> None:
    bars, signals = market
    assert len(signals) >= 20  # a real test: many crossings in five years

    def theirs(strategy: Any, now: datetime) -> None:
        side = signals.get(now)
        if side == 1 and strategy.position.size <= 0:
            strategy.buy(size=SIZE)
        elif side == -1 and strategy.position.size >= 0:
            strategy.sell(size=SIZE)

    def ours(ctx: StrategyContext, tick: Tick) -> None:
        side = signals.get(tick.time)
        held = ctx.position(SYMBOL).quantity
        if side == 1 and held <= 0:
            ctx.buy(SYMBOL, SIZE - held)  # 100, or 200 to flip a short
        elif side == -1 and held >= 0:
            ctx.sell(SYMBOL, SIZE + held)

    frame = frame_of(bars)
    stats = backtest(frame, theirs)
    result = simulate(ours)
    assert our_fills(result) == peer_fills(stats, frame)
    assert len(result.fills) == len(signals)  # every signal traded at the next open
    # the same equity at every bar and at the end, to the cent
    assert [cents(p.equity) for p in result.equity_curve] == [cents(v) for v in stats._equity_curve["Equity"]]
    assert result.final_equity == cents(stats["Equity Final [$]"])
    closed = [t for t in result.trades if not t.is_open]
    assert [t.pnl for t in closed] == [cents(pnl) for pnl in stats._trades["PnL"]]
    assert [(t.entry_time, t.exit_time) for t in closed] == [
        (a.to_pydatetime().replace(tzinfo=UTC), b.to_pydatetime().replace(tzinfo=UTC))
        for a, b in zip(stats._trades["EntryTime"], stats._trades["ExitTime"], strict=True)
    ]
    # the metrics defined alike agree; Sharpe, Sortino, CAGR and exposure are defined differently (see docs)
    m = result.metrics
    assert m.total_trades == int(stats["# Trades"])
    assert m.total_return_pct == pytest.approx(stats["Return [%]"])
    assert m.max_drawdown_pct == pytest.approx(-stats["Max. Drawdown [%]"])
    assert m.win_rate_pct == pytest.approx(stats["Win Rate [%]"])


def test_limit_and_stop_entries_same_fills(market: tuple[list[Bar], dict[datetime, int]]) -> None:
    # long signal: flatten, then buy 100 with a GTC limit 1 % under the signal bar's close;
    # short signal: flatten, then sell 100 with a GTC stop at the signal bar's low.
    # backtesting.py's exclusive_orders cancels the pending entry and closes the trade itself.
    bars, signals = market
    by_time = {b.timestamp: b for b in bars}

    def prices(now: datetime) -> tuple[Decimal, Decimal]:
        b = by_time[now]
        return (b.close * Decimal("0.99")).quantize(CENT, ROUND_FLOOR), b.low.quantize(CENT, ROUND_CEILING)

    def theirs(strategy: Any, now: datetime) -> None:
        side = signals.get(now)
        limit, stop = prices(now) if side else (None, None)
        if side == 1:
            strategy.buy(size=SIZE, limit=float(limit))  # type: ignore[arg-type]
        elif side == -1:
            strategy.sell(size=SIZE, stop=float(stop))  # type: ignore[arg-type]

    def ours(ctx: StrategyContext, tick: Tick) -> None:
        side = signals.get(tick.time)
        if not side:
            return
        for order in ctx.open_orders():
            ctx.cancel(order.order_id)
        held = ctx.position(SYMBOL).quantity
        if held > 0:
            ctx.sell(SYMBOL, held)
        elif held < 0:
            ctx.buy(SYMBOL, -held)
        limit, stop = prices(tick.time)
        if side == 1:
            ctx.buy(SYMBOL, SIZE, limit_price=limit, time_in_force="gtc")
        else:
            ctx.sell(SYMBOL, SIZE, stop_price=stop, time_in_force="gtc")

    frame = frame_of(bars)
    stats = backtest(frame, theirs)
    result = simulate(ours)
    mine = our_fills(result)
    assert mine == peer_fills(stats, frame)
    assert len({moment for moment, _ in mine}) > len(signals)  # some entries filled bars after their signal
    assert result.final_equity == cents(stats["Equity Final [$]"])


# Deliberate differences, on four bars: the order goes in at the Jan 3 close and works on Jan 4.
BARS = [
    bar(2, 100, 102, 99, 101),
    bar(3, 103, 105, 101, 104),
    bar(4, 104, 106, "101.50", 105),  # O 104, H 106, L 101.50
    bar(5, 99, 100, 97, 98),
]


def peer_on_bars(place: Any) -> Any:
    return backtest(frame_of(BARS), lambda strategy, now: place(strategy) if now.day == 3 else None)


def test_a_stop_limit_gapped_past_its_stop() -> None:
    # buy stop 103 limit 104.50; Jan 4 opens at 104, past the stop. backtesting.py fills at
    # min(stop, limit) = 103, below the open. But the stop triggered at the open, and from then on
    # the order is a limit of 104.50 facing a market at 104: it fills there and then, at 104. That
    # the bar later traded down through 103 (its low is 101.50) cannot give a better price to an
    # order already filled. We fill at the open, 104, as a broker would.
    stats = peer_on_bars(lambda s: s.buy(size=10, stop=103, limit=104.5))
    [trade] = stats._strategy.trades
    assert trade.entry_price == 103
    sim = make_sim(BARS)
    advance(sim, 2)
    sim.submit(buy(10, stop_price=103, limit_price="104.50"))
    [fill] = fills_of(sim.advance())
    assert fill.price == Decimal(104)


def test_exits_touched_on_the_bar_an_entry_filled_inside_of() -> None:
    # buy limit 102 fills inside Jan 4 (O 104, L 101.50) with a stop-loss 101.80 and a take-profit
    # 105.50, both touched that bar. backtesting.py defers such exits to the next bar (with a
    # warning): Jan 5 gaps to 99, so it sells at 99. We apply the intrabar policy on the entry's bar:
    # pessimistic, the stop after the entry, at 101.80, flagged ambiguous.
    stats = peer_on_bars(lambda s: s.buy(size=10, limit=102, sl=101.8, tp=105.5))
    [trade] = stats._trades.itertuples()
    assert (trade.EntryPrice, trade.ExitPrice, trade.ExitTime.day) == (102, 99, 5)
    sim = make_sim(BARS)
    advance(sim, 2)
    sim.submit(buy(10, limit_price=102, stop_loss="101.80", take_profit="105.50"))
    entry, exit_fill = fills_of(sim.advance())
    assert (entry.price, exit_fill.price, exit_fill.time.day, exit_fill.ambiguous) == (
        Decimal(102),
        Decimal("101.80"),
        4,
        True,
    )


def test_a_market_entry_then_both_exits_on_its_bar_agree_but_we_flag_it() -> None:
    # market entry at Jan 4's open 104; both 101.80 and 105.50 touched after it. backtesting.py
    # processes the stop-loss first; so does our pessimistic policy: 101.80 - and we flag it.
    stats = peer_on_bars(lambda s: s.buy(size=10, sl=101.8, tp=105.5))
    [trade] = stats._trades.itertuples()
    assert (trade.EntryPrice, trade.ExitPrice, trade.ExitTime.day) == (104, 101.8, 4)
    sim = make_sim(BARS)
    advance(sim, 2)
    sim.submit(buy(10, stop_loss="101.80", take_profit="105.50"))
    entry, exit_fill = fills_of(sim.advance())
    assert (entry.price, exit_fill.price, exit_fill.ambiguous) == (Decimal(104), Decimal("101.80"), True)
