"""The charts of a report, as plotly figures (plotly is imported here, lazily, and nowhere else).

* `equity_figure`: equity with buy-and-hold of the same symbols, the drawdown below it.
* `price_figure`: one symbol's prices (candles for short runs, a line of closes for
  long ones) with every fill marked (buys, sells and ambiguous fills apart) and every
  trade joined from entry to exit.
* `returns_figure`: the returns per month (or day, or hour) as a heatmap.
* `comparison_figure`: several runs' equity and drawdown overlaid.

Long series are drawn through `simutrador.report.series.bucket_indices`; fills and
trades never are.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from simutrador.data.catalog import Bar
from simutrador.report.series import (
    PeriodReturns,
    bucket_indices,
    drawdown_pct,
    time_label,
)
from simutrador.simulation.events import Fill
from simutrador.simulation.orders import OrderSide
from simutrador.simulation.results import Trade

__all__ = [
    "CANDLE_LIMIT",
    "comparison_figure",
    "equity_figure",
    "hide_gaps",
    "load_plotly",
    "price_figure",
    "returns_figure",
]

CANDLE_LIMIT: Final = 500
"""A symbol with at most this many bars in the run is drawn as candles, else as a line of closes."""

STRATEGY: Final = "#1f5fbf"
BENCHMARK: Final = "#8a8f98"
DRAWDOWN: Final = "#c0392b"
BUY: Final = "#1e9e4a"
SELL: Final = "#d0342c"
AMBIGUOUS: Final = "#f39c12"
_LAYOUT: Final = {
    "template": "plotly_white",
    "margin": {"l": 64, "r": 24, "t": 36, "b": 36},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    "hoverlabel": {"namelength": -1},
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
}


def load_plotly() -> tuple[Any, Any, Any]:
    """``(plotly.graph_objects, plotly.subplots.make_subplots, plotly.io)``.

    Raises:
        ImportError: plotly is not installed, with the command that installs it.
    """
    try:
        graph_objects = importlib.import_module("plotly.graph_objects")
        subplots = importlib.import_module("plotly.subplots")
        plotly_io = importlib.import_module("plotly.io")
    except ImportError as exc:
        raise ImportError("reports need plotly: pip install 'simutrador[report]'") from exc
    return graph_objects, subplots.make_subplots, plotly_io


def hide_gaps(figure: Any, gaps: Sequence[tuple[datetime, datetime]]) -> None:
    """Leave `gaps` (see `simutrador.report.series.session_gaps`) out of every time axis of `figure`."""
    if gaps:
        figure.update_xaxes(rangebreaks=[{"bounds": [time_label(start), time_label(end)]} for start, end in gaps])


def _picked(times: Sequence[datetime], values: Sequence[float]) -> tuple[list[str], list[float]]:
    kept = bucket_indices(values)
    return [time_label(times[i]) for i in kept], [values[i] for i in kept]


def equity_figure(
    times: Sequence[datetime], equity: Sequence[float], initial: float, benchmark: Sequence[float] | None, label: str
) -> Any:
    """Equity (and `benchmark`, buy-and-hold, dashed) above the drawdown, on one shared time axis."""
    go, make_subplots, _ = load_plotly()
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    x, y = _picked(times, equity)
    figure.add_trace(
        go.Scatter(x=x, y=y, name="strategy", mode="lines", line={"color": STRATEGY, "width": 2}), row=1, col=1
    )
    if benchmark is not None:
        x, y = _picked(times, benchmark)
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=f"buy and hold {label}",
                mode="lines",
                line={"color": BENCHMARK, "width": 1.5, "dash": "dash"},
            ),
            row=1,
            col=1,
        )
    x, y = _picked(times, drawdown_pct(equity, initial))
    figure.add_trace(
        go.Scatter(
            x=x,
            y=y,
            name="drawdown",
            mode="lines",
            fill="tozeroy",
            line={"color": DRAWDOWN, "width": 1},
            fillcolor="rgba(192, 57, 43, 0.25)",
            hovertemplate="%{y:.2f} %",
        ),
        row=2,
        col=1,
    )
    figure.update_yaxes(title_text="equity", tickformat=",.0f", row=1, col=1)
    figure.update_yaxes(title_text="drawdown %", ticksuffix=" %", row=2, col=1)
    figure.update_layout(**_LAYOUT, height=520, hovermode="x unified")
    return figure


def _fill_text(fill: Fill) -> str:
    flag = "<br><b>ambiguous</b>: depends on the intrabar policy" if fill.ambiguous else ""
    return (
        f"{fill.side.value.upper()} {fill.quantity} {fill.symbol} @ {fill.price}<br>{time_label(fill.time)}"
        f"<br>{fill.reason.value}, commission {fill.commission}{flag}"
    )


def _fill_trace(go: Any, fills: Sequence[Fill], name: str, marker: dict[str, Any]) -> Any:
    return go.Scatter(
        x=[time_label(f.time) for f in fills],
        y=[float(f.price) for f in fills],
        name=f"{name} ({len(fills)})",
        mode="markers",
        marker={"size": 10, "line": {"width": 1, "color": "#ffffff"}, **marker},
        text=[_fill_text(f) for f in fills],
        hovertemplate="%{text}<extra></extra>",
    )


def _trade_trace(go: Any, segments: Sequence[tuple[Trade, datetime, float]], name: str, color: str) -> Any:
    x: list[str | None] = []
    y: list[float | None] = []
    for trade, exit_time, exit_price in segments:
        x += [time_label(trade.entry_time), time_label(exit_time), None]
        y += [float(trade.entry_price), exit_price, None]
    return go.Scatter(
        x=x,
        y=y,
        name=f"{name} ({len(segments)})",
        mode="lines",
        line={"color": color, "width": 1.5, "dash": "dot"},
        hoverinfo="skip",
        connectgaps=False,
    )


def price_figure(symbol: str, bars: Sequence[Bar], fills: Sequence[Fill], trades: Sequence[Trade]) -> Any:
    """One symbol's prices with its fills and trades (only fills and trades when `bars` is empty)."""
    go, _, _ = load_plotly()
    figure = go.Figure()
    if 0 < len(bars) <= CANDLE_LIMIT:
        figure.add_trace(
            go.Candlestick(
                x=[time_label(b.timestamp) for b in bars],
                open=[float(b.open) for b in bars],
                high=[float(b.high) for b in bars],
                low=[float(b.low) for b in bars],
                close=[float(b.close) for b in bars],
                name=symbol,
                increasing={"line": {"color": "#5b8c6e"}},
                decreasing={"line": {"color": "#a8625c"}},
            )
        )
    elif bars:
        x, y = _picked([b.timestamp for b in bars], [float(b.close) for b in bars])
        figure.add_trace(go.Scatter(x=x, y=y, name=f"{symbol} close", mode="lines", line={"color": "#44515e"}))
    last = (bars[-1].timestamp, float(bars[-1].close)) if bars else None
    closed = [
        (t, t.exit_time, float(t.exit_price)) for t in trades if t.exit_time is not None and t.exit_price is not None
    ]
    groups = (
        ("winning trades", BUY, [s for s in closed if s[0].pnl > 0]),
        ("losing trades", SELL, [s for s in closed if s[0].pnl <= 0]),
        ("open trades", BENCHMARK, [(t, *last) for t in trades if t.is_open] if last is not None else []),
    )
    for name, color, segments in groups:
        if segments:
            figure.add_trace(_trade_trace(go, segments, name, color))
    kinds = (
        (
            "buys",
            [f for f in fills if f.side is OrderSide.BUY and not f.ambiguous],
            {"symbol": "triangle-up", "color": BUY},
        ),
        (
            "sells",
            [f for f in fills if f.side is OrderSide.SELL and not f.ambiguous],
            {"symbol": "triangle-down", "color": SELL},
        ),
        ("ambiguous fills", [f for f in fills if f.ambiguous], {"symbol": "diamond", "color": AMBIGUOUS, "size": 12}),
    )
    for name, chosen, marker in kinds:
        if chosen:
            figure.add_trace(_fill_trace(go, chosen, name, marker))
    figure.update_layout(**_LAYOUT, height=420, xaxis_rangeslider_visible=False, hovermode="closest")
    figure.update_yaxes(title_text=f"{symbol} price")
    return figure


