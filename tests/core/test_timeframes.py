"""Timeframes: names and aliases, refusals, resampling checked by hand, the one 'available' rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simutrador.data.catalog import Bar, SymbolInfo, available_days, available_range, covers, session_window
from simutrador.data.resample import resample_bars, resample_stamps
from simutrador.data.symbols import AssetClass
from simutrador.data.timeframes import (
    DAILY,
    MAX_WARMUP_BARS,
    TIMEFRAME_ALIASES,
    TIMEFRAMES,
    can_resample,
    normalize_timeframe,
    parse_timeframe,
    parse_warmup_bars,
    source_timeframe,
)
from simutrador.parsing import ParseError
from simutrador.sessions.models import DataRange

MINUTE, FIVE, HOUR, DAY, WEEK, MONTH = (TIMEFRAMES[n] for n in ("1min", "5min", "1h", "daily", "weekly", "monthly"))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def bar(stamp: datetime, o: str, h: str, lo: str, c: str, v: str = "10") -> Bar:
    return Bar(timestamp=stamp, open=D(o), high=D(h), low=D(lo), close=D(c), volume=D(v))


def test_canonical_names_in_order() -> None:
    assert list(TIMEFRAMES) == ["1min", "5min", "15min", "30min", "1h", "2h", "4h", "daily", "weekly", "monthly"]
    assert [tf.rank for tf in TIMEFRAMES.values()] == list(range(10))
    assert DAILY == "daily" and str(DAY) == "daily"
    assert set(TIMEFRAME_ALIASES.values()) == set(TIMEFRAMES)
    assert all(TIMEFRAME_ALIASES[name] == name for name in TIMEFRAMES)  # canonical names are aliases of themselves


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("1d", "daily"),
        ("1D", "daily"),
        ("day", "daily"),
        (" Daily ", "daily"),
        ("1h", "1h"),
        ("1H", "1h"),
        ("60min", "1h"),
        ("60m", "1h"),
        ("hourly", "1h"),
        ("1m", "1min"),
        ("1MIN", "1min"),
        ("5m", "5min"),
        ("15minutes", "15min"),
        ("240min", "4h"),
        ("2hours", "2h"),
        ("1w", "weekly"),
        ("1wk", "weekly"),
        ("1mo", "monthly"),
        ("month", "monthly"),
    ],
)
def test_aliases(spelling: str, canonical: str) -> None:
    assert parse_timeframe(spelling).name == canonical
    assert normalize_timeframe(spelling) == canonical


@pytest.mark.parametrize(
    ("spelling", "minutes"), [("1M", "1min for one minute"), ("M", "1min"), ("5M", "5min for 5 minutes")]
)
def test_ambiguous_m_is_refused_with_a_hint(spelling: str, minutes: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_timeframe(spelling)
    assert f"timeframe '{spelling}' is ambiguous: write {minutes}" in str(info.value)
    assert "or monthly" in str(info.value)
    assert normalize_timeframe(spelling) is None


@pytest.mark.parametrize("spelling", ["", "3min", "1y", "tick", "x" * 100, "1 d"])
def test_unknown_names_list_the_canonical_ones(spelling: str) -> None:
    with pytest.raises(ParseError, match="use one of 1min, 5min, 15min, 30min, 1h, 2h, 4h, daily, weekly, monthly"):
        parse_timeframe(spelling)


@pytest.mark.parametrize("value", [None, 5, 1.0, b"1d", ["1d"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(ParseError, match="timeframe must be a string"):
        parse_timeframe(value)


def test_a_timeframe_parses_to_itself() -> None:
    assert parse_timeframe(HOUR) is HOUR


@given(st.text(max_size=20))
def test_parse_never_raises_anything_but_parse_error(text: str) -> None:
    try:
        found = parse_timeframe(text)
    except ParseError as exc:
        assert str(exc)
    else:
        assert found.name in TIMEFRAMES


def test_durations_and_periods_per_year() -> None:
    assert (MINUTE.duration, HOUR.duration, DAY.duration, WEEK.duration) == (
        timedelta(minutes=1),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=7),
    )
    assert (MINUTE.intraday, DAY.intraday) == (True, False)
    assert MINUTE.periods_per_year() == 252 * 390
    assert FIVE.periods_per_year() == 252 * 78
    assert HOUR.periods_per_year(trading_days=365, hours_per_day=24) == 8760
    assert (DAY.periods_per_year(trading_days=365), WEEK.periods_per_year(), MONTH.periods_per_year()) == (365, 52, 12)


def test_warmup_bars() -> None:
    assert (parse_warmup_bars(0), parse_warmup_bars("12"), parse_warmup_bars(MAX_WARMUP_BARS)) == (0, 12, 100_000)
    for bad in (-1, True, 1.5, "x", None, MAX_WARMUP_BARS + 1):
        with pytest.raises(ParseError):
            parse_warmup_bars(bad)


def test_what_can_be_resampled_from_what() -> None:
    assert can_resample(MINUTE, FIVE) and can_resample(FIVE, HOUR) and can_resample(HOUR, TIMEFRAMES["4h"])
    assert can_resample(TIMEFRAMES["15min"], TIMEFRAMES["30min"]) and can_resample(MINUTE, MONTH)
    assert can_resample(DAY, WEEK) and can_resample(DAY, MONTH)
    assert not can_resample(HOUR, FIVE) and not can_resample(DAY, HOUR) and not can_resample(WEEK, MONTH)
    assert source_timeframe(["1min", "daily"], "1min") == "1min"
    assert source_timeframe(["1min", "daily"], "1h") == "1min"
    assert source_timeframe(["1min", "5min", "daily"], "15min") == "5min"  # the closest finer one
    assert source_timeframe(["1min", "daily"], "weekly") == "daily"
    assert source_timeframe(["weekly"], "monthly") is None
    assert source_timeframe(["daily"], "5min") is None
    assert source_timeframe([], "daily") is None


def test_five_minute_bars_computed_by_hand() -> None:
    start = at(2024, 1, 2, 14, 30)
    minutes = [
        bar(start, "10.00", "10.20", "9.90", "10.10", "100"),
        bar(start + timedelta(minutes=1), "10.10", "10.50", "10.00", "10.40", "200"),
        bar(start + timedelta(minutes=2), "10.40", "10.45", "9.80", "9.85", "50"),
        bar(start + timedelta(minutes=3), "9.85", "10.00", "9.70", "9.95", "25"),
        bar(start + timedelta(minutes=4), "9.95", "10.05", "9.90", "10.01", "25"),
        bar(start + timedelta(minutes=5), "10.01", "10.02", "10.00", "10.02", "1"),  # the next bucket
        bar(start + timedelta(minutes=7), "10.03", "10.30", "10.03", "10.30", "3"),  # 14:36 missing: still 14:35
    ]
    first, second = resample_bars(minutes, MINUTE, FIVE)
    assert first == bar(start, "10.00", "10.50", "9.70", "10.01", "400")
    assert second == bar(start + timedelta(minutes=5), "10.01", "10.30", "10.00", "10.30", "4")
    assert resample_stamps([b.timestamp for b in minutes], MINUTE, FIVE) == (start, start + timedelta(minutes=5))
    assert resample_bars(minutes, MINUTE, MINUTE) == tuple(minutes)
    assert resample_stamps([start], MINUTE, MINUTE) == (start,)
    assert resample_bars([], MINUTE, FIVE) == ()


def test_intraday_buckets_start_at_each_trading_days_first_bar_and_never_span_two_days() -> None:
    monday = [at(2024, 1, 8, 14, 30) + timedelta(minutes=i) for i in range(390)]  # 14:30-20:59
    tuesday = [at(2024, 1, 9, 14, 45) + timedelta(minutes=i) for i in range(60)]  # a late first bar: 14:45
    hours = resample_stamps([*monday, *tuesday], MINUTE, HOUR)
    assert [h.strftime("%d %H:%M") for h in hours] == [
        *(f"08 {h}:30" for h in range(14, 21)),  # the last one 20:30-20:59, half an hour
        "09 14:45",
    ]
    crypto = [at(2024, 1, 8, 22) + timedelta(minutes=30 * i) for i in range(8)]  # 22:00 to 01:30, across midnight
    assert [h.strftime("%d %H:%M") for h in resample_stamps(crypto, TIMEFRAMES["30min"], TIMEFRAMES["4h"])] == [
        "08 22:00",
        "09 00:00",
    ]


def test_trading_days_in_the_symbols_timezone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    # 09:00 and 14:00 in Tokyo on 5 January are 00:00 and 05:00 UTC; 08:00 on the 6th is 23:00 UTC on the 5th
    stamps = [at(2024, 1, 5, 0), at(2024, 1, 5, 5), at(2024, 1, 5, 23)]
    assert resample_stamps(stamps, HOUR, DAY, tokyo) == (at(2024, 1, 5), at(2024, 1, 6))
    assert resample_stamps(stamps, HOUR, DAY) == (at(2024, 1, 5),)  # in UTC all three fall on the 5th
    days = [at(2024, 1, 5), at(2024, 1, 8)]  # daily sources are already stamped at their date: no zone shift
    assert resample_stamps(days, DAY, WEEK, ZoneInfo("America/New_York")) == (at(2024, 1, 1), at(2024, 1, 8))


def test_weekly_from_monday_and_monthly_by_calendar() -> None:
    daily = [
        bar(at(2024, 1, 29), "10", "11", "9", "10.5"),  # Monday
        bar(at(2024, 1, 31), "10.5", "12", "10", "11"),  # Wednesday, last of January
        bar(at(2024, 2, 1), "11", "11.5", "8", "9"),  # Thursday, first of February
        bar(at(2024, 2, 5), "9", "9.5", "8.5", "9.25"),  # next Monday
    ]
    assert resample_bars(daily, DAY, WEEK) == (
        bar(at(2024, 1, 29), "10", "12", "8", "9", "30"),
        bar(at(2024, 2, 5), "9", "9.5", "8.5", "9.25", "10"),
    )
    assert resample_bars(daily, DAY, MONTH) == (
        bar(at(2024, 1, 1), "10", "12", "9", "11", "20"),
        bar(at(2024, 2, 1), "11", "11.5", "8", "9.25", "20"),
    )


def test_the_one_available_rule() -> None:
    hourly = DataRange(start=at(2024, 1, 2, 14), end=at(2024, 1, 5, 20))
    info = SymbolInfo(symbol="X", asset_class=AssetClass.STOCK, market="US", ranges={"1h": hourly})
    assert available_range(info, "1h") is hourly and available_range(info, DAILY) is hourly
    assert info.available("weekly") is hourly and available_range(info, "5min") is None
    assert [d.isoformat() for d in available_days(hourly)] == ["2024-01-02", "2024-01-05"]
    assert covers(hourly, at(2024, 1, 2), at(2024, 1, 5, 23, 59, 59))  # the whole first and last days
    assert not covers(hourly, at(2024, 1, 1, 23, 59), at(2024, 1, 3))
    assert not covers(hourly, at(2024, 1, 3), at(2024, 1, 6))


def test_session_window() -> None:
    start, end = at(2024, 3, 6, 9, 30), at(2024, 3, 8, 16)
    assert session_window(start, end, "5min") == (start, end)
    assert session_window(start, end, DAILY) == (at(2024, 3, 6), end)
    assert session_window(start, end, "weekly") == (at(2024, 3, 4), end)
    assert session_window(start, end, "monthly") == (at(2024, 3, 1), end)
