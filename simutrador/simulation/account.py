"""The account: cash, positions, costs and buying power, in exact money.

Cash changes only by fills: a buy pays ``quantity x price + commission``, a sell
receives ``quantity x price - commission``. Prices and quantities are exact Decimals,
so cash always equals ``initial + sum(sells) - sum(buys) - sum(commissions)`` to the
last digit (a property test checks it). A position is a signed quantity (long > 0,
short < 0) with its cost basis; its average cost and the realized P&L of a partial
close are ratios, computed in Decimal's 28 significant digits.

Buying power: with `leverage` L, the gross value of all positions (long and short,
at the last close) may reach ``equity x L``. L = 1 is a cash account for longs, and
a short must be covered by equity in full; an order that would push the gross value
past the limit is refused (INSUFFICIENT_BUYING_POWER). Orders that only reduce a
position are always allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final

import attrs

__all__ = ["Account", "CommissionModel", "Position", "PositionState"]

_ZERO: Final = Decimal(0)


@attrs.frozen(kw_only=True, slots=True)
class CommissionModel:
    """What a fill costs.

    The commission of an order is ``max(minimum, per_share x quantity + pct/100 x value)``
    over all its fills: each fill pays what that total grows by, so the first fill
    also pays up to the minimum.

    Attributes:
        per_share: Charged per unit traded.
        minimum: The least one order pays.
        pct: Percent of the traded value.

    Example:
        >>> model = CommissionModel(per_share=Decimal("0.005"), minimum=Decimal(1))
        >>> first, rate = model.for_fill(Decimal(100), Decimal("50"), rate_before=Decimal(0), paid=Decimal(0))
        >>> first, rate
        (Decimal('1'), Decimal('0.500'))
        >>> model.for_fill(Decimal(300), Decimal("50"), rate_before=rate, paid=first)[0]
        Decimal('1.000')
    """

    per_share: Decimal = _ZERO
    minimum: Decimal = _ZERO
    pct: Decimal = _ZERO

    def for_fill(
        self, quantity: Decimal, price: Decimal, *, rate_before: Decimal, paid: Decimal
    ) -> tuple[Decimal, Decimal]:
        """The commission of one fill, and the order's running rate after it.

        Args:
            quantity: This fill's quantity.
            price: This fill's price.
            rate_before: ``per_share x quantity + pct x value`` of the order's earlier fills.
            paid: Commission the order's earlier fills paid.

        Returns:
            ``(commission, rate_after)``.
        """
        rate = rate_before + self.per_share * quantity
        if self.pct:
            rate += self.pct * quantity * price / 100
        return max(self.minimum, rate) - paid, rate


@attrs.frozen(kw_only=True, slots=True)
class Position:
    """One symbol's position as a strategy sees it (a snapshot).

    Attributes:
        symbol: The instrument.
        quantity: Signed: long > 0, short < 0, flat 0.
        avg_cost: Average entry price of the open quantity (0 when flat).
        market_price: The last close it was marked at.
        unrealized_pnl: ``(market_price - avg_cost) x quantity``.
        realized_pnl: P&L of what was closed so far (before commissions).
    """

    symbol: str
    quantity: Decimal = _ZERO
    avg_cost: Decimal = _ZERO
    market_price: Decimal = _ZERO
    unrealized_pnl: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO

    @property
    def market_value(self) -> Decimal:
        """``quantity x market_price``."""
        return self.quantity * self.market_price


@attrs.define(kw_only=True, slots=True, eq=False)
class PositionState:
    """The simulator's mutable record of one position."""

    symbol: str
    quantity: Decimal = _ZERO
    cost: Decimal = _ZERO  # signed cost basis of the open quantity
    realized: Decimal = _ZERO
    price: Decimal = _ZERO  # last close

    def apply(self, signed_quantity: Decimal, price: Decimal) -> Decimal:
        """Add a fill (signed: buys > 0); returns the P&L it realized."""
        quantity = self.quantity
        if not quantity or (quantity > 0) == (signed_quantity > 0):
            self.quantity = quantity + signed_quantity
            self.cost += signed_quantity * price
            return _ZERO
        closing = min(abs(signed_quantity), abs(quantity))
        closing_signed = closing if quantity > 0 else -closing
        basis = self.cost * closing / abs(quantity)
        realized = closing_signed * price - basis
        self.cost -= basis
        self.quantity = quantity - closing_signed
        rest = signed_quantity + closing_signed  # what flips the position, if anything
        if not self.quantity:
            self.cost = _ZERO
        if rest:
            self.quantity = rest
            self.cost = rest * price
        self.realized += realized
        return realized

    def snapshot(self) -> Position:
        """The position as a frozen `Position`."""
        avg = self.cost / self.quantity if self.quantity else _ZERO
        return Position(
            symbol=self.symbol,
            quantity=self.quantity,
            avg_cost=avg,
            market_price=self.price,
            unrealized_pnl=self.quantity * self.price - self.cost,
            realized_pnl=self.realized,
        )


