"""Simulation workloads at scale: 50 symbols x 10 years of daily bars, and 1,000 concurrent simulations.

Split from `simutrador_bench.simulation` (which re-exports these names) to keep each
module small; the same figures of DESIGN §9.
"""

from __future__ import annotations

import csv
import gc
import random
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

import attrs

from simutrador import DAILY, DirectoryCatalog, Engine, Tick
from simutrador_bench.inprocess import ticker, unlimited_settings
from simutrador_bench.simulation import CAPITAL, DAILY_END, DAILY_START, USER, BuyAndHold, Run

# -- 50 symbols, 10 years of daily bars -------------------------------------------------------------


def write_daily_folder(root: Path, count: int, start: date = DAILY_START, end: date = DAILY_END) -> None:
    """Write `count` daily CSV files (weekdays from `start` to `end`) under `root`: seeded random walks.

    Symbols are `inprocess.ticker` names (XAAA, XBAA...), prices start between 20 and
    500 and move by up to 2 % a day, rounded to cents.
    """
    days = [start + timedelta(days=d) for d in range((end - start).days + 1)]
    days = [day.isoformat() for day in days if day.weekday() < 5]
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        walk = random.Random(i)  # noqa: S311 - synthetic prices, not secrets
        price = walk.uniform(20, 500)
        rows: list[tuple[str, float, float, float, float, int]] = []
        for day in days:
            opened = price
            price = max(1.0, price * (1 + walk.uniform(-0.02, 0.02)))
            high, low = max(opened, price) * 1.005, min(opened, price) * 0.995
            rows.append(
                (day, round(opened, 2), round(high, 2), round(low, 2), round(price, 2), walk.randint(1000, 9000))
            )
        with (root / f"{ticker(i)}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("date", "open", "high", "low", "close", "volume"))
            writer.writerows(rows)


class DailyUniverse:
    """`count` symbols' daily bars from 2016 to 2025, as CSV files under `root`, on an engine of their own.

    Synthetic files (`write_daily_folder`) in a `DirectoryCatalog`: a session needs every
    symbol to cover its range and to be quoted in dollars, which 50 of the sample's
    symbols are not. The engine's feed cache holds the bars once for every run.

    Args:
        root: An empty folder for the files (the caller removes it).
        count: How many symbols.
        start: First day.
        end: Last day.
    """

    def __init__(self, root: Path, count: int, start: date = DAILY_START, end: date = DAILY_END) -> None:
        write_daily_folder(root, count, start, end)
        self.engine = Engine(unlimited_settings(), catalog=DirectoryCatalog(root, refresh_interval=3600))
        self.start, self.end = start, end
        self.symbols = tuple(ticker(i) for i in range(count))
        begin, finish = datetime.combine(start, dtime(), UTC), datetime.combine(end, dtime(), UTC)
        self.series = {s: tuple(self.engine.catalog.bars(s, begin, finish, DAILY)) for s in self.symbols}
        self.lots: dict[str, Decimal] = {}
        for symbol in self.symbols:
            info = self.engine.catalog.symbol_info(symbol)
            assert info is not None
            self.lots[symbol] = info.lot_size
        self.bars = sum(len(bars) for bars in self.series.values())
        """Bars in the range, every symbol's."""
        self.budget = CAPITAL * Decimal("0.9") / count  # a tenth kept back: fills are at the next open

    def buy_and_hold(self) -> BuyAndHold:
        """A fresh `BuyAndHold` of every symbol for an equal slice."""
        return BuyAndHold(self.lots, self.budget)

    def rows(self) -> list[list[tuple[int, float, float, float]]]:
        """Per tick, each bar as (symbol index, open, close, lot size) floats, for `plain_hold`."""
        ticks: dict[datetime, list[tuple[int, float, float, float]]] = {}
        for index, symbol in enumerate(self.symbols):
            lot = float(self.lots[symbol])
            for bar in self.series[symbol]:
                ticks.setdefault(bar.timestamp, []).append((index, float(bar.open), float(bar.close), lot))
        return [ticks[moment] for moment in sorted(ticks)]


def daily_call(universe: DailyUniverse, strategy: Callable[[], object]) -> Callable[[], Run]:
    """One whole embedded run per call: a session over every symbol of `universe`, a fresh `strategy()`."""
    engine = universe.engine

    def run() -> Run:
        session = engine.create_session(
            USER,
            symbols=universe.symbols,
            start_date=universe.start,
            end_date=universe.end,
            initial_capital=CAPITAL,
        )
        try:
            result = engine.run_simulation(USER, session.session_id, strategy())
        finally:
            engine.delete_session(USER, session.session_id)
        return Run(bars=universe.bars, orders=len(result.orders), fills=len(result.fills))

    run()
    return run


def plain_hold(rows: Sequence[Sequence[tuple[int, float, float, float]]], symbols: int, budget: float) -> Run:
    """Buy-and-hold as a plain-Python loop: fills at the next open, float cash, equity marked at every tick."""
    cash = float(CAPITAL)
    held = [0.0] * symbols
    price = [0.0] * symbols
    pending = [0.0] * symbols
    seen = [False] * symbols
    holding: list[int] = []
    orders = fills = bars = 0
    equity: list[float] = []
    for row in rows:
        for symbol, open_, close, lot in row:
            bars += 1
            if pending[symbol]:
                cash -= pending[symbol] * open_
                held[symbol] = pending[symbol]
                pending[symbol] = 0.0
                holding.append(symbol)
                fills += 1
            price[symbol] = close
            if not seen[symbol]:
                seen[symbol] = True
                quantity = budget / close // lot * lot
                if quantity:
                    pending[symbol] = quantity
                    orders += 1
        equity.append(cash + sum(held[s] * price[s] for s in holding))
    return Run(bars=bars, orders=orders, fills=fills)


def plain_hold_call(universe: DailyUniverse) -> Callable[[], Run]:
    """`plain_hold` over `universe`'s bars as floats (converted once, here)."""
    rows = universe.rows()
    budget = float(universe.budget)
    return lambda: plain_hold(rows, len(universe.symbols), budget)


# -- concurrent simulations: memory --------------------------------------------------------------------


def deep_size(root: object) -> int:
    """Bytes of `root` and everything it holds (containers, attrs instances), each object counted once."""
    seen: set[int] = set()
    stack: list[object] = [root]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())  # pyright: ignore[reportUnknownArgumentType]
            stack.extend(item.values())  # pyright: ignore[reportUnknownArgumentType]
        elif isinstance(item, (tuple, list)):
            stack.extend(item)  # pyright: ignore[reportUnknownArgumentType]
        elif attrs.has(type(item)):
            stack.extend(getattr(item, field.name) for field in attrs.fields(type(item)))
    return total


