"""`DirectoryCatalog`: market data from a folder of the user's own CSV and Parquet files.

This module owns finding, reading and caching that data. Layouts (they may coexist):

* the SimuTrador data manager's: ``candles/<timeframe>/<SYMBOL>.csv|.parquet`` (one
  file per symbol, typically daily) and ``candles/<timeframe>/<SYMBOL>/<YYYY-MM-DD>.csv|.parquet``
  (intraday, one file per day);
* flat: ``<SYMBOL>.csv|.parquet`` at the top, its timeframe inferred from the data.

Columns are matched case-insensitively: a time column (``date``, ``timestamp``,
``datetime`` or ``time``), ``open``, ``high``, ``low``, ``close`` and optionally
``volume``. Timestamps may be ISO-8601 (naive means UTC), dates, or epoch seconds or
milliseconds; all become aware UTC. Parquet needs pyarrow (the ``parquet`` extra),
imported only when a Parquet file is read.

Availability is computed on first use and cached per file (keyed on path, mtime and
size). Once `refresh_interval` seconds have passed, the next call re-scans the tree
(stat only, re-reading changed files), so files added, changed or removed on disk are
picked up without a restart, and `version` increases. A corrupt, empty or unreadable
file never raises: it is logged once, skipped, and explained in `problems()`.
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

from simutrador.data.catalog import DAILY, Bar, SymbolInfo, normalize_timeframe, timeframe_duration
from simutrador.data.symbols import AssetClass, SymbolProblem, classify_symbol
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.models import DataRange

__all__ = ["PARQUET_EXTRA_HINT", "DirectoryCatalog"]

logger = logging.getLogger(__name__)

PARQUET_EXTRA_HINT: Final = "reading Parquet needs pyarrow: pip install 'simutrador[parquet]'"
"""The problem reported for each Parquet-backed symbol when pyarrow is not installed."""

_SUFFIXES: Final = frozenset({".csv", ".parquet"})
_TIME_COLUMNS: Final = ("date", "timestamp", "datetime", "time")
_PRICE_COLUMNS: Final = ("open", "high", "low", "close")
_FIELDS: Final = ("time", *_PRICE_COLUMNS, "volume")
_DAY_FILE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MILLISECONDS_ABOVE: Final = 1e11
_MARKETS: Final[Mapping[AssetClass, str]] = {
    AssetClass.STOCK: "US",
    AssetClass.FOREX: "FOREX",
    AssetClass.CRYPTO: "CRYPTO",
}
_INFERABLE: Final = ("1min", "5min", "15min", "30min", "1h", DAILY)
_MAX_SERIES: Final = 64
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_ONE_DAY: Final = timedelta(days=1)

_Signature = tuple[int, int]  # (st_mtime_ns, st_size)
_Key = tuple[str, str]  # (symbol, timeframe)
_Row = Sequence[object]  # time, open, high, low, close, volume: raw, as read


class _BadData(Exception):
    """A file's content cannot be used; the message says why."""


@attrs.frozen(slots=True)
class _Source:
    """Where one (symbol, timeframe) comes from: one file, or one file per day."""

    symbol: str
    asset_class: AssetClass
    timeframe: str | None  # None: a flat file, inferred from its data
    files: tuple[Path, ...]
    per_day: bool
    where: str  # path relative to the root, for messages


@attrs.frozen(slots=True, eq=False)
class _Summary:
    first: datetime
    last: datetime
    timeframe: str  # as inferred from the data; only flat files use it
    stamps: array[int] | None  # epoch microseconds, kept for single-file series only


@attrs.frozen(slots=True, eq=False)
class _Series:
    bars: tuple[Bar, ...]
    keys: tuple[datetime, ...]


@attrs.frozen(slots=True, eq=False)
class _Snapshot:
    """Everything one scan found; replaced whole, never mutated."""

    signatures: Mapping[Path, _Signature]
    listing: Mapping[str, str]  # problems found while listing (names, folders)
    sources: Mapping[_Key, _Source]
    stamps: Mapping[_Key, array[int]]
    infos: Mapping[str, SymbolInfo]
    problems: Mapping[str, str]


