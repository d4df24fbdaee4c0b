"""A run's report and a comparison of runs, as one self-contained HTML document each."""

from __future__ import annotations

import html
import importlib
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from simutrador.data.catalog import Bar, Catalog
from simutrador.data.timeframes import TIMEFRAMES
from simutrador.report import figures, layout
from simutrador.report.definitions import MetricFormat, format_value
from simutrador.report.prices import Prices, prices_for, report_symbols
from simutrador.report.series import (
    DISPLAY_POINTS,
    DOWNSAMPLING,
    bucket_count,
    buy_and_hold,
    period_returns,
    session_gaps,
    time_label,
)
from simutrador.simulation.results import SimulationResult

__all__ = ["render_comparison", "render_report", "write_comparison", "write_report"]

_CONFIG: Final = {"responsive": True, "displaylogo": False}
_PERIODS: Final = {"month": "Monthly returns", "day": "Daily returns", "hour": "Hourly returns"}


def _version() -> str:
    from simutrador import __version__  # noqa: PLC0415 - the package imports this module's callers lazily

    return __version__


def _figure_html(figure: Any, div_id: str) -> str:
    _, _, plotly_io = figures.load_plotly()
    return plotly_io.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config=_CONFIG,
        default_height=f"{figure.layout.height}px",
    )


def _document(title: str, body: str) -> str:
    figures.load_plotly()
    plotly = importlib.import_module("plotly")
    offline = importlib.import_module("plotly.offline")
    generator = f"SimuTrador {_version()}, plotly {plotly.__version__}"
    footer = f"Made by {generator}. Times in UTC. Self-contained: opens offline; drag to zoom, double-click to reset."
    return layout.page(title=title, body=body, plotly_js=offline.get_plotlyjs(), generator=generator, footer=footer)


def _downsampling_note(length: int, what: str) -> str:
    buckets = bucket_count(length)
    if not buckets:
        return f"Every one of the {length:,} {what} is drawn."
    return (
        f"{length:,} {what}, drawn with at most {DISPLAY_POINTS:,} points: "
        + DOWNSAMPLING.format(buckets=buckets)
        + ". Fills and trades are never left out."
    )


def _gaps(times: Sequence[datetime], timeframes: Sequence[str]) -> list[tuple[datetime, datetime]]:
    """The gaps to hide on intraday charts (none when a run is daily or coarser)."""
    known = [TIMEFRAMES.get(name) for name in timeframes]
    if not known or any(tf is None or not tf.intraday for tf in known):
        return []
    return session_gaps(times, min(tf.duration for tf in known if tf is not None))


def _default_title(result: SimulationResult) -> str:
    symbols = ", ".join(report_symbols(result)) or "a run"
    return (
        f"{symbols} · {result.timeframe} · {time_label(result.started_at)[:10]} to {time_label(result.ended_at)[:10]}"
    )


def _header(title: str, subtitle: str, synthetic: bool) -> str:
    badge = '<span class="badge">SYNTHETIC data</span>' if synthetic else ""
    return f"<header><h1>{html.escape(title)}{badge}</h1><p>{html.escape(subtitle)}</p></header>"


def _price_sections(result: SimulationResult, prices: Prices, gaps: Sequence[tuple[datetime, datetime]]) -> list[str]:
    sections: list[str] = []
    for index, symbol in enumerate(report_symbols(result)):
        bars: Sequence[Bar] = prices.bars.get(symbol, ())
        fills = [f for f in result.fills if f.symbol == symbol]
        trades = [t for t in result.trades if t.symbol == symbol]
        figure = figures.price_figure(symbol, bars, fills, trades)
        figures.hide_gaps(figure, gaps)
        if not bars:
            shape = "No prices: fills and trades only."
        elif len(bars) <= figures.CANDLE_LIMIT:
            shape = f"Candles: every one of the {len(bars):,} bars."
        else:
            shape = "A line of closes. " + _downsampling_note(len(bars), "bars")
        notes = [
            shape,
            "Markers: every fill (buys up, sells down, ambiguous fills as diamonds; hover for details). "
            "Dotted lines join each trade's entry to its exit (green won, red lost, grey still open).",
        ]
        chart = _figure_html(figure, f"price-chart-{index}")
        sections.append(layout.section(f"prices-{index}", f"{symbol}: prices, fills and trades", chart, notes))
    return sections


