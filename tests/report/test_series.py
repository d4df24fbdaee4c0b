"""The numbers behind the charts: downsampling, drawdown, buy-and-hold, period returns, session gaps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simutrador import Bar, SimulationResult
from simutrador.report.series import (
    DISPLAY_POINTS,
    bucket_count,
    bucket_indices,
    buy_and_hold,
    drawdown_pct,
    period_returns,
    session_gaps,
    time_label,
)


def bar(moment: datetime, close: str) -> Bar:
    price = Decimal(close)
    return Bar(timestamp=moment, open=price, high=price, low=price, close=price, volume=Decimal(1))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


values = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300)


@given(values, st.integers(min_value=4, max_value=60))
def test_downsampling_keeps_ends_extremes_and_order_within_budget(series: list[float], budget: int) -> None:
    kept = bucket_indices(series, budget)
    assert kept == sorted(set(kept))
    assert len(kept) <= max(budget, len(series) if len(series) <= budget else budget)
    assert kept[0] == 0
    assert kept[-1] == len(series) - 1
    drawn = [series[i] for i in kept]
    assert max(drawn) == max(series)
    assert min(drawn) == min(series)
    if len(series) <= budget:
        assert kept == list(range(len(series)))
        assert bucket_count(len(series), budget) == 0
    else:
        assert 0 < bucket_count(len(series), budget) <= budget // 4


def test_every_bucket_keeps_its_own_extremes() -> None:
    series = [math.sin(i / 50) * 100 + (i % 7) for i in range(100_000)]
    kept = bucket_indices(series)
    assert len(kept) <= DISPLAY_POINTS
    size = -(-len(series) // (DISPLAY_POINTS // 4))
    for start in range(0, len(series), size):
        chunk = series[start : start + size]
        inside = [series[i] for i in kept if start <= i < start + size]
        assert max(inside) == max(chunk)
        assert min(inside) == min(chunk)


def test_the_drawdown_series_bottoms_at_the_metric(example: SimulationResult) -> None:
    drawdowns = drawdown_pct(example.equity, float(example.initial_capital))
    assert max(drawdowns) == 0.0
    assert -min(drawdowns) == pytest.approx(example.metrics.max_drawdown_pct, rel=1e-12)


def test_drawdown_from_a_non_positive_peak_is_zero() -> None:
    assert drawdown_pct([0.0, -5.0], 0.0) == [0.0, 0.0]


def test_buy_and_hold_splits_the_capital_and_waits_in_cash_for_a_late_listing() -> None:
    days = [at(2024, 1, d) for d in (2, 3, 4)]
    bars = {
        "A": [bar(days[0], "10"), bar(days[1], "20"), bar(days[2], "20")],
        "B": [bar(days[1], "50"), bar(days[2], "25")],  # lists a day late
        "C": [],  # no bars at all: left out
    }
    assert buy_and_hold(days, bars, 1000.0) == [1000.0, 1500.0, 1250.0]
    assert buy_and_hold(days, {"C": []}, 1000.0) is None


def test_buy_and_hold_of_the_example_matches_the_price_move(example: SimulationResult) -> None:
    from simutrador import SampleCatalog

    bars = SampleCatalog().bars("AAPL", example.started_at, example.ended_at, "daily")
    curve = buy_and_hold(example.times, {"AAPL": bars}, 100_000.0)
    assert curve is not None
    assert len(curve) == example.ticks
    assert curve[0] == pytest.approx(100_000.0)
    assert curve[-1] == pytest.approx(100_000.0 * float(bars[-1].close / bars[0].close))


def test_monthly_returns_compound_to_the_total(example: SimulationResult) -> None:
    grid = period_returns(example.times, example.equity, float(example.initial_capital))
    assert grid is not None
    assert grid.period == "month"
    assert grid.rows == ("2019", "2020", "2021", "2022", "2023", "2024")
    assert grid.columns[0] == "Jan"
    assert len(grid.columns) == 12
    growth = math.prod(1 + v / 100 for row in grid.values for v in row if v is not None)
    assert (growth - 1) * 100 == pytest.approx(example.metrics.total_return_pct, rel=1e-9)
    assert math.prod(1 + t / 100 for t in grid.totals) == pytest.approx(growth, rel=1e-12)


def test_a_run_starting_mid_year_leaves_earlier_months_empty() -> None:
    times = [at(2024, m, 10) for m in (10, 11, 12)] + [at(2025, 1, 10)]
    grid = period_returns(times, [101.0, 102.0, 102.0, 100.0], 100.0)
    assert grid is not None
    assert grid.rows == ("2024", "2025")
    assert grid.values[0][:9] == (None,) * 9
    assert grid.values[1][1:] == (None,) * 11
    assert grid.totals[0] == pytest.approx(2.0)


def test_short_runs_get_daily_then_hourly_cells(short_run: SimulationResult, long_run: SimulationResult) -> None:
    daily = period_returns(long_run.times, long_run.equity, 100_000.0)
    assert daily is not None
    assert daily.period == "day"
    assert daily.rows == ("2025-W40", "2025-W41", "2025-W42", "2025-W43")
    assert daily.columns == ("Mon", "Tue", "Wed", "Thu", "Fri")
    assert daily.values[0][:2] == (None, None)  # 2025-10-01 is a Wednesday
    hourly = period_returns(short_run.times, short_run.equity, 100_000.0)
    assert hourly is not None
    assert hourly.period == "hour"
    assert hourly.rows == ("2025-10-01",)
    assert hourly.columns == ("14:00", "15:00", "16:00", "17:00", "18:00", "19:00", "20:00")
    assert period_returns((), (), 1.0) is None


def test_a_zero_base_gives_zero_returns() -> None:
    grid = period_returns([at(2024, 1, 1), at(2024, 1, 2), at(2024, 1, 3)], [0.0, 0.0, 0.0], 0.0)
    assert grid is not None
    assert (grid.columns, grid.values, grid.totals) == (("Mon", "Tue", "Wed"), ((0.0, 0.0, 0.0),), (0.0,))


def test_session_gaps_hide_nights_and_weekends_only(long_run: SimulationResult) -> None:
    gaps = session_gaps(long_run.times, timedelta(minutes=1))
    assert len(gaps) == 14  # 15 trading days from Wed 1 to Tue 21 October
    start, end = gaps[0]
    assert (start, end) == (at(2025, 10, 1, 21, 0), at(2025, 10, 2, 14, 30))  # the sample's bars: 14:30 to 21:00 UTC
    assert all(end - start > timedelta(hours=1) for start, end in gaps)
    assert session_gaps(long_run.times, timedelta(minutes=1), limit=13) == []


def test_time_labels_are_utc_without_offset() -> None:
    from zoneinfo import ZoneInfo

    assert time_label(datetime(2024, 3, 1, 9, 30, tzinfo=ZoneInfo("America/New_York"))) == "2024-03-01 14:30:00"


def test_evolved_results_report_the_same_series(example: SimulationResult) -> None:
    shorter = attrs.evolve(example, times=example.times[:10], equity=example.equity[:10])
    grid = period_returns(shorter.times, shorter.equity, 100_000.0)
    assert grid is not None
    assert grid.period == "day"
