"""`FrameCatalog`: sessions over pandas DataFrames held in memory.

``Engine(catalog=FrameCatalog({"AAPL": df, "MSFT": other}))``. Each frame is what
pandas users have at hand: a `DatetimeIndex` (or a ``date``/``timestamp``/``datetime``/
``time`` column) and ``open``, ``high``, ``low``, ``close`` and optionally ``volume``
columns, matched case-insensitively (yfinance's ``Open``... ``Adj Close`` work; extra
columns are ignored). A symbol may also map to ``{timeframe: frame}`` to give several
timeframes; otherwise the timeframe is inferred as for flat files (see
`simutrador.data.readers`). Everything is converted once, at construction, to exact
bars; a bad frame raises at once, naming the symbol and row.

pandas itself is never imported here: frames are read through their own methods, so
the core keeps no hard dependency (the ``pandas`` extra installs it for you).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, cast

from simutrador.data.catalog import Bar, SymbolInfo
from simutrador.data.instruments import InstrumentDefaults
from simutrador.data.readers import BadData, bars_from_rows, quantized
from simutrador.data.resample import ResamplingCatalog
from simutrador.data.symbols import AssetClass, SymbolProblem, classify_symbol
from simutrador.data.timeframes import parse_timeframe
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import ParseError
from simutrador.sessions.models import DataRange

__all__ = ["FrameCatalog"]

_TIME_COLUMNS: Final = ("date", "timestamp", "datetime", "time")
_VALUE_COLUMNS: Final = ("open", "high", "low", "close", "volume")


def _refuse(message: str, **details: Any) -> SimutradorError:
    return SimutradorError(ErrorCode.VALIDATION_FAILED, message, details)


def _rows(frame: Any, symbol: str) -> list[list[object]]:
    """A DataFrame's bars as ``(time, open, high, low, close, volume)`` rows of Python values."""
    if not hasattr(frame, "columns") or not hasattr(frame, "index"):
        raise _refuse(f"{symbol}: expected a pandas DataFrame, got {type(frame).__name__}", symbol=symbol)
    names = {str(name).strip().lower(): name for name in cast("Sequence[object]", list(frame.columns))}
    missing = [c for c in _VALUE_COLUMNS[:4] if c not in names]
    if missing:
        raise _refuse(f"{symbol}: the frame has no {', '.join(missing)} column", symbol=symbol, missing=missing)
    time_name = next((names[c] for c in _TIME_COLUMNS if c in names), None)
    index: Any = frame[time_name] if time_name is not None else frame.index
    converter = getattr(index, "dt", index)  # a column holds datetimes behind .dt
    to_python: Any = getattr(converter, "to_pydatetime", None)
    stamps = list(cast("Iterable[object]", to_python() if callable(to_python) else index))
    columns = [cast("list[object]", frame[names[c]].tolist()) if c in names else None for c in _VALUE_COLUMNS]
    return [
        [stamp, *(column[i] if column is not None else None for column in columns)] for i, stamp in enumerate(stamps)
    ]


