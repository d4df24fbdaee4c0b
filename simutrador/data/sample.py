"""`SampleCatalog`: the embedded default market data. SYNTHETIC — not real prices.

A realistic universe (~35 US stocks on NYSE/NASDAQ, some listed later or delisted
earlier than the rest; major forex pairs trading 24/5; major crypto pairs trading
24/7) with deterministic OHLCV from a geometric random walk seeded per symbol.
Daily bars cover 2016-01-04 to 2025-12-31; 1-minute bars cover 2025-10-01 to
2025-12-31; every other timeframe is resampled (`simutrador.data.resample`).
Nothing is stored: availability is arithmetic on calendars, and bars are generated
on first use and cached. Prices are exact `Decimal` values quantized to each
instrument's increment (stocks 0.01, forex 0.00001, crypto 0.000001).

Calendars (UTC): stocks trade weekdays, 14:30-21:00 (the New York regular session
without daylight-saving shifts); forex from Sunday 22:00 to Friday 22:00, daily
bars on weekdays; crypto every minute of every day. Daily bars are stamped at
midnight UTC.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import threading
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Final

import attrs

from simutrador.data.catalog import Bar, SymbolInfo
from simutrador.data.resample import ResamplingCatalog
from simutrador.data.symbols import AssetClass
from simutrador.data.timeframes import DAILY, TIMEFRAMES
from simutrador.sessions.models import DataRange

__all__ = [
    "SAMPLE_DAILY_END",
    "SAMPLE_DAILY_START",
    "SAMPLE_GENERATOR_VERSION",
    "SAMPLE_MINUTE_END",
    "SAMPLE_MINUTE_START",
    "SampleCatalog",
]

SAMPLE_DAILY_START: Final = date(2016, 1, 4)
SAMPLE_DAILY_END: Final = date(2025, 12, 31)
SAMPLE_MINUTE_START: Final = date(2025, 10, 1)
SAMPLE_MINUTE_END: Final = date(2025, 12, 31)
SAMPLE_GENERATOR_VERSION: Final = 2
"""Bumped whenever the generated bars change; part of the catalog's fingerprint."""
_MINUTE: Final = "1min"
_DAY: Final = timedelta(days=1)


class _Calendar(Enum):
    STOCK = "stock"
    FOREX = "forex"
    CRYPTO = "crypto"


@attrs.frozen(slots=True)
class _Spec:
    symbol: str
    name: str
    market: str
    price: float
    listed: date = SAMPLE_DAILY_START
    delisted: date = SAMPLE_DAILY_END


