"""Simulation workloads (DESIGN §9): whole embedded runs, and the baselines they are compared with.

Each ``*_call`` function builds its state first (bars generated, the shared feed
built by one warm-up run) and returns the zero-argument callable to time: one whole
run from a fresh session to its result, returning a `Run`. So
``benchmarks/test_simulation.py`` (pytest-benchmark) and ``simutrador bench`` time
exactly the same code. Like every adapter, this module uses only `simutrador`'s
public API: each run goes through `Engine.create_session` and `run_simulation`.

The workloads:

- **One symbol, 1-minute bars** (`MinuteBars`: BTC-USD from 2025-10-01, which trades
  every minute): the SMA(10/30) crossover of `SmaCrossover` (market orders,
  long/flat) and `do_nothing`.
- **Baselines on the same bars:** the same strategy as a plain-Python loop over floats
  (`plain_sma`, `plain_nothing`), backtesting.py (`backtesting_call`) and backtrader
  (`backtrader_call`) when they are installed. Every contender takes the same signals:
  backtesting.py's indicators are the same running means (`running_means`).
- **50 symbols, 10 years of daily bars** (`DailyUniverse`: synthetic CSV files in a
  `DirectoryCatalog`, since a session needs every symbol to cover its range in
  dollars): `do_nothing`, `BuyAndHold`, and `plain_hold` as the baseline.
- **Concurrent simulations of one symbol** (`concurrent_memory`): a thousand sessions'
  simulations stepped halfway through a year of daily bars, reading one shared feed.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from simutrador import Bar, Engine, StrategyContext, Tick
from simutrador_bench.inprocess import unlimited_settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CAPITAL",
    "DAILY_END",
    "DAILY_START",
    "FAST",
    "MAX_MINUTE_BARS",
    "MINUTE_START",
    "MINUTE_SYMBOL",
    "SLOW",
    "BuyAndHold",
    "ConcurrentFigures",
    "DailyUniverse",
    "Kind",
    "MinuteBars",
    "Run",
    "SmaCrossover",
    "Timed",
    "alternate",
    "backtesting_available",
    "backtesting_call",
    "backtrader_available",
    "backtrader_call",
    "concurrent_memory",
    "daily_call",
    "deep_size",
    "do_nothing",
    "engine_call",
    "live_feeds",
    "plain_hold",
    "plain_hold_call",
    "plain_nothing",
    "plain_nothing_call",
    "plain_sma",
    "plain_sma_call",
    "running_means",
    "write_daily_folder",
]

MINUTE_SYMBOL: Final = "BTC-USD"
MINUTE_START: Final = datetime(2025, 10, 1, tzinfo=UTC)
MAX_MINUTE_BARS: Final = 92 * 1440
"""BTC-USD's 1-minute bars in the sample (2025-10-01 to 2025-12-31, every minute)."""
DAILY_START: Final = date(2016, 1, 4)
DAILY_END: Final = date(2025, 12, 31)
CAPITAL: Final = Decimal(1_000_000)
"""Starting cash of every run: one BTC-USD at a time, or 50 equal slices for buy-and-hold."""
FAST: Final = 10
SLOW: Final = 30
USER: Final = "bench"

Kind = Literal["sma", "nothing"]
"""Which strategy a baseline runs."""


@attrs.frozen
class Run:
    """What one run did, to check that contenders did the same work.

    Attributes:
        bars: Bars the run stepped through (every symbol's, warmup excluded).
        orders: Orders the strategy placed (the signals it acted on).
        fills: Orders that filled (an order placed on the last bar never does).
    """

    bars: int
    orders: int
    fills: int


# -- the strategies, written as a performance-minded user would ---------------------------------


