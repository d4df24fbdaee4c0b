"""Reading one CSV or Parquet file of OHLCV bars into exact, sorted `Bar`s.

Columns are matched case-insensitively: a time column (``date``, ``timestamp``,
``datetime`` or ``time``; or, as pandas' ``df.to_csv()`` writes it, the first column
when it is unnamed or has another name), ``open``, ``high``, ``low``, ``close`` and
optionally ``volume``; other columns are ignored. Times may be ISO-8601 (with an
offset, or naive: then in the folder's timezone), dates, or epoch seconds or
milliseconds. Prices and volumes become exact `Decimal` values (digits past the 8th
decimal, binary float noise such as ``186.12000000000001``, are rounded away).

Intraday bars are stamped at their UTC instant. Daily, weekly and monthly bars are
stamped at midnight UTC of their trading date: the date the file gives (in the
row's own offset, else the folder's timezone), so ``2024-01-02 00:00:00-05:00`` is
the bar of 2 January, not of 05:00 UTC. A flat file's timeframe is inferred: bars
all at local midnight are daily (weekly or monthly when at least 7 or 28 days
apart), others take the intraday timeframe nearest their smallest gap.

Parquet needs pyarrow (the ``parquet`` extra), imported only when a Parquet file is
read. Any problem raises `BadData`, whose message says why.
"""

from __future__ import annotations

import csv
import importlib
import itertools
import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, cast

import attrs

from simutrador.data.catalog import Bar
from simutrador.data.timeframes import DAILY, TIMEFRAMES, TimeframeKind

__all__ = [
    "PARQUET_EXTRA_HINT",
    "BadData",
    "FileData",
    "bars_from_rows",
    "decimals_of",
    "quantized",
    "read_file",
    "to_increment",
]

PARQUET_EXTRA_HINT: Final = "reading Parquet needs pyarrow: pip install 'simutrador[parquet]'"
"""The problem reported for each Parquet-backed symbol when pyarrow is not installed."""

_TIME_COLUMNS: Final = ("date", "timestamp", "datetime", "time")
_PRICE_COLUMNS: Final = ("open", "high", "low", "close")
_FIELDS: Final = ("time", *_PRICE_COLUMNS, "volume")
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MILLISECONDS_ABOVE: Final = 1e11
_MAX_DECIMALS: Final = 8
_FINEST: Final = Decimal(1).scaleb(-_MAX_DECIMALS)
_INTRADAY: Final = tuple(tf for tf in TIMEFRAMES.values() if tf.intraday)
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)

_Row = Sequence[object]  # time, open, high, low, close, volume: raw, as read


class BadData(Exception):
    """A file's content cannot be used; the message says why."""


@attrs.frozen(slots=True, eq=False)
class FileData:
    """The bars of one file.

    Attributes:
        bars: Exact bars, sorted by time, one per time (the last row wins).
        keys: Their timestamps, for bisecting.
        timeframe: The canonical timeframe (as given by the folder, or inferred).
        decimals: Decimal places the prices need (at most 8).
    """

    bars: tuple[Bar, ...]
    keys: tuple[datetime, ...]
    timeframe: str
    decimals: int


def read_file(file: Path, *, zone: tzinfo = UTC, timeframe: str | None = None) -> FileData:
    """The bars of one CSV or Parquet file; `BadData` when unusable.

    Args:
        file: The file.
        zone: The timezone of naive times and of trading dates.
        timeframe: The canonical timeframe the file holds; None to infer it.
    """
    try:
        rows = _read_parquet(file) if file.suffix.lower() == ".parquet" else _read_csv(file)
        return bars_from_rows(rows, zone, timeframe)
    except BadData:
        raise
    except OSError as exc:
        raise BadData(f"unreadable: {exc.strerror or exc}") from None
    except Exception as exc:  # a broken file must never break the catalog
        raise BadData(f"unreadable ({type(exc).__name__})") from None