class DirectoryCatalog:
    r"""A `Catalog` over a folder of CSV/Parquet market data (thread-safe).

    Args:
        root: The folder.
        name: The provider name sessions record.
        refresh_interval: Seconds after a scan before the next call re-scans the folder.
        monotonic: Seconds from a monotonic clock (injected in tests).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` when `root` is not a folder or
            `refresh_interval` is negative.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = Path(folder, "aapl.csv").write_text("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n")
        ...     DirectoryCatalog(folder).symbol_info("AAPL").ranges["1d"].start.isoformat()
        '2024-01-02T00:00:00+00:00'
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
        if not refresh_interval >= 0:  # also refuses NaN
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"refresh_interval must be zero or more seconds, got {refresh_interval!r}",
                {"refresh_interval": refresh_interval},
            )
        self._name = name
        self._interval = refresh_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._scanned_at = 0.0
        self._version = 0
        self._summaries: dict[tuple[Path, _Signature], _Summary | str] = {}
        self._series: OrderedDict[tuple[Path, _Signature], _Series] = OrderedDict()

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
        self._current()
        return self._version

    def refresh(self) -> None:
        """Re-scan the folder now, whatever the refresh interval."""
        with self._lock:
            self._scan(self._snapshot)

    def symbols(self, *, market: str | None = None, asset_class: AssetClass | None = None) -> Sequence[SymbolInfo]:
        """Every symbol with usable data, optionally one market or asset class, sorted by symbol."""
        wanted = market.upper() if market is not None else None
        return tuple(
            info
            for info in self._current().infos.values()
            if (wanted is None or info.market == wanted) and (asset_class is None or info.asset_class is asset_class)
        )

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """What is known of canonical `symbol`, or None when it has no usable data."""
        return self._current().infos.get(symbol)

    def problems(self) -> Mapping[str, str]:
        """Symbols, files or folders present but unusable → why."""
        return self._current().problems

    def timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[datetime]:
        """The bar times of `symbol` in ``[start, end]``, oldest first."""
        snapshot = self._current()
        stamps = snapshot.stamps.get((symbol, timeframe))
        if stamps is None:
            return tuple(bar.timestamp for bar in self._bars(snapshot, symbol, start, end, timeframe))
        chosen = stamps[bisect.bisect_left(stamps, _micros(start)) : bisect.bisect_right(stamps, _micros(end))]
        return tuple(_EPOCH + timedelta(microseconds=m) for m in chosen)

    def count_ticks(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str = DAILY) -> int:
        """How many distinct bar times the union of `symbols` has in ``[start, end]``."""
        snapshot = self._current()
        low, high = _micros(start), _micros(end)
        seen: set[int] = set()
        for symbol in symbols:
            stamps = snapshot.stamps.get((symbol, timeframe))
            if stamps is None:
                seen.update(_micros(bar.timestamp) for bar in self._bars(snapshot, symbol, start, end, timeframe))
            else:
                seen.update(stamps[bisect.bisect_left(stamps, low) : bisect.bisect_right(stamps, high)])
        return len(seen)

    def bars(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[Bar]:
        """The OHLCV bars of `symbol` in ``[start, end]``, oldest first (empty when unknown)."""
        return self._bars(self._current(), symbol, start, end, timeframe)

    # -- reading bars ---------------------------------------------------------------

    def _bars(
        self, snapshot: _Snapshot, symbol: str, start: datetime, end: datetime, timeframe: str
    ) -> tuple[Bar, ...]:
        source = snapshot.sources.get((symbol, timeframe))
        if source is None:
            return ()
        start, end = _utc(start), _utc(end)
        files = source.files
        if source.per_day:  # a day file may be named by exchange-local date: allow a day either side
            first, last = (start - _ONE_DAY).date().isoformat(), (end + _ONE_DAY).date().isoformat()
            files = tuple(f for f in files if first <= f.stem <= last)
        found: list[Bar] = []
        for file in files:
            series = self._load(file, snapshot.signatures[file])
            found.extend(series.bars[bisect.bisect_left(series.keys, start) : bisect.bisect_right(series.keys, end)])
        if source.per_day and len(files) > 1:  # day files could overlap
            found = sorted({bar.timestamp: bar for bar in found}.values(), key=lambda bar: bar.timestamp)
        return tuple(found)

    def _load(self, file: Path, signature: _Signature) -> _Series:
        key = (file, signature)
        with self._lock:
            cached = self._series.get(key)
            if cached is not None:
                self._series.move_to_end(key)
                return cached
        try:
            series = _read(file)
        except _BadData:  # changed for the worse since the scan; the next scan reports it
            series = _Series(bars=(), keys=())
        with self._lock:
            self._remember(key, series)
        return series

    def _remember(self, key: tuple[Path, _Signature], series: _Series) -> None:
        """Keep `series` in the bounded cache of loaded files (caller holds the lock)."""
        self._series[key] = series
        self._series.move_to_end(key)
        while len(self._series) > _MAX_SERIES:
            self._series.popitem(last=False)

    # -- scanning -------------------------------------------------------------------

    def _current(self) -> _Snapshot:
        """The latest scan, re-scanning first when the refresh interval has passed."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or self._monotonic() - self._scanned_at >= self._interval:
                snapshot = self._scan(snapshot)
            return snapshot

    def _scan(self, old: _Snapshot | None) -> _Snapshot:
        """List and stat the tree; re-index when anything changed (caller holds the lock)."""
        listing: dict[str, str] = {}
        sources = self._discover(listing)
        signatures = {file: _signature(file) for source in sources for file in source.files}
        if old is not None and signatures == old.signatures and listing == old.listing:
            self._scanned_at = self._monotonic()
            return old
        if old is not None:
            self._version += 1
        live = set(signatures.items())
        self._summaries = {key: value for key, value in self._summaries.items() if key in live}
        for stale in [key for key in self._series if key not in live]:
            del self._series[stale]
        snapshot = self._index(sources, signatures, listing)
        for where, reason in snapshot.problems.items():
            if old is None or old.problems.get(where) != reason:
                logger.warning("market data %s skipped: %s", where, reason)
        self._snapshot = snapshot
        self._scanned_at = self._monotonic()
        return snapshot

    def _discover(self, listing: dict[str, str]) -> list[_Source]:
        """Every candidate source, data-manager layout first, then flat files."""
        sources: list[_Source] = []
        candles = self._root / "candles"
        if candles.is_dir():
            for folder in self._list(candles, listing):
                if not folder.is_dir():
                    continue
                timeframe = normalize_timeframe(folder.name)
                if timeframe is None:
                    listing[self._relative(folder)] = "unknown timeframe folder"
                    continue
                for entry in self._list(folder, listing):
                    self._add_source(entry, timeframe, sources, listing)
        for entry in self._list(self._root, listing):
            if entry.is_file():
                self._add_source(entry, None, sources, listing)
        return sources

    def _list(self, folder: Path, listing: dict[str, str]) -> list[Path]:
        try:
            return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))
        except OSError as exc:
            listing[self._relative(folder)] = f"folder unreadable: {exc.strerror or exc}"
            return []

    def _add_source(self, entry: Path, timeframe: str | None, sources: list[_Source], listing: dict[str, str]) -> None:
        per_day = timeframe is not None and entry.is_dir()
        if not per_day and not (entry.is_file() and entry.suffix.lower() in _SUFFIXES):
            return
        classified = classify_symbol(entry.name if per_day else entry.stem)
        if isinstance(classified, SymbolProblem):
            listing[entry.name] = f"file name is not a symbol: {classified.reason}"
            return
        symbol, asset_class = classified
        where = self._relative(entry)
        if not per_day:
            sources.append(_Source(symbol, asset_class, timeframe, (entry,), per_day=False, where=where))
            return
        days: dict[str, Path] = {}
        for file in self._list(entry, listing):
            if file.is_file() and file.suffix.lower() in _SUFFIXES and _DAY_FILE.fullmatch(file.stem):
                if file.stem in days:
                    listing[self._relative(file)] = f"another file for the same day ({days[file.stem].name}); ignored"
                else:
                    days[file.stem] = file
        if days:
            sources.append(_Source(symbol, asset_class, timeframe, tuple(days.values()), per_day=True, where=where))
        else:
            _note(listing, symbol, f"{where}/: no day files")

    def _index(
        self, sources: Iterable[_Source], signatures: Mapping[Path, _Signature], listing: Mapping[str, str]
    ) -> _Snapshot:
        """Read what changed and build the snapshot (caller holds the lock)."""
        problems = dict(listing)
        chosen: dict[_Key, _Source] = {}
        stamps: dict[_Key, array[int]] = {}
        ranges: dict[str, dict[str, DataRange]] = {}
        classes: dict[str, AssetClass] = {}
        for source in sources:
            summaries: list[_Summary] = []
            for file in source.files:
                summary = self._summary(file, signatures[file], source.per_day)
                if isinstance(summary, _Summary):
                    summaries.append(summary)
                elif source.per_day:
                    _note(problems, self._relative(file), summary)
                else:
                    _note(problems, source.symbol, f"{source.where}: {summary}")
            if not summaries:
                if source.per_day:
                    reason = problems[self._relative(source.files[0])]
                    _note(problems, source.symbol, f"{source.where}/: no usable day files ({reason})")
                continue
            key = (source.symbol, source.timeframe or summaries[0].timeframe)
            if key in chosen:  # e.g. AAPL.csv and AAPL.parquet, or EURUSD.csv and EUR-USD.csv
                _note(problems, source.where, f"same symbol and timeframe as {chosen[key].where}")
                continue
            chosen[key] = attrs.evolve(source, timeframe=key[1])
            if summaries[0].stamps is not None:
                stamps[key] = summaries[0].stamps
            first, last = min(s.first for s in summaries), max(s.last for s in summaries)
            ranges.setdefault(source.symbol, {})[key[1]] = DataRange(start=first, end=last)
            classes[source.symbol] = source.asset_class
        infos = {
            symbol: SymbolInfo(
                symbol=symbol,
                asset_class=classes[symbol],
                market=_MARKETS[classes[symbol]],
                ranges=MappingProxyType(dict(sorted(found.items(), key=lambda item: timeframe_duration(item[0])))),
            )
            for symbol, found in sorted(ranges.items())
        }
        problems_view = MappingProxyType(problems)  # handed out as is: read-only
        return _Snapshot(signatures, dict(listing), chosen, stamps, infos, problems_view)

    def _summary(self, file: Path, signature: _Signature, per_day: bool) -> _Summary | str:
        """First/last bar and timeframe of `file`, or why it is unusable; cached per signature."""
        key = (file, signature)
        cached = self._summaries.get(key)
        if cached is not None:
            return cached
        try:
            series = _read(file)
            if not series.bars:
                raise _BadData("no rows")
        except _BadData as exc:
            result: _Summary | str = str(exc)
        else:
            self._remember(key, series)
            result = _Summary(
                first=series.keys[0],
                last=series.keys[-1],
                timeframe=_infer(series.keys),
                stamps=None if per_day else array("q", (_micros(k) for k in series.keys)),
            )
        self._summaries[key] = result
        return result

    def _relative(self, path: Path) -> str:
        return path.relative_to(self._root).as_posix()


