"""Timeframes: canonical names, the one alias table, durations and what can be resampled from what.

A timeframe is named by one canonical string, ``1min 5min 15min 30min 1h 2h 4h daily
weekly monthly``. `parse_timeframe` accepts the unambiguous spellings people and
data vendors use (``1m``, ``60min``, ``1H``, ``1d``, ``day``, ``1wk``, ``1mo``) and
refuses ambiguous ones (``1M``: a minute or a month?) with a hint, never a guess.
`TIMEFRAME_ALIASES` is the only alias table in the code base.

`can_resample` and `source_timeframe` say which held timeframe a catalog derives a
missing one from; `simutrador.data.resample` does the aggregation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import Enum
from types import MappingProxyType
from typing import Final

import attrs

from simutrador.parsing import ParseError, parse_whole

__all__ = [
    "DAILY",
    "MAX_WARMUP_BARS",
    "TIMEFRAMES",
    "TIMEFRAME_ALIASES",
    "Timeframe",
    "TimeframeKind",
    "can_resample",
    "normalize_timeframe",
    "parse_timeframe",
    "parse_warmup_bars",
    "source_timeframe",
]

DAILY: Final = "daily"
"""The canonical daily timeframe, the default a session steps through."""

MAX_WARMUP_BARS: Final = 100_000
"""Most bars of history a session may ask for before its first tick."""


class TimeframeKind(Enum):
    """How a timeframe's bars are bucketed."""

    INTRADAY = "intraday"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@attrs.frozen(slots=True, order=False)
class Timeframe:
    """One canonical timeframe.

    Attributes:
        name: The canonical name (``"5min"``, ``"daily"``...).
        kind: Intraday, daily, weekly or monthly bucketing.
        duration: How long one bar lasts; nominal for ``monthly`` (30 days).
        rank: Position from finest (0) to coarsest, for ordering.

    Example:
        >>> tf = parse_timeframe("60min")
        >>> tf.name, tf.duration, tf.intraday
        ('1h', datetime.timedelta(seconds=3600), True)
    """

    name: str
    kind: TimeframeKind
    duration: timedelta
    rank: int

    @property
    def intraday(self) -> bool:
        """True for timeframes shorter than a day."""
        return self.kind is TimeframeKind.INTRADAY

    def periods_per_year(self, *, trading_days: float = 252, hours_per_day: float = 6.5) -> float:
        """Bars in a year, to annualize returns and volatility.

        Args:
            trading_days: Trading days a year (252 for US stocks, 365 for crypto).
            hours_per_day: Trading hours a day (6.5 for US stocks, 24 for crypto).

        Example:
            >>> parse_timeframe("daily").periods_per_year()
            252.0
            >>> parse_timeframe("1h").periods_per_year(trading_days=365, hours_per_day=24)
            8760.0
            >>> parse_timeframe("weekly").periods_per_year(), parse_timeframe("monthly").periods_per_year()
            (52.0, 12.0)
        """
        if self.kind is TimeframeKind.WEEKLY:
            return 52.0
        if self.kind is TimeframeKind.MONTHLY:
            return 12.0
        if self.kind is TimeframeKind.DAILY:
            return float(trading_days)
        per_day = hours_per_day * 3600 / self.duration.total_seconds()
        return float(trading_days * per_day)

    def __str__(self) -> str:
        """The canonical name."""
        return self.name


def _intraday(name: str, minutes: int, rank: int) -> Timeframe:
    return Timeframe(name, TimeframeKind.INTRADAY, timedelta(minutes=minutes), rank)


TIMEFRAMES: Final[Mapping[str, Timeframe]] = MappingProxyType(
    {
        tf.name: tf
        for tf in (
            _intraday("1min", 1, 0),
            _intraday("5min", 5, 1),
            _intraday("15min", 15, 2),
            _intraday("30min", 30, 3),
            _intraday("1h", 60, 4),
            _intraday("2h", 120, 5),
            _intraday("4h", 240, 6),
            Timeframe(DAILY, TimeframeKind.DAILY, timedelta(days=1), 7),
            Timeframe("weekly", TimeframeKind.WEEKLY, timedelta(days=7), 8),
            Timeframe("monthly", TimeframeKind.MONTHLY, timedelta(days=30), 9),
        )
    }
)
"""Every canonical timeframe, finest first."""


def _aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    minute_units = ("m", "min", "mins", "minute", "minutes")
    hour_units = ("h", "hr", "hrs", "hour", "hours")
    for minutes, name in ((1, "1min"), (5, "5min"), (15, "15min"), (30, "30min"), (60, "1h"), (120, "2h"), (240, "4h")):
        for unit in minute_units:
            table[f"{minutes}{unit}"] = name
        if minutes % 60 == 0:
            for unit in hour_units:
                table[f"{minutes // 60}{unit}"] = name
    table.update({"minute": "1min", "hour": "1h", "hourly": "1h"})
    for name, spellings in (
        (DAILY, ("daily", "d", "1d", "day", "1day", "eod")),
        ("weekly", ("weekly", "w", "1w", "wk", "1wk", "week", "1week")),
        ("monthly", ("monthly", "mo", "1mo", "mon", "1mon", "month", "1month", "mth", "1mth")),
    ):
        for spelling in spellings:
            table[spelling] = name
    return table


