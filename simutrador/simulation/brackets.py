"""Brackets: which of an entry's exits fills on a bar, decided by pure functions.

An entry with ``stop_loss``/``take_profit`` places, when it fills, a stop and a limit on
the other side (``<entry>-sl``, ``<entry>-tp``), one-cancels-other. The simulator
executes what these functions choose; the choice itself — which exit a bar reached
first, and whether that is known or depends on the intrabar policy — lives here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from simutrador.data.catalog import Bar
from simutrador.simulation.matching import FillReason, IntrabarPolicy, Match, match_order
from simutrador.simulation.orders import OrderRecord, OrderSide, OrderStatus, OrderType, TimeInForce

__all__ = ["choose_exit", "exit_on_entry_bar", "exit_specs", "filled_at_close", "new_exit"]

Choice = tuple[OrderRecord, Match] | None


def choose_exit(stop: OrderRecord, target: OrderRecord, bar: Bar, policy: IntrabarPolicy) -> Choice:
    """Which of a bracket's stop-loss and take-profit fills on `bar` (one at most).

    When both are reached, one that gapped at the open came first; otherwise the
    policy decides and the fill is flagged ambiguous.
    """
    hit_stop = match_order(stop, bar, policy)
    hit_target = match_order(target, bar, policy)
    if hit_stop.price is not None and hit_target.price is not None:
        if hit_stop.at_open:
            return stop, hit_stop
        if hit_target.at_open:
            return target, hit_target
        if policy is IntrabarPolicy.PESSIMISTIC:
            return stop, attrs.evolve(hit_stop, ambiguous=True)
        return target, attrs.evolve(hit_target, ambiguous=True)
    if hit_stop.price is not None:
        return stop, hit_stop
    if hit_target.price is not None:
        return target, hit_target
    return None


def exit_on_entry_bar(working: list[OrderRecord], entry_match: Match, bar: Bar, policy: IntrabarPolicy) -> Choice:
    """Which exit, if any, fills on the bar its entry filled inside of (not at the open or close).

    After an entry inside the bar at price P, the market was at P: an exit already
    marketable there (a stop at or past P, a limit at or better than P) fills at P at
    once, whatever the policy. Otherwise whether an exit's price came after the entry
    is unknown: pessimistic reads the adverse exit (the stop-loss) as hit, optimistic
    the favourable one (the take-profit); either fill is ambiguous.
    """
    assert entry_match.price is not None
    after = attrs.evolve(bar, open=entry_match.price)  # the rest of the bar, from the entry on
    matches = [(child, match_order(child, after, policy)) for child in working]
    for child, match in matches:
        if match.price is not None and match.at_open:
            return child, match
    wanted = OrderType.STOP if policy is IntrabarPolicy.PESSIMISTIC else OrderType.LIMIT
    for child, match in matches:
        if child.type is wanted and match.price is not None:
            return child, attrs.evolve(match, ambiguous=True)
    return None


def exit_specs(entry: OrderRecord) -> list[tuple[str, OrderType, Decimal | None, Decimal | None]]:
    """(id, type, limit, stop) of the exits `entry` asks for."""
    specs = (
        (f"{entry.order_id}-sl", OrderType.STOP, None, entry.stop_loss),
        (f"{entry.order_id}-tp", OrderType.LIMIT, entry.take_profit, None),
    )
    return [spec for spec in specs if spec[2] is not None or spec[3] is not None]


def new_exit(  # noqa: PLR0917 - one exit's fields
    entry: OrderRecord,
    spec: tuple[str, OrderType, Decimal | None, Decimal | None],
    quantity: Decimal,
    when: datetime,
    index: int,
    sequence: int,
) -> OrderRecord:
    """An accepted exit order for `quantity` of `entry`, good till canceled."""
    order_id, kind, limit, stop = spec
    child = OrderRecord(
        order_id=order_id,
        symbol=entry.symbol,
        side=OrderSide.SELL if entry.side is OrderSide.BUY else OrderSide.BUY,
        type=kind,
        quantity=quantity,
        limit_price=limit,
        stop_price=stop,
        time_in_force=TimeInForce.GTC,
        expire_at=None,
        stop_loss=None,
        take_profit=None,
        submitted_at=when,
        submitted_index=index,
        sequence=sequence,
        parent_id=entry.order_id,
    )
    child.move(OrderStatus.ACCEPTED)
    return child


def filled_at_close(entry_match: Match) -> bool:
    """Whether the entry filled at its bar's close (the whole bar came before it)."""
    return entry_match.reason is FillReason.MARKET_CLOSE