def _note(problems: dict[str, str], where: str, reason: str) -> None:
    """Record a problem, keeping any already recorded under the same key."""
    problems[where] = f"{problems[where]}; {reason}" if where in problems else reason


def _signature(file: Path) -> _Signature:
    try:
        stat = file.stat()
    except OSError:  # pragma: no cover - removed between listing and stat; reading it will say so
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)


# -- file formats ---------------------------------------------------------------------


def _read(file: Path) -> _Series:
    """The bars of one file, sorted, duplicates resolved; `_BadData` when unusable."""
    try:
        rows = _read_parquet(file) if file.suffix.lower() == ".parquet" else _read_csv(file)
        bars = _to_bars(rows)
    except _BadData:
        raise
    except OSError as exc:
        raise _BadData(f"unreadable: {exc.strerror or exc}") from None
    except Exception as exc:  # a broken file must never break the catalog
        raise _BadData(f"unreadable ({type(exc).__name__})") from None
    return _Series(bars=bars, keys=tuple(bar.timestamp for bar in bars))


def _columns(names: Sequence[str]) -> dict[str, int]:
    """Map canonical column names to positions; `_BadData` when one is missing."""
    lowered = {name.strip().lower(): i for i, name in enumerate(names)}
    time_column = next((c for c in _TIME_COLUMNS if c in lowered), None)
    missing = [c for c in _PRICE_COLUMNS if c not in lowered]
    if time_column is None:
        missing.insert(0, "date/timestamp")
    if missing:
        raise _BadData(f"missing columns: {', '.join(missing)}")
    assert time_column is not None
    found = {"time": lowered[time_column]}
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
                    raise _BadData(f"line {line} has too few fields") from None
            return rows
    except UnicodeDecodeError:
        raise _BadData("not UTF-8 text") from None
    except csv.Error as exc:
        raise _BadData(f"not valid CSV: {exc}") from None


