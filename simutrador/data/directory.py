"""`DirectoryCatalog`: market data from a folder of the user's own CSV and Parquet files.

This module owns finding and caching that data; `simutrador.data.readers` reads each
file. Layouts (they may coexist):

* the SimuTrador data manager's: ``candles/<timeframe>/<SYMBOL>.csv|.parquet`` (one
  file per symbol, typically daily) and ``candles/<timeframe>/<SYMBOL>/<YYYY-MM-DD>.csv|.parquet``
  (intraday, one file per day); ``<timeframe>`` is any spelling `parse_timeframe`
  accepts (``1d``, ``daily``, ``1min``, ``5m``...), parsed strictly (``1M`` is refused);
* flat: ``<SYMBOL>.csv|.parquet`` at the top, its timeframe inferred from the data;
  a pandas ``df.to_csv()`` file loads as is.

File names are symbols in any accepted spelling, including the user's own
instruments (``BRK.B``, ``7203.T``, ``ES=F``). Timezone (of naive times and trading
days), exchange, asset class, currency, price increment and lot size can be set per
folder; prices are quantized to the increment (by default the finest the files use,
at least a cent for stocks, 0.00001 for forex, 0.00000001 for crypto).

Availability is computed on first use and cached per file (keyed on path, mtime and
size). Once `refresh_interval` seconds have passed, the next call re-scans the tree
(stat only, re-reading changed files), so files added, changed or removed on disk are
picked up without a restart, and `version` increases. A corrupt, empty or unreadable
file never raises: it is logged once, skipped, and explained in `problems()`; but a
folder whose every file fails is refused when the catalog is opened.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import re
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Final

import attrs

from simutrador.data import readers
from simutrador.data.catalog import Bar, SymbolInfo
from simutrador.data.instruments import InstrumentDefaults
from simutrador.data.readers import PARQUET_EXTRA_HINT, BadData, FileData, quantized
from simutrador.data.resample import ResamplingCatalog
from simutrador.data.symbols import AssetClass, SymbolProblem, classify_symbol
from simutrador.data.timeframes import parse_timeframe
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import ParseError
from simutrador.sessions.models import DataRange

__all__ = ["PARQUET_EXTRA_HINT", "DirectoryCatalog"]

logger = logging.getLogger(__name__)

_SUFFIXES: Final = frozenset({".csv", ".parquet"})
_DAY_FILE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_SERIES: Final = 64
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_ONE_DAY: Final = timedelta(days=1)
_SHOWN_PROBLEMS: Final = 5

_Signature = tuple[int, int]  # (st_mtime_ns, st_size)
_Key = tuple[str, str]  # (symbol, timeframe)


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
    timeframe: str  # as given by the folder or inferred from the data
    decimals: int  # decimal places the prices need
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


class DirectoryCatalog(ResamplingCatalog):
    r"""A `Catalog` over a folder of CSV/Parquet market data (thread-safe).

    Args:
        root: The folder.
        name: The provider name sessions record.
        refresh_interval: Seconds after a scan before the next call re-scans the folder.
        monotonic: Seconds from a monotonic clock (injected in tests).
        timezone: IANA zone of naive times in the files and of trading days
            (``"America/New_York"``); UTC by default.
        exchange: The market every symbol is reported on (default by asset class:
            ``US``, ``FOREX``, ``CRYPTO``).
        asset_class: The asset class of every symbol (default: from its spelling).
        currency: The quote currency of stocks (pairs are quoted in their second
            currency); USD by default.
        price_increment: The tick size prices are quantized to (default: inferred).
        lot_size: The smallest quantity step (default by asset class).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` when `root` is not a folder, a setting
            is invalid, or the folder holds data files but not one is usable.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = Path(folder, "aapl.csv").write_text("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n")
        ...     DirectoryCatalog(folder).symbol_info("AAPL").ranges["daily"].start.isoformat()
        '2024-01-02T00:00:00+00:00'
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        name: str = "directory",
        refresh_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        timezone: str = "UTC",
        exchange: str | None = None,
        asset_class: AssetClass | str | None = None,
        currency: str = "USD",
        price_increment: Decimal | str | int | None = None,
        lot_size: Decimal | str | int | None = None,
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
        self._defaults = InstrumentDefaults.create(timezone, exchange, asset_class, currency, price_increment, lot_size)
        self._name = name
        self._interval = refresh_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._scanned_at = 0.0
        self._version = 0
        self._summaries: dict[tuple[Path, _Signature], _Summary | str] = {}
        self._series: OrderedDict[tuple[Path, _Signature, Decimal], _Series] = OrderedDict()
        self._digests: dict[tuple[Path, _Signature], str] = {}
        self._fingerprint: tuple[_Snapshot, str] | None = None
        snapshot = self._current()
        if not snapshot.infos and snapshot.problems:
            shown = "; ".join(f"{where}: {why}" for where, why in list(snapshot.problems.items())[:_SHOWN_PROBLEMS])
            more = len(snapshot.problems) - _SHOWN_PROBLEMS
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"no usable market data in {self._root}: every data file failed ({shown}"
                + (f"; and {more} more" if more > 0 else "")
                + ")",
                {"data_dir": str(self._root), "problems": dict(snapshot.problems)},
            )

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

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the folder's settings and, per usable source, its path and file contents.

        Computed on first use after each change (reading every file once), then cached.
        """
        snapshot = self._current()
        cached = self._fingerprint
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        digest = hashlib.sha256()
        digest.update(self._defaults.key().encode())
        for key in sorted(snapshot.sources):
            source = snapshot.sources[key]
            digest.update(repr(key).encode())
            for file in source.files:
                digest.update(self._relative(file).encode())
                digest.update(self._file_digest(file, snapshot.signatures[file]).encode())
        value = digest.hexdigest()
        with self._lock:
            self._fingerprint = (snapshot, value)
        return value

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

    # -- held data (ResamplingCatalog) ------------------------------------------------

    def _held_timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[datetime]:
        snapshot = self._current()
        stamps = snapshot.stamps.get((symbol, timeframe))
        if stamps is None:
            return tuple(bar.timestamp for bar in self._bars(snapshot, symbol, start, end, timeframe))
        chosen = stamps[bisect.bisect_left(stamps, _micros(start)) : bisect.bisect_right(stamps, _micros(end))]
        return tuple(_EPOCH + timedelta(microseconds=m) for m in chosen)

    def _held_count(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str) -> int:
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

    def _held_bars(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[Bar]:
        return self._bars(self._current(), symbol, start, end, timeframe)

    # -- reading bars ---------------------------------------------------------------

    def _bars(
        self, snapshot: _Snapshot, symbol: str, start: datetime, end: datetime, timeframe: str
    ) -> tuple[Bar, ...]:
        source = snapshot.sources.get((symbol, timeframe))
        if source is None:
            return ()
        increment = snapshot.infos[symbol].price_increment
        files = source.files
        if source.per_day:  # a day file may be named by exchange-local date: allow a day either side
            first, last = (start - _ONE_DAY).date().isoformat(), (end + _ONE_DAY).date().isoformat()
            files = tuple(f for f in files if first <= f.stem <= last)
        found: list[Bar] = []
        for file in files:
            series = self._load(file, snapshot.signatures[file], timeframe, increment)
            found.extend(series.bars[bisect.bisect_left(series.keys, start) : bisect.bisect_right(series.keys, end)])
        if source.per_day and len(files) > 1:  # day files could overlap
            found = sorted({bar.timestamp: bar for bar in found}.values(), key=lambda bar: bar.timestamp)
        return tuple(found)

    def _load(self, file: Path, signature: _Signature, timeframe: str, increment: Decimal) -> _Series:
        key = (file, signature, increment)
        with self._lock:
            cached = self._series.get(key)
            if cached is not None:
                self._series.move_to_end(key)
                return cached
        try:
            data = self._read(file, timeframe)
        except BadData:  # changed for the worse since the scan; the next scan reports it
            data = FileData(bars=(), keys=(), timeframe=timeframe, decimals=0)
        series = _Series(bars=quantized(data.bars, increment), keys=data.keys)
        with self._lock:
            self._remember(key, series)
        return series

    def _read(self, file: Path, timeframe: str | None) -> FileData:
        return readers.read_file(file, zone=self._defaults.zone, timeframe=timeframe)

    def _remember(self, key: tuple[Path, _Signature, Decimal], series: _Series) -> None:
        """Keep `series` in the bounded cache of loaded files (caller holds the lock)."""
        self._series[key] = series
        self._series.move_to_end(key)
        while len(self._series) > _MAX_SERIES:
            self._series.popitem(last=False)

    def _file_digest(self, file: Path, signature: _Signature) -> str:
        key = (file, signature)
        cached = self._digests.get(key)
        if cached is None:
            try:
                cached = hashlib.sha256(file.read_bytes()).hexdigest()
            except OSError:  # pragma: no cover - removed since the scan; the next scan says so
                cached = "unreadable"
            self._digests[key] = cached
        return cached

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
        self._digests = {key: value for key, value in self._digests.items() if key in live}
        for stale in [key for key in self._series if key[:2] not in live]:
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
                try:
                    timeframe = parse_timeframe(folder.name).name
                except ParseError as exc:
                    listing[self._relative(folder)] = f"not a timeframe folder: {exc}"
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
        decimals: dict[str, int] = {}
        for source in sources:
            summaries: list[_Summary] = []
            for file in source.files:
                summary = self._summary(file, signatures[file], source)
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
            decimals[source.symbol] = max(decimals.get(source.symbol, 0), *(s.decimals for s in summaries))
        infos = {
            symbol: self._defaults.describe(symbol, classes[symbol], found, decimals[symbol])
            for symbol, found in sorted(ranges.items())
        }
        problems_view = MappingProxyType(problems)  # handed out as is: read-only
        return _Snapshot(signatures, dict(listing), chosen, stamps, infos, problems_view)

    def _summary(self, file: Path, signature: _Signature, source: _Source) -> _Summary | str:
        """First/last bar and timeframe of `file`, or why it is unusable; cached per signature."""
        key = (file, signature)
        cached = self._summaries.get(key)
        if cached is not None:
            return cached
        try:
            data = self._read(file, source.timeframe)
            if not data.bars:
                raise BadData("no rows")
        except BadData as exc:
            result: _Summary | str = str(exc)
        else:
            result = _Summary(
                first=data.keys[0],
                last=data.keys[-1],
                timeframe=data.timeframe,
                decimals=data.decimals,
                stamps=None if source.per_day else array("q", (_micros(k) for k in data.keys)),
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


def _micros(moment: datetime) -> int:
    """Whole microseconds since the epoch, exactly (`moment` aware)."""
    return (moment - _EPOCH) // _MICROSECOND