class SmaCrossover:
    """Long when the fast simple moving average of the closes is above the slow one, flat otherwise.

    Running sums of float closes: two additions and two subtractions per tick, never
    a re-sum of the window. A cross is a strict change of sign of ``fast - slow``
    (backtesting.py's ``crossover``); it buys only when flat and sells only when long.

    Args:
        symbol: The one symbol traded.
        quantity: Bought on an upward cross, sold on a downward one.
        fast: Bars in the fast average.
        slow: Bars in the slow average.
    """

    def __init__(self, symbol: str, quantity: int = 1, fast: int = FAST, slow: int = SLOW) -> None:
        self.symbol = symbol
        self.quantity = quantity
        self.fast = fast
        self.slow = slow
        self.closes: list[float] = []
        self.fast_sum = 0.0
        self.slow_sum = 0.0
        self.previous = 0.0  # fast - slow at the previous tick; 0 until both averages exist
        self.long = False

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        """Update both sums with this close; buy or sell on a cross."""
        close = float(tick.bars[self.symbol].close)
        closes = self.closes
        closes.append(close)
        count = len(closes)
        self.fast_sum += close
        self.slow_sum += close
        if count > self.fast:
            self.fast_sum -= closes[count - 1 - self.fast]
        if count > self.slow:
            self.slow_sum -= closes[count - 1 - self.slow]
        elif count < self.slow:
            return
        gap = self.fast_sum / self.fast - self.slow_sum / self.slow
        previous, self.previous = self.previous, gap
        if previous < 0 < gap and not self.long:
            ctx.buy(self.symbol, self.quantity)
            self.long = True
        elif previous > 0 > gap and self.long:
            ctx.sell(self.symbol, self.quantity)
            self.long = False


def do_nothing(ctx: StrategyContext, tick: Tick) -> None:
    """The strategy that looks at nothing and trades nothing: the cost of the simulation itself."""


class BuyAndHold:
    """Buy each symbol once, at its first bar, for an equal slice of the capital; hold to the end.

    Args:
        symbols: The symbols and their lot sizes (quantities are whole lots).
        budget: What each symbol is bought for, at its first close.
    """

    def __init__(self, symbols: Mapping[str, Decimal], budget: Decimal) -> None:
        self.lots = dict(symbols)
        self.budget = budget
        self.waiting = set(symbols)

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        """Buy the symbols seen for the first time."""
        if not self.waiting:
            return
        for symbol, bar in tick.bars.items():
            if symbol in self.waiting:
                self.waiting.discard(symbol)
                lot = self.lots[symbol]
                quantity = self.budget / bar.close // lot * lot
                if quantity:
                    ctx.buy(symbol, quantity)


# -- one symbol, 1-minute bars ---------------------------------------------------------------------


class MinuteBars:
    """`count` consecutive 1-minute bars of BTC-USD, for every contender.

    Holds the engine the runs use (its feed cache keeps the bars once), the session's
    range, the bars, and their opens and closes as floats for the plain-Python loops.

    Args:
        count: How many bars, at most `MAX_MINUTE_BARS`.

    Raises:
        ValueError: For a count the sample does not have.
    """

    def __init__(self, count: int) -> None:
        if not 0 < count <= MAX_MINUTE_BARS:
            raise ValueError(f"the sample has 1 to {MAX_MINUTE_BARS:,} 1-minute bars of {MINUTE_SYMBOL}, not {count}")
        self.symbol = MINUTE_SYMBOL
        self.engine = Engine(unlimited_settings())
        self.start = MINUTE_START
        self.end = MINUTE_START + timedelta(minutes=count - 1)
        self.bars: tuple[Bar, ...] = tuple(self.engine.catalog.bars(self.symbol, self.start, self.end, "1min"))
        assert len(self.bars) == count, "BTC-USD trades every minute"
        self.opens = [float(bar.open) for bar in self.bars]
        self.closes = [float(bar.close) for bar in self.bars]

    def __len__(self) -> int:
        """How many bars."""
        return len(self.bars)

    def frame(self) -> pd.DataFrame:
        """The bars as backtesting.py and backtrader take them: float OHLCV columns on a time index."""
        import pandas as pd  # noqa: PLC0415 - the pandas extra: only the peers' baselines need it

        return pd.DataFrame(
            {
                "Open": self.opens,
                "High": [float(bar.high) for bar in self.bars],
                "Low": [float(bar.low) for bar in self.bars],
                "Close": self.closes,
                "Volume": [float(bar.volume) for bar in self.bars],
            },
            index=pd.DatetimeIndex([bar.timestamp.replace(tzinfo=None) for bar in self.bars], name="Date"),
        )