def decimals_of(value: Decimal) -> int:
    """Decimal places `value` needs (``Decimal("1.50")`` → 1)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def to_increment(price: Decimal, increment: Decimal) -> Decimal:
    """`price` rounded (half to even) to a multiple of `increment`, written with its decimal places.

    Example:
        >>> to_increment(Decimal("100.01"), Decimal("0.05")), to_increment(Decimal("1.2345"), Decimal("0.01"))
        (Decimal('100.00'), Decimal('1.23'))
    """
    if increment.normalize().as_tuple().digits == (1,):  # a power of ten: plain quantize
        return price.quantize(increment)
    return ((price / increment).to_integral_value() * increment).quantize(increment)


def quantized(bars: Sequence[Bar], increment: Decimal) -> tuple[Bar, ...]:
    """`bars` with every price rounded to a multiple of `increment` (half to even)."""
    return tuple(
        Bar(
            timestamp=bar.timestamp,
            open=to_increment(bar.open, increment),
            high=to_increment(bar.high, increment),
            low=to_increment(bar.low, increment),
            close=to_increment(bar.close, increment),
            volume=bar.volume,
        )
        for bar in bars
    )


def _columns(names: Sequence[str]) -> dict[str, int]:
    """Map canonical column names to positions; `BadData` when one is missing."""
    lowered = {name.strip().lower(): i for i, name in enumerate(names)}
    time_column = next((lowered[c] for c in _TIME_COLUMNS if c in lowered), None)
    if time_column is None and names and names[0].strip().lower() not in (*_PRICE_COLUMNS, "volume"):
        time_column = 0  # pandas' df.to_csv(): the index first, unnamed or named as the user named it
    missing = [c for c in _PRICE_COLUMNS if c not in lowered]
    if time_column is None:
        missing.insert(0, "date/timestamp")
    if missing:
        raise BadData(f"missing columns: {', '.join(missing)}")
    assert time_column is not None
    found = {"time": time_column}
    found.update((c, lowered[c]) for c in (*_PRICE_COLUMNS, "volume") if c in lowered)
    return found


def _read_csv(file: Path) -> list[_Row]:
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None)
            if header is None:
                return []
            columns = _columns(header)
            rows: list[_Row] = []
            for line, record in enumerate(reader, start=2):
                if not any(cell.strip() for cell in record):
                    continue
                try:
                    rows.append([record[columns[c]] if c in columns else None for c in _FIELDS])
                except IndexError:
                    raise BadData(f"line {line} has too few fields") from None
            return rows
    except UnicodeDecodeError:
        raise BadData("not UTF-8 text") from None
    except csv.Error as exc:
        raise BadData(f"not valid CSV: {exc}") from None


def _read_parquet(file: Path) -> list[_Row]:
    try:  # the optional extra, imported on first use only
        arrow: Any = importlib.import_module("pyarrow")
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise BadData(PARQUET_EXTRA_HINT) from None
    try:
        table: Any = parquet.read_table(file)
        columns = _columns([str(name) for name in cast("list[object]", table.column_names)])
        picked = [_to_python(arrow, table.column(columns[c])) if c in columns else None for c in _FIELDS]
    except (BadData, OSError):
        raise
    except Exception as exc:  # pyarrow raises its own ArrowInvalid & co for corrupt files
        raise BadData(f"not a readable Parquet file ({type(exc).__name__})") from None
    count = cast("int", table.num_rows)
    return [[column[i] if column is not None else None for column in picked] for i in range(count)]


def _to_python(arrow: Any, column: Any) -> list[object]:
    """A pyarrow column as Python values; nanosecond timestamps truncated to microseconds."""
    kind: Any = column.type
    if arrow.types.is_timestamp(kind) and kind.unit == "ns":
        column = column.cast(arrow.timestamp("us", tz=kind.tz), safe=False)
    return cast("list[object]", column.to_pylist())


def bars_from_rows(rows: Sequence[Sequence[object]], zone: tzinfo = UTC, timeframe: str | None = None) -> FileData:
    """Rows of ``(time, open, high, low, close, volume)`` as read (text, numbers, datetimes) → `FileData`.

    Raises:
        BadData: naming the first bad row (counted from 1).
    """
    parsed: list[tuple[datetime, Bar]] = []
    decimals = 0
    for number, row in enumerate(rows, start=1):
        stamp, open_, high, low, close, volume = row
        try:
            local = _parse_time(stamp, zone)
            prices = [_number(open_), _number(high), _number(low), _number(close)]
            amount = _ZERO if volume is None or (isinstance(volume, str) and not volume.strip()) else _number(volume)
        except (ValueError, TypeError, OverflowError, OSError, ArithmeticError) as exc:
            raise BadData(f"row {number}: {exc}") from None
        decimals = max(decimals, *(decimals_of(p) for p in prices))
        bar = Bar(timestamp=local, open=prices[0], high=prices[1], low=prices[2], close=prices[3], volume=amount)
        parsed.append((local, bar))
    if not parsed:
        return FileData(bars=(), keys=(), timeframe=timeframe or DAILY, decimals=0)
    found = timeframe or _infer([local for local, _ in parsed])
    kind = TIMEFRAMES[found].kind
    by_time: dict[datetime, Bar] = {}
    for local, bar in parsed:
        when = _stamp(local, kind)
        by_time[when] = attrs.evolve(bar, timestamp=when)  # duplicates: the last one wins
    bars = tuple(sorted(by_time.values(), key=lambda bar: bar.timestamp))
    return FileData(bars=bars, keys=tuple(bar.timestamp for bar in bars), timeframe=found, decimals=decimals)


def _stamp(local: datetime, kind: TimeframeKind) -> datetime:
    """The bar's stamp: its UTC instant when intraday, else midnight UTC of its (Monday, first) date."""
    if kind is TimeframeKind.INTRADAY:
        return local.astimezone(UTC)
    day = local.date()
    if kind is TimeframeKind.WEEKLY:
        day -= timedelta(days=day.weekday())
    elif kind is TimeframeKind.MONTHLY:
        day = day.replace(day=1)
    return datetime.combine(day, time(0), tzinfo=UTC)


