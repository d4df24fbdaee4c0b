"""The market-data seam: the `Catalog` protocol and the values it speaks in.

A catalog answers which symbols exist (with asset class and market), which date
range each has per timeframe, the timestamps a simulation would step through, and
the OHLCV bars. Two implementations ship: `simutrador.data.sample.SampleCatalog`
(synthetic, the embedded default) and `simutrador.data.directory.DirectoryCatalog`
(the user's own CSV/Parquet files).

Prices in bars are floats (market data, not account money); timestamps are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

import attrs

from simutrador.data.symbols import AssetClass
from simutrador.sessions.models import DataRange

__all__ = [
    "DAILY",
    "TIMEFRAME_ALIASES",
    "Bar",
    "Catalog",
    "SymbolInfo",
    "normalize_timeframe",
    "timeframe_duration",
]

DAILY: Final = "1d"
"""The daily timeframe, the default a simulation steps through."""

TIMEFRAME_ALIASES: Final[Mapping[str, str]] = {
    "1m": "1min",
    "1min": "1min",
    "1minute": "1min",
    "5m": "5min",
    "5min": "5min",
    "15m": "15min",
    "15min": "15min",
    "30m": "30min",
    "30min": "30min",
    "1h": "1h",
    "60min": "1h",
    "1hour": "1h",
    "1d": "1d",
    "1day": "1d",
    "daily": "1d",
    "d": "1d",
}
"""Folder names and spellings accepted for timeframes → the canonical name."""

_DURATIONS: Final[Mapping[str, timedelta]] = {
    "1min": timedelta(minutes=1),
    "5min": timedelta(minutes=5),
    "15min": timedelta(minutes=15),
    "30min": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}


def normalize_timeframe(name: str) -> str | None:
    """The canonical timeframe for `name` (``"daily"`` → ``"1d"``), or None if unknown."""
    return TIMEFRAME_ALIASES.get(name.strip().lower())


def timeframe_duration(timeframe: str) -> timedelta:
    """How long one bar of a canonical `timeframe` lasts."""
    return _DURATIONS[timeframe]


@attrs.frozen(kw_only=True, slots=True)
class Bar:
    """One OHLCV bar.

    Attributes:
        timestamp: Bar open time (aware UTC).
        open: First price.
        high: Highest price.
        low: Lowest price.
        close: Last price.
        volume: Quantity traded.
    """

    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float


@attrs.frozen(kw_only=True, slots=True)
class SymbolInfo:
    """What a catalog knows about one symbol.

    Attributes:
        symbol: Canonical symbol (see `simutrador.data.symbols`).
        asset_class: Stock, forex or crypto.
        market: Where it trades (``NYSE``, ``NASDAQ``, ``FOREX``, ``CRYPTO``...).
        ranges: Available data per canonical timeframe.
        name: A human name, when known.
        synthetic: True when the data is generated, not real.
    """

    symbol: str
    asset_class: AssetClass
    market: str
    ranges: Mapping[str, DataRange]
    name: str = ""
    synthetic: bool = False

    @property
    def daily_range(self) -> DataRange | None:
        """The daily range, else the widest range of any timeframe."""
        if DAILY in self.ranges:
            return self.ranges[DAILY]
        if not self.ranges:
            return None
        return DataRange(start=min(r.start for r in self.ranges.values()), end=max(r.end for r in self.ranges.values()))


@runtime_checkable
class Catalog(Protocol):
    """Market data a session can be validated against and simulated on."""

    @property
    def name(self) -> str:
        """The provider name sessions record (``"sample"``, ``"directory"``...)."""
        ...

    @property
    def version(self) -> int:
        """A number that changes whenever the catalog's data changes (cache key)."""
        ...

    def symbols(self, *, market: str | None = None, asset_class: AssetClass | None = None) -> Sequence[SymbolInfo]:
        """Every available symbol, optionally only one market or asset class, sorted by symbol."""
        ...

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """What is known of canonical `symbol`, or None when it has no usable data."""
        ...

    def problems(self) -> Mapping[str, str]:
        """Symbols present but unusable (corrupt, empty, missing extra) → why."""
        ...

    def timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[datetime]:
        """The bar times of `symbol` in ``[start, end]``: what a simulation steps through."""
        ...

    def count_ticks(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str = DAILY) -> int:
        """How many distinct bar times the union of `symbols` has in ``[start, end]``."""
        ...

    def bars(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[Bar]:
        """The OHLCV bars of `symbol` in ``[start, end]``, oldest first."""
        ...
