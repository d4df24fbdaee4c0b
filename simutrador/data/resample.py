"""Resampling, written once: bucketing rules and `ResamplingCatalog`, the base every catalog shares.

A catalog holds some timeframes; a session may ask for any canonical one. The bars
of a timeframe the catalog does not hold are aggregated from the closest finer one
it holds (`simutrador.data.timeframes.source_timeframe`), session-aligned:

* intraday buckets start at the first bar of each trading day (``1h`` bars of a
  stock trading 14:30-21:00 UTC are stamped 14:30, 15:30 ... 20:30, the last one
  half an hour long) and never span two trading days;
* ``daily`` bars are stamped at midnight UTC of their trading date;
* ``weekly`` bars at midnight UTC of the Monday, ``monthly`` bars of the first of the
  month, grouping trading dates by calendar.

A source bar's trading date is its date in the symbol's timezone
(`SymbolInfo.timezone`) when the source is intraday, and its UTC date when the source
is daily or coarser (those are stamped at midnight UTC of their date already).
Aggregation is exact: open of the first bar, highest high, lowest low, close of the
last bar, summed volume.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from simutrador.data.catalog import Bar, SymbolInfo
from simutrador.data.timeframes import DAILY, Timeframe, TimeframeKind, parse_timeframe, source_timeframe
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import ParseError

__all__ = ["ResamplingCatalog", "query_window", "resample_bars", "resample_stamps", "trading_zone"]

_REACH: Final = {
    TimeframeKind.DAILY: timedelta(days=1),
    TimeframeKind.WEEKLY: timedelta(days=7),
    TimeframeKind.MONTHLY: timedelta(days=31),
}
_MARGIN: Final = timedelta(days=2)


@functools.lru_cache(maxsize=256)
def trading_zone(name: str) -> tzinfo:
    """The `tzinfo` of an IANA zone name (``"UTC"`` is `datetime.UTC`)."""
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def query_window(start: datetime, end: datetime, target: Timeframe) -> tuple[datetime, datetime]:
    """The span of source data to read so every `target` bar stamped in ``[start, end]`` is whole.

    Wide enough for any timezone: a bucket's source bars lie within its trading day
    (week, month) of its stamp, and a trading day's first bar within two days of it.
    """
    reach = target.duration if target.intraday else _REACH[target.kind]
    return start - _MARGIN, end + reach + _MARGIN


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class _Bucketer:
    """Maps source stamps, fed in order, to the stamps of their target buckets."""

    __slots__ = ("_anchor", "_day", "_local", "_step", "_target", "_zone")

    def __init__(self, source: Timeframe, target: Timeframe, zone: tzinfo) -> None:
        self._local = source.intraday and zone is not UTC
        self._zone = zone
        self._target = target.kind
        self._step = target.duration
        self._day: date | None = None
        self._anchor = _midnight(date(1970, 1, 1))

    def __call__(self, when: datetime) -> datetime:
        day = when.astimezone(self._zone).date() if self._local else when.date()
        kind = self._target
        if kind is TimeframeKind.INTRADAY:
            if day != self._day:
                self._day, self._anchor = day, when
            return self._anchor + (when - self._anchor) // self._step * self._step
        if kind is TimeframeKind.DAILY:
            return _midnight(day)
        if kind is TimeframeKind.WEEKLY:
            return _midnight(day - timedelta(days=day.weekday()))
        return _midnight(day.replace(day=1))


def resample_stamps(
    stamps: Iterable[datetime], source: Timeframe, target: Timeframe, zone: tzinfo = UTC
) -> tuple[datetime, ...]:
    """The `target` bar stamps that sorted `source` bar stamps of one symbol make.

    Example:
        >>> from simutrador.data.timeframes import TIMEFRAMES
        >>> first = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        >>> minutes = [first + timedelta(minutes=i) for i in range(12)]
        >>> [s.strftime("%H:%M") for s in resample_stamps(minutes, TIMEFRAMES["1min"], TIMEFRAMES["5min"])]
        ['14:30', '14:35', '14:40']
    """
    if source is target:
        return tuple(stamps)
    bucket = _Bucketer(source, target, zone)
    out: list[datetime] = []
    for when in stamps:
        stamp = bucket(when)
        if not out or out[-1] != stamp:
            out.append(stamp)
    return tuple(out)


def resample_bars(bars: Iterable[Bar], source: Timeframe, target: Timeframe, zone: tzinfo = UTC) -> tuple[Bar, ...]:
    """Aggregate sorted `source` bars of one symbol into `target` bars (see the module's rules).

    Example:
        >>> from decimal import Decimal as D
        >>> from simutrador.data.timeframes import TIMEFRAMES
        >>> day = datetime(2024, 1, 2, tzinfo=UTC)
        >>> bars = [Bar(timestamp=day + timedelta(days=i), open=D(o), high=D(h), low=D(lo), close=D(c), volume=D(9))
        ...         for i, (o, h, lo, c) in enumerate([(10, 12, 9, 11), (11, 13, 10, 12), (12, 12, 8, 9)])]
        >>> week = resample_bars(bars, TIMEFRAMES["daily"], TIMEFRAMES["weekly"])
        >>> [(w.timestamp.date().isoformat(), w.open, w.high, w.low, w.close, w.volume) for w in week]
        [('2024-01-01', Decimal('10'), Decimal('13'), Decimal('8'), Decimal('9'), Decimal('27'))]
    """
    if source is target:
        return tuple(bars)
    bucket = _Bucketer(source, target, zone)
    out: list[Bar] = []
    group: list[Bar] = []
    current: datetime | None = None
    for bar in bars:
        stamp = bucket(bar.timestamp)
        if stamp != current:
            if current is not None:
                out.append(_aggregate(current, group))
            current, group = stamp, []
        group.append(bar)
    if current is not None:
        out.append(_aggregate(current, group))
    return tuple(out)


def _aggregate(stamp: datetime, group: Sequence[Bar]) -> Bar:
    return Bar(
        timestamp=stamp,
        open=group[0].open,
        high=max(bar.high for bar in group),
        low=min(bar.low for bar in group),
        close=group[-1].close,
        volume=sum((bar.volume for bar in group), start=group[0].volume * 0),
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timeframe(name: str) -> Timeframe:
    try:
        return parse_timeframe(name)
    except ParseError as exc:
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, str(exc), {"fields": ["timeframe"]}) from None


class ResamplingCatalog:
    """The `Catalog` query methods for every canonical timeframe, over what a subclass holds.

    A subclass provides `symbol_info` (whose ``ranges`` name the held timeframes and
    whose ``timezone`` names its trading days) and `_held_bars`; it may override
    `_held_timestamps` and `_held_count` with faster versions. Query bounds may be
    naive (UTC) or in any zone; timeframes may be aliases (``"1d"``).
    """

    def symbol_info(self, symbol: str) -> SymbolInfo | None:  # pragma: no cover - every subclass overrides it
        """What is known of canonical `symbol`."""
        raise NotImplementedError

    def _held_bars(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[Bar]:
        """Bars of a held `timeframe` in ``[start, end]`` (aware UTC), oldest first."""
        raise NotImplementedError

    def _held_timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[datetime]:
        """Bar times of a held `timeframe` in ``[start, end]``; from the bars unless overridden."""
        return tuple(bar.timestamp for bar in self._held_bars(symbol, start, end, timeframe))

    def _held_count(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str) -> int | None:
        """Distinct held bar times of `symbols` when all hold `timeframe` (None: count the union)."""
        del symbols, start, end, timeframe
        return None

    def _source(self, symbol: str, target: Timeframe) -> tuple[SymbolInfo, Timeframe] | None:
        info = self.symbol_info(symbol)
        if info is None:
            return None
        held = source_timeframe(info.ranges, target.name)
        return (info, parse_timeframe(held)) if held is not None else None

    def timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[datetime]:
        """The bar times of `symbol` in ``[start, end]`` at `timeframe`, oldest first (empty when it has none)."""
        target = _timeframe(timeframe)
        found = self._source(symbol, target)
        start, end = _utc(start), _utc(end)
        if found is None or start > end:
            return ()
        info, source = found
        if source is target:
            return self._held_timestamps(symbol, start, end, target.name)
        low, high = query_window(start, end, target)
        stamps = self._held_timestamps(symbol, low, high, source.name)
        return tuple(_between(resample_stamps(stamps, source, target, trading_zone(info.timezone)), start, end))

    def bars(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[Bar]:
        """The OHLCV bars of `symbol` in ``[start, end]`` at `timeframe`, oldest first (empty when it has none)."""
        target = _timeframe(timeframe)
        found = self._source(symbol, target)
        start, end = _utc(start), _utc(end)
        if found is None or start > end:
            return ()
        info, source = found
        if source is target:
            return self._held_bars(symbol, start, end, target.name)
        low, high = query_window(start, end, target)
        bars = resample_bars(
            self._held_bars(symbol, low, high, source.name), source, target, trading_zone(info.timezone)
        )
        return tuple(bar for bar in bars if start <= bar.timestamp <= end)

    def count_ticks(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str = DAILY) -> int:
        """How many distinct bar times the union of `symbols` has in ``[start, end]`` at `timeframe`."""
        target = _timeframe(timeframe)
        start, end = _utc(start), _utc(end)
        if start > end:
            return 0
        sources = {symbol: self._source(symbol, target) for symbol in symbols}
        known = [symbol for symbol, found in sources.items() if found is not None]
        if all(found[1] is target for found in sources.values() if found is not None):
            fast = self._held_count(known, start, end, target.name)
            if fast is not None:
                return fast
        seen: set[datetime] = set()
        for symbol in known:
            seen.update(self.timestamps(symbol, start, end, target.name))
        return len(seen)


def _between(stamps: Iterable[datetime], start: datetime, end: datetime) -> Iterator[datetime]:
    return (stamp for stamp in stamps if start <= stamp <= end)
