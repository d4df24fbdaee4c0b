"""The page around the charts: the template, its style and script, and the tables.

Everything a report needs is inline (plotly.js, the style, a few lines of script to
sort tables), so the file opens offline in any browser. Output is deterministic: the
same result gives the same bytes (figures get fixed ids, nothing records the time).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Final

import attrs

from simutrador.report.definitions import METRICS, NOTATION, Better, MetricFormat, format_duration, format_value
from simutrador.report.series import time_label
from simutrador.simulation.orders import OrderSide
from simutrador.simulation.results import SimulationResult, Trade

__all__ = [
    "Card",
    "cards",
    "comparison_table",
    "metrics_table",
    "page",
    "render_cards",
    "run_table",
    "section",
    "trade_table",
]

STYLE: Final = """
:root { --ink: #1d2630; --muted: #5d6b79; --line: #e3e8ee; --panel: #ffffff; --back: #f5f7fa;
        --gain: #1e7a3c; --loss: #b3261e; --accent: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--back); color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 40px; }
header h1 { font-size: 22px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #fff4d6; color: #7a5200;
         font-size: 12px; font-weight: 600; margin-left: 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 16px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.gain { color: var(--gain); } .loss { color: var(--loss); }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
          margin: 14px 0; }
section h2 { font-size: 16px; margin: 0 0 8px; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
.warning { color: #7a5200; background: #fff4d6; border-radius: 6px; padding: 6px 10px; }
.columns { display: grid; grid-template-columns: 3fr 2fr; gap: 14px; }
.columns > section { margin: 0; }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
td.num, th.num { text-align: right; }
tbody tr:hover { background: #f0f4fa; }
.term { border-bottom: 1px dotted var(--muted); cursor: help; }
.scroll { max-height: 560px; overflow: auto; }
table.sortable th { cursor: pointer; user-select: none; position: sticky; top: 0; background: var(--panel); }
table.sortable th::after { content: " \\2195"; color: #b7c0ca; }
table.sortable th[aria-sort="ascending"]::after { content: " \\2191"; color: var(--ink); }
table.sortable th[aria-sort="descending"]::after { content: " \\2193"; color: var(--ink); }
td.best { font-weight: 700; color: var(--accent); }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
"""

SCRIPT: Final = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var numeric = th.dataset.type === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort, order;
        if (numeric) {
          x = x === "" ? -Infinity : parseFloat(x);
          y = y === "" ? -Infinity : parseFloat(y);
          order = x < y ? -1 : x > y ? 1 : 0;
        } else {
          order = x.localeCompare(y);
        }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

_TEMPLATE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{generator}">
<title>{title}</title>
<style>{style}</style>
<script>{plotly_js}</script>
</head>
<body>
<main>
{body}
<footer>{footer}</footer>
</main>
<script>{script}</script>
</body>
</html>
"""


def page(*, title: str, body: str, plotly_js: str, generator: str, footer: str) -> str:
    """The whole HTML document: `body` (already HTML) with plotly.js, the style and the table script inline."""
    return _TEMPLATE.format(
        title=html.escape(title),
        generator=html.escape(generator),
        style=STYLE,
        plotly_js=plotly_js,
        body=body,
        footer=footer,
        script=SCRIPT,
    )


def section(section_id: str, heading: str, content: str, notes: Sequence[str] = ()) -> str:
    """A titled panel around `content` (HTML), with `notes` (plain text) under it."""
    paragraphs = "".join(f'<p class="note">{html.escape(note)}</p>' for note in notes)
    return f'<section id="{section_id}"><h2>{html.escape(heading)}</h2>{content}{paragraphs}</section>'


@attrs.frozen(slots=True)
class Card:
    """One headline figure.

    Attributes:
        label: What it is.
        value: Its text.
        tone: ``"gain"``, ``"loss"`` or ``""`` (colors the value).
        hint: Hover text.
    """

    label: str
    value: str
    tone: str = ""
    hint: str = ""


def _tone(value: float | None, better: Better = Better.HIGHER) -> str:
    if value is None or value == 0 or better is Better.NEITHER:
        return ""
    return "gain" if (value > 0) == (better is Better.HIGHER) else "loss"


def cards(result: SimulationResult, benchmark_return: float | None) -> list[Card]:
    """The headline figures of `result` (and buy-and-hold's return, when known)."""
    m = result.metrics
    shown: list[Card] = []
    for name in ("total_return_pct", "cagr_pct", "max_drawdown_pct", "sharpe_ratio", "win_rate_pct"):
        info = METRICS[name]
        value: float | None = getattr(m, name)
        tone = "loss" if name == "max_drawdown_pct" and value else _tone(value)
        shown.append(Card(info.label, format_value(value, info.format), tone, info.definition))
    shown.insert(4, Card("Trades", f"{m.total_trades:,}", "", METRICS["total_trades"].definition))
    if benchmark_return is not None:
        shown.insert(
            1,
            Card(
                "Buy and hold",
                format_value(benchmark_return, MetricFormat.PERCENT),
                _tone(benchmark_return),
                "Total return of holding the same symbols from the first tick (equal parts, no costs)",
            ),
        )
    return shown


def render_cards(shown: Sequence[Card]) -> str:
    """The headline figures as a row of cards."""
    items = "".join(
        f'<div class="card" title="{html.escape(c.hint)}"><div class="label">{html.escape(c.label)}</div>'
        f'<div class="value {c.tone}">{html.escape(c.value)}</div></div>'
        for c in shown
    )
    return f'<div class="cards">{items}</div>'


def _term(label: str, definition: str) -> str:
    return f'<span class="term" title="{html.escape(definition)}">{html.escape(label)}</span>'


def metrics_table(result: SimulationResult) -> str:
    """Every metric of `result`, each with its definition on hover."""
    rows = "".join(
        f'<tr><th scope="row">{_term(info.label, info.definition)}</th>'
        f'<td class="num" data-metric="{name}">{html.escape(format_value(getattr(result.metrics, name), info.format))}'
        "</td></tr>"
        for name, info in METRICS.items()
    )
    return f'<table class="metrics"><tbody>{rows}</tbody></table><p class="note">{html.escape(NOTATION)}</p>'


def run_table(result: SimulationResult, catalog_label: str) -> str:
    """What was run: symbols, range, capital, data, and the digest."""
    ambiguous = sum(f.ambiguous for f in result.fills)
    rows = (
        ("Symbols", ", ".join(result.symbols) or "-"),
        ("Timeframe", result.timeframe),
        ("From", time_label(result.started_at)),
        ("To", time_label(result.ended_at)),
        ("Ticks", f"{result.ticks:,}"),
        ("Initial capital", format_value(result.initial_capital, MetricFormat.MONEY)),
        ("Final equity", format_value(result.final_equity, MetricFormat.MONEY)),
        ("Cash", format_value(result.cash, MetricFormat.MONEY)),
        ("Orders", f"{len(result.orders):,}"),
        ("Fills (ambiguous)", f"{len(result.fills):,} ({ambiguous:,})"),
        ("Open positions", ", ".join(f"{s} {p.quantity}" for s, p in sorted(result.positions.items())) or "none"),
        ("Data", catalog_label),
        ("Session", result.session_id),
        ("Digest", result.digest),
    )
    body = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td class="num">{html.escape(v)}</td></tr>' for k, v in rows
    )
    return f'<table class="run"><tbody>{body}</tbody></table>'


def _cell(text: str, sort: object, *, number: bool = True, tone: str = "") -> str:
    classes = " ".join(c for c in ("num" if number else "", tone) if c)
    attribute = f' class="{classes}"' if classes else ""
    return f'<td{attribute} data-sort="{html.escape(str(sort))}">{html.escape(text)}</td>'


def _trade_row(index: int, trade: Trade) -> str:
    tone = "" if trade.is_open else _tone(float(trade.pnl))
    exit_time = time_label(trade.exit_time) if trade.exit_time is not None else ""
    exit_price = trade.exit_price if trade.exit_price is not None else ""
    duration = trade.duration
    cells = (
        _cell(str(index), index),
        _cell(trade.symbol, trade.symbol, number=False),
        _cell("long" if trade.side is OrderSide.BUY else "short", trade.side.value, number=False),
        _cell(f"{trade.quantity:,}", trade.quantity),
        _cell(time_label(trade.entry_time), time_label(trade.entry_time), number=False),
        _cell(str(trade.entry_price), trade.entry_price),
        _cell(exit_time or "open", exit_time, number=False),
        _cell(str(exit_price) or "-", exit_price),
        _cell(
            format_duration(duration) if duration is not None else "-",
            duration.total_seconds() if duration is not None else "",
        ),
        _cell(format_value(trade.pnl, MetricFormat.MONEY), trade.pnl, tone=tone),
        _cell(format_value(trade.return_pct, MetricFormat.PERCENT), trade.return_pct, tone=tone),
        _cell(format_value(trade.commission, MetricFormat.MONEY), trade.commission),
    )
    return f"<tr>{''.join(cells)}</tr>"


_TRADE_COLUMNS: Final = (
    ("#", "number"),
    ("Symbol", "text"),
    ("Side", "text"),
    ("Quantity", "number"),
    ("Entry", "text"),
    ("Entry price", "number"),
    ("Exit", "text"),
    ("Exit price", "number"),
    ("Duration", "number"),
    ("P&L", "number"),
    ("Return", "number"),
    ("Commission", "number"),
)


def trade_table(trades: Sequence[Trade]) -> str:
    """Every trade, in a table sorted by any column on a click of its header."""
    head = "".join(
        f'<th data-type="{kind}" class="{"num" if kind == "number" else "text"}">{html.escape(name)}</th>'
        for name, kind in _TRADE_COLUMNS
    )
    body = "".join(_trade_row(index, trade) for index, trade in enumerate(trades, start=1))
    return (
        f'<div class="scroll"><table class="sortable" id="trade-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _number(value: object) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _best(values: Sequence[object], better: Better) -> set[int]:
    numbers = [_number(v) for v in values]
    known = {n for n in numbers if n is not None}
    if better is Better.NEITHER or len(known) < 2:
        return set()
    target = max(known) if better is Better.HIGHER else min(known)
    return {i for i, n in enumerate(numbers) if n == target}


def comparison_table(results: Sequence[SimulationResult], labels: Sequence[str]) -> str:
    """Every metric of several runs side by side, the best of each row in bold."""
    head = "".join(f'<th class="num">{html.escape(label)}</th>' for label in labels)
    rows: list[str] = []
    for name, info in METRICS.items():
        values = [getattr(r.metrics, name) for r in results]
        best = _best(values, info.better)
        cells = "".join(
            f'<td class="num{" best" if i in best else ""}">{html.escape(format_value(v, info.format))}</td>'
            for i, v in enumerate(values)
        )
        rows.append(f'<tr><th scope="row">{_term(info.label, info.definition)}</th>{cells}</tr>')
    extra = (
        ("Symbols", [", ".join(r.symbols) or "-" for r in results]),
        ("Timeframe", [r.timeframe for r in results]),
        ("Range", [f"{time_label(r.started_at)[:10]} to {time_label(r.ended_at)[:10]}" for r in results]),
        ("Fills (ambiguous)", [f"{len(r.fills):,} ({sum(f.ambiguous for f in r.fills):,})" for r in results]),
        ("Digest", [r.digest[:16] for r in results]),
    )
    for label, texts in extra:
        cells = "".join(f'<td class="num">{html.escape(t)}</td>' for t in texts)
        rows.append(f'<tr><th scope="row">{html.escape(label)}</th>{cells}</tr>')
    return (
        f'<div class="scroll"><table class="comparison"><thead><tr><th></th>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div><p class="note">{html.escape(NOTATION)}</p>'
    )
