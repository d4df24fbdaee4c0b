"""Fill rules: whether, and at what price, one order fills on one bar (DESIGN §4).

Pure functions over exact prices; the `simutrador.simulation.simulator.Simulator`
applies them in submission order, then slippage, volume and costs.

The rules, for a bar with prices open O, high H, low L, close C:

* **market**: the open of the symbol's next bar (``fill_at="next_open"``), or the
  close of the bar it was submitted on (``fill_at="close"``).
* **limit** at P: a buy fills at O if O <= P, else at P if L <= P; a sell at O if
  O >= P, else at P if H >= P. A limit fill gets its limit or better, never slippage.
* **stop** at S: a buy triggers when H >= S and fills at O if the bar opened at or past
  S (a gap), else at S; a sell when L <= S, at O if O <= S, else at S. Slippage applies.
* **stop-limit** S/P: triggers as a stop, then works as a limit at P. Triggered at the
  open, the rest of the bar is after the trigger, so it fills as a limit on the same
  bar. Triggered inside the bar at S, it fills at S when S is within the limit;
  otherwise whether the price came back to P *after* S is unknown from OHLC: the
  intrabar policy decides (pessimistic: no fill on that bar; optimistic: a fill at P
  if the bar reached it, flagged ambiguous).

Every fill price lies within [L, H] of its bar: slippage is capped at the bar's range.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Final

import attrs

from simutrador.data.catalog import Bar
from simutrador.simulation.orders import OrderRecord, OrderSide, OrderType

__all__ = ["FillReason", "IntrabarPolicy", "Match", "apply_slippage", "match_order", "to_grid"]

_BPS: Final = Decimal(10_000)


class IntrabarPolicy(StrEnum):
    """How a bar that could have filled orders in either order is read."""

    PESSIMISTIC = "pessimistic"
    OPTIMISTIC = "optimistic"


class FillReason(StrEnum):
    """Why a fill happened at its price (reported with every fill)."""

    MARKET_OPEN = "market_open"
    MARKET_CLOSE = "market_close"
    LIMIT_OPEN = "limit_open"
    LIMIT = "limit"
    STOP_GAP = "stop_gap"
    STOP = "stop"
    STOP_LIMIT_OPEN = "stop_limit_open"
    STOP_LIMIT = "stop_limit"


@attrs.frozen(slots=True)
class Match:
    """The outcome of matching one order against one bar.

    Attributes:
        price: The fill price before slippage; None when the order does not fill
            (it may still have been triggered).
        reason: Why it fills at that price.
        at_open: Whether the fill happened at the bar's open (anything later in the
            bar happened after it).
        slippable: Whether slippage applies (market and stop fills).
        ambiguous: Whether the fill depends on the intrabar policy.
        triggered: Whether a stop-limit is (now) triggered.
    """

    price: Decimal | None
    reason: FillReason | None = None
    at_open: bool = False
    slippable: bool = False
    ambiguous: bool = False
    triggered: bool = False


NO_MATCH: Final = Match(None)


def _limit(side: OrderSide, price: Decimal, bar: Bar, reasons: tuple[FillReason, FillReason]) -> Match:
    at_open, inside = reasons
    if side is OrderSide.BUY:
        if bar.open <= price:
            return Match(bar.open, at_open, at_open=True)
        if bar.low <= price:
            return Match(price, inside)
    else:
        if bar.open >= price:
            return Match(bar.open, at_open, at_open=True)
        if bar.high >= price:
            return Match(price, inside)
    return NO_MATCH


def _stop_touch(side: OrderSide, stop: Decimal, bar: Bar) -> tuple[bool, bool]:
    """(gapped at the open, touched inside the bar)."""
    if side is OrderSide.BUY:
        return bar.open >= stop, bar.high >= stop
    return bar.open <= stop, bar.low <= stop


def match_order(order: OrderRecord, bar: Bar, policy: IntrabarPolicy) -> Match:
    """Whether and where `order` fills on `bar` (market orders fill at the open here).

    Args:
        order: The working order (its `triggered` flag is read, not changed).
        bar: The symbol's bar at this tick; the order is eligible on it.
        policy: How to read an ambiguous stop-limit.
    """
    side = order.side
    kind = order.type
    if kind is OrderType.MARKET:
        return Match(bar.open, FillReason.MARKET_OPEN, at_open=True, slippable=True)
    if kind is OrderType.LIMIT:
        assert order.limit_price is not None
        return _limit(side, order.limit_price, bar, (FillReason.LIMIT_OPEN, FillReason.LIMIT))
    assert order.stop_price is not None
    stop = order.stop_price
    if kind is OrderType.STOP:
        gapped, touched = _stop_touch(side, stop, bar)
        if gapped:
            return Match(bar.open, FillReason.STOP_GAP, at_open=True, slippable=True)
        if touched:
            return Match(stop, FillReason.STOP, slippable=True)
        return NO_MATCH
    assert order.limit_price is not None
    limit = order.limit_price
    reasons = (FillReason.STOP_LIMIT_OPEN, FillReason.STOP_LIMIT)
    if order.triggered:
        return attrs.evolve(_limit(side, limit, bar, reasons), triggered=True)
    gapped, touched = _stop_touch(side, stop, bar)
    if gapped:  # triggered at the open: the whole bar comes after the trigger
        return attrs.evolve(_limit(side, limit, bar, reasons), triggered=True)
    if not touched:
        return NO_MATCH
    within = stop <= limit if side is OrderSide.BUY else stop >= limit
    if within:
        return Match(stop, FillReason.STOP_LIMIT, triggered=True)
    reached = bar.low <= limit if side is OrderSide.BUY else bar.high >= limit
    if reached and policy is IntrabarPolicy.OPTIMISTIC:
        return Match(limit, FillReason.STOP_LIMIT, ambiguous=True, triggered=True)
    return Match(None, triggered=True)


def apply_slippage(price: Decimal, side: OrderSide, slippage_bps: Decimal, increment: Decimal, bar: Bar) -> Decimal:
    """`price` moved against the order by `slippage_bps`, on the price grid, within the bar's range.

    A buy pays more (rounded up to the increment, at most the bar's high); a sell gets
    less (rounded down, at least the bar's low).

    Example:
        >>> from datetime import UTC, datetime
        >>> bar = Bar(timestamp=datetime(2024, 1, 2, tzinfo=UTC), open=Decimal("100.00"),
        ...           high=Decimal("101.00"), low=Decimal("99.00"), close=Decimal("100.50"), volume=Decimal(1000))
        >>> apply_slippage(Decimal("100.00"), OrderSide.BUY, Decimal(5), Decimal("0.01"), bar)
        Decimal('100.05')
    """
    if not slippage_bps:
        return price
    if side is OrderSide.BUY:
        moved = to_grid(price * (_BPS + slippage_bps) / _BPS, increment, ROUND_CEILING)
        return min(moved, max(bar.high, price))
    moved = to_grid(price * (_BPS - slippage_bps) / _BPS, increment, ROUND_FLOOR)
    return max(moved, min(bar.low, price))


def to_grid(price: Decimal, increment: Decimal, rounding: str) -> Decimal:
    """`price` rounded to a multiple of `increment` (``0.01``, ``0.05``, ``0.00001``...).

    Example:
        >>> to_grid(Decimal("10.031"), Decimal("0.05"), ROUND_CEILING)
        Decimal('10.05')
    """
    if increment <= 0:
        return price
    return (price / increment).to_integral_value(rounding=rounding) * increment
