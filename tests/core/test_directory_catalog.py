"""DirectoryCatalog over real CSV and Parquet files written by the tests."""

from __future__ import annotations

import csv
import logging
import math
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SimutradorError
from simutrador.data import readers
from simutrador.data.catalog import Catalog
from simutrador.data.directory import PARQUET_EXTRA_HINT, DirectoryCatalog
from simutrador.data.symbols import AssetClass
from simutrador.testing import ManualClock

HEADER = ("date", "open", "high", "low", "close", "volume")
PRICES = {"open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.6]}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def write_csv(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def daily_rows(first: datetime, days: int, price: float = 100.0) -> list[list[object]]:
    return [
        [
            (first + timedelta(days=i)).date().isoformat(),
            price + i,
            price + i + 1,
            price + i - 1,
            price + i + 0.5,
            1000 + i,
        ]
        for i in range(days)
    ]


def minute_rows(first: datetime, count: int, step: timedelta = timedelta(minutes=1)) -> list[list[object]]:
    return [[(first + i * step).isoformat(), 1, 2, 0.5, 1.5 + i, 10] for i in range(count)]


def write_parquet(path: Path, columns: Mapping[str, Sequence[object]], schema: pa.Schema | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(columns), schema=schema), path)
    return path


def price_schema(time_type: pa.DataType) -> pa.Schema:
    return pa.schema([("date", time_type)] + [(k, pa.float64()) for k in PRICES])


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tick() -> FakeMonotonic:
    return FakeMonotonic()


def test_root_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SimutradorError) as info:
        DirectoryCatalog(tmp_path / "missing")
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert str(tmp_path / "missing") in info.value.message
    assert info.value.details == {"data_dir": str(tmp_path / "missing")}
    write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 1))
    with pytest.raises(SimutradorError) as info:
        DirectoryCatalog(tmp_path / "AAPL.csv")
    assert str(tmp_path / "AAPL.csv") in info.value.message


@pytest.mark.parametrize("interval", [-1.0, math.nan])
def test_refresh_interval_must_not_be_negative(tmp_path: Path, interval: float) -> None:
    with pytest.raises(SimutradorError) as info:
        DirectoryCatalog(tmp_path, refresh_interval=interval)
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert "refresh_interval" in info.value.message


def test_flat_csv_layout(tmp_path: Path) -> None:
    write_csv(tmp_path / "aapl.csv", daily_rows(at(2024, 1, 1), 10))
    write_csv(tmp_path / "EUR_USD.csv", daily_rows(at(2024, 1, 1), 3, 1.1))
    write_csv(tmp_path / "btc-usd.CSV", daily_rows(at(2024, 1, 5), 2, 40000))
    write_csv(tmp_path / "brk.b.csv", daily_rows(at(2024, 1, 2), 1, 400))
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.csv").write_text("ignored, no problem either")
    (tmp_path / "subfolder").mkdir()
    catalog = DirectoryCatalog(tmp_path)
    assert isinstance(catalog, Catalog)
    assert (catalog.name, catalog.root, catalog.version) == ("directory", tmp_path, 0)
    assert [i.symbol for i in catalog.symbols()] == ["AAPL", "BRK.B", "BTC-USD", "EUR/USD"]
    aapl = catalog.symbol_info("AAPL")
    assert aapl is not None
    assert (aapl.asset_class, aapl.market, aapl.synthetic, aapl.name) == (AssetClass.STOCK, "US", False, "")
    assert dict(aapl.ranges) == {"daily": aapl.ranges["daily"]}
    assert (aapl.ranges["daily"].start, aapl.ranges["daily"].end) == (at(2024, 1, 1), at(2024, 1, 10))
    assert [(i.symbol, i.market) for i in catalog.symbols(market="forex")] == [("EUR/USD", "FOREX")]
    assert [(i.symbol, i.market) for i in catalog.symbols(asset_class=AssetClass.CRYPTO)] == [("BTC-USD", "CRYPTO")]
    assert [i.symbol for i in catalog.symbols(market="US", asset_class=AssetClass.STOCK)] == ["AAPL", "BRK.B"]
    assert catalog.symbols(market="US", asset_class=AssetClass.FOREX) == ()
    bars = catalog.bars("AAPL", at(2024, 1, 3), at(2024, 1, 4))
    assert [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (at(2024, 1, 3), Decimal("102.0"), Decimal(103), Decimal(101), Decimal("102.5"), Decimal(1002)),
        (at(2024, 1, 4), Decimal("103.0"), Decimal(104), Decimal(102), Decimal("103.5"), Decimal(1003)),
    ]
    assert str(bars[0].open) == "102.00"  # quantized to the default stock increment
    assert (aapl.price_increment, aapl.lot_size, aapl.currency, aapl.timezone) == (Decimal("0.01"), 1, "USD", "UTC")
    assert catalog.timestamps("AAPL", at(2024, 1, 9), at(2030, 1, 1)) == (at(2024, 1, 9), at(2024, 1, 10))
    assert catalog.timestamps("AAPL", at(2024, 1, 8, 0, 0, 0, 1), at(2024, 1, 9)) == (at(2024, 1, 9),)
    assert catalog.timestamps("AAPL", at(2024, 1, 5), at(2024, 1, 4)) == ()
    assert catalog.timestamps("NOPE", at(2024, 1, 1), at(2024, 1, 31)) == ()
    assert catalog.count_ticks(["AAPL", "BTC-USD", "NOPE"], at(2024, 1, 1), at(2024, 1, 31)) == 10
    assert catalog.count_ticks(["BTC-USD", "BRK.B"], at(2024, 1, 1), at(2024, 1, 31)) == 3
    assert catalog.count_ticks([], at(2024, 1, 1), at(2024, 1, 31)) == 0
    assert catalog.bars("NOPE", at(2024, 1, 1), at(2024, 1, 2)) == ()
    assert catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 2), "1min") == ()
    assert dict(catalog.problems()) == {}


