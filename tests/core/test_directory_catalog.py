"""DirectoryCatalog over real CSV and Parquet files written by the tests."""

from __future__ import annotations

import csv
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simutrador import Engine, EngineSettings, ErrorCode, Plan, SimutradorError
from simutrador.catalog import Catalog
from simutrador.directory_catalog import PARQUET_EXTRA_HINT, DirectoryCatalog
from simutrador.symbols import AssetClass
from simutrador.testing import ManualClock

HEADER = ("date", "open", "high", "low", "close", "volume")


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


def write_parquet(path: Path, columns: Mapping[str, Sequence[object]], schema: pa.Schema | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(dict(columns), schema=schema), path)
    return path


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


def test_flat_csv_layout(tmp_path: Path) -> None:
    write_csv(tmp_path / "aapl.csv", daily_rows(at(2024, 1, 1), 10))
    write_csv(tmp_path / "EURUSD.csv", daily_rows(at(2024, 1, 1), 3, 1.1))
    write_csv(tmp_path / "btc-usd.csv", daily_rows(at(2024, 1, 5), 2, 40000))
    (tmp_path / "notes.txt").write_text("ignored")
    catalog = DirectoryCatalog(tmp_path)
    assert isinstance(catalog, Catalog)
    assert [i.symbol for i in catalog.symbols()] == ["AAPL", "BTC-USD", "EUR/USD"]
    aapl = catalog.symbol_info("AAPL")
    assert aapl is not None
    assert (aapl.asset_class, aapl.market, aapl.synthetic) == (AssetClass.STOCK, "US", False)
    assert (aapl.ranges["1d"].start, aapl.ranges["1d"].end) == (at(2024, 1, 1), at(2024, 1, 10))
    assert [i.symbol for i in catalog.symbols(market="forex")] == ["EUR/USD"]
    assert [i.symbol for i in catalog.symbols(asset_class=AssetClass.CRYPTO)] == ["BTC-USD"]
    bars = catalog.bars("AAPL", at(2024, 1, 3), at(2024, 1, 4))
    assert [(b.timestamp, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        (at(2024, 1, 3), 102.0, 103.0, 101.0, 102.5, 1002.0),
        (at(2024, 1, 4), 103.0, 104.0, 102.0, 103.5, 1003.0),
    ]
    assert catalog.timestamps("AAPL", at(2024, 1, 9), at(2030, 1, 1)) == (at(2024, 1, 9), at(2024, 1, 10))
    assert catalog.count_ticks(["AAPL", "BTC-USD", "NOPE"], at(2024, 1, 1), at(2024, 1, 31)) == 10
    assert catalog.bars("NOPE", at(2024, 1, 1), at(2024, 1, 2)) == ()
    assert catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 2), "1min") == ()
    assert dict(catalog.problems()) == {}


def test_columns_and_timestamps_of_every_kind(tmp_path: Path) -> None:
    rows = [
        ["2024-01-02T14:30:00Z", "1", "2", "0.5", "1.5", "10"],
        ["2024-01-02T09:31:00-05:00", "1", "2", "0.5", "1.6", "10"],
        ["2024-01-02 14:32:00", "1", "2", "0.5", "1.7", "10"],
        [str(int(at(2024, 1, 2, 14, 33).timestamp())), "1", "2", "0.5", "1.8", "10"],
        [str(int(at(2024, 1, 2, 14, 34).timestamp() * 1000)), "1", "2", "0.5", "1.9", ""],
        ["2024-01-02T14:31:00+00:00", "1", "2", "0.5", "9.9", "11"],  # duplicate: the last wins
        ["", "", "", "", "", ""],  # blank lines are skipped
    ]
    write_csv(tmp_path / "IBM.csv", rows, header=(" Timestamp ", "OPEN", "High", "low", "Close", "Volume"))
    catalog = DirectoryCatalog(tmp_path)
    info = catalog.symbol_info("IBM")
    assert info is not None
    assert list(info.ranges) == ["1min"]  # inferred from the one-minute gaps
    assert [b.close for b in catalog.bars("IBM", at(2024, 1, 1), at(2024, 1, 3), "1min")] == [1.5, 9.9, 1.7, 1.8, 1.9]
    assert catalog.bars("IBM", at(2024, 1, 1), at(2024, 1, 3), "1min")[-1].volume == 0.0


