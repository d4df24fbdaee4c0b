"""Orders: their vocabulary, their life cycle as one table, and the records the simulator keeps.

Theory of operation
-------------------
An order is born ``PENDING`` when a strategy submits it and is at once ``ACCEPTED``
(it can be filled) or ``REJECTED`` (the account cannot afford it). An accepted order
may fill in several parts (``PARTIALLY_FILLED``) and ends ``FILLED``, ``CANCELED``
(by the strategy, by its one-cancels-other sibling, or an IOC/FOK remainder) or
``EXPIRED`` (its DAY or GTD time in force ran out). `ORDER_TRANSITIONS` is the only
place that says which moves are allowed, after NautilusTrader's
``_ORDER_STATE_TABLE``; `OrderRecord.move` refuses anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import attrs

from simutrador.errors import ErrorCode, SimutradorError

__all__ = [
    "ORDER_TRANSITIONS",
    "OPEN_STATUSES",
    "Order",
    "OrderRecord",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "TimeInForce",
    "invalid_order",
]


def invalid_order(message: str, **details: object) -> SimutradorError:
    """The ``INVALID_ORDER`` error for an order that can never be valid."""
    return SimutradorError(ErrorCode.INVALID_ORDER, message, dict(details))


class OrderSide(StrEnum):
    """Which way an order trades."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """How an order's price is decided (it follows from the prices a strategy gives)."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    """How long an order works.

    DAY: the trading day on which the order first becomes eligible; GTC: until filled
    or canceled; IOC: the first eligible bar, any part, the rest canceled; FOK: the
    first eligible bar, all or nothing; GTD: until `Order.expire_at`.
    """

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    GTD = "gtd"


class OrderStatus(StrEnum):
    """Where an order is in its life cycle; the value is the wire string."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"


_O = OrderStatus

ORDER_TRANSITIONS: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = MappingProxyType(
    {
        _O.PENDING: frozenset({_O.ACCEPTED, _O.REJECTED}),
        _O.ACCEPTED: frozenset({_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELED, _O.EXPIRED}),
        _O.PARTIALLY_FILLED: frozenset({_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELED, _O.EXPIRED}),
        _O.REJECTED: frozenset(),
        _O.FILLED: frozenset(),
        _O.CANCELED: frozenset(),
        _O.EXPIRED: frozenset(),
    }
)
"""Each order status → the statuses it may move to (DESIGN §4)."""

OPEN_STATUSES: Final[frozenset[OrderStatus]] = frozenset({_O.ACCEPTED, _O.PARTIALLY_FILLED})
"""Statuses of orders still working."""


@attrs.frozen(kw_only=True, slots=True)
class Order:
    """An order as a strategy sees it: a snapshot.

    Attributes:
        order_id: Unique within its simulation (``o-1``, ``o-2``... unless the client chose).
        symbol: The instrument.
        side: Buy or sell.
        type: Market, limit, stop or stop-limit.
        quantity: How much, in units of the instrument (a multiple of its lot size).
        limit_price: The limit, for limit and stop-limit orders.
        stop_price: The trigger, for stop and stop-limit orders.
        time_in_force: How long it works.
        expire_at: When a GTD order expires.
        stop_loss: A protective stop to place when this entry fills (bracket).
        take_profit: A profit-taking limit to place when this entry fills (bracket).
        status: Where it is in its life cycle.
        filled_quantity: How much has filled.
        average_price: The quantity-weighted price of its fills (None before any).
        submitted_at: The tick at which it was submitted.
        parent_id: The entry order of a bracket child.
        reason: Why it was rejected, canceled or expired.
    """

    order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    expire_at: datetime | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    submitted_at: datetime | None = None
    parent_id: str | None = None
    reason: str | None = None

    @property
    def remaining_quantity(self) -> Decimal:
        """What is left to fill."""
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        """Whether the order is still working."""
        return self.status in OPEN_STATUSES


@attrs.define(kw_only=True, slots=True, eq=False)
class OrderRecord:
    """The simulator's own, mutable record of one order (never handed out; see `snapshot`).

    Attributes:
        order_id: The order's id.
        symbol: The instrument.
        side: Buy or sell.
        type: Market, limit, stop or stop-limit.
        quantity: The quantity ordered.
        limit_price: The limit price, if any.
        stop_price: The stop price, if any.
        time_in_force: How long it works.
        expire_at: The GTD expiry.
        stop_loss: Bracket stop-loss price for the entry.
        take_profit: Bracket take-profit price for the entry.
        submitted_at: The tick it was submitted at.
        sequence: Its submission number (orders match in this order).
        submitted_index: The tick index it was submitted at (-1 before the first tick);
            it is eligible on bars of later ticks.
        status: Its status.
        filled: How much has filled.
        notional: Σ price x quantity of its fills.
        triggered: Whether a stop or stop-limit has been triggered.
        eligible_day: The trading day of its first eligible bar (DAY orders expire after it).
        bars_seen: Eligible bars it has been matched against.
        commission_paid: Commission charged on its fills so far.
        commission_rate: The un-floored commission of its fills so far (see `CommissionModel`).
        parent_id: The bracket entry of a child order.
        oco_id: The other child of the same bracket.
        reason: Why it ended as it did.
    """

    order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    time_in_force: TimeInForce
    expire_at: datetime | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    submitted_at: datetime
    sequence: int
    submitted_index: int = -1
    status: OrderStatus = OrderStatus.PENDING
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    triggered: bool = False
    eligible_day: object = None
    bars_seen: int = 0
    commission_paid: Decimal = Decimal(0)
    commission_rate: Decimal = Decimal(0)
    parent_id: str | None = None
    oco_id: str | None = None
    reason: str | None = None

    @property
    def remaining(self) -> Decimal:
        """What is left to fill."""
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        """Whether it still works."""
        return self.status in OPEN_STATUSES

    def move(self, target: OrderStatus) -> None:
        """Change status through `ORDER_TRANSITIONS`.

        Raises:
            SimutradorError: ``INVALID_STATE_TRANSITION`` (a simulator bug) for a move
                the table does not list; nothing changes.
        """
        if target not in ORDER_TRANSITIONS[self.status]:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"order {self.order_id} cannot move from {self.status.value} to {target.value}",
                {"order_id": self.order_id, "current_status": self.status.value, "requested_status": target.value},
            )
        self.status = target

    def snapshot(self) -> Order:
        """The order as a frozen `Order`."""
        return Order(
            order_id=self.order_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            quantity=self.quantity,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
            time_in_force=self.time_in_force,
            expire_at=self.expire_at,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            status=self.status,
            filled_quantity=self.filled,
            average_price=(self.notional / self.filled) if self.filled else None,
            submitted_at=self.submitted_at,
            parent_id=self.parent_id,
            reason=self.reason,
        )