def test_naive_and_non_utc_query_bounds(tmp_path: Path) -> None:
    write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 5))
    catalog = DirectoryCatalog(tmp_path)
    new_york = ZoneInfo("America/New_York")
    assert catalog.timestamps("AAPL", datetime(2024, 1, 2), datetime(2024, 1, 3)) == (at(2024, 1, 2), at(2024, 1, 3))
    # 2024-01-02 19:00 New York is 2024-01-03 00:00 UTC
    assert [b.timestamp for b in catalog.bars("AAPL", datetime(2024, 1, 2, 19, tzinfo=new_york), at(2024, 1, 3))] == [
        at(2024, 1, 3)
    ]


def test_columns_and_timestamps_of_every_kind(tmp_path: Path) -> None:
    rows = [
        ["2024-01-02T14:30:00Z", "1", "2", "0.5", "1.5", "10"],
        ["2024-01-02T09:31:00-05:00", "1", "2", "0.5", "1.6", "10"],
        ["2024-01-02 14:32:00", "1", "2", "0.5", "1.7", "10"],
        [str(int(at(2024, 1, 2, 14, 33).timestamp())), "1", "2", "0.5", "1.8", "10"],
        [str(int(at(2024, 1, 2, 14, 34).timestamp() * 1000)), "1", "2", "0.5", "1.9", ""],
        ["2024-01-02T14:31:00+00:00", "1", "2", "0.5", "9.9", "11"],  # duplicate: the last wins
        ["", "", "", "", "", ""],  # blank lines are skipped
        [f"{at(2024, 1, 2, 14, 29).timestamp():.1f}", " 1 ", "2", "0.5", "1.4", "1e3"],  # unsorted, float epoch
    ]
    write_csv(tmp_path / "IBM.csv", rows, header=(" Timestamp ", "OPEN", "High", "low", "Close", "Volume"))
    catalog = DirectoryCatalog(tmp_path)
    info = catalog.symbol_info("IBM")
    assert info is not None
    assert list(info.ranges) == ["1min"]  # inferred from the one-minute gaps
    bars = catalog.bars("IBM", at(2024, 1, 1), at(2024, 1, 3), "1min")
    assert [(b.timestamp, str(b.close), str(b.volume)) for b in bars] == [
        (at(2024, 1, 2, 14, 29), "1.40", "1000"),
        (at(2024, 1, 2, 14, 30), "1.50", "10"),
        (at(2024, 1, 2, 14, 31), "9.90", "11"),
        (at(2024, 1, 2, 14, 32), "1.70", "10"),
        (at(2024, 1, 2, 14, 33), "1.80", "10"),
        (at(2024, 1, 2, 14, 34), "1.90", "0"),
    ]
    assert catalog.timestamps("IBM", at(2024, 1, 2, 14, 31), at(2024, 1, 2, 14, 32), "1min") == (
        at(2024, 1, 2, 14, 31),
        at(2024, 1, 2, 14, 32),
    )


def test_byte_order_mark_and_time_column_spellings(tmp_path: Path) -> None:
    (tmp_path / "KO.csv").write_text("\ufeffDATETIME,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n", encoding="utf-8")
    (tmp_path / "PEP.csv").write_text("time,open,high,low,close\n2024-01-03,1,2,0.5,1.5\n")
    catalog = DirectoryCatalog(tmp_path)
    assert [(i.symbol, (r := i.available()) and r.start) for i in catalog.symbols()] == [
        ("KO", at(2024, 1, 2)),
        ("PEP", at(2024, 1, 3)),
    ]
    assert catalog.bars("KO", at(2024, 1, 2), at(2024, 1, 2))[0].volume == 0.0  # no volume column