def test_volume_is_optional_and_hourly_is_inferred(tmp_path: Path) -> None:
    rows = [[f"2024-01-02T{h:02d}:00:00", 1, 2, 0.5, 1.5] for h in range(10, 14)]
    write_csv(tmp_path / "KO.csv", rows, header=("datetime", "open", "high", "low", "close"))
    info = DirectoryCatalog(tmp_path).symbol_info("KO")
    assert info is not None
    assert list(info.ranges) == ["1h"]


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
            "Volume": [5, 6],
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
                "close": [1.5] * minutes,
                "volume": [100] * minutes,
            },
        )
    (candles / "1min" / "MSFT" / "README.md").write_text("not a day file")
    catalog = DirectoryCatalog(tmp_path)
    msft = catalog.symbol_info("MSFT")
    spy = catalog.symbol_info("SPY")
    assert msft is not None and spy is not None
    assert sorted(msft.ranges) == ["1d", "1min"]
    assert (msft.ranges["1min"].start, msft.ranges["1min"].end) == (at(2024, 1, 2, 14, 30), at(2024, 1, 3, 14, 31))
    assert (spy.ranges["1d"].start, spy.ranges["1d"].end) == (at(2024, 1, 1), at(2024, 1, 2))
    minutes = catalog.timestamps("MSFT", at(2024, 1, 3), at(2024, 1, 3, 23), "1min")
    assert minutes == (at(2024, 1, 3, 14, 30), at(2024, 1, 3, 14, 31))
    assert catalog.count_ticks(["MSFT"], at(2024, 1, 1), at(2024, 1, 9), "1min") == 5


def test_parquet_timestamp_column_types(tmp_path: Path) -> None:
    prices = {"open": [1.0, 1.0], "high": [2.0, 2.0], "low": [0.5, 0.5], "close": [1.5, 1.6]}
    aware = pa.schema([("date", pa.timestamp("us", tz="America/New_York"))] + [(k, pa.float64()) for k in prices])
    write_parquet(tmp_path / "A.parquet", {"date": [at(2024, 1, 2, 14, 30), at(2024, 1, 2, 14, 31)], **prices}, aware)
    naive = pa.schema([("date", pa.timestamp("ms"))] + [(k, pa.float64()) for k in prices])
    write_parquet(
        tmp_path / "B.parquet", {"date": [datetime(2024, 1, 2, 14, 30), datetime(2024, 1, 2, 14, 31)], **prices}, naive
    )
    write_parquet(tmp_path / "C.parquet", {"date": ["2024-01-02", "2024-01-03"], **prices})
    write_parquet(tmp_path / "D.parquet", {"date": [1704205800, 1704205860], **prices})
    dates = pa.schema([("date", pa.date32())] + [(k, pa.float64()) for k in prices])
    write_parquet(tmp_path / "E.parquet", {"date": [at(2024, 1, 2).date(), at(2024, 1, 3).date()], **prices}, dates)
    catalog = DirectoryCatalog(tmp_path)
    first = {i.symbol: next(iter(i.ranges.values())).start for i in catalog.symbols()}
    assert first == {
        "A": at(2024, 1, 2, 14, 30),
        "B": at(2024, 1, 2, 14, 30),
        "C": at(2024, 1, 2),
        "D": at(2024, 1, 2, 14, 30),
        "E": at(2024, 1, 2),
    }
    assert dict(catalog.problems()) == {}


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1,2,x,1\n", "row 1: "),
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1,2,NaN,1\n", "bad number"),
        ("BAD.csv", "date,open,high,close\n2024-01-02,1,2,1\n", "missing columns: low"),
        ("BAD.csv", "open,high,low,close\n1,2,0,1\n", "missing columns: date/timestamp"),
        ("BAD.csv", "date,open,high,low,close\nyesterday,1,2,0,1\n", "row 1: "),
        ("BAD.csv", "date,open,high,low,close\n2024-01-02,1\n", "too few fields"),
        ("BAD.csv", "date,open,high,low,close\n", "no rows"),
        ("BAD.csv", "", "no rows"),
        ("BAD.csv", b"date,open\n\xff\xfe\x00garbage", "not UTF-8"),
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
    assert reason in catalog.problems()["BAD"]
    assert name in catalog.problems()["BAD"]
    assert any("skipped" in r.getMessage() for r in caplog.records)
    assert catalog.bars("BAD", at(2024, 1, 1), at(2024, 1, 9)) == ()


