"""The market-data seam: the `Catalog` protocol, the values it speaks in, and what "available" means.

A catalog answers which symbols exist (with asset class, market, price increment,
lot size and currency), which range each holds per timeframe, the timestamps a
simulation would step through, and the OHLCV bars, for any canonical timeframe
(one it does not hold is resampled, see `simutrador.data.resample`). Three
implementations ship: `simutrador.data.sample.SampleCatalog` (synthetic, the
embedded default), `simutrador.data.directory.DirectoryCatalog` (the user's own
CSV/Parquet files) and `simutrador.data.frames.FrameCatalog` (pandas DataFrames).

Prices and volumes in bars are exact `Decimal` values, prices quantized to the
symbol's price increment; timestamps are aware UTC.

**The one rule for "available"** (`available_range`, `covers`): a session at
timeframe T may use, per symbol, the range of the timeframe T is served from (T
itself when held, else its resampling source), judged by whole UTC days: a request
is inside when its first and last days lie within the first and last days of that
range. `simutrador data list|show` print exactly these days, and the validator
accepts exactly them.

**The ticks of a session** are the bar stamps at its timeframe inside
`session_window`: a daily, weekly or monthly bar belongs to every session whose
range overlaps its day, week or month (a session from 09:30 to 16:00 has that day's
daily bar, stamped at midnight); intraday bars are taken as stamped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final, Protocol, runtime_checkable

import attrs

from simutrador.data.symbols import AssetClass
from simutrador.data.timeframes import DAILY, TIMEFRAMES, TimeframeKind, source_timeframe
from simutrador.sessions.models import DataRange

__all__ = [
    "Bar",
    "Catalog",
    "SymbolInfo",
    "available_days",
    "available_range",
    "covers",
    "session_window",
]

_CENT: Final = Decimal("0.01")
_ONE: Final = Decimal(1)


@attrs.frozen(kw_only=True, slots=True)
class Bar:
    """One OHLCV bar, with exact prices.

    Attributes:
        timestamp: Bar open time (aware UTC); daily and coarser bars at midnight UTC
            of their first trading date.
        open: First price.
        high: Highest price.
        low: Lowest price.
        close: Last price.
        volume: Quantity traded.
    """

    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@attrs.frozen(kw_only=True, slots=True)
class SymbolInfo:
    """What a catalog knows about one symbol.

    Attributes:
        symbol: Canonical symbol (see `simutrador.data.symbols`).
        asset_class: Stock, forex or crypto.
        market: Where it trades (``NYSE``, ``NASDAQ``, ``FOREX``, ``CRYPTO``...).
        ranges: First and last bar per held canonical timeframe, finest first.
        name: A human name, when known.
        synthetic: True when the data is generated, not real.
        price_increment: The tick size every price is quantized to.
        lot_size: The smallest tradable quantity step.
        currency: The currency prices are quoted in (the quote currency of a pair).
        timezone: The IANA zone whose dates are this symbol's trading days.
    """

    symbol: str
    asset_class: AssetClass
    market: str
    ranges: Mapping[str, DataRange]
    name: str = ""
    synthetic: bool = False
    price_increment: Decimal = _CENT
    lot_size: Decimal = _ONE
    currency: str = "USD"
    timezone: str = "UTC"

    def available(self, timeframe: str = DAILY) -> DataRange | None:
        """The range a session at canonical `timeframe` may use (see `available_range`)."""
        return available_range(self, timeframe)


def available_range(info: SymbolInfo, timeframe: str = DAILY) -> DataRange | None:
    """The data a session at canonical `timeframe` may use for one symbol, or None.

    It is the held range of `timeframe`, or of the timeframe it is resampled from
    (`simutrador.data.timeframes.source_timeframe`). Compare a request with it
    through `covers` and show it through `available_days`: the one rule.
    """
    source = source_timeframe(info.ranges, timeframe)
    return info.ranges[source] if source is not None else None


def available_days(available: DataRange) -> tuple[date, date]:
    """The first and last UTC days of `available`: what ``data list`` shows."""
    return available.start.date(), available.end.date()


def covers(available: DataRange, start: datetime, end: datetime) -> bool:
    """Whether a request from `start` to `end` (aware UTC) lies inside `available`, by whole days.

    Example:
        >>> from datetime import UTC
        >>> hourly = DataRange(start=datetime(2024, 1, 2, 14, tzinfo=UTC), end=datetime(2024, 1, 5, 20, tzinfo=UTC))
        >>> covers(hourly, datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 5, 23, 59, tzinfo=UTC))
        True
        >>> covers(hourly, datetime(2024, 1, 1, 23, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC))
        False
    """
    first, last = available_days(available)
    return first <= start.date() and end.date() <= last


def session_window(start: datetime, end: datetime, timeframe: str = DAILY) -> tuple[datetime, datetime]:
    """The span whose bar stamps at canonical `timeframe` are a session's ticks.

    Intraday: ``[start, end]`` as given. Daily, weekly, monthly: `start` moved back to
    midnight UTC of its day, Monday or first of the month, so the bar of the period
    the session starts in counts.

    Example:
        >>> start, end = datetime(2024, 3, 6, 9, 30, tzinfo=UTC), datetime(2024, 3, 6, 16, tzinfo=UTC)
        >>> [moment.isoformat() for moment in session_window(start, end, "weekly")]
        ['2024-03-04T00:00:00+00:00', '2024-03-06T16:00:00+00:00']
    """
    kind = TIMEFRAMES[timeframe].kind
    if kind is TimeframeKind.INTRADAY:
        return start, end
    day = start.astimezone(UTC).date()
    if kind is TimeframeKind.WEEKLY:
        day -= timedelta(days=day.weekday())
    elif kind is TimeframeKind.MONTHLY:
        day = day.replace(day=1)
    return datetime.combine(day, time(0), tzinfo=UTC), end


@runtime_checkable
class Catalog(Protocol):
    """Market data a session can be validated against and simulated on.

    `timestamps`, `count_ticks` and `bars` take any canonical timeframe (or alias);
    one the catalog does not hold is resampled from a finer one it holds, and a
    symbol that cannot have it answers empty.
    """

    @property
    def name(self) -> str:
        """The provider name sessions record (``"sample"``, ``"directory"``...)."""
        ...

    @property
    def version(self) -> int:
        """A number that changes whenever the catalog's data changes (cache key)."""
        ...

    @property
    def fingerprint(self) -> str:
        """A stable digest of the data served: equal fingerprints mean equal bars."""
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