def _number(value: object) -> Decimal:
    if value is None or isinstance(value, bool):
        raise ValueError(f"bad number {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise ValueError(
                f"bad number {value!r}"
                if text.lower().lstrip("+-") in {"nan", "inf", "infinity"}
                else (f"could not convert string to float: {value!r}")
            )
        number = Decimal(text)
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        real = float(cast("float", value))
        if not math.isfinite(real):
            raise ValueError(f"bad number {value!r}")
        number = Decimal(repr(real))
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_DECIMALS:
        number = number.quantize(_FINEST).normalize()
    elif isinstance(exponent, int) and exponent > 0:  # 1e3 reads as 1000
        number = number.quantize(_ONE)
    return number


def _parse_time(value: object, zone: tzinfo) -> datetime:
    """An aware datetime in the value's own offset, or in `zone` when it has none."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value), zone)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_epoch(float(text), zone)
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
    raise ValueError(f"bad timestamp {value!r}")


def _from_epoch(seconds: float, zone: tzinfo) -> datetime:
    if seconds > _MILLISECONDS_ABOVE:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, tz=UTC).astimezone(zone)


def _infer(local: Sequence[datetime]) -> str:
    """A flat file's timeframe, from its local times (see the module's rules)."""
    ordered = sorted({moment.astimezone(UTC) for moment in local})
    smallest = min((b - a for a, b in itertools.pairwise(ordered)), default=None)
    if all(m.hour == m.minute == m.second == m.microsecond == 0 for m in local):
        if smallest is not None and smallest >= timedelta(days=28):
            return "monthly"
        if smallest is not None and smallest >= timedelta(days=7):
            return "weekly"
        return DAILY
    if smallest is None:
        return DAILY
    candidates = (*_INTRADAY, TIMEFRAMES[DAILY])
    return min(candidates, key=lambda tf: abs(tf.duration - smallest)).name