@pytest.mark.parametrize(
    ("stamps", "timeframe"),
    [
        (["2024-01-02T10:00:00", "2024-01-02T11:00:00", "2024-01-02T13:00:00"], "1h"),
        (["2024-01-02T10:00:00", "2024-01-02T10:05:00", "2024-01-02T10:10:00"], "5min"),
        (["2024-01-02T10:00:00", "2024-01-02T10:16:00", "2024-01-02T10:30:00"], "15min"),
        (["2024-01-02T10:00:00", "2024-01-02T10:30:00"], "30min"),
        (["2024-01-02T21:00:00", "2024-01-03T21:00:00", "2024-01-05T21:00:00"], "daily"),  # daily bars at the close
        (["2024-01-02T14:30:00"], "daily"),  # one bar: no gap to go by
        (["2024-01-02T00:00:00", "2024-01-02T00:00:00.5"], "1min"),  # not midnight: sub-second gap → nearest
    ],
)
def test_flat_timeframe_is_inferred(tmp_path: Path, stamps: list[str], timeframe: str) -> None:
    rows = [[s, 1, 2, 0.5, 1.5] for s in stamps]
    write_csv(tmp_path / "KO.csv", rows, header=("datetime", "open", "high", "low", "close"))
    info = DirectoryCatalog(tmp_path).symbol_info("KO")
    assert info is not None
    assert list(info.ranges) == [timeframe]


def test_data_manager_layout_daily_and_intraday(tmp_path: Path) -> None:
    candles = tmp_path / "candles"
    write_csv(candles / "1d" / "MSFT.csv", daily_rows(at(2024, 1, 1), 5))
    write_parquet(
        candles / "daily" / "SPY.parquet",
        {
            "Date": [at(2024, 1, 1), at(2024, 1, 2)],
            "Open": [1.0, 2.0],
            "High": [2.0, 3.0],
            "Low": [0.5, 1.5],
            "Close": [1.5, 2.5],
            "Volume": [5, None],
        },
    )
    for day, minutes in (("2024-01-02", 3), ("2024-01-03", 2)):
        start = datetime.fromisoformat(day).replace(hour=14, minute=30, tzinfo=UTC)
        write_parquet(
            candles / "1min" / "MSFT" / f"{day}.parquet",
            {
                "timestamp": [start + timedelta(minutes=m) for m in range(minutes)],
                "open": [1.0] * minutes,
                "high": [2.0] * minutes,
                "low": [0.5] * minutes,
                "close": [1.5 + m for m in range(minutes)],
                "volume": [100] * minutes,
            },
        )
    write_csv(candles / "5m" / "MSFT" / "2024-01-02.csv", minute_rows(at(2024, 1, 2, 14, 30), 2, timedelta(minutes=5)))
    (candles / "1min" / "MSFT" / "README.md").write_text("not a day file")
    write_csv(candles / "1min" / "MSFT" / "notes.csv", minute_rows(at(2024, 1, 9), 1))  # not a day name: ignored
    (candles / "README.md").write_text("not a timeframe folder")
    catalog = DirectoryCatalog(tmp_path)
    msft = catalog.symbol_info("MSFT")
    spy = catalog.symbol_info("SPY")
    assert msft is not None and spy is not None
    assert list(msft.ranges) == ["1min", "5min", "daily"]  # shortest first
    assert (msft.ranges["1min"].start, msft.ranges["1min"].end) == (at(2024, 1, 2, 14, 30), at(2024, 1, 3, 14, 31))
    assert (msft.ranges["5min"].start, msft.ranges["5min"].end) == (at(2024, 1, 2, 14, 30), at(2024, 1, 2, 14, 35))
    assert (spy.ranges["daily"].start, spy.ranges["daily"].end) == (at(2024, 1, 1), at(2024, 1, 2))
    assert [b.volume for b in catalog.bars("SPY", at(2024, 1, 1), at(2024, 1, 2))] == [5.0, 0.0]  # null → 0
    minutes = catalog.timestamps("MSFT", at(2024, 1, 3), at(2024, 1, 3, 23), "1min")
    assert minutes == (at(2024, 1, 3, 14, 30), at(2024, 1, 3, 14, 31))
    assert [b.close for b in catalog.bars("MSFT", at(2024, 1, 2, 14, 31), at(2024, 1, 3, 14, 30), "1min")] == [
        2.5,
        3.5,
        1.5,
    ]
    assert catalog.count_ticks(["MSFT"], at(2024, 1, 1), at(2024, 1, 9), "1min") == 5
    assert catalog.count_ticks(["MSFT", "SPY"], at(2024, 1, 1), at(2024, 1, 9)) == 5
    assert catalog.count_ticks(["MSFT", "SPY"], at(2024, 1, 1), at(2024, 1, 9), "1min") == 5
    assert dict(catalog.problems()) == {}