def _decimals(values: Sequence[float]) -> int:
    """Enough decimals for the largest of `values` to show two significant digits (1 to 4)."""
    largest = max((abs(v) for v in values), default=0.0)
    return 1 if largest == 0 else max(1, min(4, 1 - math.floor(math.log10(largest))))


def returns_figure(grid: PeriodReturns) -> Any:
    """The returns of each period as a heatmap (green gains, red losses), row totals in the labels."""
    go, _, _ = load_plotly()
    places = _decimals([v for row in grid.values for v in row if v is not None] + list(grid.totals))
    rows = [f"{row}  {total:+.{places}f} %" for row, total in zip(grid.rows, grid.totals, strict=True)]
    values = [list(row) for row in grid.values]
    text = [["" if v is None else f"{v:+.{places}f}" if v else "0" for v in row] for row in grid.values]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(grid.columns),
            y=rows,
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0,
            xgap=2,
            ygap=2,
            showscale=False,
            hovertemplate="%{y} · %{x}: %{z:.2f} %<extra></extra>",
        )
    )
    figure.update_layout(**{**_LAYOUT, "margin": {"l": 64, "r": 24, "t": 64, "b": 16}}, height=100 + 28 * len(rows))
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(side="top", type="category")
    return figure


def comparison_figure(
    runs: Sequence[tuple[str, Sequence[datetime], Sequence[float], float]], *, as_return: bool
) -> Any:
    """Several runs' equity (or return, when their capitals differ) above their drawdowns, overlaid.

    Args:
        runs: Per run, (label, tick times, equity, initial capital).
        as_return: Draw the total return so far (percent) instead of equity.
    """
    go, make_subplots, plotly_io = load_plotly()
    colors: list[str] = list(plotly_io.templates["plotly_white"].layout.colorway)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    for index, (label, times, equity, initial) in enumerate(runs):
        color = colors[index % len(colors)]
        values = [(e / initial - 1) * 100 for e in equity] if as_return and initial else list(equity)
        x, y = _picked(times, values)
        figure.add_trace(
            go.Scatter(x=x, y=y, name=label, legendgroup=label, mode="lines", line={"color": color, "width": 2}),
            row=1,
            col=1,
        )
        x, y = _picked(times, drawdown_pct(equity, initial))
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=label,
                legendgroup=label,
                showlegend=False,
                mode="lines",
                line={"color": color, "width": 1},
                hovertemplate="%{y:.2f} %",
            ),
            row=2,
            col=1,
        )
    figure.update_yaxes(
        title_text="return %" if as_return else "equity",
        ticksuffix=" %" if as_return else "",
        tickformat=",.1f" if as_return else ",.0f",
        row=1,
        col=1,
    )
    figure.update_yaxes(title_text="drawdown %", ticksuffix=" %", row=2, col=1)
    figure.update_layout(**_LAYOUT, height=560, hovermode="x unified")
    return figure
