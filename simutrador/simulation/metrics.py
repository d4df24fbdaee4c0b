"""Performance metrics of a run, with their formulas (DESIGN §4; docs/simulation.md shows them too).

Notation: ``E_0..E_n`` is the equity at each tick (``E_0`` the initial capital, before
the first tick), ``r_i = E_i / E_{i-1} - 1`` the per-tick returns, ``P`` the periods
per year of the session's timeframe (252 for daily bars of a stock, 252 x 6.5 x 60
for its 1-minute bars, 365 for daily crypto...).

* total_return_pct = ``(E_n / E_0 - 1) x 100``
* cagr_pct = ``((E_n / E_0) ^ (1 / years) - 1) x 100``, years = ``n / P`` (ticks
  simulated over periods per year)
* max_drawdown_pct = ``max_i (peak_i - E_i) / peak_i x 100`` with ``peak_i = max_{j<=i} E_j``;
  max_drawdown_duration = the longest time from a peak to the tick equity first gets
  back to it (or to the end)
* volatility_pct = ``stdev(r) x sqrt(P) x 100`` (sample standard deviation)
* sharpe_ratio = ``mean(r) / stdev(r) x sqrt(P)`` (risk-free rate 0)
* sortino_ratio = ``mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(P)``
* calmar_ratio = ``cagr_pct / max_drawdown_pct``
* trades: closed round trips; win_rate_pct = winners / trades x 100; profit_factor =
  ``sum(winning P&L) / |sum(losing P&L)|``; avg/best/worst_trade_pct over trades' returns
  (P&L after commissions over the entry value)
* exposure_pct = ticks with an open position / ticks x 100
* total_commission = sum of fill commissions; turnover = ``sum |quantity x price|``

A ratio whose denominator is 0 is None (no trades, no losing trade, no volatility).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

__all__ = ["Metrics", "compute_metrics"]


@attrs.frozen(kw_only=True, slots=True)
class Metrics:
    """The performance of one run (formulas in this module's docstring).

    Attributes:
        final_equity: Equity after the last tick (exact).
        total_return_pct: Total return, percent.
        cagr_pct: Compound annual growth rate, percent.
        max_drawdown_pct: Largest peak-to-trough fall of equity, percent.
        max_drawdown_duration: Longest time spent below a previous peak.
        sharpe_ratio: Annualized Sharpe ratio (risk-free 0).
        sortino_ratio: Annualized Sortino ratio.
        calmar_ratio: CAGR over maximum drawdown.
        volatility_pct: Annualized volatility of per-tick returns, percent.
        total_trades: Closed round trips.
        winning_trades: Closed round trips with a positive P&L after commissions.
        win_rate_pct: Winning over total trades, percent.
        profit_factor: Gross profit over gross loss.
        avg_trade_pct: Mean trade return, percent.
        best_trade_pct: Best trade return, percent.
        worst_trade_pct: Worst trade return, percent.
        exposure_pct: Share of ticks with an open position, percent.
        total_commission: Sum of all commissions (exact).
        turnover: Sum of traded value (exact).
    """

    final_equity: Decimal
    total_return_pct: float
    cagr_pct: float | None
    max_drawdown_pct: float
    max_drawdown_duration: timedelta
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None
    volatility_pct: float | None
    total_trades: int
    winning_trades: int
    win_rate_pct: float | None
    profit_factor: float | None
    avg_trade_pct: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    exposure_pct: float
    total_commission: Decimal
    turnover: Decimal


def _drawdown(times: Sequence[datetime], equity: Sequence[float], start: datetime) -> tuple[float, timedelta]:
    peak = equity[0]
    peak_time = start
    worst = 0.0
    longest = timedelta(0)
    below = False  # only time spent below a peak counts, not the time between two new peaks
    for moment, value in zip(times, equity[1:], strict=True):
        if value >= peak:
            if below:
                longest = max(longest, moment - peak_time)
            peak, peak_time, below = value, moment, False
        else:
            below = True
            if peak > 0:
                worst = max(worst, (peak - value) / peak)
    if times and below:
        longest = max(longest, times[-1] - peak_time)
    return worst * 100, longest


def compute_metrics(  # noqa: PLR0917 - the series of one run
    initial: Decimal,
    final: Decimal,
    times: Sequence[datetime],
    equity: Sequence[float],
    trade_returns: Sequence[tuple[Decimal, float]],
    exposed_ticks: int,
    total_commission: Decimal,
    turnover: Decimal,
    periods_per_year: float,
) -> Metrics:
    """Compute every metric.

    Args:
        initial: Initial capital (exact).
        final: Final equity (exact).
        times: Tick times.
        equity: ``E_0`` (initial) then the equity at each tick.
        trade_returns: Per closed trade, (P&L after commissions, return percent).
        exposed_ticks: Ticks with an open position.
        total_commission: Sum of commissions.
        turnover: Sum of traded value.
        periods_per_year: Ticks per year at the session's timeframe.
    """
    ticks = len(times)
    ratio = float(final / initial) if initial else 0.0
    returns = [b / a - 1 for a, b in itertools.pairwise(equity) if a]
    volatility = sharpe = sortino = None
    if len(returns) >= 2:
        mean = math.fsum(returns) / len(returns)
        deviation = math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
        scale = math.sqrt(periods_per_year)
        volatility = deviation * scale * 100
        sharpe = mean / deviation * scale if deviation > 0 else None
        downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in returns) / len(returns))
        sortino = mean / downside * scale if downside > 0 else None
    years = ticks / periods_per_year if periods_per_year > 0 else 0.0
    cagr = (ratio ** (1 / years) - 1) * 100 if years > 0 and ratio > 0 else None
    drawdown, duration = _drawdown(times, equity, times[0] if times else datetime.min)
    calmar = cagr / drawdown if cagr is not None and drawdown > 0 else None
    pnls = [float(pnl) for pnl, _ in trade_returns]
    pcts = [pct for _, pct in trade_returns]
    wins = sum(1 for pnl in pnls if pnl > 0)
    gross_loss = -math.fsum(p for p in pnls if p < 0)
    return Metrics(
        final_equity=final,
        total_return_pct=(ratio - 1) * 100,
        cagr_pct=cagr,
        max_drawdown_pct=drawdown,
        max_drawdown_duration=duration,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        calmar_ratio=calmar,
        volatility_pct=volatility,
        total_trades=len(pnls),
        winning_trades=wins,
        win_rate_pct=wins / len(pnls) * 100 if pnls else None,
        profit_factor=math.fsum(p for p in pnls if p > 0) / gross_loss if gross_loss > 0 else None,
        avg_trade_pct=math.fsum(pcts) / len(pcts) if pcts else None,
        best_trade_pct=max(pcts) if pcts else None,
        worst_trade_pct=min(pcts) if pcts else None,
        exposure_pct=exposed_ticks / ticks * 100 if ticks else 0.0,
        total_commission=total_commission,
        turnover=turnover,
    )