def test_a_corrupt_day_file_only_drops_that_day(tmp_path: Path) -> None:
    folder = tmp_path / "candles" / "1min" / "AMD"
    write_csv(folder / "2024-01-02.csv", [["2024-01-02T14:30:00", 1, 2, 0.5, 1.5, 9]])
    (folder / "2024-01-03.csv").write_text("date,open,high,low,close\n2024-01-03T14:30,1,2,oops,1\n")
    write_csv(folder / "2024-01-04.csv", [["2024-01-04T14:30:00", 1, 2, 0.5, 1.5, 9]])
    catalog = DirectoryCatalog(tmp_path)
    info = catalog.symbol_info("AMD")
    assert info is not None
    assert (info.ranges["1min"].start, info.ranges["1min"].end) == (at(2024, 1, 2, 14, 30), at(2024, 1, 4, 14, 30))
    assert "2024-01-03.csv" in catalog.problems()["AMD 2024-01-03.csv"]
    assert len(catalog.bars("AMD", at(2024, 1, 1), at(2024, 1, 5), "1min")) == 2


def test_bad_names_and_folders(tmp_path: Path) -> None:
    write_csv(tmp_path / "NOT A SYMBOL.csv", daily_rows(at(2024, 1, 1), 2))
    write_csv(tmp_path / "candles" / "weekly" / "AAPL.csv", daily_rows(at(2024, 1, 1), 2))
    (tmp_path / "candles" / "1min" / "EMPTY").mkdir(parents=True)
    catalog = DirectoryCatalog(tmp_path)
    problems = catalog.problems()
    assert "file name is not a symbol" in problems["NOT A SYMBOL.csv"]
    assert problems["candles/weekly"] == "unknown timeframe folder"
    assert problems["EMPTY"] == "no day files in EMPTY/"
    assert catalog.symbols() == ()


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_parquet(
        tmp_path / "NVDA.parquet", {"date": ["2024-01-02"], "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5]}
    )
    write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 2))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    catalog = DirectoryCatalog(tmp_path)
    assert [i.symbol for i in catalog.symbols()] == ["AAPL"]
    assert PARQUET_EXTRA_HINT in catalog.problems()["NVDA"]
    assert "simutrador[parquet]" in PARQUET_EXTRA_HINT
    engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), catalog=catalog, clock=ManualClock())
    with pytest.raises(SimutradorError) as info:
        engine.create_session(
            "alice", symbols="NVDA", start_date="2024-01-02", end_date="2024-01-02", initial_capital=5000
        )
    assert info.value.code is ErrorCode.INVALID_SYMBOL
    assert "simutrador[parquet]" in info.value.message


def test_changes_on_disk_are_picked_up_after_the_refresh_interval(tmp_path: Path, tick: FakeMonotonic) -> None:
    path = write_csv(tmp_path / "AAPL.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path, refresh_interval=5.0, monotonic=tick)
    version = catalog.version
    info = catalog.symbol_info("AAPL")
    assert info is not None and info.ranges["1d"].end == at(2024, 1, 3)
    write_csv(path, daily_rows(at(2024, 1, 1), 6))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    write_csv(tmp_path / "MSFT.csv", daily_rows(at(2024, 1, 1), 1))
    tick.now = 4.9
    assert catalog.symbol_info("MSFT") is None  # not yet: inside the interval
    assert catalog.version == version
    tick.now = 5.0
    info = catalog.symbol_info("AAPL")
    assert info is not None and info.ranges["1d"].end == at(2024, 1, 6)
    assert catalog.symbol_info("MSFT") is not None
    assert catalog.version == version + 1
    assert len(catalog.bars("AAPL", at(2024, 1, 1), at(2024, 1, 31))) == 6
    path.unlink()
    tick.now = 5.5
    assert catalog.symbol_info("AAPL") is not None  # still cached
    catalog.refresh()
    assert catalog.symbol_info("AAPL") is None
    assert catalog.version == version + 2
    tick.now = 100.0
    assert catalog.version == version + 2  # nothing changed: no new version


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

    def worker() -> None:
        try:
            for _ in range(50):
                assert len(catalog.symbols()) == 4
                assert len(catalog.bars("IBM", at(2024, 1, 1), at(2024, 3, 1))) == 50
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_loaded_series_cache_is_bounded(tmp_path: Path) -> None:
    names = [f"S{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(70)]
    for name in names:
        write_csv(tmp_path / f"{name}.csv", daily_rows(at(2024, 1, 1), 3))
    catalog = DirectoryCatalog(tmp_path)
    assert catalog.root == tmp_path
    for name in names:
        assert len(catalog.bars(name, at(2024, 1, 1), at(2024, 1, 9))) == 3
    assert len(catalog._series) == 64
    assert len(catalog.bars(names[-1], at(2024, 1, 1), at(2024, 1, 9))) == 3  # served from the cache