def test_day_files_named_by_local_date_are_found_across_midnight(tmp_path: Path) -> None:
    folder = tmp_path / "candles" / "1h" / "BTCUSD"
    write_csv(folder / "2024-01-02.csv", minute_rows(at(2024, 1, 2, 23), 3, timedelta(hours=1)))  # runs into the 3rd
    write_csv(folder / "2024-01-03.csv", minute_rows(at(2024, 1, 3, 2), 2, timedelta(hours=1)))
    write_csv(folder / "2024-01-05.csv", minute_rows(at(2024, 1, 5, 2), 1, timedelta(hours=1)))
    catalog = DirectoryCatalog(tmp_path)
    assert catalog.timestamps("BTC-USD", at(2024, 1, 3), at(2024, 1, 3, 2), "1h") == (
        at(2024, 1, 3, 0),
        at(2024, 1, 3, 1),
        at(2024, 1, 3, 2),
    )
    assert catalog.count_ticks(["BTC-USD"], at(2024, 1, 1), at(2024, 1, 31), "1h") == 6
    assert catalog.bars("BTC-USD", at(2024, 1, 4), at(2024, 1, 4, 23), "1h") == ()


def test_overlapping_day_files_are_merged_without_duplicates(tmp_path: Path) -> None:
    folder = tmp_path / "candles" / "1h" / "ETH-USD"
    write_csv(folder / "2024-01-02.csv", minute_rows(at(2024, 1, 2, 22), 3, timedelta(hours=1)))
    write_csv(folder / "2024-01-03.csv", minute_rows(at(2024, 1, 2, 23), 3, timedelta(hours=1)))
    catalog = DirectoryCatalog(tmp_path)
    bars = catalog.bars("ETH-USD", at(2024, 1, 1), at(2024, 1, 9), "1h")
    assert [(b.timestamp, b.close) for b in bars] == [
        (at(2024, 1, 2, 22), 1.5),
        (at(2024, 1, 2, 23), 1.5),  # the later day file wins
        (at(2024, 1, 3, 0), 2.5),
        (at(2024, 1, 3, 1), 3.5),
    ]