_STOCKS: Final = (
    _Spec("AAPL", "Apple Inc.", "NASDAQ", 26.0),
    _Spec("MSFT", "Microsoft Corp.", "NASDAQ", 54.0),
    _Spec("GOOGL", "Alphabet Inc. Class A", "NASDAQ", 37.0),
    _Spec("AMZN", "Amazon.com Inc.", "NASDAQ", 32.0),
    _Spec("META", "Meta Platforms Inc.", "NASDAQ", 102.0),
    _Spec("NVDA", "NVIDIA Corp.", "NASDAQ", 0.8),
    _Spec("TSLA", "Tesla Inc.", "NASDAQ", 15.0),
    _Spec("NFLX", "Netflix Inc.", "NASDAQ", 110.0),
    _Spec("INTC", "Intel Corp.", "NASDAQ", 34.0),
    _Spec("AMD", "Advanced Micro Devices Inc.", "NASDAQ", 2.8),
    _Spec("ADBE", "Adobe Inc.", "NASDAQ", 94.0),
    _Spec("CSCO", "Cisco Systems Inc.", "NASDAQ", 27.0),
    _Spec("PEP", "PepsiCo Inc.", "NASDAQ", 99.0),
    _Spec("COST", "Costco Wholesale Corp.", "NASDAQ", 160.0),
    _Spec("QQQ", "Invesco QQQ Trust", "NASDAQ", 108.0),
    _Spec("JPM", "JPMorgan Chase & Co.", "NYSE", 66.0),
    _Spec("BAC", "Bank of America Corp.", "NYSE", 16.0),
    _Spec("WMT", "Walmart Inc.", "NYSE", 20.0),
    _Spec("JNJ", "Johnson & Johnson", "NYSE", 102.0),
    _Spec("PG", "Procter & Gamble Co.", "NYSE", 79.0),
    _Spec("XOM", "Exxon Mobil Corp.", "NYSE", 78.0),
    _Spec("KO", "Coca-Cola Co.", "NYSE", 42.0),
    _Spec("DIS", "Walt Disney Co.", "NYSE", 104.0),
    _Spec("V", "Visa Inc.", "NYSE", 77.0),
    _Spec("MA", "Mastercard Inc.", "NYSE", 97.0),
    _Spec("BRK.B", "Berkshire Hathaway Inc. Class B", "NYSE", 131.0),
    _Spec("IBM", "International Business Machines Corp.", "NYSE", 135.0),
    _Spec("SPY", "SPDR S&P 500 ETF Trust", "NYSE", 201.0),
    _Spec("UBER", "Uber Technologies Inc.", "NYSE", 42.0, listed=date(2019, 5, 10)),
    _Spec("SNOW", "Snowflake Inc.", "NYSE", 253.0, listed=date(2020, 9, 16)),
    _Spec("ABNB", "Airbnb Inc.", "NASDAQ", 146.0, listed=date(2020, 12, 10)),
    _Spec("COIN", "Coinbase Global Inc.", "NASDAQ", 381.0, listed=date(2021, 4, 14)),
    _Spec("RIVN", "Rivian Automotive Inc.", "NASDAQ", 106.0, listed=date(2021, 11, 10)),
    _Spec("TWTR", "Twitter Inc.", "NYSE", 36.0, delisted=date(2022, 10, 27)),
    _Spec("ATVI", "Activision Blizzard Inc.", "NASDAQ", 38.0, delisted=date(2023, 10, 12)),
)
_FOREX: Final = (
    _Spec("EUR/USD", "Euro / US Dollar", "FOREX", 1.09),
    _Spec("GBP/USD", "British Pound / US Dollar", "FOREX", 1.47),
    _Spec("USD/JPY", "US Dollar / Japanese Yen", "FOREX", 119.0),
    _Spec("USD/CHF", "US Dollar / Swiss Franc", "FOREX", 1.0),
    _Spec("AUD/USD", "Australian Dollar / US Dollar", "FOREX", 0.71),
    _Spec("USD/CAD", "US Dollar / Canadian Dollar", "FOREX", 1.39),
    _Spec("NZD/USD", "New Zealand Dollar / US Dollar", "FOREX", 0.67),
    _Spec("EUR/GBP", "Euro / British Pound", "FOREX", 0.74),
    _Spec("EUR/JPY", "Euro / Japanese Yen", "FOREX", 130.0),
)
_CRYPTO: Final = (
    _Spec("BTC-USD", "Bitcoin / US Dollar", "CRYPTO", 430.0),
    _Spec("ETH-USD", "Ether / US Dollar", "CRYPTO", 0.95),
    _Spec("LTC-USD", "Litecoin / US Dollar", "CRYPTO", 3.5),
    _Spec("XRP-USD", "XRP / US Dollar", "CRYPTO", 0.006),
    _Spec("DOGE-USD", "Dogecoin / US Dollar", "CRYPTO", 0.00015),
    _Spec("ADA-USD", "Cardano / US Dollar", "CRYPTO", 0.025, listed=date(2017, 10, 1)),
    _Spec("SOL-USD", "Solana / US Dollar", "CRYPTO", 0.95, listed=date(2020, 4, 10)),
)

_CALENDAR_OF: Final = {
    AssetClass.STOCK: _Calendar.STOCK,
    AssetClass.FOREX: _Calendar.FOREX,
    AssetClass.CRYPTO: _Calendar.CRYPTO,
}
_DAILY_VOLATILITY: Final = {_Calendar.STOCK: 0.018, _Calendar.FOREX: 0.005, _Calendar.CRYPTO: 0.04}
_BASE_VOLUME: Final = {_Calendar.STOCK: 8.0e6, _Calendar.FOREX: 1.5e9, _Calendar.CRYPTO: 2.0e4}
_DECIMALS: Final = {_Calendar.STOCK: 2, _Calendar.FOREX: 5, _Calendar.CRYPTO: 6}
_INCREMENTS: Final = {calendar: Decimal(1).scaleb(-digits) for calendar, digits in _DECIMALS.items()}
_LOTS: Final = {_Calendar.STOCK: Decimal(1), _Calendar.FOREX: Decimal(1), _Calendar.CRYPTO: Decimal("0.00000001")}
_STOCK_OPEN: Final = time(14, 30)
_STOCK_CLOSE: Final = time(21, 0)
_FOREX_ROLL: Final = time(22, 0)


def _trades_on(calendar: _Calendar, day: date) -> bool:
    """Whether `calendar` has a daily bar on `day`."""
    return calendar is _Calendar.CRYPTO or day.weekday() < 5