def render_report(
    result: SimulationResult,
    *,
    catalog: Catalog | None = None,
    bars: Mapping[str, Sequence[Bar]] | None = None,
    title: str | None = None,
) -> str:
    """The HTML report of `result` (see `write_report`)."""
    prices = prices_for(result, catalog, bars)
    initial = float(result.initial_capital)
    benchmark = buy_and_hold(result.times, prices.bars, initial) if prices.bars else None
    benchmark_return = (benchmark[-1] / initial - 1) * 100 if benchmark and initial else None
    title = title or _default_title(result)
    subtitle = (
        f"{result.ticks:,} {result.timeframe} ticks from {time_label(result.started_at)} to "
        f"{time_label(result.ended_at)} · capital {format_value(result.initial_capital, MetricFormat.MONEY)}"
        f" · data: {prices.source} · digest {result.digest[:16]}"
    )
    parts = [_header(title, subtitle, prices.synthetic), layout.render_cards(layout.cards(result, benchmark_return))]
    parts += [f'<p class="note warning">{html.escape(note)}</p>' for note in prices.notes]
    label = ", ".join(s for s, b in prices.bars.items() if b)
    equity_notes = [_downsampling_note(len(result.equity), "ticks")]
    if benchmark is not None:
        equity_notes.append(
            f"Buy and hold: the initial capital split equally across {label}, each bought at its first close "
            "and held (fractional units, no costs). Drawdown: the fall from the highest equity so far, in percent."
        )
    gaps = _gaps(result.times, [result.timeframe])
    if gaps:
        equity_notes.append(
            f"Intraday: the {len(gaps):,} spans without bars (nights, weekends, holidays) are left out."
        )
    equity = figures.equity_figure(result.times, result.equity, initial, benchmark, label)
    figures.hide_gaps(equity, gaps)
    parts.append(layout.section("equity", "Equity and drawdown", _figure_html(equity, "equity-chart"), equity_notes))
    parts += _price_sections(result, prices, gaps)
    grid = period_returns(result.times, result.equity, initial)
    if grid is not None:
        parts.append(
            layout.section(
                "returns",
                _PERIODS[grid.period],
                _figure_html(figures.returns_figure(grid), "returns-chart"),
                [
                    f"Each cell: the {grid.period}'s last equity over the previous {grid.period}'s (the initial "
                    "capital for the first), minus 1; row labels carry the compounded total. Times in UTC."
                ],
            )
        )
    parts.append(
        '<div class="columns">'
        + layout.section("metrics", "Metrics (hover a name for its definition)", layout.metrics_table(result))
        + layout.section("run", "Run", layout.run_table(result, prices.source))
        + "</div>"
    )
    parts.append(
        layout.section(
            "trades",
            f"Trades ({len(result.trades):,})",
            layout.trade_table(result.trades),
            ["Click a column's header to sort by it, again to reverse."],
        )
    )
    return _document(title, "\n".join(parts))


def _write(text: str, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.write_text(text, encoding="utf-8")
    return target


def write_report(
    result: SimulationResult,
    path: str | os.PathLike[str],
    *,
    catalog: Catalog | None = None,
    bars: Mapping[str, Sequence[Bar]] | None = None,
    title: str | None = None,
) -> Path:
    """Write the HTML report of `result` to `path`; returns the path written.

    The report: headline figures; equity with buy-and-hold of the same symbols and the
    drawdown below it; per symbol, its prices (candles up to `figures.CANDLE_LIMIT`
    bars, a line of closes beyond) with every fill and trade; returns per month (or
    day, or hour) as a heatmap; every metric with its definition on hover; the run's
    facts; the sortable trade list. One file, plotly.js inline: it opens offline.

    Args:
        result: The run.
        path: The file to write (its folder must exist).
        catalog: Where to read the prices (by default the sample catalog, when the run
            used it).
        bars: The prices by symbol, instead of a catalog.
        title: The page's title (default: symbols, timeframe and range).

    Raises:
        ImportError: plotly is not installed (``pip install 'simutrador[report]'``).
    """
    return _write(render_report(result, catalog=catalog, bars=bars, title=title), path)


def _labels(results: Sequence[SimulationResult], labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [f"{index}: {r.session_id[:8]}" for index, r in enumerate(results, start=1)]
    if len(labels) != len(results):
        raise ValueError(f"{len(labels)} labels for {len(results)} results")
    return list(labels)


def render_comparison(
    results: Sequence[SimulationResult], *, labels: Sequence[str] | None = None, title: str | None = None
) -> str:
    """The HTML comparison of `results` (see `write_comparison`)."""
    if not results:
        raise ValueError("a comparison needs at least one result")
    names = _labels(results, labels)
    capitals = {r.initial_capital for r in results}
    as_return = len(capitals) > 1
    runs = [(n, r.times, r.equity, float(r.initial_capital)) for n, r in zip(names, results, strict=True)]
    title = title or f"Comparison of {len(results)} runs"
    longest = max(len(r.equity) for r in results)
    notes = [_downsampling_note(longest, "ticks in the longest run")]
    if as_return:
        notes.append("The runs start with different capitals: the top chart shows each one's return so far.")
    subtitle = ", ".join(
        f"{n}: {', '.join(r.symbols) or '-'} {r.timeframe}" for n, r in zip(names, results, strict=True)
    )
    gaps = _gaps(sorted({t for r in results for t in r.times}), [r.timeframe for r in results])
    if gaps:
        notes.append(f"Intraday: the {len(gaps):,} spans without bars in any run are left out.")
    chart = figures.comparison_figure(runs, as_return=as_return)
    figures.hide_gaps(chart, gaps)
    parts = [
        _header(title, subtitle, any(r.catalog_name == "sample" for r in results)),
        layout.section("equity", "Equity and drawdown, overlaid", _figure_html(chart, "comparison-chart"), notes),
        layout.section(
            "metrics",
            "Metrics side by side (best of each row in bold; hover a name for its definition)",
            layout.comparison_table(results, names),
        ),
    ]
    return _document(title, "\n".join(parts))


def write_comparison(
    results: Sequence[SimulationResult],
    path: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Write an HTML comparison of several runs (a sweep's, say) to `path`; returns the path written.

    Their equity curves overlaid (their returns when their initial capitals differ)
    above their drawdowns, and every metric side by side with the best of each row in
    bold.

    Args:
        results: The runs, in the order to show them.
        path: The file to write.
        labels: A name per run (default: its position and session id).
        title: The page's title.

    Raises:
        ValueError: no result, or not one label per result.
        ImportError: plotly is not installed (``pip install 'simutrador[report]'``).
    """
    return _write(render_comparison(results, labels=labels, title=title), path)
