"""Small strategies whose parameters a sweep varies (importable, so every executor can run them)."""

from __future__ import annotations

from typing import Any

__all__ = ["HoldFor", "SmaCross"]


class HoldFor:
    """Buy `quantity` of every symbol on the first tick, sell after `days` ticks.

    Args:
        days: Ticks to hold.
        quantity: Units bought of each symbol.
    """

    def __init__(self, days: int = 5, quantity: int = 10) -> None:
        self.days = days
        self.quantity = quantity

    def on_tick(self, ctx: Any, tick: Any) -> None:
        """Enter on the first tick, exit `days` ticks later."""
        if tick.sequence_id == 1:
            for symbol in ctx.symbols:
                ctx.buy(symbol, self.quantity)
        elif tick.sequence_id == 1 + self.days:
            for symbol, position in ctx.positions().items():
                ctx.sell(symbol, position.quantity)


class SmaCross:
    """Long `quantity` when the `fast` moving average of closes is above the `slow` one; flat otherwise.

    Args:
        fast: Bars of the fast average.
        slow: Bars of the slow average.
        quantity: Units bought per symbol.
    """

    def __init__(self, fast: int = 10, slow: int = 30, quantity: int = 100) -> None:
        if fast >= slow:
            raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
        self.fast = fast
        self.slow = slow
        self.quantity = quantity

    def on_tick(self, ctx: Any, tick: Any) -> None:
        """Compare the averages of each symbol that has a bar at this tick."""
        for symbol in tick.bars:
            closes = ctx.history(symbol, "close", self.slow)
            if len(closes) < self.slow:
                continue
            above = sum(closes[-self.fast :]) * self.slow > sum(closes) * self.fast
            held = ctx.position(symbol).quantity
            if above and held <= 0 and not ctx.open_orders(symbol):
                ctx.buy(symbol, self.quantity)
            elif not above and held > 0 and not ctx.open_orders(symbol):
                ctx.sell(symbol, held)
