"""`Simulator`: one session's simulation as a sans-I/O state machine (DESIGN §4).

Commands in, events out, like h11's ``Connection``: `submit` and `cancel` orders,
`advance` to the next tick. No clock, no threads, no I/O: the embedded runner and
the WebSocket server drive the same object, so their runs agree by construction.

What `advance` does at tick ``t`` (the next time at which a symbol has a bar):

1. For each symbol with a bar at ``t``, in session order, its working orders
   submitted before ``t`` are matched against that bar in submission order:
   expiries first (GTD past its time; DAY on a later trading day), then the fill
   rules of `simutrador.simulation.matching`, slippage, the volume limit, and a
   re-check of buying power. A bracket entry that fills places its stop-loss and
   take-profit at once, one-cancels-other; IOC and FOK orders end after their first
   eligible bar; a DAY order ends with the last bar of its trading day.
2. Positions are marked at the closes of ``t``'s bars and equity is recorded.
3. `TickAdvanced` is emitted; the strategy may now look at ``t`` (never later) and
   submit orders, which are eligible from each symbol's next bar (or, with
   ``fill_at="close"``, market orders fill at once at ``t``'s close).

After the last tick, `advance` emits `SimulationCompleted` with the result.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from simutrador.data.catalog import Bar
from simutrador.data.feed import BarFeed
from simutrador.data.timeframes import parse_timeframe
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.account import Account, Position
from simutrador.simulation.brackets import choose_exit, exit_on_entry_bar, exit_specs, filled_at_close, new_exit
from simutrador.simulation.config import FillTiming, Instrument, SimulationConfig
from simutrador.simulation.events import (
    AccountUpdated,
    Event,
    Fill,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderRequest,
    SimulationCompleted,
    Tick,
    TickAdvanced,
)
from simutrador.simulation.intake import order_record, unaffordable
from simutrador.simulation.matching import FillReason, Match, apply_slippage, match_order
from simutrador.simulation.metrics import compute_metrics
from simutrador.simulation.orders import (
    Order,
    OrderRecord,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    invalid_order,
)
from simutrador.simulation.results import SimulationResult, compute_digest
from simutrador.simulation.trades import TradeBook

__all__ = ["FillTiming", "Instrument", "SimulationConfig", "Simulator"]

_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
_BPS: Final = Decimal(10_000)


_new: Final = cast("Callable[[type[Any], tuple[Any, ...]], Any]", tuple.__new__)  # pyright: ignore[reportUnknownMemberType]
"""Builds a tick's named tuples without their generated ``__new__`` (a Python call each, once per tick)."""


@cache
def field_values(bars: Sequence[Bar], field: str) -> list[Decimal]:
    """`field` (open, high, low, close or volume) of each of `bars`.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` for another field.
    """
    if field not in ("open", "high", "low", "close", "volume"):
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED, f"field must be open, high, low, close or volume, not {field!r}"
        )
    return [getattr(bar, field) for bar in bars]