class Account:
    """Cash and positions of one simulation (single owner, no lock).

    Args:
        initial_cash: Starting cash.
        leverage: Gross position value allowed per unit of equity (>= 1).
    """

    def __init__(self, initial_cash: Decimal, leverage: Decimal = Decimal(1)) -> None:
        self.initial_cash = initial_cash
        self.cash = initial_cash
        self.leverage = leverage
        self.positions: dict[str, PositionState] = {}
        self.held: dict[str, PositionState] = {}  # the positions that are not flat
        self.total_commission = _ZERO
        self.bought = _ZERO
        self.sold = _ZERO

    def position(self, symbol: str) -> PositionState:
        """The (possibly flat) position in `symbol`."""
        found = self.positions.get(symbol)
        if found is None:
            found = self.positions[symbol] = PositionState(symbol=symbol)
        return found

    def fill(self, symbol: str, signed_quantity: Decimal, price: Decimal, commission: Decimal) -> Decimal:
        """Book a fill; returns the P&L it realized (before commission)."""
        value = signed_quantity * price
        if value > 0:
            self.bought += value
        else:
            self.sold -= value
        self.cash -= value + commission
        self.total_commission += commission
        position = self.position(symbol)
        if not position.quantity:  # opening: its last mark (if any) is from when it was last held
            position.price = price
        realized = position.apply(signed_quantity, price)
        if position.quantity:
            self.held[symbol] = position
        else:
            self.held.pop(symbol, None)
        return realized

    def mark(self, closes: Mapping[str, Decimal]) -> None:
        """Mark the positions in `closes` at those prices."""
        positions = self.positions
        for symbol, price in closes.items():
            position = positions.get(symbol)
            if position is not None:
                position.price = price

    @property
    def equity(self) -> Decimal:
        """Cash plus the market value of every position."""
        return self.cash + sum((p.quantity * p.price for p in self.held.values()), _ZERO)

    @property
    def gross_exposure(self) -> Decimal:
        """Σ |quantity x last price| over all positions."""
        return sum((abs(p.quantity * p.price) for p in self.held.values()), _ZERO)

    def buying_power(self, reserved: Decimal = _ZERO) -> Decimal:
        """What new gross exposure the account can still take: ``equity x leverage - exposure - reserved``."""
        return self.equity * self.leverage - self.gross_exposure - reserved

    def added_exposure(self, symbol: str, signed_quantity: Decimal, price: Decimal) -> Decimal:
        """How much a trade of `signed_quantity` at `price` adds to the gross exposure (0 if it only reduces)."""
        held = self.positions.get(symbol)
        quantity = held.quantity if held is not None else _ZERO
        after = abs(quantity + signed_quantity)
        return max(_ZERO, (after - abs(quantity)) * price)
