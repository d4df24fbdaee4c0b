"""The bar feed: N symbols' bars merged by time, shared by every simulation that reads them.

A `BarFeed` holds, per symbol, the bars a session reads (its warmup bars first, then
those of its range) and the merged **schedule**: the tick times (every time at which
at least one symbol has a bar) and, per tick, which symbols trade and the index of
their bar. A simulation only keeps a cursor into it, so a thousand simulations of one
symbol over one range hold one copy of the data: `FeedCache` hands the same feed to
every session that asks for the same (catalog, symbols, timeframe, range, warmup).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import attrs

from simutrador.data.catalog import Bar, Catalog
from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["BarFeed", "FeedCache", "build_feed"]

_Slot = tuple[tuple[str, int], ...]  # (symbol, index into its series) for each symbol trading at a tick


@attrs.frozen(slots=True, eq=False)
class BarFeed:
    """Bars of a session's symbols and the merged schedule of its ticks (read-only, shared).

    Attributes:
        symbols: The symbols, in session order.
        timeframe: The canonical timeframe of every bar.
        series: Per symbol, its warmup bars then its bars in the range, oldest first.
        first: Per symbol, the index in `series` of its first bar in the range
            (the number of warmup bars it has).
        ticks: The tick times, oldest first.
        slots: Per tick, the symbols with a bar at that time and the bar's index.
    """

    symbols: tuple[str, ...]
    timeframe: str
    series: dict[str, tuple[Bar, ...]]
    first: dict[str, int]
    ticks: tuple[datetime, ...]
    slots: tuple[_Slot, ...]

    @property
    def total_ticks(self) -> int:
        """How many ticks the session steps through."""
        return len(self.ticks)

    @property
    def total_bars(self) -> int:
        """How many bars the session reads in its range (warmup excluded)."""
        return sum(len(bars) - self.first[symbol] for symbol, bars in self.series.items())


def build_feed(  # noqa: PLR0917 - mirrors the session's fields
    catalog: Catalog, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str, warmup_bars: int = 0
) -> BarFeed:
    """Read the bars of `symbols` at `timeframe` in ``[start, end]`` (plus warmup) and merge them.

    Raises:
        SimutradorError: ``INVALID_DATE_RANGE`` when no symbol has a bar in the range.
    """
    series: dict[str, tuple[Bar, ...]] = {}
    first: dict[str, int] = {}
    for symbol in symbols:
        history: tuple[Bar, ...] = ()
        if warmup_bars:
            info = catalog.symbol_info(symbol)
            since = min((r.start for r in info.ranges.values()), default=start) if info is not None else start
            before = [b for b in catalog.bars(symbol, since, start, timeframe) if b.timestamp < start]
            history = tuple(before[-warmup_bars:])
        bars = tuple(catalog.bars(symbol, start, end, timeframe))
        series[symbol] = history + bars
        first[symbol] = len(history)
    merged: dict[datetime, list[tuple[str, int]]] = {}
    for symbol in symbols:
        bars = series[symbol]
        for index in range(first[symbol], len(bars)):
            merged.setdefault(bars[index].timestamp, []).append((symbol, index))
    if not merged:
        raise SimutradorError(
            ErrorCode.INVALID_DATE_RANGE,
            f"no bar of {', '.join(symbols)} at {timeframe} between {start.isoformat()} and {end.isoformat()}",
            {"fields": ["start_date", "end_date"]},
        )
    ticks = tuple(sorted(merged))
    slots = tuple(tuple(merged[t]) for t in ticks)
    return BarFeed(symbols=tuple(symbols), timeframe=timeframe, series=series, first=first, ticks=ticks, slots=slots)


_MAX_FEEDS: Final = 256


class FeedCache:
    """Feeds shared by sessions that read the same data (thread-safe, least recently used first out).

    Args:
        catalog: Where bars come from; a change of its `version` empties the cache.
        max_feeds: How many distinct feeds to keep.
    """

    def __init__(self, catalog: Catalog, max_feeds: int = _MAX_FEEDS) -> None:
        self._catalog = catalog
        self._max = max_feeds
        self._lock = threading.Lock()
        self._feeds: OrderedDict[tuple[object, ...], BarFeed] = OrderedDict()
        self._version = catalog.version

    def get(
        self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str, warmup_bars: int = 0
    ) -> BarFeed:
        """The feed for this request, built once and then shared."""
        key = (tuple(symbols), start, end, timeframe, warmup_bars)
        with self._lock:
            if self._catalog.version != self._version:
                self._feeds.clear()
                self._version = self._catalog.version
            feed = self._feeds.get(key)
            if feed is not None:
                self._feeds.move_to_end(key)
                return feed
        feed = build_feed(self._catalog, symbols, start, end, timeframe, warmup_bars)
        with self._lock:
            kept = self._feeds.setdefault(key, feed)
            self._feeds.move_to_end(key)
            while len(self._feeds) > self._max:
                self._feeds.popitem(last=False)
        return kept

    def __len__(self) -> int:
        """How many feeds are kept."""
        return len(self._feeds)
