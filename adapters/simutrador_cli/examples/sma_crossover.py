"""SMA crossover: long when the 10-bar average of closes is above the 30-bar one, flat otherwise.

Run it with ``simutrador run sma_crossover`` (or copy this file and edit it). A
strategy file defines ``on_tick(ctx, tick)`` (and, if it likes, ``on_start``,
``on_fill``, ``on_order_rejected``, ``on_finish``), or a ``strategy`` object with
those methods. ``SESSION`` gives the defaults ``simutrador run`` uses when no flag or
config file says otherwise.
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

FAST = 10
SLOW = 30
SHARE_OF_EQUITY = Decimal("0.95")


def on_tick(ctx, tick):
    """Go long on a golden cross, back to cash on a death cross (every symbol of the session)."""
    for symbol, bar in tick.bars.items():
        closes = ctx.history(symbol, "close", SLOW)
        if len(closes) < SLOW:
            continue
        fast = sum(closes[-FAST:]) / FAST
        slow = sum(closes) / SLOW
        held = ctx.position(symbol).quantity
        if fast > slow and held <= 0 and not ctx.open_orders(symbol):
            budget = ctx.cash * SHARE_OF_EQUITY / len(ctx.symbols)
            shares = int(budget / bar.close)
            if shares > 0:
                ctx.buy(symbol, shares)
        elif fast < slow and held > 0 and not ctx.open_orders(symbol):
            ctx.sell(symbol, held)
