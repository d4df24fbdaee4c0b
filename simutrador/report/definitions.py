"""Every metric as a report shows it: its label, its definition (shown on hover) and its format.

The formulas are those of `simutrador.simulation.metrics` (a test checks each one
appears in that module's docstring, so the hover text and the code's documentation
cannot drift apart). Notation: ``E_0..E_n`` the equity at each tick (``E_0`` the
initial capital), ``r_i`` the per-tick returns, ``P`` the periods per year of the
session's timeframe.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import attrs

__all__ = ["METRICS", "NOTATION", "Better", "MetricFormat", "MetricInfo", "format_duration", "format_value"]

NOTATION: Final = (
    "E_0..E_n: equity at each tick (E_0 = initial capital); r_i = E_i / E_(i-1) - 1, the per-tick returns; "
    "P: periods per year of the timeframe (252 daily stock bars, 252 x 6.5 x 60 one-minute bars...)."
)
"""The symbols the formulas use."""


class MetricFormat(StrEnum):
    """How a metric's value is written."""

    MONEY = "money"
    PERCENT = "percent"
    RATIO = "ratio"
    COUNT = "count"
    DURATION = "duration"


class Better(StrEnum):
    """Which way a metric improves (for highlighting the best run of a comparison)."""

    HIGHER = "higher"
    LOWER = "lower"
    NEITHER = "neither"


@attrs.frozen(kw_only=True, slots=True)
class MetricInfo:
    """How one metric is shown.

    Attributes:
        label: Its name in tables.
        meaning: What it says, in words.
        formula: Its formula, as `simutrador.simulation.metrics` writes it (none when the
            meaning says it all).
        format: How its value is written.
        better: Which way it improves.
    """

    label: str
    meaning: str
    formula: str = ""
    format: MetricFormat
    better: Better = Better.HIGHER

    @property
    def definition(self) -> str:
        """The hover text: the meaning, then the formula when there is one."""
        return f"{self.meaning}: {self.formula}" if self.formula else self.meaning


_M = MetricInfo
_PCT, _RATIO, _MONEY = MetricFormat.PERCENT, MetricFormat.RATIO, MetricFormat.MONEY

METRICS: Final[Mapping[str, MetricInfo]] = MappingProxyType(
    {
        "final_equity": _M(
            label="Final equity",
            formula="E_n",
            meaning="Cash plus positions marked at the last tick's closes (exact)",
            format=_MONEY,
        ),
        "total_return_pct": _M(
            label="Total return", formula="(E_n / E_0 - 1) x 100", meaning="Gain over the whole run", format=_PCT
        ),
        "cagr_pct": _M(
            label="CAGR",
            formula="((E_n / E_0) ^ (1 / years) - 1) x 100, years = n / P",
            meaning="Compound annual growth rate",
            format=_PCT,
        ),
        "max_drawdown_pct": _M(
            label="Max drawdown",
            formula="max_i (peak_i - E_i) / peak_i x 100 with peak_i = max_{j<=i} E_j",
            meaning="Largest fall of equity from a previous peak",
            format=_PCT,
            better=Better.LOWER,
        ),
        "max_drawdown_duration": _M(
            label="Max drawdown duration",
            formula="the longest time from a peak to the tick equity first gets back to it (or to the end)",
            meaning="Longest time spent below a previous peak",
            format=MetricFormat.DURATION,
            better=Better.LOWER,
        ),
        "sharpe_ratio": _M(
            label="Sharpe ratio",
            formula="mean(r) / stdev(r) x sqrt(P)",
            meaning="Annualized return per unit of volatility (risk-free rate 0)",
            format=_RATIO,
        ),
        "sortino_ratio": _M(
            label="Sortino ratio",
            formula="mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(P)",
            meaning="Annualized return per unit of downside deviation",
            format=_RATIO,
        ),
        "calmar_ratio": _M(
            label="Calmar ratio",
            formula="cagr_pct / max_drawdown_pct",
            meaning="Annual growth per unit of maximum drawdown",
            format=_RATIO,
        ),
        "volatility_pct": _M(
            label="Volatility",
            formula="stdev(r) x sqrt(P) x 100",
            meaning="Annualized standard deviation of per-tick returns (sample)",
            format=_PCT,
            better=Better.LOWER,
        ),
        "total_trades": _M(
            label="Trades",
            formula="closed round trips",
            meaning="Round trips from flat to flat (or to a flip)",
            format=MetricFormat.COUNT,
            better=Better.NEITHER,
        ),
        "winning_trades": _M(
            label="Winning trades",
            meaning="Closed round trips with a positive P&L after commissions",
            format=MetricFormat.COUNT,
            better=Better.NEITHER,
        ),
        "win_rate_pct": _M(
            label="Win rate", formula="winners / trades x 100", meaning="Share of winning trades", format=_PCT
        ),
        "profit_factor": _M(
            label="Profit factor",
            formula="sum(winning P&L) / |sum(losing P&L)|",
            meaning="Gross profit over gross loss",
            format=_RATIO,
        ),
        "avg_trade_pct": _M(
            label="Average trade",
            meaning="Mean return of the closed trades (a trade's return: P&L after commissions over entry value)",
            format=_PCT,
        ),
        "best_trade_pct": _M(
            label="Best trade",
            meaning="Highest return of a closed trade (a trade's return: P&L after commissions over entry value)",
            format=_PCT,
        ),
        "worst_trade_pct": _M(
            label="Worst trade",
            meaning="Lowest return of a closed trade (a trade's return: P&L after commissions over entry value)",
            format=_PCT,
        ),
        "exposure_pct": _M(
            label="Exposure",
            formula="ticks with an open position / ticks x 100",
            meaning="Share of the run spent holding a position",
            format=_PCT,
            better=Better.NEITHER,
        ),
        "total_commission": _M(
            label="Commission",
            formula="sum of fill commissions",
            meaning="What the run paid in commissions (exact)",
            format=_MONEY,
            better=Better.LOWER,
        ),
        "turnover": _M(
            label="Turnover",
            formula="sum |quantity x price|",
            meaning="Value traded over the run, buys and sells (exact)",
            format=_MONEY,
            better=Better.NEITHER,
        ),
    }
)
"""Metric name (a `simutrador.Metrics` field) → how a report shows it, in table order."""


def format_duration(duration: timedelta) -> str:
    """A duration in days from two days on (``"665 days"``), else as hours, minutes and seconds.

    Example:
        >>> format_duration(timedelta(days=665, hours=3)), format_duration(timedelta(hours=30))
        ('665 days', '1 day, 6:00:00')
    """
    return f"{duration.days:,} days" if duration.days >= 2 else str(duration)


def format_value(value: object, kind: MetricFormat) -> str:
    """`value` written as a metric of `kind` (``-`` when undefined).

    Example:
        >>> format_value(12.3456, MetricFormat.PERCENT), format_value(None, MetricFormat.RATIO)
        ('12.35 %', '-')
        >>> format_value(Decimal("116325.250"), MetricFormat.MONEY)
        '116,325.25'
    """
    if value is None:
        return "-"
    if isinstance(value, timedelta):
        return format_duration(value)
    if kind is MetricFormat.COUNT:
        return f"{value:,}"
    if isinstance(value, Decimal | float | int):
        suffix = " %" if kind is MetricFormat.PERCENT else ""
        text = f"{value:,.2f}"
        return f"{text.removeprefix('-') if text.strip('-0.,') == '' else text}{suffix}"  # no "-0.00"
    return str(value)
