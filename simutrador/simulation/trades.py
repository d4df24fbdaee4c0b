"""Round trips: the fills of one symbol grouped from a flat position to the next flat (or flip).

`TradeBook` follows each symbol's position through its fills: a fill that opens or
grows a position adds to the open trade's entry; one that reduces it adds to its exit
and realized P&L; one that closes it ends the trade (a flip ends it and opens the next
with the rest, the commission split by quantity).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final

import attrs

from simutrador.simulation.orders import OrderSide
from simutrador.simulation.results import Trade

__all__ = ["TradeBook"]

_ZERO: Final = Decimal(0)


@attrs.define(slots=True, eq=False)
class _OpenTrade:
    symbol: str
    side: OrderSide
    entry_time: datetime
    entry_quantity: Decimal = _ZERO
    entry_value: Decimal = _ZERO
    exit_quantity: Decimal = _ZERO
    exit_value: Decimal = _ZERO
    peak: Decimal = _ZERO
    realized: Decimal = _ZERO
    commission: Decimal = _ZERO

    def close(self, exit_time: datetime | None) -> Trade:
        entry_price = self.entry_value / self.entry_quantity if self.entry_quantity else _ZERO
        pnl = self.realized - self.commission
        basis = entry_price * self.peak
        return Trade(
            symbol=self.symbol,
            side=self.side,
            quantity=self.peak,
            entry_time=self.entry_time,
            entry_price=entry_price,
            exit_time=exit_time,
            exit_price=(self.exit_value / self.exit_quantity) if self.exit_quantity and exit_time else None,
            pnl=pnl,
            return_pct=float(pnl / basis * 100) if basis else 0.0,
            commission=self.commission,
        )


class TradeBook:
    """Closed trades and each symbol's open one."""

    def __init__(self) -> None:
        self.closed: list[Trade] = []
        self.open: dict[str, _OpenTrade] = {}

    def book(  # noqa: PLR0917
        self,
        symbol: str,
        before: Decimal,
        signed: Decimal,
        price: Decimal,
        commission: Decimal,
        realized: Decimal,
        moment: datetime,
    ) -> None:
        """Add a fill of `signed` (buys > 0) at `price` to `symbol`'s trade; `before` is the position before it."""
        after = before + signed
        trade = self.open.get(symbol)
        if trade is None or not before:
            trade = self.open[symbol] = _OpenTrade(
                symbol=symbol, side=OrderSide.BUY if signed > 0 else OrderSide.SELL, entry_time=moment
            )
        if not before or (before > 0) == (signed > 0):  # opening or growing
            trade.entry_quantity += abs(signed)
            trade.entry_value += abs(signed) * price
            trade.commission += commission
            trade.peak = max(trade.peak, abs(after))
            return
        closing = min(abs(signed), abs(before))
        share = commission * closing / abs(signed)
        trade.exit_quantity += closing
        trade.exit_value += closing * price
        trade.realized += realized
        trade.commission += share
        if after and (after > 0) == (before > 0):
            return  # partly reduced
        self.closed.append(trade.close(moment))
        del self.open[symbol]
        if after:  # flipped: the rest opens a new trade
            rest = abs(after)
            self.open[symbol] = _OpenTrade(
                symbol=symbol,
                side=OrderSide.BUY if after > 0 else OrderSide.SELL,
                entry_time=moment,
                entry_quantity=rest,
                entry_value=rest * price,
                peak=rest,
                commission=commission - share,
            )

    def open_trades(self) -> list[Trade]:
        """The trades still open, as trades without an exit."""
        return [t.close(None) for t in self.open.values()]
