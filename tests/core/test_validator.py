"""MarketDataValidator over the sample catalog and a mutable in-memory catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simutrador import DataRange, Engine, EngineSettings, ErrorCode, Plan, SessionSettings, SimutradorError
from simutrador.data.catalog import Bar, SymbolInfo
from simutrador.data.market import MarketDataValidator
from simutrador.data.sample import SampleCatalog
from simutrador.data.symbols import AssetClass
from simutrador.data.timeframes import DAILY
from simutrador.testing import ManualClock
from tests.core.conftest import params


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


NOW = at(2026, 6, 1)


@pytest.fixture
def validator() -> MarketDataValidator:
    return MarketDataValidator(SampleCatalog(), EngineSettings(), clock=ManualClock(NOW))


class MemoryCatalog:
    """A catalog whose data the test changes, bumping `version` like a directory rescan."""

    def __init__(self) -> None:
        self.version = 1
        self.data: dict[str, tuple[datetime, datetime]] = {"AAA": (at(2020, 1, 1), at(2020, 12, 31))}
        self.broken: dict[str, str] = {"BAD": "corrupt file BAD.csv: bad price on row 3"}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def fingerprint(self) -> str:
        return f"memory-{self.version}"

    def symbols(self, *, market: str | None = None, asset_class: AssetClass | None = None) -> Sequence[SymbolInfo]:
        return [i for s in sorted(self.data) if (i := self.symbol_info(s)) is not None and market in (None, "US")]

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        if symbol not in self.data:
            return None
        start, end = self.data[symbol]
        ranges = (
            {"1min": DataRange(start=start, end=end)}
            if symbol.startswith("M")
            else {DAILY: DataRange(start=start, end=end)}
        )
        return SymbolInfo(symbol=symbol, asset_class=AssetClass.STOCK, market="US", ranges=MappingProxyType(ranges))

    def problems(self) -> Mapping[str, str]:
        return self.broken

    def timestamps(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[datetime]:
        return ()

    def count_ticks(self, symbols: Sequence[str], start: datetime, end: datetime, timeframe: str = DAILY) -> int:
        return 42

    def bars(self, symbol: str, start: datetime, end: datetime, timeframe: str = DAILY) -> Sequence[Bar]:
        return ()


class TestSymbols:
    def test_valid(self, validator: MarketDataValidator) -> None:
        result = validator.validate_symbols(["aapl", "eurusd", "btc/usd", "BRK-B"])
        assert result.is_valid and result.error is None
        assert result.symbols == ("AAPL", "EUR/USD", "BTC-USD", "BRK.B")
        assert result.data_ranges["AAPL"].start == at(2016, 1, 4)
        result.raise_for_errors()

    def test_unknown_with_suggestions(self, validator: MarketDataValidator) -> None:
        result = validator.validate_symbols("APPL,MSFT,ZZZZ,GBPJPY")
        assert not result.is_valid
        assert result.symbols == ("MSFT",)
        [problem] = result.problems
        assert problem.code is ErrorCode.INVALID_SYMBOL
        assert problem.details["invalid_symbols"] == ["APPL", "ZZZZ", "GBP/JPY"]
        assert problem.details["suggestions"]["APPL"][0] == "AAPL"
        assert problem.details["suggestions"]["ZZZZ"] == []
        assert "GBP/USD" in problem.details["suggestions"]["GBP/JPY"]
        assert problem.details["supported_markets"] == ["CRYPTO", "FOREX", "NASDAQ", "NYSE"]
        assert "did you mean AAPL" in problem.message
        error = result.error
        assert error is not None and error.code is ErrorCode.INVALID_SYMBOL
        with pytest.raises(SimutradorError):
            result.raise_for_errors()

    def test_malformed_duplicate_and_too_many(self, validator: MarketDataValidator) -> None:
        codes = [p.code for p in validator.validate_symbols(["AAPL", "aapl", "A\tB", "NOPE"]).problems]
        assert codes == [ErrorCode.INVALID_SYMBOL, ErrorCode.VALIDATION_FAILED, ErrorCode.INVALID_SYMBOL]
        too_many = validator.validate_symbols([i.symbol for i in SampleCatalog().symbols()][:6], plan=Plan.FREE)
        assert too_many.problems[0].details["max_symbols"] == 5

    def test_catalog_problems_explain_unknown_symbols(self) -> None:
        validator = MarketDataValidator(MemoryCatalog())
        [problem] = validator.validate_symbols(["BAD"]).problems
        assert problem.details["reasons"] == [{"symbol": "BAD", "reason": "corrupt file BAD.csv: bad price on row 3"}]

    def test_supported_symbols_and_ranges(self, validator: MarketDataValidator) -> None:
        assert "EUR/USD" in validator.get_supported_symbols("FOREX")
        assert "AAPL" not in validator.get_supported_symbols("FOREX")
        assert len(validator.get_supported_symbols()) == len(SampleCatalog().symbols())
        for spelling in ("twtr", " TWTR "):
            found = validator.get_available_date_range(spelling)
            assert found == DataRange(start=at(2016, 1, 4), end=at(2022, 10, 27))
        assert validator.get_available_date_range("NOPE") is None
        assert validator.get_available_date_range("A B") is None


class TestDates:
    def test_range_only(self, validator: MarketDataValidator) -> None:
        assert validator.validate_date_range("2024-03-04", "2024-03-08").is_valid
        future = validator.validate_date_range("2026-06-01", "2026-06-02")
        assert [p.code for p in future.problems] == [ErrorCode.INVALID_DATE_RANGE]

    def test_inside_every_symbol(self, validator: MarketDataValidator) -> None:
        result = validator.validate_date_range("2024-03-04", "2024-03-10", symbols=["AAPL", "BTC-USD"])
        assert result.is_valid
        assert result.estimated_ticks == 7
        only_stocks = validator.validate_date_range("2024-03-04", "2024-03-10", symbols=["AAPL", "MSFT"])
        assert only_stocks.estimated_ticks == 5

    def test_outside_a_symbols_data_names_each_range(self, validator: MarketDataValidator) -> None:
        result = validator.validate_date_range("2020-06-01", "2022-12-31", symbols=["ABNB", "TWTR", "AAPL"])
        [problem] = result.problems
        assert problem.code is ErrorCode.INVALID_DATE_RANGE
        assert problem.details["symbols"] == {
            "ABNB": {"available_start": "2020-12-10T00:00:00+00:00", "available_end": "2025-12-31T00:00:00+00:00"},
            "TWTR": {"available_start": "2016-01-04T00:00:00+00:00", "available_end": "2022-10-27T00:00:00+00:00"},
        }
        assert "ABNB (available 2020-12-10 to 2025-12-31)" in problem.message

    def test_whole_days_at_the_edges(self, validator: MarketDataValidator) -> None:
        assert validator.validate_date_range("2020-12-10", "2025-12-31", symbols=["ABNB"]).is_valid
        assert not validator.validate_date_range("2020-12-09", "2025-12-31", symbols=["ABNB"]).is_valid
        assert not validator.validate_date_range("2020-12-10", "2026-01-01", symbols=["ABNB"]).is_valid
        assert not validator.validate_date_range("2022-10-20", "2022-10-28", symbols=["TWTR"]).is_valid
        assert validator.validate_date_range("2022-10-20", "2022-10-27", symbols=["TWTR"]).is_valid

    def test_bad_symbols_with_a_range(self, validator: MarketDataValidator) -> None:
        result = validator.validate_date_range("2024-03-04", "2024-03-08", symbols=["NOPE", "AAPL"])
        assert [p.code for p in result.problems] == [ErrorCode.INVALID_SYMBOL]
        assert result.symbols == ("AAPL",)

    def test_intraday_only_symbols_are_judged_on_their_own_timeframe(self) -> None:
        catalog = MemoryCatalog()
        catalog.data["MNTL"] = (at(2020, 1, 1, 14, 30), at(2020, 1, 31, 20, 59))
        validator = MarketDataValidator(catalog, EngineSettings(default_plan=Plan.ENTERPRISE), clock=ManualClock(NOW))
        # judged by whole days, like `data list` shows them: 2020-01-01 to 2020-01-31
        assert validator.validate_date_range("2020-01-01", "2020-01-31", symbols=["MNTL"]).is_valid
        assert validator.validate_date_range("2020-01-02T15:00", "2020-01-31T23:00", symbols=["MNTL"]).is_valid
        assert not validator.validate_date_range("2020-01-02T15:00", "2020-02-01T00:00", symbols=["MNTL"]).is_valid
        assert not validator.validate_date_range("2019-12-31T23:59", "2020-01-03", symbols=["MNTL"]).is_valid
        # one timeframe per session: MNTL's minutes are resampled to daily bars next to AAA's daily bars
        mixed = validator.validate_date_range("2020-01-02", "2020-01-03", symbols=["MNTL", "AAA"])
        assert (mixed.is_valid, mixed.estimated_ticks, mixed.estimated_bars) == (True, 42, 84)
        weekly = validator.validate_date_range("2020-01-02", "2020-01-03", symbols=["MNTL"], timeframe="1wk")
        assert weekly.data_ranges["MNTL"] == DataRange(start=at(2020, 1, 1, 14, 30), end=at(2020, 1, 31, 20, 59))
        [problem] = validator.validate_date_range("2020-01-02", "2020-01-03", symbols=["AAA"], timeframe="5m").problems
        assert (problem.code, problem.field) == (ErrorCode.VALIDATION_FAILED, "timeframe")
        assert problem.message == "no 5min bars for AAA (holds daily): 5min bars can only be made from finer data"


class TestEngineIntegration:
    def test_session_records_what_validation_found(self, make_engine: object) -> None:
        engine = Engine(EngineSettings(default_plan=Plan.PROFESSIONAL), clock=ManualClock())
        session = engine.create_session(
            "alice", params(symbols=("aapl", "btcusd"), start_date="2024-03-04", end_date="2024-03-10")
        )
        assert session.data_provider == "sample"
        assert session.estimated_ticks == 7
        assert set(session.data_ranges) == {"AAPL", "BTC-USD"}
        assert session.data_ranges["AAPL"].end == at(2025, 12, 31)

    def test_every_problem_at_once(self) -> None:
        engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), clock=ManualClock(NOW))
        with pytest.raises(SimutradorError) as info:
            engine.create_session(
                "alice",
                params(
                    symbols=("APPL", "A B", "ABNB"), start_date="2019-01-01", end_date="2019-06-30", initial_capital=10
                ),
            )
        codes = [p["code"] for p in info.value.details["problems"]]
        assert codes == ["INVALID_SYMBOL", "INSUFFICIENT_CAPITAL", "INVALID_SYMBOL", "INVALID_DATE_RANGE"]
        assert info.value.code is ErrorCode.INVALID_SYMBOL

    def test_unknown_symbol_is_reported_even_when_dates_are_bad(self) -> None:
        engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), clock=ManualClock(NOW))
        with pytest.raises(SimutradorError) as info:
            engine.create_session("alice", params(symbols=("APPL",), start_date="2024-03-08", end_date="2024-03-04"))
        assert [p["code"] for p in info.value.details["problems"]] == ["INVALID_DATE_RANGE", "INVALID_SYMBOL"]

    @pytest.mark.parametrize("provider", ["nasdaq-itch", "Sample", "Polygon"])
    def test_unknown_provider(self, provider: str) -> None:
        engine = Engine(clock=ManualClock())
        with pytest.raises(SimutradorError) as info:
            engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04", data_provider=provider))
        assert info.value.details["fields"] == ["data_provider"]
        problem = info.value.details["problems"][0]
        assert problem["supported_providers"] == ["sample"]
        assert problem["data_provider_aliases"] == ["polygon", "alpaca", "iex"]
        assert "also accepted as polygon, alpaca, iex" in problem["message"]

    @pytest.mark.parametrize("provider", ["polygon", "alpaca", "iex"])
    def test_an_alias_names_the_serving_catalog(self, provider: str) -> None:
        """The original SimuTrador clients send data_provider "polygon"; the session records the real name."""
        engine = Engine(clock=ManualClock())
        session = engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04", data_provider=provider))
        assert session.data_provider == "sample"

    def test_aliases_are_a_setting(self) -> None:
        settings = EngineSettings(session=SessionSettings(data_provider_aliases=("vendor",)))
        engine = Engine(settings, clock=ManualClock())
        assert engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04", data_provider="vendor"))
        with pytest.raises(SimutradorError) as info:
            engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04", data_provider="polygon"))
        assert info.value.details["fields"] == ["data_provider"]
        no_aliases = Engine(EngineSettings(session=SessionSettings(data_provider_aliases=())), clock=ManualClock())
        with pytest.raises(SimutradorError) as info:
            no_aliases.create_session("alice", params(symbols="SPY", end_date="2024-03-04", data_provider="polygon"))
        assert "also accepted" not in info.value.message
        assert info.value.details["problems"][0]["data_provider_aliases"] == []

    def test_known_provider_accepted(self) -> None:
        engine = Engine(clock=ManualClock())
        session = engine.create_session("alice", params(symbols="SPY", end_date="2024-03-04", data_provider="sample"))
        assert session.data_provider == "sample"


class TestCache:
    def test_repeated_requests_hit_the_cache(self, validator: MarketDataValidator) -> None:
        for _ in range(3):
            validator.validate_date_range("2024-03-04", "2024-03-08", symbols=["AAPL"])
        info = validator._verdict.cache_info()
        assert (info.hits, info.misses) == (2, 1)

    def test_a_new_catalog_version_invalidates(self) -> None:
        catalog = MemoryCatalog()
        engine = Engine(EngineSettings(default_plan=Plan.ENTERPRISE), clock=ManualClock(NOW), catalog=catalog)
        request = params(
            symbols=("AAA",), start_date="2020-03-02", end_date="2020-03-06", initial_capital=Decimal(5000)
        )
        assert engine.create_session("alice", request).estimated_ticks == 42
        catalog.data["AAA"] = (at(2020, 4, 1), at(2020, 12, 31))  # the file changed on disk...
        assert engine.create_session("alice", request).session_id  # ...but the version did not: cached
        catalog.version += 1
        with pytest.raises(SimutradorError) as info:
            engine.create_session("alice", request)
        assert info.value.code is ErrorCode.INVALID_DATE_RANGE
        assert info.value.details["problems"][0]["symbols"]["AAA"]["available_start"] == "2020-04-01T00:00:00+00:00"
        del catalog.data["AAA"]
        catalog.version += 1
        with pytest.raises(SimutradorError) as gone:
            engine.create_session("alice", request)
        assert gone.value.code is ErrorCode.INVALID_SYMBOL

    def test_cache_is_bounded(self) -> None:
        validator = MarketDataValidator(SampleCatalog(), clock=ManualClock(NOW), cache_size=8)
        for day in range(20):
            start = at(2024, 1, 1) + timedelta(days=day)
            validator.validate_date_range(start, start + timedelta(hours=5), symbols=["AAPL"])
        assert validator._verdict.cache_info().currsize == 8


def test_validate_symbols_sees_a_new_catalog_version() -> None:
    catalog = MemoryCatalog()
    validator = MarketDataValidator(catalog)
    assert validator.validate_symbols(["AAA"]).is_valid
    del catalog.data["AAA"]
    assert validator.validate_symbols(["AAA"]).is_valid  # same version: cached coverage
    catalog.version += 1
    assert not validator.validate_symbols(["AAA"]).is_valid


_moments = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
)


@settings(max_examples=300, deadline=None)
@given(
    symbols=st.one_of(
        st.text(max_size=60), st.lists(st.one_of(st.text(max_size=40), st.integers(), st.none()), max_size=8)
    )
)
def test_validate_symbols_never_raises(symbols: object) -> None:
    validator = MarketDataValidator(
        SampleCatalog(), EngineSettings(default_plan=Plan.ENTERPRISE), clock=ManualClock(NOW)
    )
    result = validator.validate_symbols(symbols)  # type: ignore[arg-type]
    assert result.is_valid == (not result.problems)
    assert all(p.code in ErrorCode for p in result.problems)
    assert set(result.symbols) <= set(validator.get_supported_symbols())


@settings(max_examples=300, deadline=None)
@given(
    start=_moments,
    end=_moments,
    symbols=st.lists(st.sampled_from(["AAPL", "BTC-USD", "ABNB", "TWTR", "NOPE", "a b"]), max_size=4),
)
def test_validate_date_range_never_raises(start: object, end: object, symbols: list[str]) -> None:
    validator = MarketDataValidator(
        SampleCatalog(), EngineSettings(default_plan=Plan.ENTERPRISE), clock=ManualClock(NOW)
    )
    result = validator.validate_date_range(start, end, symbols=symbols or None)
    assert result.is_valid == (not result.problems)
    if result.is_valid and symbols:
        assert result.estimated_ticks >= 0


class TestTimeframes:
    """The session's timeframe drives availability, ticks, warmup and the no-bar rule."""

    def engine(self) -> Engine:
        return Engine(clock=ManualClock(NOW))

    def validator(self) -> MarketDataValidator:
        return MarketDataValidator(SampleCatalog(), clock=ManualClock(NOW))

    def test_one_trading_hour_of_minutes_is_sixty_ticks(self) -> None:
        session = self.engine().create_session(
            "alice",
            symbols="AAPL",
            start_date="2025-11-04T14:30",
            end_date="2025-11-04T15:29:59",
            initial_capital=10_000,
            timeframe="1m",
            warmup_bars=30,
        )
        assert session.estimated_ticks == 60
        assert session.data_ranges["AAPL"] == DataRange(start=at(2025, 10, 1, 14, 30), end=at(2025, 12, 31, 20, 59))

    def test_a_day_of_five_minute_bars_is_resampled(self) -> None:
        engine = self.engine()
        session = engine.create_session(
            "alice",
            symbols=["AAPL", "MSFT"],
            start_date="2025-11-04",
            end_date="2025-11-04",
            initial_capital=10_000,
            timeframe="5min",
        )
        assert session.estimated_ticks == 78  # 14:30 ... 20:55
        result = self.validator().validate_date_range(
            "2025-11-04", "2025-11-04", symbols=["AAPL", "BTC-USD"], timeframe="5min"
        )
        assert (result.estimated_ticks, result.estimated_bars) == (288, 78 + 288)  # crypto trades all day

    def test_weekly_and_monthly_sessions(self) -> None:
        validator = self.validator()
        weekly = validator.validate_date_range("2024-03-06", "2024-03-29", symbols=["SPY"], timeframe="weekly")
        assert weekly.is_valid and weekly.estimated_ticks == 4  # the week of 4 March counts: the session starts in it
        monthly = validator.validate_date_range("2024-01-15", "2024-06-30", symbols=["SPY"], timeframe="1mo")
        assert monthly.estimated_ticks == 6

    def test_no_bar_to_simulate_is_refused(self) -> None:
        with pytest.raises(SimutradorError) as info:
            self.engine().create_session(
                "alice", symbols="AAPL", start_date="2024-03-09", end_date="2024-03-10", initial_capital=10_000
            )
        assert info.value.code is ErrorCode.INVALID_DATE_RANGE
        assert info.value.message.startswith("no daily bar to simulate from 2024-03-09 to 2024-03-10 for AAPL")
        minutes = self.validator().validate_date_range(
            "2025-11-04T22:00", "2025-11-04T23:00", symbols=["AAPL"], timeframe="1min"
        )
        [problem] = minutes.problems
        assert problem.details == {"estimated_ticks": 0, "timeframe": "1min"}
        assert "from 2025-11-04T22:00:00+00:00 to 2025-11-04T23:00:00+00:00" in problem.message

    def test_minute_sessions_outside_the_minute_data(self) -> None:
        with pytest.raises(SimutradorError) as info:
            self.engine().create_session(
                "alice",
                symbols="AAPL",
                start_date="2024-03-04",
                end_date="2024-03-05",
                initial_capital=10_000,
                timeframe="15min",
            )
        assert info.value.message == "no 15min data for the whole range for AAPL (available 2025-10-01 to 2025-12-31)"
        assert info.value.details["problems"][0]["timeframe"] == "15min"

    def test_warmup_needs_history_and_names_the_earliest_start(self) -> None:
        engine = self.engine()
        ok = engine.create_session(
            "alice",
            symbols="ABNB",
            start_date="2020-12-17",
            end_date="2020-12-31",
            initial_capital=10_000,
            warmup_bars=5,
        )
        assert ok.estimated_ticks == 11
        with pytest.raises(SimutradorError) as info:
            engine.create_session(
                "alice",
                symbols=["ABNB", "AAPL"],
                start_date="2020-12-14",
                end_date="2020-12-31",
                initial_capital=10_000,
                warmup_bars=5,
            )
        [problem] = info.value.details["problems"]
        assert info.value.code is ErrorCode.INVALID_DATE_RANGE
        assert problem["symbols"] == {
            "ABNB": {"warmup_bars_available": 2, "earliest_start": "2020-12-17T00:00:00+00:00"}
        }  # listed Thursday 10 December: 10, 11 before the 14th; five bars end on the 16th
        assert problem["earliest_start"] == "2020-12-17T00:00:00+00:00"
        assert info.value.message == (
            "warmup_bars=5 needs 5 daily bars before the start, but ABNB has 2; "
            "the earliest start_date with 5 warmup bars is 2020-12-17"
        )
        with pytest.raises(SimutradorError) as never:
            engine.create_session(
                "alice",
                symbols="AAPL",
                start_date="2025-10-01T15:00",
                end_date="2025-10-01T16:00",
                initial_capital=10_000,
                timeframe="1h",
                warmup_bars=100_000,
            )
        assert "there are not 100001 1h bars in all; ask for fewer warmup bars" in never.value.message
        assert never.value.details["problems"][0]["earliest_start"] is None

    @pytest.mark.parametrize(
        ("fields", "field", "message"),
        [
            ({"timeframe": "1M"}, "timeframe", "timeframe '1M' is ambiguous"),
            ({"timeframe": 5}, "timeframe", "timeframe must be a string"),
            ({"warmup_bars": -1}, "warmup_bars", "warmup_bars must be a whole number >= 0"),
            ({"warmup_bars": 100_001}, "warmup_bars", "warmup_bars must be at most 100,000"),
        ],
    )
    def test_malformed_timeframe_and_warmup(self, fields: dict[str, Any], field: str, message: str) -> None:
        with pytest.raises(SimutradorError) as info:
            self.engine().create_session(
                "alice",
                symbols="APPL",
                start_date="2024-03-04",
                end_date="2024-03-08",
                initial_capital=10_000,
                **fields,
            )
        problems = {p["field"]: p for p in info.value.details["problems"]}
        assert problems[field]["message"].startswith(message)
        assert problems["symbols"]["code"] == "INVALID_SYMBOL"  # still reported with the others

    def test_available_range_per_timeframe(self) -> None:
        validator = self.validator()
        assert validator.get_available_date_range("aapl", "5min") == DataRange(
            start=at(2025, 10, 1, 14, 30), end=at(2025, 12, 31, 20, 59)
        )
        assert validator.get_available_date_range("aapl", "1wk") == DataRange(
            start=at(2016, 1, 4), end=at(2025, 12, 31)
        )
        assert validator.validate_symbols(["TWTR"], timeframe="1min").problems[0].field == "timeframe"