def _read_parquet(file: Path) -> list[_Row]:
    try:  # the optional extra, imported on first use only
        arrow: Any = importlib.import_module("pyarrow")
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise _BadData(PARQUET_EXTRA_HINT) from None
    try:
        table: Any = parquet.read_table(file)
        columns = _columns([str(name) for name in cast("list[object]", table.column_names)])
        picked = [_to_python(arrow, table.column(columns[c])) if c in columns else None for c in _FIELDS]
    except (_BadData, OSError):
        raise
    except Exception as exc:  # pyarrow raises its own ArrowInvalid & co for corrupt files
        raise _BadData(f"not a readable Parquet file ({type(exc).__name__})") from None
    count = cast("int", table.num_rows)
    return [[column[i] if column is not None else None for column in picked] for i in range(count)]


def _to_python(arrow: Any, column: Any) -> list[object]:
    """A pyarrow column as Python values; nanosecond timestamps truncated to microseconds."""
    kind: Any = column.type
    if arrow.types.is_timestamp(kind) and kind.unit == "ns":
        column = column.cast(arrow.timestamp("us", tz=kind.tz), safe=False)
    return cast("list[object]", column.to_pylist())


def _to_bars(rows: Sequence[_Row]) -> tuple[Bar, ...]:
    by_time: dict[datetime, Bar] = {}
    for number, row in enumerate(rows, start=1):
        stamp, open_, high, low, close, volume = row
        try:
            when = _parse_time(stamp)
            bar = Bar(
                timestamp=when,
                open=_number(open_),
                high=_number(high),
                low=_number(low),
                close=_number(close),
                volume=0.0 if volume is None or (isinstance(volume, str) and not volume.strip()) else _number(volume),
            )
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            raise _BadData(f"row {number}: {exc}") from None
        by_time[when] = bar  # duplicates: the last one wins
    return tuple(sorted(by_time.values(), key=lambda bar: bar.timestamp))