def test_parquet_timestamp_column_types(tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "A.parquet",
        {"date": [at(2024, 1, 2, 14, 30), at(2024, 1, 2, 14, 31)], **PRICES},
        price_schema(pa.timestamp("us", tz="America/New_York")),
    )
    write_parquet(
        tmp_path / "B.parquet",
        {"date": [datetime(2024, 1, 2, 14, 30), datetime(2024, 1, 2, 14, 31)], **PRICES},
        price_schema(pa.timestamp("ms")),
    )
    write_parquet(tmp_path / "C.parquet", {"date": ["2024-01-02", "2024-01-03"], **PRICES})
    write_parquet(tmp_path / "D.parquet", {"date": [1704205800, 1704205860], **PRICES})
    write_parquet(
        tmp_path / "E.parquet",
        {"date": [at(2024, 1, 2).date(), at(2024, 1, 3).date()], **PRICES},
        price_schema(pa.date32()),
    )
    nanos = pa.array([1704205800_000000000, 1704205860_123456789], pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"date": nanos, **PRICES}), tmp_path / "F.parquet")  # as pandas writes them
    pq.write_table(
        pa.table({"date": pa.array(nanos.cast(pa.int64()), pa.timestamp("ns")), **PRICES}), tmp_path / "G.parquet"
    )
    write_parquet(tmp_path / "H.parquet", {"date": [1704205800000, 1704205860000], **PRICES})  # epoch milliseconds
    catalog = DirectoryCatalog(tmp_path)
    spans = {i.symbol: [(r.start, r.end) for r in i.ranges.values()] for i in catalog.symbols()}
    minute = [(at(2024, 1, 2, 14, 30), at(2024, 1, 2, 14, 31))]
    assert spans == {
        "A": minute,
        "B": minute,
        "C": [(at(2024, 1, 2), at(2024, 1, 3))],
        "D": minute,
        "E": [(at(2024, 1, 2), at(2024, 1, 3))],
        "F": [(at(2024, 1, 2, 14, 30), datetime(2024, 1, 2, 14, 31, 0, 123456, tzinfo=UTC))],
        "G": [(at(2024, 1, 2, 14, 30), datetime(2024, 1, 2, 14, 31, 0, 123456, tzinfo=UTC))],
        "H": minute,
    }
    assert catalog.timestamps("F", at(2024, 1, 2, 14, 31), at(2024, 1, 2, 14, 32), "1min") == (
        datetime(2024, 1, 2, 14, 31, 0, 123456, tzinfo=UTC),
    )
    assert dict(catalog.problems()) == {}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1,2,x,1\n", "row 1: could not convert string to float: 'x'"),
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1,2,NaN,1\n", "row 1: bad number 'NaN'"),
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1,2,inf,1\n", "row 1: bad number 'inf'"),
        ("BAD.csv", "date,open,high,close\n2024-01-02,1,2,1\n", "missing columns: low"),
        ("BAD.csv", "open,high,low,close\n1,2,0,1\n", "missing columns: date/timestamp"),
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1,2,0,1\nyesterday,1,2,0,1\n", "row 2: Invalid isoformat"),
        ("BAD.csv", "date,open,high,low,close\n999999999999999999,1,2,0,1\n", "row 1: "),
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1\n", "line 2 has too few fields"),
        ("BAD.csv", 'date,open,high,low,close\n"2024-01-02\n', "not valid CSV"),
        ("BAD.csv", "date,open,high,low,close\n", "no rows"),
        ("BAD.csv", "date,open,high,low,close\n\n,,,,\n", "no rows"),
        ("BAD.csv", "", "no rows"),
        ("BAD.csv", b"date,open\n\xff\xfe\x00garbage", "not UTF-8 text"),
        ("BAD.parquet", b"PAR1 truncated", "not a readable Parquet file"),
    ],
)
def test_corrupt_and_empty_files_are_reported_not_raised(
    tmp_path: Path, name: str, content: str | bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    write_csv(tmp_path / "GOOD.csv", daily_rows(at(2024, 1, 1), 2))
    catalog = DirectoryCatalog(tmp_path)
    assert [i.symbol for i in catalog.symbols()] == ["GOOD"]
    assert catalog.symbol_info("BAD") is None
    assert list(catalog.problems()) == ["BAD"]
    assert catalog.problems()["BAD"].startswith(f"{name}: {reason}")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"market data BAD skipped: {catalog.problems()['BAD']}")
    ]
    assert catalog.bars("BAD", at(2024, 1, 1), at(2024, 1, 9)) == ()
    assert catalog.timestamps("BAD", at(2024, 1, 1), at(2024, 1, 9)) == ()


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        (
            {"date": [["2024-01-02"]], "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5]},
            "row 1: bad timestamp",
        ),
        ({"date": ["2024-01-02"], "open": [[1.0]], "high": [2.0], "low": [0.5], "close": [1.5]}, "row 1: float() "),
        ({"date": [None], "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5]}, "row 1: bad timestamp None"),
        ({"date": ["2024-01-02"], "open": [None], "high": [2.0], "low": [0.5], "close": [1.5]}, "row 1: bad number"),
        ({"date": ["2024-01-02"], "open": [1.0], "high": [2.0], "low": [0.5], "closing": [1.5]}, "missing columns"),
    ],
)
def test_unusable_parquet_values(tmp_path: Path, columns: Mapping[str, Sequence[object]], reason: str) -> None:
    write_parquet(tmp_path / "BAD.parquet", columns)
    write_csv(tmp_path / "GOOD.csv", daily_rows(at(2024, 1, 1), 2))
    catalog = DirectoryCatalog(tmp_path)
    assert [i.symbol for i in catalog.symbols()] == ["GOOD"]
    assert catalog.problems()["BAD"].startswith(f"BAD.parquet: {reason}")


def test_unreadable_file_and_unexpected_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write_csv(tmp_path / "LOCKED.csv", daily_rows(at(2024, 1, 1), 2))
    write_csv(tmp_path / "ODD.csv", daily_rows(at(2024, 1, 1), 2))
    write_csv(tmp_path / "GOOD.csv", daily_rows(at(2024, 1, 1), 2))
    real_open = Path.open
    real_read_csv = readers._read_csv

    def guarded_open(self: Path, *args: object, **kwargs: object) -> object:
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    def odd_read_csv(file: Path) -> object:
        if file.stem == "ODD":
            raise RuntimeError("a bug in a reader")
        return real_read_csv(file)

    monkeypatch.setattr(Path, "open", guarded_open)
    monkeypatch.setattr(readers, "_read_csv", odd_read_csv)
    catalog = DirectoryCatalog(tmp_path)
    assert [i.symbol for i in catalog.symbols()] == ["GOOD"]
    assert dict(catalog.problems()) == {
        "LOCKED": "LOCKED.csv: unreadable: Permission denied",
        "ODD": "ODD.csv: unreadable (RuntimeError)",
    }


def test_a_corrupt_day_file_only_drops_that_day(tmp_path: Path) -> None:
    folder = tmp_path / "candles" / "1min" / "AMD"
    write_csv(folder / "2024-01-02.csv", [["2024-01-02T14:30:00", 1, 2, 0.5, 1.5, 9]])
    (folder / "2024-01-03.csv").write_text("date,open,high,low,close\n2024-01-03T14:30,1,2,oops,1\n")
    write_csv(folder / "2024-01-04.csv", [["2024-01-04T14:30:00", 1, 2, 0.5, 1.5, 9]])
    write_csv(folder / "2024-01-05.csv", [])
    catalog = DirectoryCatalog(tmp_path)
    info = catalog.symbol_info("AMD")
    assert info is not None
    assert (info.ranges["1min"].start, info.ranges["1min"].end) == (at(2024, 1, 2, 14, 30), at(2024, 1, 4, 14, 30))
    assert dict(catalog.problems()) == {
        "candles/1min/AMD/2024-01-03.csv": "row 1: could not convert string to float: 'oops'",
        "candles/1min/AMD/2024-01-05.csv": "no rows",
    }
    assert catalog.timestamps("AMD", at(2024, 1, 1), at(2024, 1, 5), "1min") == (
        at(2024, 1, 2, 14, 30),
        at(2024, 1, 4, 14, 30),
    )


def test_a_symbol_whose_day_files_are_all_bad_is_not_available(tmp_path: Path) -> None:
    folder = tmp_path / "candles" / "1min" / "AMD"
    write_csv(folder / "2024-01-02.csv", [])
    write_csv(folder / "2024-01-03.csv", [])
    write_csv(tmp_path / "candles" / "1d" / "AMD.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path)
    info = catalog.symbol_info("AMD")
    assert info is not None and list(info.ranges) == ["daily"]
    assert catalog.problems()["AMD"] == "candles/1min/AMD/: no usable day files (no rows)"
    assert catalog.bars("AMD", at(2024, 1, 1), at(2024, 1, 9), "1min") == ()


def test_bad_names_and_folders(tmp_path: Path) -> None:
    write_csv(tmp_path / "NOT A SYMBOL.csv", daily_rows(at(2024, 1, 1), 2))
    write_csv(tmp_path / "candles" / "1d" / "1234567.csv", daily_rows(at(2024, 1, 1), 2))
    write_csv(tmp_path / "candles" / "1M" / "AAPL.csv", daily_rows(at(2024, 1, 1), 2))
    write_csv(tmp_path / "candles" / "fortnightly" / "AAPL.csv", daily_rows(at(2024, 1, 1), 2))
    (tmp_path / "candles" / "1min" / "EMPTY").mkdir(parents=True)
    (tmp_path / "candles" / "1min" / "WHAT IS THIS").mkdir(parents=True)
    with pytest.raises(SimutradorError) as info:
        DirectoryCatalog(tmp_path)
    problems = {
        "NOT A SYMBOL.csv": "file name is not a symbol: contains whitespace",
        "1234567.csv": "file name is not a symbol: not a recognised stock, forex or crypto symbol format",
        "WHAT IS THIS": "file name is not a symbol: contains whitespace",
        "candles/1M": "not a timeframe folder: timeframe '1M' is ambiguous: "
        "write 1min for one minute or monthly for one month",
        "candles/fortnightly": "not a timeframe folder: unknown timeframe 'fortnightly': "
        "use one of 1min, 5min, 15min, 30min, 1h, 2h, 4h, daily, weekly, monthly",
        "EMPTY": "candles/1min/EMPTY/: no day files",
    }
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert info.value.details == {"data_dir": str(tmp_path), "problems": problems}
    assert info.value.message.startswith(f"no usable market data in {tmp_path}: every data file failed (")
    assert "and 1 more" in info.value.message
    write_csv(tmp_path / "candles" / "weekly" / "AAPL.csv", daily_rows(at(2024, 1, 1), 2))  # now one is usable
    catalog = DirectoryCatalog(tmp_path)
    assert [(i.symbol, list(i.ranges)) for i in catalog.symbols()] == [("AAPL", ["weekly"])]
    assert dict(catalog.problems()) == problems


def test_duplicate_sources_keep_the_first_and_report_the_rest(tmp_path: Path) -> None:
    write_csv(tmp_path / "EURUSD.csv", daily_rows(at(2024, 1, 1), 3, 1.1))
    write_csv(tmp_path / "EUR-USD.csv", daily_rows(at(2024, 1, 1), 2, 1.2))
    write_csv(tmp_path / "candles" / "1d" / "AAPL.csv", daily_rows(at(2024, 1, 1), 4))
    write_parquet(tmp_path / "candles" / "1d" / "AAPL.parquet", {"date": ["2024-01-02", "2024-01-03"], **PRICES})
    write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 9))  # same timeframe as candles/1d: ignored
    write_csv(tmp_path / "IBM.csv", minute_rows(at(2024, 1, 2, 14, 30), 3))  # 1min: completes candles/1d/IBM
    write_csv(tmp_path / "candles" / "1d" / "IBM.csv", daily_rows(at(2024, 1, 1), 2))
    day = tmp_path / "candles" / "1min" / "AMD"
    write_csv(day / "2024-01-02.csv", minute_rows(at(2024, 1, 2, 14, 30), 2))
    write_parquet(day / "2024-01-02.parquet", {"date": ["2024-01-02T15:00:00", "2024-01-02T15:01:00"], **PRICES})
    catalog = DirectoryCatalog(tmp_path)
    assert dict(catalog.problems()) == {
        "EURUSD.csv": "same symbol and timeframe as EUR-USD.csv",
        "candles/1d/AAPL.parquet": "same symbol and timeframe as candles/1d/AAPL.csv",
        "AAPL.csv": "same symbol and timeframe as candles/1d/AAPL.csv",
        "candles/1min/AMD/2024-01-02.parquet": "another file for the same day (2024-01-02.csv); ignored",
    }
    eur, aapl, ibm = catalog.symbol_info("EUR/USD"), catalog.symbol_info("AAPL"), catalog.symbol_info("IBM")
    assert eur is not None and aapl is not None and ibm is not None
    assert eur.ranges["daily"].end == at(2024, 1, 2)
    assert aapl.ranges["daily"].end == at(2024, 1, 4)
    assert list(ibm.ranges) == ["1min", "daily"]
    assert catalog.timestamps("AMD", at(2024, 1, 1), at(2024, 1, 3), "1min") == (
        at(2024, 1, 2, 14, 30),
        at(2024, 1, 2, 14, 31),
    )


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(
        tmp_path / "NVDA.parquet", {"date": ["2024-01-02"], "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5]}
    )
    write_parquet(
        tmp_path / "candles" / "1min" / "TSLA" / "2024-01-02.parquet",
        {"date": ["2024-01-02T14:30:00"], "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5]},
    )
    write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 2))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    catalog = DirectoryCatalog(tmp_path)
    assert [i.symbol for i in catalog.symbols()] == ["AAPL"]
    assert "simutrador[parquet]" in PARQUET_EXTRA_HINT
    assert dict(catalog.problems()) == {
        "NVDA": f"NVDA.parquet: {PARQUET_EXTRA_HINT}",
        "candles/1min/TSLA/2024-01-02.parquet": PARQUET_EXTRA_HINT,
        "TSLA": f"candles/1min/TSLA/: no usable day files ({PARQUET_EXTRA_HINT})",
    }
    engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), catalog=catalog, clock=ManualClock())
    with pytest.raises(SimutradorError) as info:
        engine.create_session(
            "alice", symbols="NVDA", start_date="2024-01-02", end_date="2024-01-02", initial_capital=5000
        )
    assert info.value.code is ErrorCode.INVALID_SYMBOL
    assert "simutrador[parquet]" in info.value.message