def _session(calendar: _Calendar, day: date) -> tuple[datetime, datetime] | None:
    """The half-open UTC window of intraday bars on `day`, or None."""
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    weekday = day.weekday()
    if calendar is _Calendar.CRYPTO:
        return midnight, midnight + _DAY
    if calendar is _Calendar.STOCK:
        if weekday >= 5:
            return None
        return datetime.combine(day, _STOCK_OPEN, tzinfo=UTC), datetime.combine(day, _STOCK_CLOSE, tzinfo=UTC)
    roll = datetime.combine(day, _FOREX_ROLL, tzinfo=UTC)
    if weekday <= 3:  # Monday-Thursday: all day
        return midnight, midnight + _DAY
    if weekday == 4:  # Friday: until the weekly close
        return midnight, roll
    if weekday == 6:  # Sunday: from the weekly open
        return roll, midnight + _DAY
    return None


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


@attrs.frozen(slots=True)
class _Symbol:
    info: SymbolInfo
    calendar: _Calendar
    spec: _Spec
    first_day: date
    last_day: date


def _make_symbol(spec: _Spec, asset_class: AssetClass) -> _Symbol:
    calendar = _CALENDAR_OF[asset_class]
    days = [d for d in _days(spec.listed, spec.delisted) if _trades_on(calendar, d)]
    first_day, last_day = days[0], days[-1]
    ranges: dict[str, DataRange] = {
        DAILY: DataRange(
            start=datetime.combine(first_day, time(0), tzinfo=UTC),
            end=datetime.combine(last_day, time(0), tzinfo=UTC),
        )
    }
    minute_days = [
        d for d in _days(max(first_day, SAMPLE_MINUTE_START), min(last_day, SAMPLE_MINUTE_END)) if _session(calendar, d)
    ]
    if minute_days:
        first_session = _session(calendar, minute_days[0])
        last_session = _session(calendar, minute_days[-1])
        assert first_session is not None
        assert last_session is not None
        ranges[_MINUTE] = DataRange(start=first_session[0], end=last_session[1] - timedelta(minutes=1))
    info = SymbolInfo(
        symbol=spec.symbol,
        asset_class=asset_class,
        market=spec.market,
        ranges=MappingProxyType(dict(sorted(ranges.items(), key=lambda item: TIMEFRAMES[item[0]].rank))),
        name=f"{spec.name} (synthetic)",
        synthetic=True,
        price_increment=_INCREMENTS[calendar],
        lot_size=_LOTS[calendar],
        currency=_quote_currency(spec.symbol),
    )
    return _Symbol(info=info, calendar=calendar, spec=spec, first_day=first_day, last_day=last_day)


def _quote_currency(symbol: str) -> str:
    for separator in ("/", "-"):
        if separator in symbol:
            return symbol.split(separator)[1]
    return "USD"


@functools.cache
def _fingerprint() -> str:
    """SHA-256 over the generator's version and everything that seeds it (cheap, stable)."""
    parts = [f"sample v{SAMPLE_GENERATOR_VERSION}", SAMPLE_DAILY_START, SAMPLE_DAILY_END]
    parts += [SAMPLE_MINUTE_START, SAMPLE_MINUTE_END]
    parts += [attrs.astuple(spec) for spec in (*_STOCKS, *_FOREX, *_CRYPTO)]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@functools.cache
def _universe() -> tuple[Mapping[str, _Symbol], tuple[SymbolInfo, ...]]:
    """The symbol table, built once per process (it never changes)."""
    entries = [
        *(_make_symbol(s, AssetClass.STOCK) for s in _STOCKS),
        *(_make_symbol(s, AssetClass.FOREX) for s in _FOREX),
        *(_make_symbol(s, AssetClass.CRYPTO) for s in _CRYPTO),
    ]
    by_symbol = MappingProxyType({e.info.symbol: e for e in entries})
    return by_symbol, tuple(sorted((e.info for e in entries), key=lambda i: i.symbol))


