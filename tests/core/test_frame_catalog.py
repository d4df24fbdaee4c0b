"""FrameCatalog over pandas DataFrames, and pandas-written CSVs in a DirectoryCatalog."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from simutrador import Catalog, DirectoryCatalog, Engine, ErrorCode, FrameCatalog, SimutradorError
from simutrador.codec import session_params_from_wire
from simutrador.data.symbols import AssetClass
from simutrador.testing import ManualClock


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def daily_frame(days: int = 5, start: str = "2024-01-02", tz: str | None = None) -> pd.DataFrame:
    index = pd.bdate_range(start, periods=days, tz=tz, name="Date")
    return pd.DataFrame(
        {
            "Open": [100.0 + i for i in range(days)],
            "High": [101.5 + i for i in range(days)],
            "Low": [99.25 + i for i in range(days)],
            "Close": [100.75 + i for i in range(days)],
            "Adj Close": [0.0] * days,  # ignored
            "Volume": [1000 * (i + 1) for i in range(days)],
        },
        index=index,
    )


def minute_frame(minutes: int = 390) -> pd.DataFrame:
    index = pd.date_range("2024-01-02 14:30", periods=minutes, freq="min", tz="UTC")
    prices = [100 + 0.01 * i for i in range(minutes)]
    return pd.DataFrame(
        {"open": prices, "high": [p + 0.05 for p in prices], "low": [p - 0.05 for p in prices], "close": prices},
        index=index,
    )


def test_sessions_over_data_frames() -> None:
    catalog = FrameCatalog({"aapl": daily_frame(), "btcusd": minute_frame()})
    assert isinstance(catalog, Catalog)
    assert (catalog.name, catalog.version, dict(catalog.problems())) == ("frames", 0, {})
    assert [(i.symbol, i.asset_class, i.market, list(i.ranges)) for i in catalog.symbols()] == [
        ("AAPL", AssetClass.STOCK, "US", ["daily"]),
        ("BTC-USD", AssetClass.CRYPTO, "CRYPTO", ["1min"]),
    ]
    assert [i.symbol for i in catalog.symbols(market="crypto")] == ["BTC-USD"]
    assert [i.symbol for i in catalog.symbols(asset_class=AssetClass.STOCK)] == ["AAPL"]
    bars = catalog.bars("AAPL", at(2024, 1, 3), at(2024, 1, 4))
    assert [(b.timestamp, str(b.open), str(b.high), str(b.low), str(b.close), b.volume) for b in bars] == [
        (at(2024, 1, 3), "101.00", "102.50", "100.25", "101.75", 2000),
        (at(2024, 1, 4), "102.00", "103.50", "101.25", "102.75", 3000),
    ]
    five = catalog.bars("BTC-USD", at(2024, 1, 2, 14, 30), at(2024, 1, 2, 14, 39), "5min")
    assert [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in five] == [
        (at(2024, 1, 2, 14, 30), Decimal("100"), Decimal("100.09"), Decimal("99.95"), Decimal("100.04"), 0),
        (at(2024, 1, 2, 14, 35), Decimal("100.05"), Decimal("100.14"), Decimal("100"), Decimal("100.09"), 0),
    ]
    assert catalog.count_ticks(["AAPL", "BTC-USD"], at(2024, 1, 1), at(2024, 1, 31)) == 5  # daily: 2 Jan is shared
    engine = Engine(catalog=catalog, clock=ManualClock(at(2026, 1, 1)))
    session = engine.create_session(
        "alice", symbols=["AAPL"], start_date="2024-01-03", end_date="2024-01-08", initial_capital=10_000
    )
    assert (session.data_provider, session.estimated_ticks) == ("frames", 4)
    minutes = engine.create_session(
        "alice",
        symbols="BTCUSD",
        start_date="2024-01-02",
        end_date="2024-01-02",
        initial_capital=10_000,
        timeframe="1h",
    )
    assert minutes.estimated_ticks == 7  # 14:30 ... 20:30


def test_timezone_aware_index_time_column_and_several_timeframes() -> None:
    new_york = daily_frame(tz="America/New_York")  # local midnight is 05:00 UTC: still the bar of that date
    as_column = daily_frame().reset_index().rename(columns={"Date": "timestamp"})
    catalog = FrameCatalog(
        {"SPY": new_york, "QQQ": as_column, "IBM": {"1min": minute_frame(), "1d": daily_frame(3)}},
        name="mine",
        timezone="America/New_York",
        exchange="nyse",
        price_increment="0.05",
    )
    spy, qqq, ibm = (catalog.symbol_info(s) for s in ("SPY", "QQQ", "IBM"))
    assert spy is not None and qqq is not None and ibm is not None
    assert spy.ranges["daily"] == qqq.ranges["daily"]
    assert spy.ranges["daily"].start == at(2024, 1, 2)
    assert list(ibm.ranges) == ["1min", "daily"]
    assert (spy.market, spy.timezone, spy.price_increment) == ("NYSE", "America/New_York", Decimal("0.05"))
    assert [str(b.low) for b in catalog.bars("SPY", at(2024, 1, 2), at(2024, 1, 3))] == ["99.25", "100.25"]
    assert str(catalog.bars("IBM", at(2024, 1, 2, 14, 31), at(2024, 1, 2, 14, 31), "1min")[0].close) == "100.00"


def test_fingerprint_changes_with_the_data_only() -> None:
    one, same = FrameCatalog({"AAPL": daily_frame()}), FrameCatalog({"aapl": daily_frame()})
    other = daily_frame()
    other.iloc[2, 3] = 42.0
    assert one.fingerprint == same.fingerprint
    assert one.fingerprint != FrameCatalog({"AAPL": other}).fingerprint
    assert one.fingerprint != FrameCatalog({"AAPL": daily_frame()}, currency="EUR").fingerprint


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ({"AAPL": [1, 2, 3]}, "AAPL: expected a pandas DataFrame, got list"),
        ({"AAPL": daily_frame().drop(columns=["Low"])}, "AAPL: the frame has no low column"),
        ({"AAPL": daily_frame().iloc[:0]}, "AAPL: the frame has no rows"),
        ({"A B": daily_frame()}, "'A B' is not a symbol: contains whitespace"),
        ({"EURUSD": daily_frame(), "EUR/USD": daily_frame()}, "'EUR/USD' and another key both mean EUR/USD"),
        ({"AAPL": {"1M": daily_frame()}}, "AAPL: timeframe '1M' is ambiguous"),
        ({"AAPL": {}}, "AAPL: no frames given"),
        ({"AAPL": {"1d": daily_frame(), "daily": daily_frame()}}, "AAPL: two frames for daily"),
    ],
)
def test_bad_frames_are_refused_at_once(frames: dict[str, object], message: str) -> None:
    with pytest.raises(SimutradorError) as info:
        FrameCatalog(frames)
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert info.value.message.startswith(message)


def test_missing_prices_name_the_row() -> None:
    frame = daily_frame()
    frame.iloc[3, 1] = float("nan")
    with pytest.raises(SimutradorError, match=r"AAPL: row 4: bad number nan"):
        FrameCatalog({"AAPL": frame})


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"asset_class": "bond"}, "asset_class"),
        ({"currency": "US Dollar"}, "currency"),
        ({"price_increment": "0"}, "price_increment"),
        ({"lot_size": "x"}, "lot_size"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict[str, str], field: str) -> None:
    with pytest.raises(SimutradorError) as info:
        FrameCatalog({"AAPL": daily_frame()}, **settings)  # type: ignore[arg-type]
    assert info.value.details == {"fields": [field]} and info.value.message.startswith(f"{field}: ")


@pytest.mark.parametrize("index_name", ["Date", None, "when"])
def test_pandas_written_csv_files_load(tmp_path: Path, index_name: str | None) -> None:
    frame = daily_frame(tz="America/New_York")
    frame.index.name = index_name
    frame.to_csv(tmp_path / "SPY.csv")
    minute_frame(60).to_csv(tmp_path / "7203.T.csv")
    catalog = DirectoryCatalog(tmp_path, timezone="Asia/Tokyo", exchange="TSE", asset_class="stock", currency="JPY")
    assert dict(catalog.problems()) == {}
    spy, toyota = catalog.symbol_info("SPY"), catalog.symbol_info("7203.T")
    assert spy is not None and toyota is not None
    assert (spy.ranges["daily"].start, spy.ranges["daily"].end) == (at(2024, 1, 2), at(2024, 1, 8))
    assert (toyota.market, toyota.currency, toyota.timezone, list(toyota.ranges)) == (
        "TSE",
        "JPY",
        "Asia/Tokyo",
        ["1min"],
    )
    assert [str(b.close) for b in catalog.bars("SPY", at(2024, 1, 2), at(2024, 1, 3))] == ["100.75", "101.75"]
    engine = Engine(catalog=catalog, clock=ManualClock(at(2026, 1, 1)))
    session = engine.create_session(
        "alice", symbols="spy", start_date="2024-01-02", end_date="2024-01-08", initial_capital=10_000
    )
    assert session.estimated_ticks == 5


def test_the_wire_carries_timeframe_and_warmup_bars() -> None:
    wire = {
        "symbols": ["AAPL"],
        "start_date": "2024-03-04",
        "end_date": "2024-03-08",
        "initial_capital": "10000",
        "timeframe": "1h",
        "warmup_bars": 3,
    }
    params = session_params_from_wire(wire)
    assert (params.timeframe, params.warmup_bars) == ("1h", 3)
    defaults = session_params_from_wire({k: v for k, v in wire.items() if k not in {"timeframe", "warmup_bars"}})
    assert (defaults.timeframe, defaults.warmup_bars) == ("daily", 0)


def test_the_core_does_not_import_pandas() -> None:
    code = "import sys, simutrador; print(sorted(m for m in sys.modules if m.split('.')[0] in {'pandas', 'numpy'}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