TIMEFRAME_ALIASES: Final[Mapping[str, str]] = MappingProxyType(_aliases())
"""Every accepted spelling (lower case) → the canonical name. The only alias table."""

_AMBIGUOUS: Final = re.compile(r"\d*M", re.ASCII)
_HINT: Final = "use one of " + ", ".join(TIMEFRAMES)


_EXACT: Final[Mapping[str, Timeframe]] = MappingProxyType(
    {alias: TIMEFRAMES[name] for alias, name in TIMEFRAME_ALIASES.items() if not _AMBIGUOUS.fullmatch(alias)}
)


def parse_timeframe(value: object) -> Timeframe:
    """The canonical `Timeframe` for a name or alias.

    Spellings are case-insensitive except ``M``: ``1M`` (minute or month?) is refused
    with a hint rather than guessed.

    Raises:
        ParseError: unknown, ambiguous or not a string; the message says what to write.

    Example:
        >>> parse_timeframe("1D").name, parse_timeframe(" 60min ").name, parse_timeframe("1wk").name
        ('daily', '1h', 'weekly')
        >>> parse_timeframe("1M")
        Traceback (most recent call last):
        ...
        simutrador.parsing.ParseError: timeframe '1M' is ambiguous: write 1min for one minute or monthly for one month
    """
    if isinstance(value, Timeframe):
        return value
    exact = _EXACT.get(value) if type(value) is str else None
    if exact is not None:  # a canonical name or alias as written: the common case, one lookup
        return exact
    if not isinstance(value, str):
        raise ParseError(f"timeframe must be a string such as 'daily' or '5min', got {type(value).__name__}")
    text = value.strip()
    if _AMBIGUOUS.fullmatch(text):
        count = text[:-1] or "1"
        minutes, months = ("one minute", "one month") if count == "1" else (f"{count} minutes", "months")
        raise ParseError(f"timeframe {value!r} is ambiguous: write {count}min for {minutes} or monthly for {months}")
    name = TIMEFRAME_ALIASES.get(text.lower()) if len(text) <= 16 else None
    if name is None:
        shown = value if len(value) <= 16 else value[:16] + "..."
        raise ParseError(f"unknown timeframe {shown!r}: {_HINT}")
    return TIMEFRAMES[name]


def parse_warmup_bars(value: object) -> int:
    """A number of warmup bars: a whole number from 0 to `MAX_WARMUP_BARS`.

    Raises:
        ParseError: for anything else.

    Example:
        >>> parse_warmup_bars("5"), parse_warmup_bars(0)
        (5, 0)
    """
    count = parse_whole(value)
    if count > MAX_WARMUP_BARS:
        raise ParseError(f"must be at most {MAX_WARMUP_BARS:,}")
    return count


def normalize_timeframe(name: str) -> str | None:
    """The canonical name for `name`, or None when it is unknown or ambiguous.

    Example:
        >>> normalize_timeframe("1d"), normalize_timeframe("1M"), normalize_timeframe("5m")
        ('daily', None, '5min')
    """
    try:
        return parse_timeframe(name).name
    except ParseError:
        return None


def can_resample(source: Timeframe, target: Timeframe) -> bool:
    """Whether bars of `source` can be aggregated into bars of `target`.

    Example:
        >>> can_resample(TIMEFRAMES["1min"], TIMEFRAMES["1h"]), can_resample(TIMEFRAMES["1h"], TIMEFRAMES["5min"])
        (True, False)
        >>> can_resample(TIMEFRAMES["weekly"], TIMEFRAMES["monthly"])
        False
    """
    if source.rank > target.rank:
        return False
    if target.intraday:
        return target.duration % source.duration == timedelta(0)
    if target.kind is TimeframeKind.MONTHLY:
        return source.kind is not TimeframeKind.WEEKLY  # weeks straddle months
    return True


def source_timeframe(held: Iterable[str], target: str) -> str | None:
    """The held timeframe bars of `target` come from: itself, else the closest finer one that can make it.

    The closest (coarsest) usable source is chosen because it usually has the longest
    history and needs the least work: weekly bars come from daily bars when both
    daily and minute bars are held. None when no held timeframe can make `target`.

    Example:
        >>> source_timeframe(["1min", "daily"], "weekly"), source_timeframe(["1min", "daily"], "5min")
        ('daily', '1min')
        >>> source_timeframe(["daily"], "1h") is None
        True
    """
    wanted = TIMEFRAMES[target]
    candidates = [TIMEFRAMES[name] for name in held if name in TIMEFRAMES]
    if any(tf is wanted for tf in candidates):
        return target
    usable = [tf for tf in candidates if can_resample(tf, wanted)]
    return max(usable, key=lambda tf: tf.rank).name if usable else None