class SampleCatalog(ResamplingCatalog):
    """Synthetic, deterministic market data for a realistic universe (the default catalog).

    Example:
        >>> catalog = SampleCatalog()
        >>> info = catalog.symbol_info("ABNB")
        >>> info.ranges["daily"].start.date().isoformat(), info.synthetic, info.price_increment
        ('2020-12-10', True, Decimal('0.01'))
        >>> [b.close for b in catalog.bars("AAPL", datetime(2024, 3, 4), datetime(2024, 3, 5))]
        [Decimal('28.62'), Decimal('27.78')]
    """

    def __init__(self) -> None:
        self._by_symbol, self._infos = _universe()
        self._lock = threading.Lock()
        self._daily: dict[str, tuple[Bar, ...]] = {}

    @property
    def name(self) -> str:
        """Provider name recorded on sessions: ``"sample"``."""
        return "sample"

    @property
    def version(self) -> int:
        """Always 0: the sample data never changes."""
        return 0

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the generator's version and universe: changes only with the generator."""
        return _fingerprint()

    def symbols(self, *, market: str | None = None, asset_class: AssetClass | None = None) -> Sequence[SymbolInfo]:
        """Every symbol, optionally filtered by market (case-insensitive) or asset class."""
        wanted = market.upper() if market is not None else None
        return tuple(
            i
            for i in self._infos
            if (wanted is None or i.market == wanted) and (asset_class is None or i.asset_class is asset_class)
        )

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """What is known of canonical `symbol`."""
        entry = self._by_symbol.get(symbol)
        return entry.info if entry is not None else None

    def problems(self) -> Mapping[str, str]:
        """None: generated data is never corrupt."""
        return MappingProxyType({})

    def _held_timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[datetime]:
        """Bar times of `symbol` in ``[start, end]``, from its calendar."""
        entry = self._by_symbol[symbol]
        available = entry.info.ranges[timeframe]
        return tuple(_times(entry.calendar, max(start, available.start), min(end, available.end), timeframe))

    def _held_count(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str) -> int:
        """Distinct bar times of the union of `symbols` in ``[start, end]``, by calendar arithmetic."""
        windows: dict[_Calendar, list[tuple[datetime, datetime]]] = {}
        for symbol in symbols:
            entry = self._by_symbol[symbol]
            available = entry.info.ranges[timeframe]
            low, high = max(start, available.start), min(end, available.end)
            if low <= high:
                # stocks and forex share one daily rule (weekdays), so one daily group
                group = _Calendar.STOCK if timeframe == DAILY and entry.calendar is _Calendar.FOREX else entry.calendar
                windows.setdefault(group, []).append((low, high))
        if timeframe == DAILY:
            every_day = _merge(windows.get(_Calendar.CRYPTO, []))
            weekdays = _subtract(_merge(windows.get(_Calendar.STOCK, [])), every_day)
            return sum(_count_daily(True, low, high) for low, high in every_day) + sum(
                _count_daily(False, low, high) for low, high in weekdays
            )
        seen: set[datetime] = set()
        for calendar, spans in windows.items():
            for low, high in _merge(spans):
                seen.update(_times(calendar, low, high, timeframe))
        return len(seen)

    def _held_bars(self, symbol: str, start: datetime, end: datetime, timeframe: str) -> Sequence[Bar]:
        """Synthetic OHLCV bars of `symbol` in ``[start, end]``."""
        entry = self._by_symbol[symbol]
        daily = self._daily_series(entry)
        if timeframe == DAILY:
            keys = [b.timestamp for b in daily]
            return daily[bisect_left(keys, start) : bisect_right(keys, end)]
        by_day = {b.timestamp.date(): b for b in daily}
        out: list[Bar] = []
        for day in _days(start.date(), end.date()):
            session = _session(entry.calendar, day)
            if session is not None and day in by_day:
                minutes = _intraday(entry.spec.symbol, entry.calendar, day, by_day[day], session)
                out.extend(b for b in minutes if start <= b.timestamp <= end)
        return tuple(out)

    def _daily_series(self, entry: _Symbol) -> tuple[Bar, ...]:
        with self._lock:
            series = self._daily.get(entry.info.symbol)
            if series is None:
                series = self._daily[entry.info.symbol] = _generate_daily(entry)
            return series


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _times(calendar: _Calendar, start: datetime, end: datetime, timeframe: str) -> Iterator[datetime]:
    if start > end:
        return
    if timeframe == DAILY:
        for day in _days(start.date(), end.date()):
            stamp = datetime.combine(day, time(0), tzinfo=UTC)
            if start <= stamp <= end and _trades_on(calendar, day):
                yield stamp
        return
    step = TIMEFRAMES[timeframe].duration
    for day in _days(start.date(), end.date()):
        session = _session(calendar, day)
        if session is None:
            continue
        stamp = session[0]
        while stamp < session[1]:
            if stamp > end:
                return
            if stamp >= start:
                yield stamp
            stamp += step


