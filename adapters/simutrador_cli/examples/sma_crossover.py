"""SMA crossover: long when the fast moving average of closes is above the slow one, flat otherwise.

Run it with ``simutrador run sma_crossover``, sweep it with ``simutrador sweep
sma_crossover --grid fast=5:20:5 --grid slow=30,50``, or copy this file and edit it.
A strategy file defines ``on_tick(ctx, tick)`` (and, if it likes, ``on_start``,
``on_fill``, ``on_order_rejected``, ``on_finish``), or a ``strategy`` object with those
methods; for sweeps, ``make_strategy(**parameters)``. ``SESSION`` gives the defaults
``simutrador run`` and ``simutrador sweep`` use when no flag or config file says otherwise.
"""

from __future__ import annotations

from decimal import Decimal

SESSION = {
    "symbols": ["AAPL"],
    "start_date": "2019-01-02",
    "end_date": "2024-12-31",
    "initial_capital": "100000",
    "timeframe": "daily",
    "commission_per_share": "0.005",
    "slippage_bps": "2",
}


class SmaCrossover:
    """Go long on a golden cross, back to cash on a death cross (every symbol of the session).

    Args:
        fast: Bars of the fast average.
        slow: Bars of the slow average.
        share_of_cash: Share of cash put into each entry, split across the symbols.
    """

    def __init__(self, fast=10, slow=30, share_of_cash="0.95"):
        if fast >= slow:
            raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
        self.fast = fast
        self.slow = slow
        self.share_of_cash = Decimal(str(share_of_cash))

    def on_tick(self, ctx, tick):
        """Compare the averages of each symbol trading at this tick."""
        for symbol, bar in tick.bars.items():
            closes = ctx.history(symbol, "close", self.slow)
            if len(closes) < self.slow:
                continue
            fast = sum(closes[-self.fast :]) / self.fast
            slow = sum(closes) / self.slow
            held = ctx.position(symbol).quantity
            if fast > slow and held <= 0 and not ctx.open_orders(symbol):
                shares = int(ctx.cash * self.share_of_cash / len(ctx.symbols) / bar.close)
                if shares > 0:
                    ctx.buy(symbol, shares)
            elif fast < slow and held > 0 and not ctx.open_orders(symbol):
                ctx.sell(symbol, held)


strategy = SmaCrossover()
make_strategy = SmaCrossover