def _number(value: object) -> float:
    if value is None or isinstance(value, bool):
        raise ValueError(f"bad number {value!r}")
    number = float(value.strip() if isinstance(value, str) else cast("float", value))
    if not math.isfinite(number):
        raise ValueError(f"bad number {value!r}")
    return number


def _parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_epoch(float(text))
        return _utc(datetime.fromisoformat(text))
    raise ValueError(f"bad timestamp {value!r}")


def _from_epoch(seconds: float) -> datetime:
    if seconds > _MILLISECONDS_ABOVE:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, tz=UTC)


def _utc(moment: datetime) -> datetime:
    """`moment` as aware UTC (naive is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _micros(moment: datetime) -> int:
    """Whole microseconds since the epoch, exactly."""
    return (_utc(moment) - _EPOCH) // _MICROSECOND


def _infer(keys: Sequence[datetime]) -> str:
    """A flat file's timeframe: daily when every bar is at midnight UTC, else the nearest to the smallest gap."""
    if all(k.hour == k.minute == k.second == k.microsecond == 0 for k in keys):
        return DAILY
    smallest = min((b - a for a, b in itertools.pairwise(keys)), default=None)
    if smallest is None:
        return DAILY
    return min(_INFERABLE, key=lambda timeframe: abs(timeframe_duration(timeframe) - smallest))
