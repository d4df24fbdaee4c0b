"""Reports as a person sees them: loaded in a real headless Chromium, with no console error, charts drawn.

The browser is the system's Chromium (``scripts/test`` installs Debian's ``chromium``
when it runs as root with apt); where it cannot be installed these tests are skipped
and say why. Each browser run is capped (`browser.TIMEOUT`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simutrador import SimulationResult
from simutrador.report import write_comparison
from tests.report.browser import Page, distinct_colours, dump_dom, find_chromium, screenshot

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine: scripts/test installs Debian's chromium when it runs as root with apt; "
    "without one the browser tests cannot run",
)


@pytest.fixture
def browser() -> str:
    assert CHROMIUM is not None
    return CHROMIUM


def chart(page: Page, div_id: str) -> str:
    """The DOM of one chart: from its div to the end of its section."""
    start = page.dom.index(f'id="{div_id}"')
    return page.dom[start : page.dom.index("</section>", start)]


def drawn(part: str) -> bool:
    opening = part[: part.index(">")]
    return "js-plotly-plot" in opening and 'class="main-svg"' in part


def test_the_harness_sees_console_errors(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('seen'); notAFunction();</script></body></html>")
    console = dump_dom(browser, page).console
    assert any('"seen"' in line for line in console)
    assert any("Uncaught ReferenceError" in line for line in console)


CLICKS = """<script>
var header = Array.prototype.find.call(document.querySelectorAll("#trade-table th"), function (th) {
  return th.textContent === "P&L";
});
header.click(); header.click();  // ascending, then descending
var column = header.cellIndex;
document.body.dataset.sorted = Array.prototype.map.call(
  document.querySelectorAll("#trade-table tbody tr"), function (row) { return row.cells[column].dataset.sort; }
).join(" ");
document.body.dataset.order = header.getAttribute("aria-sort");
</script></body>"""


def test_the_example_report_loads_clean_draws_every_chart_and_sorts_trades(
    browser: str, example: SimulationResult, tmp_path: Path
) -> None:
    report = example.report(tmp_path / "report.html")
    report.write_text(report.read_text().replace("</body>", CLICKS))  # a person clicking P&L twice
    page = dump_dom(browser, report)
    assert page.console == []
    for div_id in ("equity-chart", "price-chart-0", "returns-chart"):
        assert drawn(chart(page, div_id)), div_id
    equity = chart(page, "equity-chart")
    assert equity.count('class="js-line"') >= 3  # strategy, buy and hold, drawdown
    assert chart(page, "price-chart-0").count('class="point"') == len(example.fills)  # every fill, drawn
    assert chart(page, "returns-chart").count('class="heatmap-label"') == 6 * 12  # six years of months
    rows = re.findall(r"<tr><td", page.dom[page.dom.index('id="trade-table"') :])
    assert len(rows) == len(example.trades)
    order = re.search(r'data-order="([a-z]+)"', page.dom)
    values = re.search(r'data-sorted="([^"]*)"', page.dom)
    assert order is not None
    assert values is not None
    assert order.group(1) == "descending"
    pnls = [float(v) for v in values.group(1).split()]
    assert pnls == sorted((float(t.pnl) for t in example.trades), reverse=True)


def test_candles_and_ambiguous_fills_are_drawn(browser: str, short_run: SimulationResult, tmp_path: Path) -> None:
    page = dump_dom(browser, short_run.report(tmp_path / "short.html"))
    assert page.console == []
    prices = chart(page, "price-chart-0")
    assert len(re.findall(r'<path[^>]*class="box"', prices)) == short_run.ticks  # one candle per bar
    assert prices.count('class="point"') == len(short_run.fills)
    assert "ambiguous fills (" in prices


def test_a_screenshot_of_the_report_is_not_blank(browser: str, example: SimulationResult, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    page = screenshot(browser, example.report(tmp_path / "report.html"), png, width=1200, height=1600)
    assert page.console == []
    colours = distinct_colours(png.read_bytes())
    assert colours > 200, f"{colours} colours: a blank or half-drawn page"
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    screenshot(browser, blank, tmp_path / "blank.png", width=400, height=300)
    assert distinct_colours((tmp_path / "blank.png").read_bytes()) <= 2


def test_a_comparison_loads_clean(
    browser: str, example: SimulationResult, short_run: SimulationResult, tmp_path: Path
) -> None:
    page = dump_dom(browser, write_comparison([example, short_run], tmp_path / "compare.html"))
    assert page.console == []
    assert drawn(chart(page, "comparison-chart"))
    assert chart(page, "comparison-chart").count('class="js-line"') >= 4  # two equity lines, two drawdowns