def _subtract(
    spans: list[tuple[datetime, datetime]], holes: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of closed `spans` not covered by closed `holes` (both merged and sorted)."""
    tick = timedelta(microseconds=1)
    out: list[tuple[datetime, datetime]] = []
    for low, high in spans:
        cursor = low
        for hole_low, hole_high in holes:
            if hole_high < cursor or hole_low > high:
                continue
            if hole_low > cursor:
                out.append((cursor, hole_low - tick))
            cursor = max(cursor, hole_high + tick)
        if cursor <= high:
            out.append((cursor, high))
    return out


def _count_daily(every_day: bool, start: datetime, end: datetime) -> int:
    """How many midnight stamps in ``[start, end]`` fall on trading days, in O(1)."""
    first = start.date() + (_DAY if start.time() > time(0) else timedelta(0))
    days = (end.date() - first).days + 1
    if days <= 0:
        return 0
    if every_day:
        return days
    weeks, rest = divmod(days, 7)
    weekday = first.weekday()
    return weeks * 5 + sum(1 for i in range(rest) if (weekday + i) % 7 < 5)


@functools.lru_cache(maxsize=128)
def _seed(*parts: str) -> int:
    return zlib.crc32("|".join(parts).encode())


def _generate_daily(entry: _Symbol) -> tuple[Bar, ...]:
    rng = random.Random(_seed(entry.info.symbol, "daily"))  # noqa: S311 - synthetic data, not security
    sigma = _DAILY_VOLATILITY[entry.calendar]
    drift = 0.0004 if entry.calendar is not _Calendar.FOREX else 0.0
    increment = _INCREMENTS[entry.calendar]
    volume = _BASE_VOLUME[entry.calendar]
    price = entry.spec.price
    bars: list[Bar] = []
    for day in _days(entry.first_day, entry.last_day):
        if not _trades_on(entry.calendar, day):
            continue
        open_ = price * math.exp(rng.gauss(0.0, sigma / 4))
        change = rng.gauss(drift, sigma)
        close = open_ * math.exp(change)
        high = max(open_, close) * math.exp(abs(rng.gauss(0.0, sigma / 2)))
        low = min(open_, close) * math.exp(-abs(rng.gauss(0.0, sigma / 2)))
        traded = volume * math.exp(rng.gauss(0.0, 0.35)) * (1.0 + 2.0 * abs(change) / sigma)
        bars.append(
            Bar(
                timestamp=datetime.combine(day, time(0), tzinfo=UTC),
                open=_price(open_, increment),
                high=_price(high, increment),
                low=_price(low, increment),
                close=_price(close, increment),
                volume=Decimal(round(traded)),
            )
        )
        price = close
    return tuple(bars)


def _intraday(symbol: str, calendar: _Calendar, day: date, daily: Bar, session: tuple[datetime, datetime]) -> list[Bar]:
    """1-minute bars for one day: a Brownian bridge from the day's open to its close."""
    rng = random.Random(_seed(symbol, day.isoformat()))  # noqa: S311 - synthetic data, not security
    count = int((session[1] - session[0]) / timedelta(minutes=1))
    sigma = _DAILY_VOLATILITY[calendar] / math.sqrt(count)
    walk = [0.0]
    for _ in range(count):
        walk.append(walk[-1] + rng.gauss(0.0, sigma))
    day_open, day_close = float(daily.open), float(daily.close)
    day_high, day_low = float(daily.high), float(daily.low)
    target = math.log(day_close / day_open)
    increment = _INCREMENTS[calendar]
    per_minute = float(daily.volume) / count
    bars: list[Bar] = []
    for i in range(count):
        a = day_open * math.exp(walk[i] - i / count * (walk[-1] - target))
        b = day_open * math.exp(walk[i + 1] - (i + 1) / count * (walk[-1] - target))
        wiggle = math.exp(abs(rng.gauss(0.0, sigma / 2)))
        high = min(max(a, b) * wiggle, day_high)
        low = max(min(a, b) / wiggle, day_low)
        bars.append(
            Bar(
                timestamp=session[0] + timedelta(minutes=i),
                open=_price(min(max(a, low), high), increment),
                high=_price(high, increment),
                low=_price(low, increment),
                close=_price(min(max(b, low), high), increment),
                volume=Decimal(round(per_minute * math.exp(rng.gauss(0.0, 0.5)))),
            )
        )
    return bars


def _price(value: float, increment: Decimal) -> Decimal:
    """`value` quantized to `increment`, half to even (exact and deterministic)."""
    return Decimal(value).quantize(increment)
