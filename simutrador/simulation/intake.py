"""Order intake: a strategy's `OrderRequest` checked and turned into an `OrderRecord`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Final

from simutrador.simulation.account import Account
from simutrador.simulation.config import Instrument, SimulationConfig
from simutrador.simulation.events import OrderRequest
from simutrador.simulation.matching import to_grid
from simutrador.simulation.orders import OrderRecord, OrderSide, OrderType, TimeInForce, invalid_order

__all__ = ["CHILD_SUFFIXES", "order_record", "unaffordable"]

CHILD_SUFFIXES: Final = ("-sl", "-tp")
"""A bracket entry's exits are ``<entry>-sl`` and ``<entry>-tp``; client ids may not end so."""


def order_record(  # noqa: PLR0917 - the simulator's state the checks need
    request: OrderRequest,
    instruments: Mapping[str, Instrument],
    orders: Mapping[str, OrderRecord],
    now: datetime | None,
    first_tick: datetime,
    index: int,
    sequence: int,
) -> OrderRecord:
    """Check `request` and turn it into a working order's record (nothing is stored here).

    The order type follows from the prices; prices are rounded to the instrument's
    grid in the direction that never worsens them for the market; ids are generated
    as ``o-N`` unless the client chose one.

    Raises:
        SimutradorError: ``INVALID_ORDER`` for an order that can never be valid.
    """
    instrument = instruments.get(request.symbol)
    if instrument is None:
        raise invalid_order(
            f"{request.symbol!r} is not one of this session's symbols ({', '.join(instruments)})",
            symbol=str(request.symbol),
        )
    quantity = request.quantity
    if not quantity.is_finite() or quantity <= 0:
        raise invalid_order(f"quantity must be a positive number, not {quantity}", field="quantity")
    if quantity % instrument.lot_size:
        raise invalid_order(
            f"quantity {quantity} is not a multiple of {request.symbol}'s lot size {instrument.lot_size}",
            field="quantity",
            lot_size=str(instrument.lot_size),
        )
    buy = request.side is OrderSide.BUY
    limit = _price("limit_price", request.limit_price, instrument, ROUND_FLOOR if buy else ROUND_CEILING)
    stop = _price("stop_price", request.stop_price, instrument, ROUND_CEILING if buy else ROUND_FLOOR)
    stop_loss = _price("stop_loss", request.stop_loss, instrument, ROUND_FLOOR if buy else ROUND_CEILING)
    take_profit = _price("take_profit", request.take_profit, instrument, ROUND_CEILING if buy else ROUND_FLOOR)
    if (
        stop_loss is not None
        and take_profit is not None
        and (stop_loss >= take_profit if buy else stop_loss <= take_profit)
    ):
        raise invalid_order(
            f"a {request.side.value} entry's stop_loss must be {'below' if buy else 'above'} its take_profit",
            field="stop_loss",
        )
    tif = request.time_in_force
    if (tif is TimeInForce.GTD) != (request.expire_at is not None):
        raise invalid_order("expire_at goes with time_in_force gtd, and gtd needs expire_at", field="expire_at")
    if request.expire_at is not None and request.expire_at.utcoffset() is None:
        raise invalid_order("expire_at must be timezone-aware", field="expire_at")
    if request.expire_at is not None and now is not None and request.expire_at <= now:
        raise invalid_order(f"expire_at {request.expire_at.isoformat()} is not after now", field="expire_at")
    order_id = request.order_id
    if order_id is None:
        number = len(orders) + 1
        while f"o-{number}" in orders:  # a client may have chosen it
            number += 1
        order_id = f"o-{number}"
    if order_id in orders:
        raise invalid_order(f"order id {order_id!r} is already used in this simulation", order_id=order_id)
    if order_id.endswith(CHILD_SUFFIXES):
        raise invalid_order(
            f"order id {order_id!r} ends in -sl or -tp, which name a bracket's exits", order_id=order_id
        )
    kind = (
        OrderType.STOP_LIMIT
        if limit is not None and stop is not None
        else OrderType.LIMIT
        if limit is not None
        else OrderType.STOP
        if stop is not None
        else OrderType.MARKET
    )
    return OrderRecord(
        order_id=order_id,
        symbol=request.symbol,
        side=request.side,
        type=kind,
        quantity=quantity,
        limit_price=limit,
        stop_price=stop,
        time_in_force=tif,
        expire_at=request.expire_at,
        stop_loss=stop_loss,
        take_profit=take_profit,
        submitted_at=now if now is not None else first_tick,
        submitted_index=index,
        sequence=sequence,
    )


def _price(name: str, value: Decimal | None, instrument: Instrument, rounding: str) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite() or value <= 0:
        raise invalid_order(f"{name} must be a positive number, not {value}", field=name)
    return to_grid(value, instrument.price_increment, rounding)


_ZERO: Final = Decimal(0)


def unaffordable(
    record: OrderRecord,
    account: Account,
    working: Iterable[OrderRecord],
    price_of: Callable[[OrderRecord], Decimal | None],
    config: SimulationConfig,
) -> tuple[str, dict[str, str]] | None:
    """Why the account cannot afford `record` at submission (reason, details), or None when it can.

    The order is judged at its limit, its stop, or the last close (never a later bar;
    with no price yet it is checked at the fill only), with its estimated commission,
    against ``equity x leverage - positions - what open entry orders would add``.
    Orders that only reduce a position always pass.
    """
    signed = record.quantity if record.side is OrderSide.BUY else -record.quantity
    price = price_of(record)
    if price is None:
        return None
    added = account.added_exposure(record.symbol, signed, price)
    if not added:
        return None
    reserved = _ZERO
    for other in working:
        other_price = price_of(other)
        if other.is_open and other.parent_id is None and other_price is not None:
            other_signed = other.remaining if other.side is OrderSide.BUY else -other.remaining
            reserved += account.added_exposure(other.symbol, other_signed, other_price)
    commission = config.commission.for_fill(record.quantity, price, rate_before=_ZERO, paid=_ZERO)[0]
    required = added + commission
    available = account.buying_power(reserved)
    if required <= available:
        return None
    return (
        f"the order needs {required:.2f} of buying power; {max(available, _ZERO):.2f} is available "
        f"(equity x leverage {config.leverage} - positions - open orders)",
        {"required": f"{required:.2f}", "available": f"{max(available, _ZERO):.2f}"},
    )
