"""Real runs to report on: the shipped example, a bracket strategy with ambiguous fills, a long intraday run."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simutrador_cli.run import load_strategy

from simutrador import SimulationResult, StrategyContext, Tick, backtest


def run_example() -> SimulationResult:
    """``simutrador run sma_crossover`` with its SESSION defaults (1,565 daily AAPL ticks)."""
    strategy, session = load_strategy("sma_crossover")
    fields = dict(session)
    return backtest(
        strategy,
        symbols=fields.pop("symbols"),
        start=fields.pop("start_date"),
        end=fields.pop("end_date"),
        initial_capital=fields.pop("initial_capital"),
        **fields,
    )


def brackets(ctx: StrategyContext, tick: Tick) -> None:
    """Always in the market with a tight bracket: many trades, some fills ambiguous."""
    for symbol, bar in tick.bars.items():
        if not ctx.position(symbol).quantity and not ctx.open_orders(symbol):
            ctx.buy(symbol, 10, stop_loss=bar.close * Decimal("0.999"), take_profit=bar.close * Decimal("1.001"))


@pytest.fixture(scope="session")
def example() -> SimulationResult:
    return run_example()


@pytest.fixture(scope="session")
def short_run() -> SimulationResult:
    """One day of 5-minute AAPL bars (78 ticks: candles), with ambiguous bracket fills."""
    return backtest(
        brackets, symbols="AAPL", start="2025-10-01", end="2025-10-01", initial_capital=100_000, timeframe="5min"
    )


@pytest.fixture(scope="session")
def long_run() -> SimulationResult:
    """Three weeks of 1-minute AAPL and MSFT bars (5,850 ticks: downsampled lines, nights left out)."""
    return backtest(
        brackets, symbols="AAPL,MSFT", start="2025-10-01", end="2025-10-21", initial_capital=100_000, timeframe="1min"
    )