def test_the_core_does_not_import_pyarrow() -> None:
    code = "import sys, simutrador.data.directory; print(sorted(m for m in sys.modules if m.startswith('pyarrow')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_changes_on_disk_are_picked_up_after_the_refresh_interval(tmp_path: Path, tick: FakeMonotonic) -> None:
    path = write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path, refresh_interval=5.0, monotonic=tick)
    assert catalog.version == 0
    info = catalog.symbol_info("AAPL")
    assert info is not None and info.ranges["daily"].end == at(2024, 1, 3)
    assert len(catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 31))) == 3
    write_csv(path, daily_rows(at(2024, 1, 1), 6))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    write_csv(tmp_path / "MSFT.csv", daily_rows(at(2024, 1, 1), 1))
    tick.now = 4.9
    assert catalog.symbol_info("MSFT") is None  # not yet: inside the interval
    assert len(catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 31))) == 3
    assert catalog.version == 0
    tick.now = 5.0
    info = catalog.symbol_info("AAPL")
    assert info is not None and info.ranges["daily"].end == at(2024, 1, 6)
    assert catalog.symbol_info("MSFT") is not None
    assert catalog.version == 1
    assert len(catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 31))) == 6
    path.unlink()
    tick.now = 5.5
    assert catalog.symbol_info("AAPL") is not None  # still cached
    catalog.refresh()
    assert catalog.symbol_info("AAPL") is None
    assert catalog.version == 2
    tick.now = 100.0
    assert catalog.version == 2  # nothing changed: no new version
    assert [i.symbol for i in catalog.symbols()] == ["MSFT"]


