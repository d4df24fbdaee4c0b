"""Reports as files: every part present, prices from the right catalog, long runs downsampled, fills all drawn."""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest

from simutrador import (
    Bar,
    DirectoryCatalog,
    OrderSide,
    SimulationResult,
    SimutradorError,
    StrategyContext,
    Tick,
    backtest,
)
from simutrador.codec import result_from_wire, result_to_wire
from simutrador.report import (
    CANDLE_LIMIT,
    DISPLAY_POINTS,
    figures,
    render_comparison,
    render_report,
    write_comparison,
    write_report,
)
from simutrador.report.definitions import METRICS
from simutrador.report.prices import prices_for
from simutrador.report.series import PeriodReturns


class Tables(HTMLParser):
    """Collects the metric cells (with their row's hover text) and the trade table's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.hover: dict[str, str] = {}
        self.metrics: dict[str, str] = {}
        self.trade_rows = 0
        self.ids: list[str] = []
        self._title = ""
        self._metric: str | None = None
        self._in_trades = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "span" and found.get("class") == "term":
            self._title = str(found.get("title"))
        if tag == "td" and found.get("data-metric"):
            self._metric = str(found["data-metric"])
            self.hover[self._metric] = self._title
        if tag == "table" and found.get("id") == "trade-table":
            self._in_trades = True
        if tag == "tr" and self._in_trades:
            self.trade_rows += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_trades = False
        if tag == "td":
            self._metric = None

    def handle_data(self, data: str) -> None:
        if self._metric:
            self.metrics[self._metric] = data


def parse(text: str) -> Tables:
    tables = Tables()
    tables.feed(text)
    return tables


def test_the_report_of_the_example_holds_every_part(example: SimulationResult, tmp_path: Path) -> None:
    path = example.report(tmp_path / "report.html")
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script src=" not in text  # self-contained: plotly.js is inline
    assert "<link" not in text
    body = text[text.index("<body>") :]  # plotly.js itself may mention newPlot
    assert body.count("Plotly.newPlot(") == 3  # equity+drawdown, AAPL's prices, monthly returns
    tables = parse(text)
    for chart in ("equity-chart", "price-chart-0", "returns-chart", "trade-table"):
        assert chart in tables.ids
    assert len(tables.ids) == len(set(tables.ids))  # no chart drawn into the wrong element
    assert set(tables.metrics) == set(METRICS)
    for name, info in METRICS.items():
        assert tables.hover[name] == info.definition
    assert tables.metrics["total_trades"] == str(example.metrics.total_trades)
    assert tables.metrics["max_drawdown_pct"] == f"{example.metrics.max_drawdown_pct:,.2f} %"
    assert tables.trade_rows == 1 + len(example.trades)  # the header row, then one per trade
    assert "SYNTHETIC data" in text
    assert "buy and hold AAPL" in text
    assert "Monthly returns" in text
    assert example.digest in text


def test_the_same_result_gives_the_same_bytes(example: SimulationResult) -> None:
    assert render_report(example) == render_report(example)


def test_the_report_of_a_result_file_is_the_report_of_the_run(short_run: SimulationResult) -> None:
    back = result_from_wire(json.loads(json.dumps(result_to_wire(short_run))))
    assert render_report(back) == render_report(short_run)


def test_a_title_is_escaped(short_run: SimulationResult) -> None:
    text = render_report(short_run, title="<mine> & yours")
    assert "<title>&lt;mine&gt; &amp; yours</title>" in text


def marker_points(figure: Any) -> dict[str, int]:
    return {t.name.split(" (")[0]: len(t.x) for t in figure.data if getattr(t, "mode", None) == "markers"}


def test_short_runs_get_candles_with_every_fill_and_ambiguous_ones_apart(short_run: SimulationResult) -> None:
    bars = prices_for(short_run).bars["AAPL"]
    assert len(bars) == 78 <= CANDLE_LIMIT
    figure = figures.price_figure("AAPL", bars, short_run.fills, short_run.trades)
    assert figure.data[0].type == "candlestick"
    assert len(figure.data[0].x) == 78
    ambiguous = [f for f in short_run.fills if f.ambiguous]
    assert ambiguous, "the bracket strategy should hit ambiguous bars"
    assert marker_points(figure) == {
        "buys": sum(f.side is OrderSide.BUY and not f.ambiguous for f in short_run.fills),
        "sells": sum(f.side is OrderSide.SELL and not f.ambiguous for f in short_run.fills),
        "ambiguous fills": len(ambiguous),
    }
    hover = next(t for t in figure.data if t.name.startswith("ambiguous")).text[0]
    assert "depends on the intrabar policy" in hover
    segments = {t.name.split(" (")[0]: t.x.count(None) for t in figure.data if "trades" in t.name}
    closed = [t for t in short_run.trades if not t.is_open]
    assert segments["winning trades"] + segments["losing trades"] == len(closed)
    assert segments.get("open trades", 0) == sum(t.is_open for t in short_run.trades)


def test_long_runs_are_downsampled_but_never_lose_a_fill(long_run: SimulationResult) -> None:
    assert long_run.ticks > DISPLAY_POINTS
    prices = prices_for(long_run)
    for symbol in ("AAPL", "MSFT"):
        bars = prices.bars[symbol]
        assert len(bars) > CANDLE_LIMIT
        fills = [f for f in long_run.fills if f.symbol == symbol]
        figure = figures.price_figure(symbol, bars, fills, [t for t in long_run.trades if t.symbol == symbol])
        line = figure.data[0]
        assert (line.type, line.mode) == ("scatter", "lines")
        assert len(line.x) <= DISPLAY_POINTS
        assert max(line.y) == max(float(b.close) for b in bars)
        assert sum(marker_points(figure).values()) == len(fills) > DISPLAY_POINTS
    text = render_report(long_run)
    assert "5,850 ticks, drawn with at most 4,000 points" in text
    assert "Fills and trades are never left out" in text
    assert "the 14 spans without bars (nights, weekends, holidays) are left out" in text
    assert text.count('"rangebreaks":[{"bounds":') == 4  # equity's two axes and both price charts
    assert "Daily returns" in text


def test_equity_with_buy_and_hold_and_drawdown(long_run: SimulationResult) -> None:
    prices = prices_for(long_run)
    from simutrador.report.series import buy_and_hold

    benchmark = buy_and_hold(long_run.times, prices.bars, 100_000.0)
    figure = figures.equity_figure(long_run.times, long_run.equity, 100_000.0, benchmark, "AAPL, MSFT")
    names = [t.name for t in figure.data]
    assert names == ["strategy", "buy and hold AAPL, MSFT", "drawdown"]
    assert all(len(t.x) <= DISPLAY_POINTS for t in figure.data)
    assert figure.data[2].fill == "tozeroy"
    assert figure.data[2].yaxis == "y2"
    assert min(figure.data[2].y) == pytest.approx(-long_run.metrics.max_drawdown_pct)


def test_heatmap_cells_show_enough_decimals() -> None:
    grid = PeriodReturns(period="day", rows=("w1",), columns=("Mon", "Tue"), values=((0.0123, None),), totals=(0.0123,))
    heatmap = figures.returns_figure(grid).data[0]
    assert [list(row) for row in heatmap.text] == [["+0.012", ""]]
    assert heatmap.y == ("w1  +0.012 %",)
    flat = PeriodReturns(period="month", rows=("2024",), columns=("Jan",), values=((0.0,),), totals=(0.0,))
    assert [list(row) for row in figures.returns_figure(flat).data[0].text] == [["0"]]


# -- prices: from the run's catalog ------------------------------------------------------


def write_folder(folder: Path, days: int = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    first = date(2024, 1, 1)
    with (folder / "KO.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("date", "open", "high", "low", "close", "volume"))
        for i in range(days):
            price = 50 + (i % 10)
            writer.writerow(((first + timedelta(days=i)).isoformat(), price, price + 1, price - 1, price + 0.5, 1000))
    return folder


def in_and_out(ctx: StrategyContext, tick: Tick) -> None:
    if tick.sequence_id in (5, 30):
        ctx.buy("KO", 10)
    elif tick.sequence_id == 20:
        ctx.sell("KO", 10)


@pytest.fixture
def folder_run(tmp_path: Path) -> tuple[SimulationResult, DirectoryCatalog]:
    catalog = DirectoryCatalog(write_folder(tmp_path / "data"))
    result = backtest(
        in_and_out, symbols="KO", start="2024-01-01", end="2024-02-29", initial_capital=10_000, catalog=catalog
    )
    return result, catalog


def test_a_run_on_your_own_data_reports_its_prices_from_that_catalog(folder_run: Any, tmp_path: Path) -> None:
    result, catalog = folder_run
    assert (result.symbols, result.catalog_name, result.data_fingerprint) == (("KO",), "directory", catalog.fingerprint)
    prices = prices_for(result, catalog)
    assert (len(prices.bars["KO"]), prices.notes, prices.synthetic) == (60, (), False)
    assert prices.source == "directory catalog"
    text = write_report(result, tmp_path / "ko.html", catalog=catalog).read_text()
    assert '"type":"candlestick"' in text
    assert "SYNTHETIC" not in text
    assert "open trades (1)" in text  # bought again at tick 30, still held


def test_without_its_catalog_a_report_says_what_is_missing(folder_run: Any) -> None:
    result, _ = folder_run
    prices = prices_for(result)
    assert prices.bars == {}
    [note] = prices.notes
    assert "the run read the directory catalog" in note
    assert "--data-dir" in note
    text = render_report(result)
    assert html.escape(note) in text
    assert "No prices: fills and trades only." in text
    assert "buy and hold" not in text
    unrecorded = attrs.evolve(result, catalog_name="", symbols=())
    assert "a catalog it did not record" in prices_for(unrecorded).notes[0]
    assert "KO: prices, fills and trades" in render_report(unrecorded)  # symbols taken from the fills


def test_a_catalog_with_other_data_draws_under_a_warning(folder_run: Any, tmp_path: Path) -> None:
    result, _ = folder_run
    changed = DirectoryCatalog(write_folder(tmp_path / "changed", days=59))
    prices = prices_for(result, changed)
    assert len(prices.bars["KO"]) == 59
    [warning] = prices.notes
    assert "differ from those the run read" in warning


def test_bars_can_be_given_and_missing_symbols_are_named(folder_run: Any) -> None:
    result, catalog = folder_run
    given = {"KO": catalog.bars("KO", result.started_at, result.ended_at, "daily")}
    prices = prices_for(result, bars=given)
    assert prices.bars == given
    assert "bars given" in prices.source
    other = attrs.evolve(result, symbols=("KO", "PEP"))
    assert prices_for(other, catalog).notes == ("No prices for PEP: the directory catalog does not have it.",)


def test_a_catalog_that_refuses_is_reported_not_raised(folder_run: Any) -> None:
    result, catalog = folder_run

    class Refusing:
        name = "refusing"
        fingerprint = catalog.fingerprint

        def symbol_info(self, symbol: str) -> Any:
            return catalog.symbol_info(symbol)

        def bars(self, *args: object) -> list[Bar]:
            from simutrador import ErrorCode

            raise SimutradorError(ErrorCode.INVALID_DATE_RANGE, "no such range")

    prices = prices_for(result, Refusing())  # type: ignore[arg-type]
    assert prices.bars == {"KO": ()}
    assert prices.notes == ("No prices for KO: no such range",)


# -- comparisons ---------------------------------------------------------------------------


def test_a_comparison_overlays_runs_and_sets_metrics_side_by_side(
    example: SimulationResult, short_run: SimulationResult, tmp_path: Path
) -> None:
    path = write_comparison([example, short_run], tmp_path / "sweep.html", labels=["daily SMA", "5-min brackets"])
    text = path.read_text()
    assert text[text.index("<body>") :].count("Plotly.newPlot(") == 1
    assert "daily SMA" in text
    assert "5-min brackets" in text
    for info in METRICS.values():
        assert f'title="{html.escape(info.definition)}"' in text
    assert 'class="num best"' in text
    capitals = attrs.evolve(short_run, initial_capital=short_run.initial_capital * 2)
    assert "different capitals" in render_comparison([example, capitals])
    assert "return %" in render_comparison([example, capitals])
    assert "1: " + example.session_id[:8] in render_comparison([example])


def test_intraday_comparisons_leave_out_nights(long_run: SimulationResult, short_run: SimulationResult) -> None:
    text = render_comparison([long_run, short_run], title="minutes")
    assert "spans without bars in any run are left out" in text
    assert "<title>minutes</title>" in text


def test_a_comparison_needs_results_and_one_label_each(example: SimulationResult) -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_comparison([])
    with pytest.raises(ValueError, match="2 labels for 1 results"):
        render_comparison([example], labels=["a", "b"])


# -- plotly is optional ----------------------------------------------------------------------


def test_without_plotly_rendering_says_how_to_install_it(
    example: SimulationResult, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'simutrador[report]'")):
        example.report(tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_importing_the_report_module_does_not_import_plotly() -> None:
    code = "import sys, simutrador, simutrador.report; print('plotly' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"


def test_a_result_without_ticks_still_renders(short_run: SimulationResult) -> None:
    empty = attrs.evolve(short_run, times=(), equity=())
    text = render_report(empty)
    assert "returns-chart" not in text
    assert "equity-chart" in text


def test_times_are_drawn_in_utc(short_run: SimulationResult) -> None:
    figure = figures.price_figure("AAPL", (), short_run.fills[:1], ())
    assert figure.data[0].x == (short_run.fills[0].time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),)
    assert isinstance(short_run.fills[0].time, datetime)
