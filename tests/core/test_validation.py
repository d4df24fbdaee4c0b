"""Every field of a request, at its edges and with bad input of every kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simutrador import Engine, ErrorCode, Plan, SessionParams, SimutradorError
from simutrador.testing import ManualClock
from tests.core.conftest import params


def refused(engine: Engine, **overrides: Any) -> SimutradorError:
    with pytest.raises(SimutradorError) as info:
        engine.create_session("alice", params(**overrides))
    assert engine.live_session_count == 0
    return info.value


class TestCapital:
    @pytest.mark.parametrize("value", [Decimal("1000.00"), 1000, "1000", 1000.0, "10000000.00", Decimal("10000000")])
    def test_edges_accepted(self, engine: Engine, value: Any) -> None:
        assert engine.create_session("alice", params(initial_capital=value)).initial_capital == Decimal(str(value))

    @pytest.mark.parametrize("value", ["999.99", 999, Decimal(0), -5, "-1000000", "0.00"])
    def test_below_minimum(self, engine: Engine, value: Any) -> None:
        err = refused(engine, initial_capital=value)
        assert err.code is ErrorCode.INSUFFICIENT_CAPITAL
        assert err.details["problems"][0]["min_initial_capital"] == "1000.00"

    @pytest.mark.parametrize("value", ["10000000.01", 10**30, "1e20", 1e300])
    def test_above_maximum(self, engine: Engine, value: Any) -> None:
        err = refused(engine, initial_capital=value)
        assert err.code is ErrorCode.VALIDATION_FAILED
        assert err.details["fields"] == ["initial_capital"]
        assert "above the maximum" in err.message

    @pytest.mark.parametrize(
        "value",
        [
            "NaN",
            "nan",
            "Infinity",
            "-inf",
            float("nan"),
            float("inf"),
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("sNaN"),
            True,
            None,
            [1000],
            {"amount": 1000},
            "",
            "1,000",
            "1e99999",
            "ten thousand",
            "１０００",
            "1" * 100,
            "5000.001",
            Decimal("5000.125"),
        ],
    )
    def test_malformed(self, engine: Engine, value: Any) -> None:
        err = refused(engine, initial_capital=value)
        assert err.code is ErrorCode.VALIDATION_FAILED
        assert err.details["fields"] == ["initial_capital"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("commission_per_share", -1),
            ("commission_per_share", "101"),
            ("commission_per_share", "NaN"),
            ("slippage_bps", 10_001),
            ("slippage_bps", False),
            ("slippage_bps", object()),
        ],
    )
    def test_fees(self, engine: Engine, field: str, value: Any) -> None:
        err = refused(engine, **{field: value})
        assert (err.code, err.details["fields"]) == (ErrorCode.VALIDATION_FAILED, [field])

    def test_fees_accepted(self, engine: Engine) -> None:
        session = engine.create_session("alice", params(commission_per_share="0.005", slippage_bps=2.5))
        assert (session.commission_per_share, session.slippage_bps) == (Decimal("0.005"), Decimal("2.5"))


class TestDates:
    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [
            (
                date(2024, 3, 4),
                date(2024, 3, 4),
                (datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 4, 23, 59, 59, 999999, tzinfo=UTC)),
            ),
            (
                datetime(2024, 3, 4, 9, 30),
                "2024-03-04T16:00:00",
                (datetime(2024, 3, 4, 9, 30, tzinfo=UTC), datetime(2024, 3, 4, 16, tzinfo=UTC)),
            ),
            (
                datetime(2024, 3, 4, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
                "2024-03-04T16:00:00Z",
                (datetime(2024, 3, 4, 14, 30, tzinfo=UTC), datetime(2024, 3, 4, 16, tzinfo=UTC)),
            ),
            (
                " 2024-03-04 ",
                "2024-03-05T01:00:00+02:00",
                (datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 4, 23, tzinfo=UTC)),
            ),
        ],
    )
    def test_forms_accepted(
        self, make_engine: Callable[..., Engine], start: Any, end: Any, expected: tuple[datetime, datetime]
    ) -> None:
        session = make_engine(plan=Plan.FREE).create_session(
            "alice", params(symbols="SPY", start_date=start, end_date=end)
        )
        assert (session.start_date, session.end_date) == expected

    @pytest.mark.parametrize(
        ("start", "end", "message"),
        [
            ("2024-03-08", "2024-03-04", "before end_date"),
            ("2024-03-04T10:00:00", "2024-03-04T10:00:00", "before end_date"),
            ("2025-01-03", "2025-01-04", "in the future"),
            ("2024-03-04", "2025-01-02T12:00:01Z", "in the future"),
            ("2024-13-01", "2024-03-04", "not a date"),
            ("yesterday", "2024-03-04", "not a date"),
            ("", "2024-03-04", "not a date"),
            ("2024-03-04", "2024-03-04T25:00", "not a date"),
            ("２０２４-03-04", "2024-03-08", "not a date"),
            ("2024-03-04" + "0" * 100, "2024-03-08", "not a date"),
            (20240304, "2024-03-08", "got int"),
            (None, "2024-03-08", "got NoneType"),
            ("2024-03-04", 1.5, "got float"),
        ],
    )
    def test_refused(self, engine: Engine, start: Any, end: Any, message: str) -> None:
        err = refused(engine, start_date=start, end_date=end)
        assert err.code is ErrorCode.INVALID_DATE_RANGE
        assert message in err.message

    @pytest.mark.parametrize("plan", [None, *Plan])
    def test_no_plan_limits_the_span(
        self, make_engine: Callable[..., Engine], clock: ManualClock, plan: Plan | None
    ) -> None:
        clock.set(datetime(2026, 6, 1, tzinfo=UTC))
        engine = make_engine(plan=plan)
        for start, end in (("2023-01-01", "2023-12-31"), ("2024-01-01", "2024-12-31"), ("2016-01-04", "2025-12-31")):
            session = engine.create_session(f"user-{start}", params(symbols="SPY", start_date=start, end_date=end))
            assert session.end_date.date().isoformat() == end


class TestSymbols:
    @pytest.mark.parametrize(
        ("symbols", "code", "detail"),
        [
            ((), ErrorCode.VALIDATION_FAILED, "at least one symbol"),
            ("", ErrorCode.VALIDATION_FAILED, "at least one symbol"),
            (("AAPL", "aapl"), ErrorCode.VALIDATION_FAILED, "duplicate symbols: AAPL"),
            (("EURUSD", "eur/usd"), ErrorCode.VALIDATION_FAILED, "duplicate symbols: EUR/USD"),
            (("AA PL",), ErrorCode.INVALID_SYMBOL, "contains whitespace"),
            (("AAPL\x00",), ErrorCode.INVALID_SYMBOL, "control characters"),
            (("X" * 33,), ErrorCode.INVALID_SYMBOL, "longer than 32"),
            (("ÄPPLE",), ErrorCode.INVALID_SYMBOL, "non-ASCII"),
            ((None,), ErrorCode.VALIDATION_FAILED, "symbols must be a list of strings: item 0 is NoneType"),
            (("AAPL", 5, ["x"]), ErrorCode.VALIDATION_FAILED, "item 1 is int, item 2 is list"),
            ({"AAPL": 1}, ErrorCode.VALIDATION_FAILED, "symbols must be a list of strings"),
            (5, ErrorCode.VALIDATION_FAILED, "symbols must be a list of strings"),
            (("AAPL/XYZ",), ErrorCode.INVALID_SYMBOL, "not a recognised"),
            (
                tuple(f"S{i}" for i in range(6)),
                ErrorCode.VALIDATION_FAILED,
                "too many symbols: 6, while the free plan allows 5 per session",
            ),
        ],
    )
    def test_refused(self, make_engine: Callable[..., Engine], symbols: Any, code: ErrorCode, detail: str) -> None:
        err = refused(make_engine(plan=Plan.FREE), symbols=symbols, end_date="2024-03-04")
        assert err.code is code
        assert detail in err.message

    def test_deeply_nested_symbols_are_described_by_type(self, engine: Engine) -> None:
        nested: Any = "AAPL"
        for _ in range(100_000):  # a repr of it would recurse past the interpreter's limit
            nested = [nested]
        err = refused(engine, symbols=[nested, "MSFT", *range(9)])
        assert err.code is ErrorCode.VALIDATION_FAILED
        assert err.message.startswith(
            "symbols must be a list of strings: item 0 is list, item 2 is int, item 3 is int, item 4 is int, "
            "item 5 is int and 5 more"
        )
        assert err.details["problems"][0]["not_strings"][:2] == [
            {"index": 0, "type": "list"},
            {"index": 2, "type": "int"},
        ]

    def test_huge_symbol_lists_are_refused_before_normalizing(self, engine: Engine) -> None:
        err = refused(engine, symbols=["AAPL"] * 1_000_000)
        assert "too many symbols: 1000000" in err.message

    def test_every_problem_is_reported_at_once(self, engine: Engine) -> None:
        err = refused(
            engine,
            symbols=("AAPL", "aapl", "A B"),
            start_date="2024-03-08",
            end_date="2024-03-04",
            initial_capital="5",
            metadata={"x": float("inf")},
            session_id="no spaces",
        )
        assert err.code is ErrorCode.VALIDATION_FAILED
        codes = [p["code"] for p in err.details["problems"]]
        assert codes == [
            "INVALID_SYMBOL",
            "VALIDATION_FAILED",
            "INVALID_DATE_RANGE",
            "INSUFFICIENT_CAPITAL",
            "VALIDATION_FAILED",
            "VALIDATION_FAILED",
        ]
        assert err.details["fields"] == ["initial_capital", "metadata", "session_id", "start_date", "symbols"]
        assert err.details["problems"][0]["invalid_symbols"] == ["A B"]

    def test_code_priority_when_only_symbols_and_dates_fail(self, engine: Engine) -> None:
        err = refused(engine, symbols=("A B",), start_date="2024-03-08", end_date="2024-03-04")
        assert err.code is ErrorCode.INVALID_SYMBOL


class TestMetadataAndProvider:
    @pytest.mark.parametrize(
        ("metadata", "reason"),
        [
            ("labels", "must be an object"),
            ({"a": {"b": {"c": {"d": 1}}}}, "nested deeper than 4"),
            ({"blob": "x" * 5000}, "more than the 4096 allowed"),
            ({1: "numeric key"}, "keys must be strings"),
            ({"k" * 129: 1}, "keys must be strings"),
            ({"x": float("nan")}, "NaN"),
            ({"x": {1, 2}}, "got set"),
            ({"x": b"bytes"}, "got bytes"),
            ({"x": 2**63}, "integers must fit in 64 bits"),
            ({"x": [-(2**63) - 1]}, "integers must fit in 64 bits"),
            ({"x": {"y": 10**29}}, "send larger numbers as strings"),
        ],
    )
    def test_refused(self, engine: Engine, metadata: Any, reason: str) -> None:
        err = refused(engine, metadata=metadata)
        assert (err.code, err.details["fields"]) == (ErrorCode.VALIDATION_FAILED, ["metadata"])
        assert reason in err.message

    def test_deeply_nested_input_does_not_recurse_forever(self, engine: Engine) -> None:
        deep: dict[str, Any] = {}
        node = deep
        for _ in range(100_000):
            node["x"] = {}
            node = node["x"]
        assert "nested deeper" in refused(engine, metadata=deep).message

    def test_64_bit_integers_are_accepted(self, engine: Engine) -> None:
        session = engine.create_session("alice", params(metadata={"big": 2**63 - 1, "small": -(2**63)}))
        assert dict(session.metadata) == {"big": 2**63 - 1, "small": -(2**63)}

    def test_accepted_unicode_and_none(self, engine: Engine) -> None:
        session = engine.create_session("alice", params(metadata={"note": "📈 ünïcode", "n": None, "f": 1.5}))
        assert session.metadata["note"] == "📈 ünïcode"
        assert engine.create_session("alice", params(metadata=None)).metadata == {}

    @pytest.mark.parametrize("provider", ["", "x" * 65, 5, "bad\nprovider"])
    def test_bad_provider(self, engine: Engine, provider: Any) -> None:
        assert refused(engine, data_provider=provider).details["fields"] == ["data_provider"]


_anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=40),
    st.dates(),
    st.datetimes(),
    st.lists(st.text(max_size=8), max_size=6),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.floats(), st.text(max_size=5)), max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(
    symbols=st.one_of(st.text(max_size=40), st.lists(_anything, max_size=6)),
    start=_anything,
    end=_anything,
    capital=_anything,
    commission=_anything,
    metadata=_anything,
    session_id=st.one_of(st.none(), st.text(max_size=70)),
)
def test_validation_only_ever_raises_simutrador_error(
    symbols: Any, start: Any, end: Any, capital: Any, commission: Any, metadata: Any, session_id: Any
) -> None:
    engine = Engine(clock=ManualClock())
    request = SessionParams(
        symbols=symbols,
        start_date=start,
        end_date=end,
        initial_capital=capital,
        commission_per_share=commission,
        metadata=metadata,
        session_id=session_id,
    )
    try:
        session = engine.create_session("alice", request, plan=Plan.ENTERPRISE)
    except SimutradorError as err:
        assert err.code in ErrorCode
        assert err.details["problems"], err
        assert engine.live_session_count == 0
    else:
        assert session.initial_capital.is_finite()
        assert session.start_date < session.end_date


def test_no_bar_message_is_not_added_when_no_symbol_is_usable() -> None:
    engine = Engine(clock=ManualClock(datetime(2026, 6, 1, tzinfo=UTC)))
    with pytest.raises(SimutradorError) as caught:
        engine.create_session("alice", symbols=[["AAPL"]], start="2024-03-04", end="2024-03-08", capital=10_000)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert "bar to simulate" not in caught.value.message