def test_same_size_rewrite_is_seen_through_mtime(tmp_path: Path, tick: FakeMonotonic) -> None:
    path = write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path, refresh_interval=1.0, monotonic=tick)
    assert [b.close for b in catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 1))] == [Decimal("100.5")]
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"100.5", b"100.7"))
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    tick.now = 1.0
    assert [b.close for b in catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 1))] == [Decimal("100.7")]
    assert catalog.version == 1


def test_new_problems_bump_the_version_and_are_logged_once(
    tmp_path: Path, tick: FakeMonotonic, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path, refresh_interval=1.0, monotonic=tick)
    assert (catalog.version, dict(catalog.problems())) == (0, {})
    write_csv(tmp_path / "NOT OK.csv", daily_rows(at(2024, 1, 1), 3))
    (tmp_path / "BAD.csv").write_text("date,open,high,low,close\n")
    for now in (1.0, 2.0, 3.0):
        tick.now = now
        assert set(catalog.problems()) == {"NOT OK.csv", "BAD"}
    assert catalog.version == 1
    write_csv(tmp_path / "MSFT.csv", daily_rows(at(2024, 1, 1), 3))  # a change, but the same problems
    tick.now = 4.0
    assert (catalog.version, set(catalog.problems())) == (2, {"NOT OK.csv", "BAD"})
    assert sorted(r.getMessage() for r in caplog.records) == [
        "market data BAD skipped: BAD.csv: no rows",
        "market data NOT OK.csv skipped: file name is not a symbol: contains whitespace",
    ]