def engine_call(data: MinuteBars, strategy: Callable[[], object]) -> Callable[[], Run]:
    """One whole embedded run per call: a session over `data`, simulated with a fresh `strategy()`.

    The session is deleted after its run, so repeated calls hold no results. The first
    call (made here, untimed) builds the shared feed.
    """
    engine = data.engine

    def run() -> Run:
        session = engine.create_session(
            USER,
            symbols=data.symbol,
            start_date=data.start,
            end_date=data.end,
            initial_capital=CAPITAL,
            timeframe="1min",
        )
        try:
            result = engine.run_simulation(USER, session.session_id, strategy())
        finally:
            engine.delete_session(USER, session.session_id)
        return Run(bars=result.ticks, orders=len(result.orders), fills=len(result.fills))

    run()
    return run


def running_means(values: Sequence[float], length: int) -> list[float]:
    """Simple moving averages of `values` by running sums, as `SmaCrossover` computes them (NaN until full).

    The same float operations in the same order, so every contender crosses on the same bars.
    """
    means: list[float] = []
    total = 0.0
    for index, value in enumerate(values):
        total += value
        if index >= length:
            total -= values[index - length]
        means.append(total / length if index >= length - 1 else math.nan)
    return means


def plain_sma(opens: Sequence[float], closes: Sequence[float], quantity: float = 1.0) -> Run:
    """The SMA(10/30) crossover as a plain-Python loop: float cash, fills at the next open, equity per bar."""
    cash = float(CAPITAL)
    position = 0.0
    pending = 0.0  # signed quantity to fill at the next open
    orders = fills = 0
    fast_sum = slow_sum = previous = 0.0
    long = False
    equity: list[float] = []
    for index, close in enumerate(closes):
        if pending:
            cash -= pending * opens[index]
            position += pending
            pending = 0.0
            fills += 1
        fast_sum += close
        slow_sum += close
        if index >= FAST:
            fast_sum -= closes[index - FAST]
        if index >= SLOW:
            slow_sum -= closes[index - SLOW]
        if index >= SLOW - 1:
            gap = fast_sum / FAST - slow_sum / SLOW
            if previous < 0 < gap and not long:
                pending, long = quantity, True
                orders += 1
            elif previous > 0 > gap and long:
                pending, long = -quantity, False
                orders += 1
            previous = gap
        equity.append(cash + position * close)
    return Run(bars=len(closes), orders=orders, fills=fills)


def _ignore(close: float) -> None:
    pass


def plain_nothing(closes: Sequence[float]) -> Run:
    """The do-nothing floor: a loop handing each bar's close to a function that ignores it, equity per bar."""
    cash = float(CAPITAL)
    equity: list[float] = []
    on_bar = _ignore
    for close in closes:
        on_bar(close)
        equity.append(cash)
    return Run(bars=len(closes), orders=0, fills=0)


def plain_sma_call(data: MinuteBars) -> Callable[[], Run]:
    """`plain_sma` over `data`'s floats."""
    return lambda: plain_sma(data.opens, data.closes)


def plain_nothing_call(data: MinuteBars) -> Callable[[], Run]:
    """`plain_nothing` over `data`'s floats."""
    return lambda: plain_nothing(data.closes)


def backtesting_available() -> bool:
    """Whether backtesting.py (``pip install backtesting``) can be imported."""
    return importlib.util.find_spec("backtesting") is not None


