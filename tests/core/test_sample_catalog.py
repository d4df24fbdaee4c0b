"""The embedded synthetic catalog: universe, calendars, ranges, determinism, bars."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from simutrador.data.catalog import Catalog
from simutrador.data.sample import SampleCatalog
from simutrador.data.symbols import AssetClass, normalize_symbol
from simutrador.data.timeframes import DAILY

MINUTE = "1min"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture(scope="module")
def catalog() -> SampleCatalog:
    return SampleCatalog()


def test_is_a_catalog(catalog: SampleCatalog) -> None:
    assert isinstance(catalog, Catalog)
    assert (catalog.name, catalog.version, dict(catalog.problems())) == ("sample", 0, {})


def test_universe(catalog: SampleCatalog) -> None:
    infos = catalog.symbols()
    classes = [i.asset_class for i in infos]
    assert classes.count(AssetClass.STOCK) >= 30
    assert classes.count(AssetClass.FOREX) >= 7
    assert classes.count(AssetClass.CRYPTO) >= 6
    assert [i.symbol for i in infos] == sorted(i.symbol for i in infos)
    assert all(i.synthetic and "(synthetic)" in i.name for i in infos)
    assert all(normalize_symbol(i.symbol) == i.symbol for i in infos)  # stored in canonical form
    assert {i.market for i in infos} == {"NYSE", "NASDAQ", "FOREX", "CRYPTO"}
    assert [i.symbol for i in catalog.symbols(market="forex")][:2] == ["AUD/USD", "EUR/GBP"]
    assert all(i.asset_class is AssetClass.CRYPTO for i in catalog.symbols(asset_class=AssetClass.CRYPTO))
    assert catalog.symbol_info("NOPE") is None


@pytest.mark.parametrize(
    ("symbol", "first", "last"),
    [
        ("AAPL", date(2016, 1, 4), date(2025, 12, 31)),
        ("ABNB", date(2020, 12, 10), date(2025, 12, 31)),
        ("TWTR", date(2016, 1, 4), date(2022, 10, 27)),
        ("SOL-USD", date(2020, 4, 10), date(2025, 12, 31)),
        ("EUR/USD", date(2016, 1, 4), date(2025, 12, 31)),
    ],
)
def test_daily_ranges_have_real_edges(catalog: SampleCatalog, symbol: str, first: date, last: date) -> None:
    info = catalog.symbol_info(symbol)
    assert info is not None
    assert (info.ranges[DAILY].start, info.ranges[DAILY].end) == (
        at(first.year, first.month, first.day),
        at(last.year, last.month, last.day),
    )


def test_minute_ranges(catalog: SampleCatalog) -> None:
    aapl = catalog.symbol_info("AAPL")
    btc = catalog.symbol_info("BTC-USD")
    twtr = catalog.symbol_info("TWTR")
    assert aapl is not None and btc is not None and twtr is not None
    assert (aapl.ranges[MINUTE].start, aapl.ranges[MINUTE].end) == (at(2025, 10, 1, 14, 30), at(2025, 12, 31, 20, 59))
    assert btc.ranges[MINUTE].end == at(2025, 12, 31, 23, 59)
    assert MINUTE not in twtr.ranges  # delisted before the minute data starts


def test_calendars(catalog: SampleCatalog) -> None:
    week = (at(2024, 3, 4), at(2024, 3, 10, 23, 59))  # Monday to Sunday
    assert len(catalog.timestamps("AAPL", *week)) == 5
    assert len(catalog.timestamps("EUR/USD", *week)) == 5
    assert len(catalog.timestamps("BTC-USD", *week)) == 7
    day = (at(2025, 11, 3), at(2025, 11, 3, 23, 59))  # a Monday
    stock = catalog.timestamps("AAPL", *day, timeframe=MINUTE)
    assert (len(stock), stock[0], stock[-1]) == (390, at(2025, 11, 3, 14, 30), at(2025, 11, 3, 20, 59))
    friday = catalog.timestamps("EUR/USD", at(2025, 11, 7), at(2025, 11, 7, 23, 59), timeframe=MINUTE)
    sunday = catalog.timestamps("EUR/USD", at(2025, 11, 9), at(2025, 11, 9, 23, 59), timeframe=MINUTE)
    saturday = catalog.timestamps("EUR/USD", at(2025, 11, 8), at(2025, 11, 8, 23, 59), timeframe=MINUTE)
    assert (len(friday), friday[-1]) == (22 * 60, at(2025, 11, 7, 21, 59))
    assert (len(sunday), sunday[0]) == (2 * 60, at(2025, 11, 9, 22, 0))
    assert saturday == ()
    five = catalog.timestamps("AAPL", *day, timeframe="5min")  # resampled from the minutes
    assert (len(five), five[0], five[-1]) == (78, at(2025, 11, 3, 14, 30), at(2025, 11, 3, 20, 55))
    assert catalog.timestamps("NOPE", *day) == ()


def test_count_ticks_matches_the_union_of_timestamps(catalog: SampleCatalog) -> None:
    rng = random.Random(7)
    symbols = [i.symbol for i in catalog.symbols()]
    for _ in range(200):
        chosen = rng.sample(symbols, rng.randint(1, 4))
        start = at(2015, 12, 1) + timedelta(hours=rng.randint(0, 24 * 3700))
        end = start + timedelta(hours=rng.randint(0, 24 * 400))
        expected = len(set().union(*(set(catalog.timestamps(s, start, end)) for s in chosen)))
        assert catalog.count_ticks(chosen, start, end) == expected, (chosen, start, end)
    week = (at(2025, 11, 3), at(2025, 11, 9, 23, 59))
    union = set(catalog.timestamps("AAPL", *week, timeframe=MINUTE)) | set(
        catalog.timestamps("EUR/USD", *week, timeframe=MINUTE)
    )
    assert (
        catalog.count_ticks(["AAPL", "EUR/USD", "NOPE"], *week, timeframe=MINUTE)
        == len(union)
        == 4 * 1440 + 22 * 60 + 2 * 60
    )
    assert catalog.count_ticks(["AAPL"], at(2030, 1, 1), at(2030, 2, 1)) == 0


def test_daily_bars_are_deterministic_and_consistent(catalog: SampleCatalog) -> None:
    window = (at(2024, 1, 1), at(2024, 12, 31))
    bars = catalog.bars("MSFT", *window)
    again = SampleCatalog().bars("MSFT", *window)
    assert bars == again
    assert [b.timestamp for b in bars] == list(catalog.timestamps("MSFT", *window))
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high and b.volume > 0 for b in bars)
    assert catalog.bars("MSFT", *window) is not catalog.bars("AAPL", *window)
    assert catalog.bars("MSFT", *window)[0] != catalog.bars("AAPL", *window)[0]
    assert catalog.bars("NOPE", *window) == ()


def test_minute_bars_bridge_the_daily_bar(catalog: SampleCatalog) -> None:
    day = (at(2025, 11, 4), at(2025, 11, 4, 23, 59))
    [daily] = catalog.bars("AAPL", *day)
    minutes = catalog.bars("AAPL", *day, timeframe=MINUTE)
    assert len(minutes) == 390
    assert abs(minutes[0].open - daily.open) <= Decimal("0.01")
    assert abs(minutes[-1].close - daily.close) <= Decimal("0.01")
    assert all(daily.low <= b.low <= b.high <= daily.high for b in minutes)
    partial = catalog.bars("AAPL", at(2025, 11, 4, 15), at(2025, 11, 4, 15, 9), timeframe=MINUTE)
    assert [b.timestamp.minute for b in partial] == list(range(10))
    hourly = catalog.bars("AAPL", *day, timeframe="1h")
    assert [b.timestamp.strftime("%H:%M") for b in hourly] == [
        "14:30",
        "15:30",
        "16:30",
        "17:30",
        "18:30",
        "19:30",
        "20:30",
    ]
    last = minutes[-30:]  # 20:30-20:59: the session's last, half-hour, bar
    assert (hourly[-1].open, hourly[-1].close) == (last[0].open, last[-1].close)
    assert (hourly[-1].high, hourly[-1].low) == (max(b.high for b in last), min(b.low for b in last))
    assert hourly[-1].volume == sum(b.volume for b in last)


def test_prices_are_exact_and_quantized(catalog: SampleCatalog) -> None:
    day = (at(2025, 11, 4), at(2025, 11, 4, 23, 59))
    for symbol, increment in (("AAPL", "0.01"), ("EUR/USD", "0.00001"), ("BTC-USD", "0.000001")):
        info = catalog.symbol_info(symbol)
        assert info is not None and info.price_increment == Decimal(increment)
        for bar in (*catalog.bars(symbol, *day), *catalog.bars(symbol, *day, timeframe=MINUTE)[:30]):
            for price in (bar.open, bar.high, bar.low, bar.close):
                assert isinstance(price, Decimal) and price == price.quantize(Decimal(increment))
    eur, jpy, btc, aapl = (catalog.symbol_info(s) for s in ("EUR/USD", "USD/JPY", "BTC-USD", "AAPL"))
    assert eur is not None and jpy is not None and btc is not None and aapl is not None
    assert (eur.currency, jpy.currency, btc.currency, aapl.currency) == ("USD", "JPY", "USD", "USD")
    assert (aapl.lot_size, btc.lot_size) == (1, Decimal("0.00000001"))


def test_fingerprint_is_stable_and_names_the_generator(catalog: SampleCatalog) -> None:
    assert catalog.fingerprint == SampleCatalog().fingerprint
    assert len(catalog.fingerprint) == 64 and int(catalog.fingerprint, 16) >= 0