def test_a_vanished_root_is_a_problem_not_an_error(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_csv(root / "AAPL.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(root, refresh_interval=0.0)
    assert [i.symbol for i in catalog.symbols()] == ["AAPL"]
    (root / "AAPL.csv").unlink()
    root.rmdir()
    assert catalog.symbols() == ()
    assert dict(catalog.problems()) == {".": "folder unreadable: No such file or directory"}
    assert catalog.version == 1


def test_a_file_broken_after_the_scan_reads_as_empty(tmp_path: Path) -> None:
    names = [f"S{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(70)]
    for name in names:
        write_csv(tmp_path / f"{name}.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path, refresh_interval=math.inf)
    assert len(catalog.symbols()) == 70
    (tmp_path / "SAA.csv").write_text("garbage")  # the oldest scanned file: no longer cached
    assert catalog.bars("SAA", at(2024, 1, 1), at(2024, 1, 9)) == ()


def test_engine_validates_against_the_folder(tmp_path: Path) -> None:
    write_csv(tmp_path / "candles" / "1d" / "AAPL.csv", daily_rows(at(2024, 1, 1), 31))
    catalog = DirectoryCatalog(tmp_path, name="my-data")
    engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), catalog=catalog, clock=ManualClock())
    session = engine.create_session(
        "alice",
        symbols="aapl",
        start_date="2024-01-08",
        end_date="2024-01-12",
        initial_capital=5000,
        data_provider="my-data",
    )
    assert (session.data_provider, session.estimated_ticks) == ("my-data", 5)
    with pytest.raises(SimutradorError) as info:
        engine.create_session(
            "alice", symbols="AAPL", start_date="2024-01-20", end_date="2024-02-05", initial_capital=5000
        )
    assert info.value.details["problems"][0]["symbols"]["AAPL"]["available_end"] == "2024-01-31T00:00:00+00:00"


def test_threads_share_one_catalog(tmp_path: Path) -> None:
    for symbol in ("AAPL", "MSFT", "IBM", "KO"):
        write_csv(tmp_path / f"{symbol}.csv", daily_rows(at(2024, 1, 1), 50))
    catalog = DirectoryCatalog(tmp_path, refresh_interval=0.0)
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(symbol: str) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(50):
                assert [i.symbol for i in catalog.symbols()] == ["AAPL", "IBM", "KO", "MSFT"]
                assert len(catalog.bars(symbol, at(2024, 1, 1), at(2024, 3, 1))) == 50
                assert catalog.count_ticks([symbol], at(2024, 1, 1), at(2024, 1, 10)) == 10
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in ("AAPL", "MSFT", "IBM", "KO", "IBM", "KO")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert catalog.version == 0


def test_loaded_series_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"S{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(70)]
    for name in names:
        write_csv(tmp_path / f"{name}.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path)
    for name in names:
        assert len(catalog.bars(name, at(2024, 1, 1), at(2024, 1, 9))) == 3
    assert len(catalog._series) == 64
    reads: list[str] = []
    real_read = readers.read_file

    def counting_read(file: Path, **options: object) -> object:
        reads.append(file.stem)
        return real_read(file, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(readers, "read_file", counting_read)
    assert len(catalog.bars(names[-1], at(2024, 1, 1), at(2024, 1, 9))) == 3  # served from the cache
    assert len(catalog.bars(names[0], at(2024, 1, 1), at(2024, 1, 9))) == 3  # evicted: read again
    assert reads == [names[0]]
