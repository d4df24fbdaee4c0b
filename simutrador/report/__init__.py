"""Reports: a picture of every run, as one self-contained HTML file (the ``report`` extra: plotly).

``result.report("run.html")`` (`SimulationResult.report`) or `write_report` writes a
run's report; `write_comparison` overlays several runs (a sweep's, say). Each file
holds plotly.js and opens offline in any browser.

A report shows: the headline figures; equity with buy-and-hold of the same symbols,
and the drawdown below it; per symbol, its prices (candles for short runs, a line of
closes for long ones) with every fill marked (buys, sells and ambiguous fills apart)
and every trade joined from entry to exit; the returns per month (per day or hour for
short runs) as a heatmap; every metric, its definition on hover; the sortable list of
trades.

Long runs stay responsive: a line of more than `DISPLAY_POINTS` points is drawn through
`simutrador.report.series.bucket_indices` (each bucket of consecutive ticks keeps its
first, lowest, highest and last point, so peaks, troughs and drawdowns are exact);
fills and trades are never left out.

Prices are not part of a result: a report reads them from the catalog the run used
(the sample catalog by default when the run used it; see `simutrador.report.prices`)
or takes them as ``bars=``.

Importing this module does not import plotly; rendering does, and raises ImportError
with the command that installs it when it is missing.
"""

from __future__ import annotations

from simutrador.report.figures import CANDLE_LIMIT as CANDLE_LIMIT
from simutrador.report.render import render_comparison as render_comparison
from simutrador.report.render import render_report as render_report
from simutrador.report.render import write_comparison as write_comparison
from simutrador.report.render import write_report as write_report
from simutrador.report.series import DISPLAY_POINTS as DISPLAY_POINTS

__all__ = ["CANDLE_LIMIT", "DISPLAY_POINTS", "render_comparison", "render_report", "write_comparison", "write_report"]
