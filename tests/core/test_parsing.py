"""The one value parser (`simutrador.parsing`) and the one alias table (`simutrador.codec`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simutrador import Engine, ErrorCode, SimutradorError
from simutrador.codec import ALIASES, canonical_fields, session_params_from_wire
from simutrador.parsing import (
    ParseError,
    format_duration,
    loads_json,
    parse_duration,
    parse_moment,
    parse_money,
    parse_names,
    parse_number,
    parse_whole,
)
from simutrador.testing import ManualClock


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100000", Decimal(100000)),
        (" 1.50 ", Decimal("1.50")),
        (0.1, Decimal("0.1")),
        (7, Decimal(7)),
        ("1e3", Decimal(1000)),
    ],
)
def test_money(value: object, expected: Decimal) -> None:
    assert parse_money(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "boolean"),
        ("NaN", "expected a decimal number"),
        (float("inf"), "finite"),
        (Decimal("sNaN"), "finite"),
        ("1_000", "expected a decimal number"),
        ("9" * 65, "expected a decimal number"),
        ([1], "got list"),
    ],
)
def test_money_refused(value: object, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_money(value)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12))
def test_money_round_trips_through_text(value: Decimal) -> None:
    assert parse_money(str(value)) == value


def test_moments() -> None:
    assert parse_moment("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_moment("2024-03-01", end_of_day=True) == datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_moment(date(2024, 3, 1)) == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_moment("2024-03-01T10:00:00+02:00") == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert parse_moment(datetime(2024, 3, 1, 9)) == datetime(2024, 3, 1, 9, tzinfo=UTC)  # naive means UTC
    for bad, reason in (("yesterday", "not a date"), (20240301, "got int"), ("x" * 65, "not a date")):
        with pytest.raises(ParseError, match=reason):
            parse_moment(bad)
    with pytest.raises(ParseError, match="out of range"):
        parse_moment(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3))))


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_moments_round_trip_through_iso_text(moment: datetime) -> None:
    assert parse_moment(moment.isoformat()) == moment


def test_whole_numbers_and_numbers() -> None:
    assert parse_whole(" +7\t", minimum=1) == 7
    assert parse_whole(0) == 0
    for bad in ("1.5", "5.0", "-1", "0x10", "\uff11", True, 2.0, "1_000"):
        with pytest.raises(ParseError, match="must be a whole number >= 0"):
            parse_whole(bad)
    assert parse_number("2.5") == 2.5
    assert parse_number(3) == 3.0
    for bad in ("nan", "-1", True, "inf", None):
        with pytest.raises(ParseError, match="must be a number >= 0"):
            parse_number(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("1 week", timedelta(weeks=1)),
        ("365 days", timedelta(days=365)),
        ("90", timedelta(seconds=90)),
        ("30min", timedelta(minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        (3600, timedelta(hours=1)),
        (timedelta(days=2), timedelta(days=2)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0h", "-1d", "forever", "1 fortnight", "", True, None, "9" * 100])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ParseError, match="positive duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=24), "1 day"),
        (timedelta(hours=25), "25 hours"),
        (timedelta(days=7), "1 week"),
        (timedelta(days=365), "365 days"),
        (timedelta(seconds=90), "90 seconds"),
        (timedelta(minutes=1), "1 minute"),
    ],
)
def test_durations_read_like_a_person_wrote_them(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text
    assert parse_duration(text) == duration


def test_names() -> None:
    assert parse_names("a, b,,c ") == ("a", "b", "c")
    assert parse_names(["x", "y"]) == ("x", "y")
    with pytest.raises(ParseError, match="list of text"):
        parse_names([1])


def test_strict_json() -> None:
    assert loads_json('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    for bad, reason in (
        ("NaN", "NaN is not valid JSON"),
        ("1e999", "out of range"),
        ("1" * 31, "integer too large"),
        ("[" * 100_000, "nested too deeply"),
        ("{", "not valid JSON"),
    ):
        with pytest.raises(ParseError, match=reason):
            loads_json(bad)


def test_one_alias_table_for_every_surface() -> None:
    fields, problems, at_fault = canonical_fields(
        {"symbols": ["SPY"], "start": "2024-03-04", "end": "2024-03-05", "capital": 10_000}
    )
    assert (problems, at_fault) == ([], [])
    assert fields == {
        "symbols": ["SPY"],
        "start_date": "2024-03-04",
        "end_date": "2024-03-05",
        "initial_capital": 10_000,
    }
    _, problems, at_fault = canonical_fields({"start": 1, "start_date": 2, "bogus": 3})
    assert "give start or start_date, not both" in problems
    assert {"start", "bogus", "symbols", "end_date", "initial_capital"} <= set(at_fault)
    assert ALIASES["initial_cash"] == ALIASES["capital"] == "initial_capital"


def test_the_engine_takes_the_same_aliases_as_the_wire() -> None:
    engine = Engine(clock=ManualClock(datetime(2026, 6, 1, tzinfo=UTC)))
    by_keywords = engine.create_session("alice", symbols=["SPY"], start="2024-03-04", end="2024-03-05", capital=10_000)
    wire = session_params_from_wire(
        {"symbols": ["SPY"], "start": "2024-03-04", "end": "2024-03-05", "initial_cash": 10_000}
    )
    by_wire = engine.create_session("alice", wire)
    assert (by_keywords.start_date, by_keywords.initial_capital) == (by_wire.start_date, by_wire.initial_capital)
    with pytest.raises(SimutradorError) as caught:
        engine.create_session("alice", symbols=["SPY"], start="2024-03-04", start_date="2024-03-04", end="x", capital=1)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert "start" in caught.value.details["fields"]


@pytest.mark.parametrize("symbols", ["AAPL", '["AAPL"]', "AAPL,MSFT"])
def test_a_string_where_the_wire_expects_a_list_of_symbols_is_refused(symbols: Any) -> None:
    for payload in (
        {"symbols": symbols, "start_date": "2024-03-04", "end_date": "2024-03-05", "initial_capital": 10_000},
        {"symbols": symbols, "start": "2024-03-04", "end": "2024-03-05", "initial_cash": 10_000},
    ):
        with pytest.raises(SimutradorError) as caught:
            session_params_from_wire(payload)
        assert caught.value.code is ErrorCode.VALIDATION_FAILED
        assert caught.value.details["fields"] == ["symbols"]
        assert "symbols must be a list of strings" in caught.value.message
