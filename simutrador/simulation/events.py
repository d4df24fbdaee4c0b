"""What goes into a `Simulator` and what comes out: requests, ticks, fills and events.

Commands are method calls (`Simulator.submit`, `Simulator.cancel`,
`Simulator.advance`); each returns the events it caused, in order. Events are
frozen attrs values named in the past tense, as in NautilusTrader.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

import attrs

from simutrador.data.catalog import Bar
from simutrador.simulation.matching import FillReason
from simutrador.simulation.orders import Order, OrderSide, TimeInForce

if TYPE_CHECKING:
    from simutrador.simulation.results import SimulationResult

__all__ = [
    "AccountUpdated",
    "Event",
    "Fill",
    "OrderAccepted",
    "OrderCanceled",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderRequest",
    "SimulationCompleted",
    "Tick",
    "TickAdvanced",
]


@attrs.frozen(kw_only=True, slots=True)
class OrderRequest:
    """An order a strategy (or a remote client) asks for; the order type follows from the prices.

    Attributes:
        symbol: The instrument (one of the session's symbols).
        side: Buy or sell.
        quantity: How much (a positive multiple of the instrument's lot size).
        limit_price: A limit price: a limit order, or with `stop_price` a stop-limit.
        stop_price: A stop price: a stop order, or with `limit_price` a stop-limit.
        time_in_force: DAY (default), GTC, IOC, FOK or GTD.
        expire_at: When a GTD order expires (required for GTD only).
        stop_loss: Bracket: a protective stop placed when the entry fills.
        take_profit: Bracket: a profit-taking limit placed when the entry fills.
        order_id: A client-chosen id (unique in the simulation); generated when None.
    """

    symbol: str
    side: OrderSide
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    expire_at: datetime | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    order_id: str | None = None


class Tick(NamedTuple):
    """One step of a simulation: a time at which at least one symbol has a bar.

    A named tuple rather than an attrs class: one is made per tick, on the hot path.

    Attributes:
        time: The bars' open time (aware UTC).
        sequence_id: 1 for the first tick, then 2, 3...
        bars: Symbol → its bar at `time`, for the symbols trading at `time`.
    """

    time: datetime
    sequence_id: int
    bars: Mapping[str, Bar]


@attrs.frozen(kw_only=True, slots=True)
class Fill:
    """One execution.

    Attributes:
        execution_id: Unique in the simulation (``x-1``, ``x-2``...).
        order_id: The order it fills.
        symbol: The instrument.
        side: Buy or sell.
        quantity: How much traded.
        price: At what price (slippage included).
        commission: What it cost.
        time: The tick of the bar it filled on.
        ambiguous: Whether it depends on the intrabar policy (DESIGN §4).
        reason: Why it filled at that price.
        slippage_bps: The slippage applied, in basis points of the unslipped price.
        is_partial: Whether the order still has quantity left after it.
        remaining_quantity: The order's quantity left after it.
    """

    execution_id: str
    order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    price: Decimal
    commission: Decimal
    time: datetime
    ambiguous: bool = False
    reason: FillReason = FillReason.MARKET_OPEN
    slippage_bps: Decimal = Decimal(0)
    is_partial: bool = False
    remaining_quantity: Decimal = Decimal(0)


class TickAdvanced(NamedTuple):
    """The simulation moved to `tick`; fills on its bars have happened; positions are marked.

    Attributes:
        tick: The new tick.
        equity: Cash plus positions marked at its closes.
    """

    tick: Tick
    equity: Decimal


@attrs.frozen(kw_only=True, slots=True)
class OrderAccepted:
    """An order was accepted and works from the symbol's next bar."""

    order: Order


def _no_details() -> Mapping[str, str]:
    return {}


@attrs.frozen(kw_only=True, slots=True)
class OrderRejected:
    """An order was refused at submission (the account cannot afford it).

    Attributes:
        order: The order, status REJECTED.
        reason: Why, for people.
        code: The error code (``INSUFFICIENT_BUYING_POWER``).
        details: Machine-readable facts (``required``, ``available``).
    """

    order: Order
    reason: str
    code: str
    details: Mapping[str, str] = attrs.field(factory=_no_details)


@attrs.frozen(kw_only=True, slots=True)
class OrderFilled:
    """An order (partly) filled."""

    order: Order
    fill: Fill


@attrs.frozen(kw_only=True, slots=True)
class OrderCanceled:
    """An order was canceled: by the strategy, by its OCO sibling, an IOC/FOK remainder, or unaffordable at fill."""

    order: Order
    reason: str


@attrs.frozen(kw_only=True, slots=True)
class OrderExpired:
    """A DAY or GTD order's time ran out."""

    order: Order


@attrs.frozen(kw_only=True, slots=True)
class AccountUpdated:
    """The account changed by a fill.

    Attributes:
        cash: Cash after the fill.
        equity: Cash plus positions marked at the last known prices.
    """

    cash: Decimal
    equity: Decimal


@attrs.frozen(kw_only=True, slots=True)
class SimulationCompleted:
    """The last tick was processed; `result` holds everything the run produced."""

    result: SimulationResult


Event = (
    TickAdvanced
    | OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderCanceled
    | OrderExpired
    | AccountUpdated
    | SimulationCompleted
)
"""Everything a `Simulator` emits."""