class FrameCatalog(ResamplingCatalog):
    """A `Catalog` over pandas DataFrames held in memory (immutable, thread-safe).

    Args:
        frames: Symbol → DataFrame, or symbol → ``{timeframe: DataFrame}``; symbols in
            any accepted spelling (``"eurusd"``, ``"BRK.B"``, ``"7203.T"``).
        name: The provider name sessions record.
        timezone: IANA zone of naive times and of trading days; UTC by default.
        exchange: The market every symbol is reported on (default by asset class).
        asset_class: The asset class of every symbol (default: from its spelling).
        currency: The quote currency of stocks (pairs: their second currency).
        price_increment: The tick size prices are quantized to (default: the finest
            the data uses, at least a cent for stocks).
        lot_size: The smallest quantity step (default by asset class).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the symbol (and row) of a frame
            that cannot be used, or a bad setting.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame(
        ...     {"Open": [10.0, 11.0], "High": [11.5, 12.0], "Low": [9.5, 10.5], "Close": [11.0, 11.75]},
        ...     index=pd.to_datetime(["2024-01-02", "2024-01-03"]))
        >>> catalog = FrameCatalog({"aapl": frame})
        >>> [str(bar.close) for bar in catalog.bars("AAPL", frame.index[0], frame.index[-1])]
        ['11.00', '11.75']
    """

    def __init__(
        self,
        frames: Mapping[str, Any],
        *,
        name: str = "frames",
        timezone: str = "UTC",
        exchange: str | None = None,
        asset_class: AssetClass | str | None = None,
        currency: str = "USD",
        price_increment: Decimal | str | int | None = None,
        lot_size: Decimal | str | int | None = None,
    ) -> None:
        defaults = InstrumentDefaults.create(timezone, exchange, asset_class, currency, price_increment, lot_size)
        self._name = name
        self._series: dict[tuple[str, str], tuple[tuple[Bar, ...], tuple[datetime, ...]]] = {}
        infos: dict[str, SymbolInfo] = {}
        digest = hashlib.sha256(f"{name}|{defaults.key()}".encode())
        for raw_symbol, given in frames.items():
            classified = classify_symbol(raw_symbol)
            if isinstance(classified, SymbolProblem):
                raise _refuse(f"{raw_symbol!r} is not a symbol: {classified.reason}", symbol=classified.symbol)
            symbol, spelled_class = classified
            if symbol in infos:
                raise _refuse(f"{raw_symbol!r} and another key both mean {symbol}", symbol=symbol)
            held = self._read(symbol, given, defaults.zone)
            tick = defaults.increment(defaults.asset_class or spelled_class, max(data[1] for data in held.values()))
            ranges: dict[str, DataRange] = {}
            for timeframe, (bars, _) in held.items():
                exact = quantized(bars, tick)
                self._series[(symbol, timeframe)] = (exact, tuple(bar.timestamp for bar in exact))
                ranges[timeframe] = DataRange(start=exact[0].timestamp, end=exact[-1].timestamp)
                digest.update(repr((symbol, timeframe)).encode())
                for bar in exact:
                    digest.update(f"{bar.timestamp.isoformat()},{bar.open},{bar.high},{bar.low},{bar.close},".encode())
                    digest.update(f"{bar.volume};".encode())
            infos[symbol] = defaults.describe(symbol, spelled_class, ranges, max(data[1] for data in held.values()))
        self._infos = MappingProxyType(dict(sorted(infos.items())))
        self._fingerprint = digest.hexdigest()

    @staticmethod
    def _read(symbol: str, given: Any, zone: Any) -> dict[str, tuple[tuple[Bar, ...], int]]:
        """``{timeframe: (bars, decimals)}`` for one symbol's frame or frames."""
        frames: Mapping[str | None, Any] = (
            {None: given} if not isinstance(given, Mapping) else cast("Mapping[str | None, Any]", given)
        )
        held: dict[str, tuple[tuple[Bar, ...], int]] = {}
        for key, frame in frames.items():
            try:
                timeframe = parse_timeframe(key).name if key is not None else None
            except ParseError as exc:
                raise _refuse(f"{symbol}: {exc}", symbol=symbol, fields=["timeframe"]) from None
            try:
                data = bars_from_rows(_rows(frame, symbol), zone, timeframe)
            except BadData as exc:
                raise _refuse(f"{symbol}: {exc}", symbol=symbol) from None
            if not data.bars:
                raise _refuse(f"{symbol}: the frame has no rows", symbol=symbol)
            if data.timeframe in held:
                raise _refuse(f"{symbol}: two frames for {data.timeframe}", symbol=symbol)
            held[data.timeframe] = (data.bars, data.decimals)
        if not held:
            raise _refuse(f"{symbol}: no frames given", symbol=symbol)
        return held

    @property
    def name(self) -> str:
        """The provider name sessions record."""
        return self._name

    @property
    def version(self) -> int:
        """Always 0: the frames were copied at construction and never change."""
        return 0

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the settings and every exact bar served."""
        return self._fingerprint

    def symbols(self, *, market: str | None = None, asset_class: AssetClass | None = None) -> Sequence[SymbolInfo]:
        """Every symbol, optionally one market or asset class, sorted by symbol."""
        wanted = market.upper() if market is not None else None
        return tuple(
            info
            for info in self._infos.values()
            if (wanted is None or info.market == wanted) and (asset_class is None or info.asset_class is asset_class)
        )

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """What is known of canonical `symbol`."""
        return self._infos.get(symbol)

    def problems(self) -> Mapping[str, str]:
        """None: a bad frame is refused at construction."""
        return MappingProxyType({})

    def _held_bars(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[Bar]:
        bars, keys = self._series[(symbol, timeframe)]
        return bars[bisect.bisect_left(keys, start) : bisect.bisect_right(keys, end)]