def not_a_session_symbol(symbol: str, symbols: Sequence[str]) -> SimutradorError:
    """The error for asking the bars of a symbol the session does not have."""
    return SimutradorError(
        ErrorCode.VALIDATION_FAILED, f"{symbol!r} is not one of this session's symbols ({', '.join(symbols)})"
    )


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class Simulator:
    """One session's deterministic simulation (single owner, no lock, no I/O).

    Args:
        config: Capital, instruments and fill settings.
        feed: The bars and ticks (shared, read-only).
    """

    def __init__(self, config: SimulationConfig, feed: BarFeed) -> None:
        self.config = config
        self.feed = feed
        self._series = feed.series
        self._slots = feed.slots
        self._ticks = feed.ticks
        self._tick_count = len(feed.ticks)
        self._index = -1  # the current tick; -1 before the first
        self._last: dict[str, int] = {symbol: feed.first[symbol] - 1 for symbol in feed.symbols}
        self.account = Account(config.initial_capital, config.leverage)
        self._orders: dict[str, OrderRecord] = {}
        self._working: dict[str, list[OrderRecord]] = {symbol: [] for symbol in feed.symbols}
        self._sequence = itertools.count(1)
        self._executions = itertools.count(1)
        self._fills: list[Fill] = []
        self._trades = TradeBook()
        self._equity = array("d", [float(config.initial_capital)])
        self._cash_seen: Decimal | None = None
        self._cash_float = 0.0
        self._exposed = 0
        self._turnover = _ZERO
        self._daily_like = not parse_timeframe(feed.timeframe).intraday
        self._result: SimulationResult | None = None

    # -- reading ------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the last tick has been processed."""
        return self._result is not None

    @property
    def sequence_id(self) -> int:
        """The current tick's sequence id (0 before the first tick)."""
        return self._index + 1

    @property
    def now(self) -> datetime | None:
        """The current tick's time (None before the first)."""
        return self.feed.ticks[self._index] if self._index >= 0 else None

    @property
    def total_ticks(self) -> int:
        """How many ticks the simulation steps through."""
        return len(self.feed.ticks)

    @property
    def cash(self) -> Decimal:
        """Cash now."""
        return self.account.cash

    @property
    def equity(self) -> Decimal:
        """Cash plus positions marked at their last closes."""
        return self.account.equity

    @property
    def has_working_orders(self) -> bool:
        """Whether any order is working (a tick can then fill or expire something)."""
        return any(record.is_open for records in self._working.values() for record in records)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The session's symbols."""
        return self.feed.symbols

    @property
    def result(self) -> SimulationResult | None:
        """The result, once done."""
        return self._result

    def position(self, symbol: str) -> Position:
        """The position in `symbol` (flat when none)."""
        held = self.account.positions.get(symbol)
        return held.snapshot() if held is not None else Position(symbol=symbol)

    def positions(self) -> dict[str, Position]:
        """Every non-flat position."""
        return {s: p.snapshot() for s, p in self.account.positions.items() if p.quantity}

    def order(self, order_id: str) -> Order:
        """One order by id.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown id.
        """
        record = self._orders.get(order_id)
        if record is None:
            raise invalid_order(f"no order {order_id!r} in this simulation", order_id=order_id)
        return record.snapshot()

    def orders(self) -> list[Order]:
        """Every order, in submission order."""
        return [record.snapshot() for record in self._orders.values()]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders, optionally of one symbol, in submission order."""
        symbols = (symbol,) if symbol is not None else self.feed.symbols
        return [r.snapshot() for s in symbols for r in self._working.get(s, ()) if r.is_open]

    def history(self, symbol: str, field: str = "close", length: int | None = None) -> list[Decimal]:
        """The last `length` values of `field` of `symbol`'s bars up to the current tick (warmup included).

        Raises:
            SimutradorError: ``INVALID_ORDER`` is not right here; ``VALIDATION_FAILED``
                for an unknown symbol or field.
        """
        return field_values(self.bars(symbol, length), field)

    def bars(self, symbol: str, length: int | None = None) -> tuple[Bar, ...]:
        """`symbol`'s bars up to the current tick (warmup included), the last `length` of them.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a symbol the session does not have.
        """
        series = self._series.get(symbol)
        if series is None:
            raise not_a_session_symbol(symbol, self.feed.symbols)
        end = self._last[symbol] + 1
        start = 0 if length is None else max(0, end - length)
        return series[start:end]

    # -- commands -----------------------------------------------------------------------

    def submit(self, request: OrderRequest) -> list[Event]:
        """Submit an order; it works from its symbol's next bar.

        Returns:
            ``[OrderAccepted]`` (plus the fill with ``fill_at="close"``), or
            ``[OrderRejected]`` when the account cannot afford it.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an order that can never be valid
                (unknown symbol, quantity off the lot size, bad prices...); nothing changes.
        """
        if self._result is not None:
            raise invalid_order("the simulation has ended; no more orders")
        record = self._record(request)
        events: list[Event] = []
        problem = self._unaffordable(record)
        if problem is not None:
            reason, details = problem
            record.move(OrderStatus.REJECTED)
            record.reason = reason
            self._orders[record.order_id] = record
            return [
                OrderRejected(order=record.snapshot(), reason=reason, code="INSUFFICIENT_BUYING_POWER", details=details)
            ]
        record.move(OrderStatus.ACCEPTED)
        self._orders[record.order_id] = record
        self._working[record.symbol].append(record)
        events.append(OrderAccepted(order=record.snapshot()))
        if record.type is OrderType.MARKET and self.config.fill_at is FillTiming.CLOSE and self._index >= 0:
            index = self._last[record.symbol]
            bar = self._series[record.symbol][index]
            if bar.timestamp == self.feed.ticks[self._index]:
                instrument = self.config.instruments[record.symbol]
                record.eligible_day = self._trading_day(bar, instrument)  # a DAY remainder works through it
                close = Match(bar.close, FillReason.MARKET_CLOSE, slippable=True)
                self._execute(record, close, bar, index, events, self._volume_budget(bar))
                self._after_bar(record, bar, index, instrument, events)
                self._prune(record.symbol)
        return events

    def cancel(self, order_id: str) -> list[Event]:
        """Cancel a working order (and the exits of a bracket entry that has not filled at all).

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown id or an order no longer working.
        """
        record = self._orders.get(order_id)
        if record is None:
            raise invalid_order(f"no order {order_id!r} to cancel", order_id=order_id)
        if not record.is_open:
            raise invalid_order(
                f"order {order_id} is {record.status.value} and can no longer be canceled",
                order_id=order_id,
                status=record.status.value,
            )
        events: list[Event] = []
        self._end(record, OrderStatus.CANCELED, "canceled by the strategy", events)
        if not record.filled:  # a partly filled entry keeps the exits protecting what it bought
            for child in self._children(record):
                if child.is_open:
                    self._end(child, OrderStatus.CANCELED, f"its entry {order_id} was canceled", events)
        self._prune(record.symbol)
        return events

    def advance(self) -> list[Event]:
        """Process the next tick (fills, expiries, marks); after the last one, complete.

        Raises:
            SimutradorError: ``INVALID_STATE_TRANSITION`` when already done.
        """
        if self._result is not None:
            raise SimutradorError(ErrorCode.INVALID_STATE_TRANSITION, "the simulation has already completed")
        index = self._index + 1
        if index >= self._tick_count:
            self._result = self._finish()
            return [SimulationCompleted(result=self._result)]
        self._index = index
        events: list[Event] = []
        held_positions = self.account.held
        slot = self._slots[index]
        if len(slot) == 1:  # one symbol trades at this tick: the common case, kept lean
            symbol, bar_index = slot[0]
            bar = self._series[symbol][bar_index]
            self._last[symbol] = bar_index
            if self._working[symbol]:
                self._match_symbol(symbol, bar, bar_index, index, events)
            if held_positions:
                held = held_positions.get(symbol)
                if held is not None:
                    held.price = bar.close
                equity = self._record_equity()
            else:
                equity = self._record_cash()
            events.append(_new(TickAdvanced, (_new(Tick, (self._ticks[index], index + 1, {symbol: bar})), equity)))
            return events
        series = self._series
        last = self._last
        working = self._working
        bars: dict[str, Bar] = {}
        for symbol, bar_index in slot:
            bar = series[symbol][bar_index]
            bars[symbol] = bar
            last[symbol] = bar_index
            if working[symbol]:
                self._match_symbol(symbol, bar, bar_index, index, events)
            if held_positions:
                held = held_positions.get(symbol)
                if held is not None:
                    held.price = bar.close
        equity = self._record_equity() if held_positions else self._record_cash()
        events.append(TickAdvanced(Tick(self._ticks[index], index + 1, bars), equity))
        return events

    # -- internals: submission -----------------------------------------------------------

    def _record(self, request: OrderRequest) -> OrderRecord:
        return order_record(
            request,
            self.config.instruments,
            self._orders,
            self.now,
            self.feed.ticks[0],
            self._index,
            next(self._sequence),
        )

    def _reference_price(self, record: OrderRecord) -> Decimal | None:
        """The price an order is judged at: its limit or stop, else the last close (None before any bar)."""
        if record.limit_price is not None:
            return record.limit_price
        if record.stop_price is not None:
            return record.stop_price
        index = self._last[record.symbol]
        return self._series[record.symbol][index].close if index >= 0 else None  # never a future bar

    def _unaffordable(self, record: OrderRecord) -> tuple[str, dict[str, str]] | None:
        working = [o for orders in self._working.values() for o in orders]
        return unaffordable(record, self.account, working, self._reference_price, self.config)

    # -- internals: matching ------------------------------------------------------------

    def _trading_day(self, bar: Bar, instrument: Instrument) -> date:
        if self._daily_like:
            return bar.timestamp.date()
        return bar.timestamp.astimezone(_zone(instrument.timezone)).date()

    def _match_symbol(self, symbol: str, bar: Bar, bar_index: int, tick: int, events: list[Event]) -> None:
        instrument = self.config.instruments[symbol]
        budget = self._volume_budget(bar)
        done: set[str] = set()
        for record in list(self._working[symbol]):
            if not record.is_open or record.submitted_index >= tick or record.order_id in done:
                continue
            if (
                record.time_in_force is TimeInForce.GTD
                and record.expire_at is not None
                and bar.timestamp > record.expire_at
            ):
                self._end(record, OrderStatus.EXPIRED, "its GTD time passed", events)
                continue
            if record.time_in_force is TimeInForce.DAY:
                day = self._trading_day(bar, instrument)
                if record.eligible_day is None:
                    record.eligible_day = day
                elif day != record.eligible_day:
                    self._end(record, OrderStatus.EXPIRED, "its trading day ended", events)
                    continue
            sibling = self._orders.get(record.oco_id) if record.oco_id else None
            if sibling is not None and sibling.is_open and sibling.submitted_index < tick:
                done.add(sibling.order_id)
                budget = self._match_pair(record, sibling, bar, bar_index, budget, events)
                continue
            match = match_order(record, bar, self.config.intrabar)
            if match.triggered:
                record.triggered = True
            if match.price is not None:
                budget = self._execute(record, match, bar, bar_index, events, budget)
            self._after_bar(record, bar, bar_index, instrument, events)
        self._prune(symbol)

    def _match_pair(  # noqa: PLR0917
        self,
        first: OrderRecord,
        second: OrderRecord,
        bar: Bar,
        bar_index: int,
        budget: Decimal | None,
        events: list[Event],
    ) -> Decimal | None:
        """Match a bracket's stop-loss and take-profit on one bar; one fills at most."""
        stop, target = (first, second) if first.type is OrderType.STOP else (second, first)
        choice = choose_exit(stop, target, bar, self.config.intrabar)
        return budget if choice is None else self._execute(choice[0], choice[1], bar, bar_index, events, budget)

    def _after_bar(
        self, record: OrderRecord, bar: Bar, bar_index: int, instrument: Instrument, events: list[Event]
    ) -> None:
        if not record.is_open:
            return
        tif = record.time_in_force
        if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
            self._end(
                record, OrderStatus.CANCELED, f"{tif.value.upper()}: not filled on its first eligible bar", events
            )
        elif tif is TimeInForce.DAY:
            series = self._series[record.symbol]
            following = series[bar_index + 1] if bar_index + 1 < len(series) else None
            if following is None or self._trading_day(following, instrument) != record.eligible_day:
                self._end(record, OrderStatus.EXPIRED, "its trading day ended", events)

    def _volume_budget(self, bar: Bar) -> Decimal | None:
        pct = self.config.max_volume_pct
        return None if pct is None else bar.volume * pct / _HUNDRED

    def _execute(  # noqa: PLR0917
        self,
        record: OrderRecord,
        match: Match,
        bar: Bar,
        bar_index: int,
        events: list[Event],
        budget: Decimal | None = None,
    ) -> Decimal | None:
        """Fill `record` per `match` (slippage, volume, buying power); returns the volume budget left."""
        assert match.price is not None
        assert match.reason is not None
        instrument = self.config.instruments[record.symbol]
        raw = match.price
        price = (
            apply_slippage(raw, record.side, self.config.slippage_bps, instrument.price_increment, bar)
            if match.slippable
            else raw
        )
        quantity = record.remaining
        if budget is not None:
            lot = instrument.lot_size
            available = (budget / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
            if record.time_in_force is TimeInForce.FOK and available < quantity:
                self._end(record, OrderStatus.CANCELED, "FOK: the bar's volume limit could not fill it whole", events)
                return budget
            quantity = min(quantity, available)
            if quantity <= 0:
                return budget
            budget -= quantity
        signed = quantity if record.side is OrderSide.BUY else -quantity
        commission, rate = self.config.commission.for_fill(
            quantity, price, rate_before=record.commission_rate, paid=record.commission_paid
        )
        added = self.account.added_exposure(record.symbol, signed, price)
        if added and added + commission > self.account.buying_power():
            self._end(record, OrderStatus.CANCELED, "INSUFFICIENT_BUYING_POWER at fill", events)
            return budget
        position_before = (
            self.account.positions[record.symbol].quantity if record.symbol in self.account.positions else _ZERO
        )
        realized = self.account.fill(record.symbol, signed, price, commission)
        if match.reason is FillReason.MARKET_CLOSE:  # after this tick's marks: mark at the close, not the fill
            self.account.positions[record.symbol].price = bar.close
        record.filled += quantity
        record.notional += quantity * price
        record.commission_paid += commission
        record.commission_rate = rate
        record.move(OrderStatus.FILLED if record.filled == record.quantity else OrderStatus.PARTIALLY_FILLED)
        self._turnover += quantity * price
        fill = Fill(
            execution_id=f"x-{next(self._executions)}",
            order_id=record.order_id,
            symbol=record.symbol,
            side=record.side,
            quantity=quantity,
            price=price,
            commission=commission,
            time=bar.timestamp,
            ambiguous=match.ambiguous,
            reason=match.reason,
            slippage_bps=abs(price - raw) / raw * _BPS if price != raw else _ZERO,
            is_partial=record.filled < record.quantity,
            remaining_quantity=record.remaining,
        )
        self._fills.append(fill)
        self._trades.book(record.symbol, position_before, signed, price, commission, realized, bar.timestamp)
        events.append(OrderFilled(order=record.snapshot(), fill=fill))
        events.append(AccountUpdated(cash=self.account.cash, equity=self.account.equity))
        if record.stop_loss is not None or record.take_profit is not None:
            budget = self._place_children(record, quantity, match, bar, bar_index, events, budget)
        if record.oco_id is not None:
            self._settle_sibling(record, quantity, events)
        return budget

    # -- internals: brackets ------------------------------------------------------------

    def _children(self, entry: OrderRecord) -> list[OrderRecord]:
        return [self._orders[i] for i in (f"{entry.order_id}-sl", f"{entry.order_id}-tp") if i in self._orders]

    def _place_children(  # noqa: PLR0917
        self,
        entry: OrderRecord,
        quantity: Decimal,
        entry_match: Match,
        bar: Bar,
        bar_index: int,
        events: list[Event],
        budget: Decimal | None,
    ) -> Decimal | None:
        children: list[OrderRecord] = []
        for spec in exit_specs(entry):
            child = self._orders.get(spec[0])
            if child is None:
                child = new_exit(entry, spec, quantity, bar.timestamp, self._index, next(self._sequence))
                self._orders[child.order_id] = child
                self._working[entry.symbol].append(child)
                events.append(OrderAccepted(order=child.snapshot()))
            elif child.is_open:
                child.quantity += quantity
            else:
                continue
            children.append(child)
        if len(children) == 2:
            children[0].oco_id, children[1].oco_id = children[1].order_id, children[0].order_id
        working = [c for c in children if c.is_open]
        if not working or filled_at_close(entry_match):
            return budget  # filled at the close: the whole bar came before the entry
        if entry_match.at_open:  # the whole bar follows the entry: the exits match as on any later bar
            if len(working) == 2:
                return self._match_pair(working[0], working[1], bar, bar_index, budget, events)
            match = match_order(working[0], bar, self.config.intrabar)
            return budget if match.price is None else self._execute(working[0], match, bar, bar_index, events, budget)
        choice = exit_on_entry_bar(working, entry_match, bar, self.config.intrabar)
        return budget if choice is None else self._execute(choice[0], choice[1], bar, bar_index, events, budget)

    def _settle_sibling(self, child: OrderRecord, quantity: Decimal, events: list[Event]) -> None:
        sibling = self._orders.get(child.oco_id or "")
        if sibling is None or not sibling.is_open:
            return
        if child.status is OrderStatus.FILLED:
            self._end(sibling, OrderStatus.CANCELED, f"one-cancels-other: {child.order_id} filled", events)
            return
        sibling.quantity -= quantity
        if sibling.quantity <= sibling.filled:
            sibling.quantity = max(sibling.quantity, sibling.filled)
            self._end(sibling, OrderStatus.CANCELED, f"one-cancels-other: {child.order_id} filled", events)

    # -- internals: bookkeeping ----------------------------------------------------------

    def _end(self, record: OrderRecord, status: OrderStatus, reason: str, events: list[Event]) -> None:
        record.move(status)
        record.reason = reason
        snapshot = record.snapshot()
        events.append(
            OrderExpired(order=snapshot)
            if status is OrderStatus.EXPIRED
            else OrderCanceled(order=snapshot, reason=reason)
        )

    def _prune(self, symbol: str) -> None:
        orders = self._working[symbol]
        if any(not o.is_open for o in orders):
            self._working[symbol] = [o for o in orders if o.is_open]

    def _record_cash(self) -> Decimal:
        """Record equity when nothing is held: it is the cash (its float cached until cash changes)."""
        cash = self.account.cash
        if cash is not self._cash_seen:
            self._cash_seen, self._cash_float = cash, float(cash)
        self._equity.append(self._cash_float)
        return cash

    def _record_equity(self) -> Decimal:
        equity = self.account.cash
        for position in self.account.held.values():
            equity += position.quantity * position.price
        self._equity.append(float(equity))
        self._exposed += 1
        return equity

    def _finish(self) -> SimulationResult:
        account = self.account
        times = self.feed.ticks
        closed = [(t.pnl, t.return_pct) for t in self._trades.closed]
        final = account.equity
        metrics = compute_metrics(
            account.initial_cash,
            final,
            times,
            self._equity,
            closed,
            self._exposed,
            account.total_commission,
            self._turnover,
            self.config.periods_per_year,
        )
        positions = self.positions()
        return SimulationResult(
            session_id=self.config.session_id,
            initial_capital=account.initial_cash,
            final_equity=final,
            cash=account.cash,
            metrics=metrics,
            fills=tuple(self._fills),
            trades=(*self._trades.closed, *self._trades.open_trades()),
            orders=tuple(self.orders()),
            positions=positions,
            times=times,
            equity=tuple(self._equity[1:]),
            digest=compute_digest(self._fills, account.cash, positions),
            started_at=times[0],
            ended_at=times[-1],
            ticks=len(times),
            timeframe=self.feed.timeframe,
            symbols=self.feed.symbols,
            catalog_name=self.config.catalog_name,
            data_fingerprint=self.config.data_fingerprint,
        )