@attrs.frozen
class ConcurrentFigures:
    """Memory of concurrent simulations of one symbol.

    Attributes:
        simulations: Simulations alive at once.
        ticks_stepped: Ticks each was stepped through (half its year).
        bytes_per_simulation: Python memory each holds beyond the shared data (tracemalloc):
            its session, simulator, account, equity curve so far, step handle.
        session_bytes: The part of it a session alone holds (created, never started).
        data_bytes: The bars' size: what a private copy would cost each simulation.
        feeds_built: Bar feeds that came into being while the simulations were created (0:
            every one reads the feed built before them).
    """

    simulations: int
    ticks_stepped: int
    bytes_per_simulation: float
    session_bytes: float
    data_bytes: int
    feeds_built: int


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def live_feeds() -> int:
    """How many bar feeds (the engine's shared, read-only bars of a session) exist in this process."""
    gc.collect()
    return sum(1 for item in gc.get_objects() if type(item).__name__ == "BarFeed")


def concurrent_memory(count: int, *, symbol: str = "AAPL", year: int = 2024) -> ConcurrentFigures:
    """Start `count` simulations of `symbol` over `year`'s daily bars on one engine; step each halfway, in turn.

    Each is a session (`Engine.create_session`) and its step handle
    (`Engine.start_simulation`). Memory is Python's allocations (tracemalloc) after
    minus before, divided by `count`; a first simulation, run before, built the feed.
    Then `count` more sessions alone (never started) give the session's part.

    Raises:
        AssertionError: When a simulation built a feed of its own (the bars held twice).
    """
    engine = Engine(unlimited_settings())
    start, end = date(year, 1, 1), date(year, 12, 31)

    def session() -> str:
        made = engine.create_session(
            USER, symbols=symbol, start_date=start, end_date=end, initial_capital=Decimal(100_000)
        )
        return made.session_id

    first = engine.start_simulation(USER, session()).run_to_end()  # builds the feed; warms first-use caches
    half = first.ticks // 2
    feeds = live_feeds()
    assert feeds >= 1, "the first simulation's feed is alive"
    tracemalloc.start()
    try:
        before = _traced()
        handles = [engine.start_simulation(USER, session()) for _ in range(count)]
        last: list[Tick | None] = [None] * count
        for _ in range(half):
            for index, handle in enumerate(handles):
                last[index] = handle.step()
        middle = _traced()
        for _ in range(count):
            session()
        after = _traced()
    finally:
        tracemalloc.stop()
    built = live_feeds() - feeds
    assert built == 0, f"{built} simulations built a feed of their own"
    assert all(tick is not None and tick.sequence_id == half for tick in last)
    begin, finish = datetime.combine(start, dtime(), UTC), datetime.combine(end, dtime(), UTC)
    return ConcurrentFigures(
        simulations=count,
        ticks_stepped=half,
        bytes_per_simulation=(middle - before) / count,
        session_bytes=(after - middle) / count,
        data_bytes=deep_size(tuple(engine.catalog.bars(symbol, begin, finish, DAILY))),
        feeds_built=built,
    )
