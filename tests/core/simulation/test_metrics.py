"""Metrics by their documented formulas on tiny series computed by hand; trades; the result and its digest."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from simutrador.simulation.metrics import Metrics, compute_metrics
from simutrador.simulation.orders import OrderSide, OrderStatus
from tests.core.simulation.helpers import D, at, bar, buy, make_sim, run_out, sell

DAYS = (at(1), at(2), at(3), at(4))


def metrics(
    equity: list[float],
    times: tuple[datetime, ...] = DAYS,
    trades: Sequence[tuple[Decimal, float]] = (),
    exposed: int = 0,
) -> Metrics:
    return compute_metrics(
        D(str(equity[0])),
        D(str(equity[-1])),
        times,
        equity,
        trades,
        exposed,
        D("1.25"),
        D(5_000),
        4.0,
    )


def test_return_risk_and_drawdown_formulas() -> None:
    # E = 100, 110, 88, 110, 121 over four ticks, 4 periods a year (one year).
    # r = 0.10, -0.20, 0.25, 0.10; mean 0.0625; sample variance
    # (0.0375² + 0.2625² + 0.1875² + 0.0375²) / 3 = 0.106875 / 3 = 0.035625
    m = metrics([100, 110, 88, 110, 121], exposed=2)
    sd = math.sqrt(0.035625)
    assert m.final_equity == D(121)
    assert m.total_return_pct == pytest.approx(21.0)
    assert m.cagr_pct == pytest.approx(21.0)  # one year
    assert m.volatility_pct == pytest.approx(sd * 2 * 100)  # sqrt(4) = 2
    assert m.sharpe_ratio == pytest.approx(0.0625 / sd * 2)
    # downside: sqrt((0 + 0.04 + 0 + 0) / 4) = 0.1 -> 0.0625 / 0.1 x 2 = 1.25
    assert m.sortino_ratio == pytest.approx(1.25)
    # peak 110 (Jan 1) -> 88: 20 %; back at 110 on Jan 3: two days
    assert m.max_drawdown_pct == pytest.approx(20.0)
    assert m.max_drawdown_duration == timedelta(days=2)
    assert m.calmar_ratio == pytest.approx(21.0 / 20.0)
    assert m.exposure_pct == pytest.approx(50.0)
    assert (m.total_commission, m.turnover) == (D("1.25"), D(5_000))


def test_cagr_over_half_a_year() -> None:
    # two ticks at 4 a year = half a year: (121 / 100) ^ 2 - 1 = 46.41 %
    m = metrics([100, 110, 121], times=DAYS[:2])
    assert m.cagr_pct == pytest.approx(46.41)


def test_drawdown_not_recovered_lasts_to_the_end() -> None:
    # 100 -> 90 -> 95 -> 99 -> 98: peak 100 (the start, Jan 1) never regained: Jan 1 to Jan 4; 10 %
    m = metrics([100, 90, 95, 99, 98])
    assert m.max_drawdown_pct == pytest.approx(10.0)
    assert m.max_drawdown_duration == timedelta(days=3)


@pytest.mark.parametrize("equity", [[100, 100, 100, 100, 100], [100, 101, 102, 103, 104]])
def test_no_drawdown_has_no_duration(equity: list[float]) -> None:
    # equity never falls below a previous peak: no drawdown, so no time spent in one
    # (ticks on Jan 1, 4, 5 and 8: a weekend between must not count as a drawdown either)
    m = metrics(equity, times=(at(1), at(4), at(5), at(8)))
    assert m.max_drawdown_pct == 0
    assert m.max_drawdown_duration == timedelta(0)


def test_trade_statistics() -> None:
    # P&L +100, -50, +30: 2 of 3 win (66.67 %), profit factor 130 / 50 = 2.6,
    # returns 10, -5, 3 %: average 8 / 3, best 10, worst -5
    m = metrics([100, 100, 100, 100, 100], trades=[(D(100), 10.0), (D(-50), -5.0), (D(30), 3.0)])
    assert (m.total_trades, m.winning_trades) == (3, 2)
    assert m.win_rate_pct == pytest.approx(200 / 3)
    assert m.profit_factor == pytest.approx(2.6)
    assert m.avg_trade_pct == pytest.approx(8 / 3)
    assert (m.best_trade_pct, m.worst_trade_pct) == (10.0, -5.0)


def test_ratios_without_a_denominator_are_none() -> None:
    # flat equity: no volatility -> no Sharpe/Sortino; no trades -> no win rate; no loss -> no profit factor
    m = metrics([100, 100, 100, 100, 100])
    assert m.sharpe_ratio is None and m.sortino_ratio is None and m.calmar_ratio is None
    assert m.win_rate_pct is None and m.profit_factor is None and m.avg_trade_pct is None
    one = metrics([100, 105], times=DAYS[:1])
    assert one.volatility_pct is None and one.sharpe_ratio is None
    rising = metrics([100, 101, 103, 106, 110])
    assert rising.sortino_ratio is None  # no negative return
    winners = metrics([100, 100], times=DAYS[:1], trades=[(D(5), 1.0)])
    assert winners.profit_factor is None and winners.win_rate_pct == 100


BARS = (
    bar(2, 100, 102, 99, 101),
    bar(3, 103, 105, 101, 104),
    bar(4, 104, 106, "101.50", 105),
    bar(5, 99, 100, 97, 98),
)


def test_a_run_end_to_end() -> None:
    # buy 100 (fills at 103 on Jan 3). Equity: Jan 2 100,000; Jan 3 100,000 - 10,300 + 10,400 = 100,100;
    # Jan 4 100,200; Jan 5 (close 98) 99,500. Drawdown (100,200 - 99,500) / 100,200 from Jan 4 to the end.
    sim = make_sim(BARS, periods_per_year=4)
    sim.advance()
    sim.submit(buy(100))
    run_out(sim)
    result = sim.result
    assert result is not None
    assert [p.equity for p in result.equity_curve] == [100_000, 100_100, 100_200, 99_500]
    assert [p.time for p in result.equity_curve] == [at(2), at(3), at(4), at(5)]
    assert (result.final_equity, result.cash) == (D(99_500), D(89_700))
    m = result.metrics
    assert m.total_return_pct == pytest.approx(-0.5)
    assert m.max_drawdown_pct == pytest.approx(700 / 100_200 * 100)
    assert m.max_drawdown_duration == timedelta(days=1)
    assert m.exposure_pct == 75.0  # 3 of 4 ticks hold the position
    assert m.turnover == D(10_300)
    assert m.total_trades == 0  # the trade is still open
    [trade] = result.trades
    assert trade.is_open and trade.entry_price == D(103)
    assert (result.ticks, result.started_at, result.ended_at, result.timeframe) == (4, at(2), at(5), "daily")
    assert result.summary()["final_equity"] == D(99_500)
    assert result.summary()["total_return_pct"] == m.total_return_pct


def test_trades_are_entry_exit_pairs() -> None:
    # long 10 at 103 (Jan 3) out at 104 (Jan 4): +10; short 10 at 104 (Jan 4) covered at 99 (Jan 5): +50.
    # A minimum commission of 1 per order: each of the three fills pays 1. The sell of 20 closes the
    # long and opens the short: its 1 is split 0.50 / 0.50. Long: 10 - 1 - 0.50 = 8.50; short: 50 - 0.50 - 1.
    sim = make_sim(BARS, minimum=1)
    sim.advance()
    sim.submit(buy(10))
    sim.advance()
    sim.submit(sell(20))
    sim.advance()
    sim.submit(buy(10))
    run_out(sim)
    result = sim.result
    assert result is not None
    long, short = result.trades
    assert (long.side, long.entry_time, long.entry_price, long.exit_time, long.exit_price) == (
        OrderSide.BUY,
        at(3),
        D(103),
        at(4),
        D(104),
    )
    assert (long.commission, long.pnl) == (D("1.5"), D("8.5"))  # 10 - 1 - 0.50
    assert long.duration == timedelta(days=1)
    assert (short.side, short.entry_price, short.exit_time, short.exit_price) == (OrderSide.SELL, D(104), at(5), D(99))
    assert (short.commission, short.pnl) == (D("1.5"), D("48.5"))  # 50 - 0.50 - 1
    assert short.return_pct == pytest.approx(48.5 / 1_040 * 100)
    m = result.metrics
    assert (m.total_trades, m.winning_trades, m.profit_factor) == (2, 2, None)
    assert m.total_commission == D(3)
    # cash: 100,000 - 1,030 + 2,080 - 990 - 3 = 100,057
    assert result.cash == result.final_equity == D(100_057)
    assert [o.status for o in result.orders] == [OrderStatus.FILLED] * 3


def test_digest_is_the_documented_encoding() -> None:
    # one fill: o-1 buys 10 X at 103 on Jan 3, no commission; cash 98,970; 10 held. Decimals as plain
    # digits without trailing zeros: 10 -> "10", 98,970.00 -> "98970"
    sim = make_sim(BARS)
    sim.advance()
    sim.submit(buy(10))
    run_out(sim)
    text = (
        '{"cash":"98970","fills":[["o-1","X","buy","10","103","0","2024-01-03T00:00:00+00:00",false]],'
        '"positions":{"X":"10"}}'
    )
    assert sim.result is not None
    assert sim.result.digest == hashlib.sha256(text.encode()).hexdigest()


def test_result_frames() -> None:
    pytest.importorskip("pandas")
    sim = make_sim(BARS)
    sim.submit(buy(10))
    run_out(sim)
    result = sim.result
    assert result is not None
    equity = result.to_frame()
    assert list(equity["equity"]) == [p.equity for p in result.equity_curve]
    assert equity.index.name == "time"
    assert list(result.to_frame("fills")["price"]) == [D(100)]
    assert list(result.to_frame("orders")["order_id"]) == ["o-1"]
    assert list(result.to_frame("trades")["entry_price"]) == [D(100)]
    with pytest.raises(ValueError, match="equity, fills, trades or orders"):
        result.to_frame("bars")
