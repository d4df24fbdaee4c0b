"""The numbers a report draws, computed without any plotting library.

Everything here is plain Python over a result's series, so it is tested (and reused)
without plotly:

* `bucket_indices`: which points of a long series are drawn. **The method**: a series
  of more than `DISPLAY_POINTS` points is cut into ``DISPLAY_POINTS / 4`` buckets of
  consecutive points, and each bucket keeps its first, lowest, highest and last point
  (the "M4" aggregation of Jugel et al., 2014). Peaks, troughs and the depth of every
  drawdown are drawn exactly; only points between them are left out. Fills and trades
  are never downsampled.
* `drawdown_pct`: the fall from the running peak at each tick, the series behind
  ``max_drawdown_pct``.
* `buy_and_hold`: the equity of holding the run's symbols instead.
* `session_gaps`: the nights, weekends and holidays an intraday chart leaves out.
* `period_returns`: returns per month (or per day, or per hour, for short runs), the
  cells of the returns heatmap.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from simutrador.data.catalog import Bar

__all__ = [
    "DISPLAY_POINTS",
    "DOWNSAMPLING",
    "PeriodReturns",
    "bucket_count",
    "bucket_indices",
    "buy_and_hold",
    "drawdown_pct",
    "MAX_GAPS",
    "period_returns",
    "session_gaps",
    "time_label",
]

DISPLAY_POINTS: Final = 4000
"""At most this many points are drawn per line (see `bucket_indices`)."""

DOWNSAMPLING: Final = (
    "each of {buckets:,} buckets of consecutive ticks keeps its first, lowest, highest and last point, "
    "so peaks, troughs and drawdowns are drawn exactly"
)
"""How a long series is drawn, as stated under its chart."""

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MIN_PERIODS: Final = 3  # a heatmap needs a few cells: monthly from three months on, else daily, else hourly


def bucket_indices(values: Sequence[float], max_points: int = DISPLAY_POINTS) -> list[int]:
    """The indices of the points drawn for `values`: all of them, or at most `max_points`.

    A longer series is cut into ``max_points // 4`` buckets of consecutive points; each
    keeps its first, lowest, highest and last point, in order.

    Example:
        >>> bucket_indices([5.0, 1.0, 3.0, 9.0, 2.0, 4.0, 4.0, 0.0], max_points=4)
        [0, 3, 7]
        >>> bucket_indices([1.0, 2.0, 3.0], max_points=4)
        [0, 1, 2]
    """
    count = len(values)
    if count <= max_points:
        return list(range(count))
    buckets = max(1, max_points // 4)
    size = -(-count // buckets)
    kept: list[int] = []
    get = values.__getitem__
    for start in range(0, count, size):
        stop = min(start + size, count)
        chunk = range(start, stop)
        kept += sorted({start, min(chunk, key=get), max(chunk, key=get), stop - 1})
    return kept


def bucket_count(length: int, max_points: int = DISPLAY_POINTS) -> int:
    """How many buckets `bucket_indices` cuts a series of `length` points into (0: drawn whole)."""
    if length <= max_points:
        return 0
    buckets = max(1, max_points // 4)
    return -(-length // -(-length // buckets))


def drawdown_pct(equity: Sequence[float], initial: float) -> list[float]:
    """The drawdown at each tick, percent: ``(E_i / peak_i - 1) x 100`` (0 at a peak, negative below).

    ``peak_i`` is the highest equity so far, starting from `initial` (``E_0``), so the
    lowest value is ``-max_drawdown_pct`` of the run's metrics.

    Example:
        >>> drawdown_pct([100.0, 75.0, 120.0], 80.0)
        [0.0, -25.0, 0.0]
    """
    peak = initial
    drawdowns: list[float] = []
    for value in equity:
        peak = max(peak, value)
        drawdowns.append((value / peak - 1) * 100 if peak > 0 else 0.0)
    return drawdowns


def buy_and_hold(times: Sequence[datetime], bars: Mapping[str, Sequence[Bar]], initial: float) -> list[float] | None:
    """The equity at each of `times` of holding the symbols instead of trading them.

    `initial` is split equally across the symbols that have bars; each part buys its
    symbol at the symbol's first close at or before a tick (fractional units, no
    costs) and holds it; it waits in cash until then. Equity is valued at each
    symbol's latest close. None when no symbol has a bar.

    Example:
        >>> from datetime import UTC, datetime
        >>> from decimal import Decimal
        >>> day = [datetime(2024, 1, d, tzinfo=UTC) for d in (2, 3)]
        >>> bar = lambda t, c: Bar(timestamp=t, open=c, high=c, low=c, close=c, volume=Decimal(1))
        >>> buy_and_hold(day, {"A": [bar(day[0], Decimal(10)), bar(day[1], Decimal(12))]}, 1000.0)
        [1000.0, 1200.0]
    """
    usable = {symbol: series for symbol, series in bars.items() if series}
    if not usable:
        return None
    part = initial / len(usable)
    cash = initial
    cursor = dict.fromkeys(usable, 0)
    last: dict[str, float] = {}
    units: dict[str, float] = {}
    equity: list[float] = []
    for moment in times:
        for symbol, series in usable.items():
            index = cursor[symbol]
            while index < len(series) and series[index].timestamp <= moment:
                last[symbol] = float(series[index].close)
                index += 1
            cursor[symbol] = index
            if symbol not in units and last.get(symbol, 0.0) > 0:
                units[symbol] = part / last[symbol]
                cash -= part
        equity.append(cash + sum(quantity * last[symbol] for symbol, quantity in units.items()))
    return equity


@attrs.frozen(kw_only=True, slots=True)
class PeriodReturns:
    """Returns per period, laid out as a grid for the heatmap.

    Attributes:
        period: ``"month"`` (rows are years), ``"day"`` (rows are weeks) or ``"hour"``
            (rows are days); times in UTC.
        rows: Row labels, oldest first.
        columns: Column labels (the months, weekdays or hours that occur).
        values: Percent return per row and column; None where no tick falls.
        totals: The compounded return of each row, percent.
    """

    period: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    totals: tuple[float, ...]


def _layout(times: Sequence[datetime]) -> tuple[str, Callable[[datetime], tuple[str, int]], Callable[[int], str]]:
    """The period whose grid suits `times`: (name, time → (row label, column key), column key → label)."""
    utc = [moment.astimezone(UTC) for moment in (times[0], times[-1])]
    months = (utc[1].year - utc[0].year) * 12 + utc[1].month - utc[0].month + 1
    if months >= _MIN_PERIODS:
        return "month", lambda t: (f"{t.year}", t.month - 1), _MONTHS.__getitem__
    if (utc[1].date() - utc[0].date()).days + 1 >= _MIN_PERIODS:

        def by_day(t: datetime) -> tuple[str, int]:
            year, week, _ = t.isocalendar()
            return f"{year}-W{week:02d}", t.weekday()

        return "day", by_day, _WEEKDAYS.__getitem__
    return "hour", lambda t: (t.date().isoformat(), t.hour), lambda hour: f"{hour:02d}:00"


def period_returns(times: Sequence[datetime], equity: Sequence[float], initial: float) -> PeriodReturns | None:
    """Returns by month, or by day then hour for runs too short for three of those.

    A period's return is its last equity over the previous period's last equity (the
    initial capital for the first) minus 1, in percent; a row's total compounds its
    periods the same way. None for a run without ticks.

    Example:
        >>> from datetime import UTC, datetime
        >>> times = [datetime(2024, m, 15, tzinfo=UTC) for m in (1, 2, 3)]
        >>> grid = period_returns(times, [110.0, 99.0, 99.0], 100.0)
        >>> grid.period, grid.rows, [None if v is None else round(v, 6) for v in grid.values[0][:4]]
        ('month', ('2024',), [10.0, -10.0, 0.0, None])
        >>> [round(total, 6) for total in grid.totals]
        [-1.0]
    """
    if not times:
        return None
    period, key_of, label_of = _layout(times)
    last: dict[tuple[str, int], float] = {}
    row_last: dict[str, float] = {}
    for moment, value in zip(times, equity, strict=True):
        row, column = key_of(moment.astimezone(UTC))
        last[row, column] = value
        row_last[row] = value
    rows = tuple(row_last)
    columns = sorted({column for _, column in last}) if period != "month" else list(range(12))
    cells: dict[tuple[str, int], float] = {}
    before = initial
    for key, value in last.items():
        cells[key] = (value / before - 1) * 100 if before else 0.0
        before = value
    totals: list[float] = []
    before = initial
    for row in rows:
        totals.append((row_last[row] / before - 1) * 100 if before else 0.0)
        before = row_last[row]
    return PeriodReturns(
        period=period,
        rows=rows,
        columns=tuple(label_of(column) for column in columns),
        values=tuple(tuple(cells.get((row, column)) for column in columns) for row in rows),
        totals=tuple(totals),
    )


def time_label(moment: datetime) -> str:
    """A time as the charts take it: UTC, without an offset (``2024-03-01 14:30:00``)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


MAX_GAPS: Final = 600
"""An intraday chart hides at most this many gaps between sessions (about two years of nights and weekends)."""


def session_gaps(times: Sequence[datetime], step: timedelta, limit: int = MAX_GAPS) -> list[tuple[datetime, datetime]]:
    """The spans without bars that an intraday chart leaves out, so trading hours sit side by side.

    A gap is a wait of more than four bars (and more than an hour) between two ticks
    (nights, weekends, holidays); it runs from the end of the bar before it to the
    next tick. None (an empty list) when there are more than `limit`: the chart then
    keeps its plain time axis.

    Example:
        >>> from datetime import UTC, datetime, timedelta
        >>> day = lambda d, h: datetime(2024, 3, d, h, tzinfo=UTC)
        >>> gaps = session_gaps([day(4, 19), day(4, 20), day(5, 14), day(5, 15)], timedelta(hours=1))
        >>> [(start.day, start.hour, end.day, end.hour) for start, end in gaps]
        [(4, 21, 5, 14)]
    """
    threshold = max(step * 4, timedelta(hours=1))
    gaps = [(before + step, after) for before, after in itertools.pairwise(times) if after - before > threshold]
    return gaps if len(gaps) <= limit else []
