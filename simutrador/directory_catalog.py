"""`DirectoryCatalog`: market data from a folder of the user's own CSV and Parquet files.

Layouts (they may coexist):

* the SimuTrador data manager's: ``candles/<timeframe>/<SYMBOL>.csv|.parquet`` (one
  file per symbol, typically daily) and ``candles/<timeframe>/<SYMBOL>/<YYYY-MM-DD>.csv|.parquet``
  (intraday, one file per day);
* flat: ``<SYMBOL>.csv|.parquet`` at the top, its timeframe inferred from the data.

Columns are matched case-insensitively: a time column (``date``, ``timestamp``,
``datetime`` or ``time``), ``open``, ``high``, ``low``, ``close`` and optionally
``volume``. Timestamps may be ISO-8601 (naive means UTC), dates, or epoch seconds or
milliseconds; all become aware UTC. Parquet needs pyarrow (the ``parquet`` extra),
imported only when a Parquet file is read.

Availability is computed once and cached per file (keyed on path, mtime and size).
The tree is re-scanned (stat only) when `refresh_interval` seconds have passed, so
files added, changed or removed on disk are picked up without a restart, and
`version` changes. A corrupt, empty or unreadable file never raises: it is logged,
skipped, and explained in `problems()`.
"""

from __future__ import annotations

import bisect
import csv
import importlib
import itertools
import logging
import math
import os
import re
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, cast

import attrs

from simutrador.catalog import DAILY, Bar, SymbolInfo, normalize_timeframe, timeframe_duration
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.models import DataRange
from simutrador.symbols import AssetClass, SymbolProblem, classify_symbol

__all__ = ["PARQUET_EXTRA_HINT", "DirectoryCatalog"]

logger = logging.getLogger(__name__)

PARQUET_EXTRA_HINT: Final = "reading Parquet needs pyarrow: pip install 'simutrador[parquet]'"
_SUFFIXES: Final = (".csv", ".parquet")
_TIME_COLUMNS: Final = ("date", "timestamp", "datetime", "time")
_PRICE_COLUMNS: Final = ("open", "high", "low", "close")
_DAY_FILE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER: Final = re.compile(r"[+-]?\d+(\.\d+)?", re.ASCII)
_MARKETS: Final = {AssetClass.STOCK: "US", AssetClass.FOREX: "FOREX", AssetClass.CRYPTO: "CRYPTO"}
_INTRADAY: Final = ("1min", "5min", "15min", "30min", "1h")
_MAX_SERIES: Final = 64


class _BadData(Exception):
    """A file's content cannot be used; the message says why."""


@attrs.frozen(slots=True)
class _Source:
    """Where one (symbol, timeframe) comes from: one file, or one file per day."""

    symbol: str
    asset_class: AssetClass
    timeframe: str | None  # None: flat file, inferred when read
    files: tuple[Path, ...]
    per_day: bool


@attrs.frozen(slots=True, eq=False)
class _Summary:
    first: datetime
    last: datetime
    timeframe: str
    stamps: array[int] | None  # epoch seconds, kept for single-file series only


Signature = tuple[int, int]