def backtesting_call(data: MinuteBars, kind: Kind) -> Callable[[], Run]:
    """One backtesting.py run per call over the same bars: the SMA crossover (its idiomatic form) or nothing.

    Its ``crossover`` on indicators from `running_means`, ``buy(size=1)`` when flat and
    ``position.close()`` when long; fills at the next open, no commission. Its warnings
    (trades left open at the end) are silenced.

    Raises:
        ModuleNotFoundError: When backtesting.py is not installed.
    """
    from backtesting import Backtest, Strategy  # noqa: PLC0415 - optional: a baseline, not a dependency
    from backtesting.lib import crossover  # noqa: PLC0415

    class SmaCross(Strategy):
        fast: Any
        slow: Any
        signals = 0  # orders placed (backtesting.py's own `orders` lists those still pending)

        def init(self) -> None:
            self.fast = self.I(running_means, self.data.Close.tolist(), FAST)
            self.slow = self.I(running_means, self.data.Close.tolist(), SLOW)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy(size=1)
                    self.signals += 1
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()
                self.signals += 1

    class Nothing(Strategy):
        signals = 0

        def init(self) -> None:
            pass

        def next(self) -> None:
            pass

    frame = data.frame()
    strategy = SmaCross if kind == "sma" else Nothing

    def run() -> Run:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stats = Backtest(frame, strategy, cash=float(CAPITAL)).run()
        finished: Any = stats["_strategy"]
        fills = 2 * len(stats["_trades"]) + (1 if finished.position else 0)  # closed trades, and one still open
        return Run(bars=len(frame), orders=finished.signals, fills=fills)

    run()
    return run


def backtrader_available() -> bool:
    """Whether backtrader (``pip install backtrader``) can be imported."""
    return importlib.util.find_spec("backtrader") is not None


def backtrader_call(data: MinuteBars, kind: Kind) -> Callable[[], Run]:  # pragma: no cover - not a dependency
    """One backtrader run per call over the same bars: its SMA and CrossOver indicators, or nothing.

    ``buy(size=1)`` on an upward cross when flat, ``close()`` on a downward one when
    long; market orders fill at the next open. Its SMA sums each window afresh
    (``math.fsum``), so a cross where the two averages nearly touch can differ from the
    other contenders': compare `Run.orders`.

    Raises:
        ModuleNotFoundError: When backtrader is not installed.
    """
    bt: Any = importlib.import_module("backtrader")

    class SmaCross(bt.Strategy):
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=FAST), bt.ind.SMA(period=SLOW))
            self.orders = 0
            self.fills = 0

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed:
                self.fills += 1

        def next(self) -> None:
            if self.cross[0] > 0 and not self.position:
                self.buy(size=1)
                self.orders += 1
            elif self.cross[0] < 0 and self.position:
                self.close()
                self.orders += 1

    class Nothing(bt.Strategy):
        orders = fills = 0

    frame = data.frame()

    def run() -> Run:
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        cerebro.addstrategy(SmaCross if kind == "sma" else Nothing)
        cerebro.broker.setcash(float(CAPITAL))
        (strategy,) = cerebro.run()
        return Run(bars=len(frame), orders=strategy.orders, fills=strategy.fills)

    return run


# -- timing several contenders in turn ---------------------------------------------------------------


@attrs.frozen
class Timed:
    """One contender's rounds.

    Attributes:
        seconds: Seconds of each round.
        run: What its last round did.
    """

    seconds: list[float]
    run: Run

    @property
    def rates(self) -> list[float]:
        """Bars per second of each round."""
        return [self.run.bars / s for s in self.seconds]

    @property
    def rate(self) -> float:
        """Bars per second at the median round."""
        return self.run.bars / statistics.median(self.seconds)


def alternate(calls: Sequence[Callable[[], Run]], *, rounds: int, time_limit: float) -> list[Timed]:
    """Time each call once per round, in turn, for `rounds` rounds or until `time_limit` seconds have passed.

    Taking turns puts any drift in the machine's speed on every contender alike. At
    least one round always runs.

    Returns:
        Per call, its seconds per round and its last run.
    """
    clock = time.perf_counter
    deadline = clock() + time_limit
    seconds: list[list[float]] = [[] for _ in calls]
    last: list[Run] = []
    for _ in range(max(1, rounds)):
        last = []
        for call, samples in zip(calls, seconds, strict=True):
            started = clock()
            last.append(call())
            samples.append(clock() - started)
        if clock() >= deadline:
            break
    return [Timed(samples, run) for samples, run in zip(seconds, last, strict=True)]


from simutrador_bench.simulation_scale import (  # noqa: E402 - re-exported after the names it imports
    ConcurrentFigures,
    DailyUniverse,
    concurrent_memory,
    daily_call,
    deep_size,
    live_feeds,
    plain_hold,
    plain_hold_call,
    write_daily_folder,
)
