"""Strategies that exercise every part of the context, and record what they saw.

`Busy` submits market, limit, stop and bracket orders, cancels, reacts to fills and
rejections (also with orders of its own), submits in ``on_start``, and asks for more
than it can afford now and then. Each callback appends what the context showed it
(time, cash, equity, positions, working orders, the last bars) to `Busy.seen`, so a
remote run can be compared with an embedded one observation by observation, not only
by the digest.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from simutrador import SimutradorError
from simutrador.simulation.events import Fill, Tick
from simutrador.simulation.orders import Order
from simutrador.simulation.runner import StrategyContext


class Busy:
    """Trades every few ticks in every way the simulator allows; `seen` is its observation log."""

    def __init__(self, every: int = 3) -> None:
        self.every = every
        self.seen: list[tuple[Any, ...]] = []
        self.finished: Decimal | None = None

    def _look(self, ctx: StrategyContext, where: str) -> None:
        positions = tuple(
            (s, p.quantity, p.avg_cost, p.market_price, p.unrealized_pnl, p.realized_pnl)
            for s, p in sorted(ctx.positions().items())
        )
        working = tuple((o.order_id, o.status.value, o.filled_quantity, o.quantity) for o in ctx.open_orders())
        closes = tuple((s, tuple(ctx.history(s, "close", 3))) for s in ctx.symbols)
        self.seen.append((where, ctx.now, ctx.cash, ctx.equity, positions, working, closes))

    def on_start(self, ctx: StrategyContext) -> None:
        self._look(ctx, "start")
        ctx.buy(ctx.symbols[0], 5)  # before the first bar: fills on the first bar's open

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        self._look(ctx, f"fill {fill.order_id} {fill.quantity}@{fill.price}")
        if fill.order_id.endswith("-tp"):
            ctx.buy(fill.symbol, 1)  # a reaction submitted from on_fill

    def on_order_rejected(self, ctx: StrategyContext, order: Order, reason: str) -> None:
        self._look(ctx, f"rejected {order.order_id}")
        ctx.buy(order.symbol, 1)  # and one from on_order_rejected

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        self._look(ctx, f"tick {tick.sequence_id}")
        n = tick.sequence_id
        if n % self.every:
            return
        symbol = ctx.symbols[(n // self.every) % len(ctx.symbols)]
        if symbol not in tick.bars:
            return
        close = tick.bars[symbol].close
        step = n // self.every % 7
        held = ctx.position(symbol).quantity
        if step == 0:
            ctx.buy(
                symbol,
                10,
                stop_loss=(close * Decimal("0.97")).quantize(Decimal("0.01")),
                take_profit=(close * Decimal("1.02")).quantize(Decimal("0.01")),
            )
        elif step == 1:
            ctx.buy(symbol, 3, limit_price=(close * Decimal("0.99")).quantize(Decimal("0.01")), time_in_force="gtc")
        elif step == 2 and held > 0:
            ctx.sell(symbol, held, stop_price=(close * Decimal("0.98")).quantize(Decimal("0.01")))
        elif step == 3:
            for order in ctx.open_orders(symbol):
                if order.parent_id is None:
                    ctx.cancel(order.order_id)
                    break
        elif step == 4:
            affordable = int(ctx.cash / close) if close else 0
            ctx.buy(symbol, affordable * 3 + 1)  # more than buying power: rejected at submission
        elif step == 5 and held:
            ctx.sell(symbol, held) if held > 0 else ctx.buy(symbol, -held)
        elif step == 6 and ctx.now is not None:
            ctx.buy(
                symbol,
                2,
                stop_price=(close * Decimal("1.01")).quantize(Decimal("0.01")),
                limit_price=(close * Decimal("1.02")).quantize(Decimal("0.01")),
                time_in_force="gtd",
                expire_at=ctx.now + timedelta(days=3),
            )
        for misuse in (
            lambda: ctx.cancel("o-does-not-exist"),
            lambda: ctx.cancel("o-1"),  # filled long ago
            lambda: ctx.order("o-nope"),
            lambda: ctx.history(symbol, "vwap"),
            lambda: ctx.bars("NOPE"),
        ):
            with contextlib.suppress(SimutradorError):  # each raises, as embedded
                misuse()
        self.seen.append(("order o-1", ctx.order("o-1").status.value))

    def on_finish(self, ctx: StrategyContext, result: Any) -> None:
        self._look(ctx, "finish")
        self.finished = result.final_equity