class DirectoryCatalog:
    """A `Catalog` over a folder of CSV/Parquet market data (thread-safe).

    Args:
        root: The folder.
        name: The provider name sessions record.
        refresh_interval: Seconds between re-scans of the folder for changes.
        monotonic: Seconds from a monotonic clock (injected in tests).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` when `root` is not a folder.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str = "directory",
        refresh_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._root = Path(root)
        if not self._root.is_dir():
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"market data folder {self._root} does not exist or is not a folder",
                {"data_dir": str(self._root)},
            )
        self._name = name
        self._interval = refresh_interval
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._version = 0
        self._scanned_at: float | None = None
        self._signatures: dict[Path, Signature] = {}
        self._summaries: dict[tuple[Path, Signature], _Summary | str] = {}
        self._series: OrderedDict[tuple[Path, Signature], tuple[Bar, ...]] = OrderedDict()
        self._sources: dict[tuple[str, str], _Source] = {}
        self._stamps: dict[tuple[str, str], array[int]] = {}
        self._infos: dict[str, SymbolInfo] = {}
        self._problems: dict[str, str] = {}

    # -- Catalog protocol -----------------------------------------------------------

    @property
    def name(self) -> str:
        """The provider name sessions record."""
        return self._name

    @property
    def root(self) -> Path:
        """The folder read."""
        return self._root

    @property
    def version(self) -> int:
        """Increases whenever a scan finds a file added, changed or removed."""
        self._fresh()
        return self._version

    def refresh(self) -> None:
        """Re-scan the folder now."""
        with self._lock:
            self._scan()

    def symbols(self, *, market: str | None = None, asset_class: AssetClass | None = None) -> Sequence[SymbolInfo]:
        """Every symbol with usable data, optionally one market or asset class, sorted."""
        self._fresh()
        wanted = market.upper() if market is not None else None
        return tuple(
            info
            for _, info in sorted(self._infos.items())
            if (wanted is None or info.market == wanted) and (asset_class is None or info.asset_class is asset_class)
        )

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """What is known of canonical `symbol`, or None."""
        self._fresh()
        return self._infos.get(symbol)

    def problems(self) -> Mapping[str, str]:
        """Symbols, files or folders present but unusable → why."""
        self._fresh()
        return MappingProxyType(dict(self._problems))

    def timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[datetime]:
        """Bar times of `symbol` in ``[start, end]``."""
        seconds = self._seconds(symbol, start, end, timeframe)
        if seconds is not None:
            return tuple(datetime.fromtimestamp(s, tz=UTC) for s in seconds)
        return tuple(bar.timestamp for bar in self.bars(symbol, start, end, timeframe))

    def count_ticks(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str = DAILY) -> int:
        """Distinct bar times of the union of `symbols` in ``[start, end]``."""
        seen: set[int] = set()
        for symbol in symbols:
            seconds = self._seconds(symbol, start, end, timeframe)
            if seconds is None:
                seconds = [_epoch(bar.timestamp) for bar in self.bars(symbol, start, end, timeframe)]
            seen.update(seconds)
        return len(seen)

    def _seconds(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[int] | None:
        """Bar times in range as epoch seconds, from the scan, for single-file series (else None)."""
        self._fresh()
        stamps = self._stamps.get((symbol, timeframe))
        if stamps is None:
            return None
        return stamps[bisect.bisect_left(stamps, _epoch_ceil(start)) : bisect.bisect_right(stamps, _epoch(end))]

    def bars(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[Bar]:
        """The bars of `symbol` in ``[start, end]``, oldest first (empty when unknown)."""
        self._fresh()
        source = self._sources.get((symbol, timeframe))
        if source is None:
            return ()
        files = source.files
        if source.per_day:
            first, last = start.date().isoformat(), end.date().isoformat()
            files = tuple(f for f in files if first <= f.stem <= last)
        out: list[Bar] = []
        for file in files:
            series = self._load(file)
            keys = [b.timestamp for b in series]
            out.extend(series[bisect.bisect_left(keys, start) : bisect.bisect_right(keys, end)])
        return tuple(out)

    # -- scanning -------------------------------------------------------------------

    def _fresh(self) -> None:
        now = self._monotonic()
        if self._scanned_at is not None and now - self._scanned_at < self._interval:
            return
        with self._lock:
            if self._scanned_at is None or self._monotonic() - self._scanned_at >= self._interval:
                self._scan()

    def _scan(self) -> None:
        problems: dict[str, str] = {}
        sources = self._discover(problems)
        signatures: dict[Path, Signature] = {}
        for source in sources:
            for file in source.files:
                try:
                    stat = file.stat()
                except OSError:  # pragma: no cover - removed between listing and stat
                    continue
                signatures[file] = (stat.st_mtime_ns, stat.st_size)
        if signatures != self._signatures or self._scanned_at is None:
            if self._scanned_at is not None:
                self._version += 1
            self._signatures = signatures
            live = set(signatures.items())
            self._summaries = {k: v for k, v in self._summaries.items() if k in live}
            self._sources, self._infos = self._index(sources, problems)
            self._problems = problems
        self._scanned_at = self._monotonic()

    def _discover(self, problems: dict[str, str]) -> list[_Source]:
        found: dict[tuple[str, str | None], _Source] = {}
        candles = self._root / "candles"
        if candles.is_dir():
            for folder in sorted(p for p in candles.iterdir() if p.is_dir()):
                timeframe = normalize_timeframe(folder.name)
                if timeframe is None:
                    problems[f"candles/{folder.name}"] = "unknown timeframe folder"
                    continue
                for entry in sorted(folder.iterdir()):
                    source = self._source(entry, timeframe, problems)
                    if source is not None:
                        found.setdefault((source.symbol, timeframe), source)
        for entry in sorted(self._root.iterdir()):
            if entry.is_file():
                source = self._source(entry, None, problems)
                if source is not None and not any(k[0] == source.symbol for k in found):
                    found[(source.symbol, None)] = source
        return list(found.values())

    def _source(self, entry: Path, timeframe: str | None, problems: dict[str, str]) -> _Source | None:
        per_day = entry.is_dir()
        if not per_day and entry.suffix.lower() not in _SUFFIXES:
            return None
        classified = classify_symbol(entry.name if per_day else entry.stem)
        if isinstance(classified, SymbolProblem):
            problems[entry.name] = f"file name is not a symbol: {classified.reason}"
            return None
        symbol, asset_class = classified
        if not per_day:
            return _Source(symbol, asset_class, timeframe, (entry,), per_day=False)
        days = tuple(
            sorted(f for f in entry.iterdir() if f.suffix.lower() in _SUFFIXES and _DAY_FILE.fullmatch(f.stem))
        )
        if not days:
            problems[symbol] = f"no day files in {entry.name}/"
            return None
        return _Source(symbol, asset_class, timeframe, days, per_day=True)

    def _index(
        self, sources: Iterable[_Source], problems: dict[str, str]
    ) -> tuple[dict[tuple[str, str], _Source], dict[str, SymbolInfo]]:
        by_key: dict[tuple[str, str], _Source] = {}
        stamps: dict[tuple[str, str], array[int]] = {}
        ranges: dict[str, dict[str, DataRange]] = {}
        classes: dict[str, AssetClass] = {}
        for source in sources:
            summaries = [s for s in (self._summary(f, source, problems) for f in source.files) if s is not None]
            if not summaries:
                continue
            timeframe = source.timeframe or summaries[0].timeframe
            by_key[(source.symbol, timeframe)] = attrs.evolve(source, timeframe=timeframe)
            if not source.per_day and summaries[0].stamps is not None:
                stamps[(source.symbol, timeframe)] = summaries[0].stamps
            ranges.setdefault(source.symbol, {})[timeframe] = DataRange(
                start=min(s.first for s in summaries), end=max(s.last for s in summaries)
            )
            classes[source.symbol] = source.asset_class
        infos = {
            symbol: SymbolInfo(
                symbol=symbol,
                asset_class=classes[symbol],
                market=_MARKETS[classes[symbol]],
                ranges=MappingProxyType(found),
            )
            for symbol, found in ranges.items()
        }
        self._stamps = stamps
        return by_key, infos

    def _summary(self, file: Path, source: _Source, problems: dict[str, str]) -> _Summary | None:
        key = (file, self._signatures.get(file) or _signature(file))
        summary = self._summaries.get(key)
        if summary is None:
            try:
                series = self._read(file)
                if not series:
                    raise _BadData("no rows")
                stamps = None if source.per_day else array("q", (_epoch(b.timestamp) for b in series))
                summary = _Summary(
                    series[0].timestamp, series[-1].timestamp, source.timeframe or _infer(series), stamps
                )
            except _BadData as exc:
                summary = str(exc)
                logger.warning("market data file %s skipped: %s", file, summary)
            self._summaries[key] = summary
        if isinstance(summary, str):
            where = f"{source.symbol} {file.name}" if source.per_day else source.symbol
            problems[where] = f"{file.name}: {summary}"
            return None
        return summary

    # -- reading --------------------------------------------------------------------

    def _load(self, file: Path) -> tuple[Bar, ...]:
        key = (file, _signature(file))
        with self._lock:
            cached = self._series.get(key)
            if cached is not None:
                self._series.move_to_end(key)
                return cached
        try:
            series = self._read(file)
        except _BadData:
            series = ()
        with self._lock:
            self._series[key] = series
            while len(self._series) > _MAX_SERIES:
                self._series.popitem(last=False)
        return series

    def _read(self, file: Path) -> tuple[Bar, ...]:
        try:
            rows = _read_parquet(file) if file.suffix.lower() == ".parquet" else _read_csv(file)
        except OSError as exc:
            raise _BadData(f"unreadable: {exc.strerror or exc}") from None
        return _to_bars(rows)


def _epoch(moment: datetime) -> int:
    """Whole epoch seconds (sub-second bar times are not supported by the index)."""
    return int(moment.timestamp() // 1)


def _epoch_ceil(moment: datetime) -> int:
    seconds = _epoch(moment)
    return seconds if moment.microsecond == 0 else seconds + 1


def _signature(file: Path) -> Signature:
    try:
        stat = file.stat()
    except OSError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


def _columns(names: Sequence[str]) -> dict[str, int]:
    """Map canonical column names to positions; raise `_BadData` when one is missing."""
    lowered = {name.strip().lower(): i for i, name in enumerate(names)}
    found: dict[str, int] = {}
    time_column = next((c for c in _TIME_COLUMNS if c in lowered), None)
    missing = [c for c in _PRICE_COLUMNS if c not in lowered]
    if time_column is None:
        missing.insert(0, "date/timestamp")
    if missing:
        raise _BadData(f"missing columns: {', '.join(missing)}")
    assert time_column is not None
    found["time"] = lowered[time_column]
    for column in (*_PRICE_COLUMNS, "volume"):
        if column in lowered:
            found[column] = lowered[column]
    return found


Row = Sequence[object]
"""time, open, high, low, close, volume — raw, as read."""
_FIELDS: Final = ("time", *_PRICE_COLUMNS, "volume")


def _read_csv(file: Path) -> list[Row]:
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return []
            columns = _columns(header)
            rows: list[Row] = []
            for line, record in enumerate(reader, start=2):
                if not record or all(not cell.strip() for cell in record):
                    continue
                try:
                    rows.append([record[columns[c]] if c in columns else 0 for c in _FIELDS])
                except IndexError:
                    raise _BadData(f"row {line} has too few fields") from None
            return rows
    except UnicodeDecodeError:
        raise _BadData("not UTF-8 text") from None
    except csv.Error as exc:
        raise _BadData(f"not valid CSV: {exc}") from None


def _read_parquet(file: Path) -> list[Row]:
    try:
        parquet: Any = importlib.import_module("pyarrow.parquet")  # the optional extra, imported on use
    except ImportError:
        raise _BadData(PARQUET_EXTRA_HINT) from None
    try:
        table: Any = parquet.read_table(file)
    except OSError:
        raise
    except Exception as exc:  # pyarrow raises its own ArrowInvalid & co for corrupt files
        raise _BadData(f"not a readable Parquet file ({type(exc).__name__})") from None
    names = cast("list[str]", table.column_names)
    columns = _columns(names)
    data = cast("dict[str, list[object]]", table.to_pydict())
    picked = [data[names[columns[c]]] if c in columns else None for c in _FIELDS]
    count = len(picked[0] or [])
    return [[col[i] if col is not None else 0 for col in picked] for i in range(count)]


def _to_bars(rows: Sequence[Row]) -> tuple[Bar, ...]:
    by_time: dict[datetime, Bar] = {}
    for number, row in enumerate(rows, start=1):
        stamp, open_, high, low, close, volume = row
        try:
            when = _parse_time(stamp)
            bar = Bar(
                timestamp=when,
                open=_price(open_),
                high=_price(high),
                low=_price(low),
                close=_price(close),
                volume=0.0 if volume is None or (isinstance(volume, str) and not volume.strip()) else _price(volume),
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise _BadData(f"row {number}: {exc}") from None
        by_time[when] = bar  # duplicates: the last one wins
    return tuple(sorted(by_time.values(), key=lambda b: b.timestamp))


def _price(value: object) -> float:
    if value is None or isinstance(value, bool):
        raise ValueError(f"bad number {value!r}")
    number = float(value.strip() if isinstance(value, str) else cast("float", value))
    if not math.isfinite(number):
        raise ValueError(f"bad number {value!r}")
    return number


def _parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_epoch(float(text))
        if len(text) == 10:
            return _parse_time(date.fromisoformat(text))
        return _parse_time(datetime.fromisoformat(text))
    raise ValueError(f"bad timestamp {value!r}")


def _from_epoch(seconds: float) -> datetime:
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    return datetime.fromtimestamp(seconds, tz=UTC)


def _infer(series: Sequence[Bar]) -> str:
    """The timeframe of a flat file: daily when every bar is at midnight, else the smallest gap."""
    if all(b.timestamp.hour == b.timestamp.minute == b.timestamp.second == 0 for b in series):
        return DAILY
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(series)]
    smallest = min((g for g in gaps if g > timedelta(0)), default=timedelta(minutes=1))
    return min(_INTRADAY, key=lambda tf: abs(timeframe_duration(tf) - smallest))
