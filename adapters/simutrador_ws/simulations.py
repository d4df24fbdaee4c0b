"""Simulations over the wire, sans I/O: the credit window, the tick stream and orders at their tick.

A `RemoteRun` drives one session's simulation (a core `SimulationHandle`) for a
client. With flow control (the default) it keeps a **credit window** of
``max_pending_ticks`` ticks: it never has more ticks sent and unacknowledged. The
simulator itself always stands at the **oldest unacknowledged tick**: orders for that
tick (in an ``order_batch`` stamped ``for_sequence_id`` or inline in its ``tick_ack``)
are submitted there, exactly where an embedded strategy submits them, and the
simulator moves on only when that tick is acknowledged. So a remote run's fills, and
its digest, equal the embedded run's for the same strategy.

Ticks ahead of the simulator (a window above 1) are sent from the shared bar feed
before the simulator reaches them, with ``resolved: false`` and without cash and
equity; when the simulator reaches such a tick while orders were working, a
``tick_resolved`` follows that tick's executions (nothing can happen on a tick
reached with no working order, and the client knows which it holds). A tick sent
when the simulator is on it carries ``resolved: true``, cash and equity.

Without flow control, `RemoteRun.stream_step` advances one tick at a time as the
server's pump paces it (``tick_interval_ms``), orders apply at the tick they arrive
on, and ``simulation_started`` says the run is not reproducible.

`SimulationDesk` is one connection's view: the runs it drives, keyed by session id
(many per connection; every message carries ``session_id``). `SimulationRegistry`
is the server's: runs outlive a dropped connection (they pause, state kept) and a
new connection of the same user picks them up with ``resume_simulation``.
Everything here returns messages (`simutrador_ws.routes.Push`) and never touches a
socket or a clock other than the one passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

import attrs

from simutrador import Bar, Engine, ErrorCode, SimutradorError, parse_timeframe
from simutrador.codec import ParseError, converter, format_datetime, parse_moment, result_to_wire
from simutrador.simulation import (
    Event,
    Order,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderRequest,
    OrderSide,
    SimulationCompleted,
    SimulationHandle,
    SimulationResult,
    Simulator,
    TickAdvanced,
    TimeInForce,
)
from simutrador.storage import JournalEntry
from simutrador_ws.dispatch import Push

__all__ = [
    "ACCOUNT_FREQUENCIES",
    "MAX_ORDER_ID_LENGTH",
    "RemoteRun",
    "RunOptions",
    "SimulationDesk",
    "SimulationLimits",
    "SimulationRegistry",
    "account_to_wire",
    "candle_to_wire",
    "order_request_from_wire",
    "order_to_wire",
]

ACCOUNT_FREQUENCIES: Final = ("every_fill", "every_tick", "none")
"""When ``account_snapshot`` is pushed: after ticks with fills, after every tick, never."""

MAX_ORDER_ID_LENGTH: Final = 64
PROGRESS_INTERVAL: Final = 0.5
"""Seconds at least between two ``simulation_progress`` messages (sent about every 1 % of the ticks)."""
_ORDER_TYPES: Final = ("market", "limit", "stop", "stop_limit")
_ORDER_FIELDS: Final = frozenset(
    {
        "order_id",
        "symbol",
        "side",
        "type",
        "quantity",
        "price",
        "limit_price",
        "stop_price",
        "stop_loss",
        "take_profit",
        "time_in_force",
        "expire_at",
    }
)


@attrs.frozen(kw_only=True, slots=True)
class SimulationLimits:
    """Bounds on what one client may ask of a simulation (server settings).

    Attributes:
        max_pending_ticks: The largest credit window a client may ask for.
        max_orders_per_batch: Orders in one ``order_batch`` or ``tick_ack``.
        max_open_orders: Working orders per simulation.
        default_tick_interval_ms: Pace of a stream without flow control when the
            client names none (the original clients never acknowledge ticks).
        ack_timeout: Seconds a tick may wait for its ``tick_ack`` before the
            simulation is paused (state kept).
        orders_per_minute: Orders per minute per connection (None: the plan's).
    """

    max_pending_ticks: int = 1000
    max_orders_per_batch: int = 1000
    max_open_orders: int = 10_000
    default_tick_interval_ms: int = 100
    ack_timeout: float = 300.0
    orders_per_minute: int | None = None


@attrs.frozen(kw_only=True, slots=True)
class RunOptions:
    """What ``start_simulation`` asked for (checked by `RunOptions.from_wire`).

    Attributes:
        flow_control: Credit window (True) or a paced stream.
        max_pending_ticks: The window.
        include_bars: Send each tick's candles (and the warmup history).
        account_update_frequency: One of `ACCOUNT_FREQUENCIES`.
        tick_interval_ms: The stream's pace without flow control.
        ack_start: Hold the first tick until ``tick_ack`` 0 (room for a strategy's
            ``on_start`` orders, submitted before the first bar as embedded).
    """

    flow_control: bool = True
    max_pending_ticks: int = 1
    include_bars: bool = True
    account_update_frequency: str = "every_fill"
    tick_interval_ms: int = 0
    ack_start: bool = False

    @classmethod
    def from_wire(cls, data: Mapping[str, Any], limits: SimulationLimits, *, compat: bool) -> RunOptions:
        """Read the options of a ``start_simulation``; `compat` (session parameters given) streams by default.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` naming the field.
        """
        flow = _flag(data, "flow_control", not compat)
        window = _whole(data, "max_pending_ticks", 1, 1, limits.max_pending_ticks)
        frequency = data.get("account_update_frequency", "every_fill")
        if frequency not in ACCOUNT_FREQUENCIES:
            raise _invalid("account_update_frequency", f"must be one of {', '.join(ACCOUNT_FREQUENCIES)}")
        default_interval = 0 if flow else limits.default_tick_interval_ms
        interval = _whole(data, "tick_interval_ms", default_interval, 0, 60_000)
        return cls(
            flow_control=flow,
            max_pending_ticks=window,
            include_bars=_flag(data, "include_bars", True),
            account_update_frequency=frequency,
            tick_interval_ms=interval,
            ack_start=_flag(data, "ack_start", False) and flow,
        )


def _invalid(field: str, problem: str) -> SimutradorError:
    return SimutradorError(ErrorCode.VALIDATION_FAILED, f"{field} {problem}", {"fields": [field]})


def _flag(data: Mapping[str, Any], field: str, default: bool) -> bool:
    value = data.get(field, default)
    if not isinstance(value, bool):
        raise _invalid(field, f"must be true or false, not {type(value).__name__}")
    return value


def _whole(data: Mapping[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = data.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(field, f"must be a whole number from {low:,} to {high:,}")
    return value


# -- wire shapes ------------------------------------------------------------------------


def candle_to_wire(bar: Bar) -> dict[str, str]:
    """One bar as a candle: ``{date, open, high, low, close, volume}``, prices as exact strings."""
    return {
        "date": format_datetime(bar.timestamp),
        "open": str(bar.open),
        "high": str(bar.high),
        "low": str(bar.low),
        "close": str(bar.close),
        "volume": str(bar.volume),
    }


def order_to_wire(order: Order) -> dict[str, Any]:
    """An order snapshot as JSON-ready data (the core converter's shape)."""
    return converter.unstructure(order)  # type: ignore[no-any-return]


def account_to_wire(simulator: Simulator) -> dict[str, Any]:
    """Cash, equity, buying power, positions (with their cost basis) and working order ids."""
    account = simulator.account
    positions: list[dict[str, Any]] = []
    for symbol, held in account.positions.items():
        if not held.quantity:
            continue
        snapshot = held.snapshot()
        positions.append(
            {
                "symbol": symbol,
                "quantity": str(held.quantity),
                "avg_cost": str(snapshot.avg_cost),
                "market_price": str(held.price),
                "market_value": str(snapshot.market_value),
                "unrealized_pnl": str(snapshot.unrealized_pnl),
                "realized_pnl": str(held.realized),
                "cost_basis": str(held.cost),
            }
        )
    return {
        "cash": str(account.cash),
        "equity": str(account.equity),
        "buying_power": str(account.buying_power()),
        "positions": positions,
        "open_orders": [order.order_id for order in simulator.open_orders()],
    }


def _decimal(item: Mapping[str, Any], field: str, *, positive: bool = True) -> Decimal | None:
    value = item.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise _order_problem(field, f"must be a number, not {type(value).__name__}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise _order_problem(field, f"must be a number, not {str(value)[:32]!r}") from None
    if not number.is_finite() or (positive and number <= 0):
        raise _order_problem(field, f"must be a positive number, not {str(value)[:32]!r}")
    return number


def _order_problem(field: str, problem: str) -> SimutradorError:
    return SimutradorError(ErrorCode.INVALID_ORDER, f"{field} {problem}", {"field": field})


def _prices(order: Mapping[str, Any], kind: str) -> tuple[Decimal | None, Decimal | None]:
    """The limit and stop prices of an order of type `kind`, checked against it."""
    price = _decimal(order, "price")
    limit = _decimal(order, "limit_price")
    stop = _decimal(order, "stop_price")
    if price is not None and limit is not None:
        raise _order_problem("price", "and limit_price are the same thing; give one")
    limit = limit or price
    if kind == "stop" and stop is None:
        stop, limit = limit, None
    if kind == "market" and (limit is not None or stop is not None):
        raise _order_problem("type", "market takes no price (give type limit, stop or stop_limit)")
    if kind in ("limit", "stop_limit") and limit is None:
        raise _order_problem("price", f"is required for a {kind} order")
    if kind == "stop_limit" and stop is None:
        raise _order_problem("stop_price", "is required for a stop_limit order")
    if kind == "limit" and stop is not None:
        raise _order_problem("stop_price", "is not for a limit order (type stop_limit takes both)")
    if kind == "stop" and limit is not None:
        raise _order_problem("price", "is not for a stop order (type stop_limit takes both)")
    return limit, stop


def order_request_from_wire(item: object) -> OrderRequest:
    """One wire order → an `OrderRequest` (the order type must agree with the prices given).

    ``{order_id, symbol, side, type, quantity, price?, stop_price?, stop_loss?,
    take_profit?, time_in_force, expire_at?}``; ``price`` is the limit of a limit or
    stop-limit order, and the trigger of a ``stop`` order that gives no ``stop_price``
    (as the original clients send it).

    Raises:
        SimutradorError: ``INVALID_ORDER`` naming the field.
    """
    if not isinstance(item, Mapping):
        raise _order_problem("order", f"must be an object, not {type(item).__name__}")
    fields = [str(k) for k in item]  # pyright: ignore[reportUnknownVariableType]
    order: Mapping[str, Any] = item  # pyright: ignore[reportUnknownVariableType]
    unknown = sorted(set(fields) - _ORDER_FIELDS)
    if unknown:
        raise _order_problem(unknown[0], f"is not an order field (unknown: {', '.join(u[:32] for u in unknown[:5])})")
    order_id = order.get("order_id")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= MAX_ORDER_ID_LENGTH:
        raise _order_problem("order_id", f"must be a string of 1 to {MAX_ORDER_ID_LENGTH} characters")
    symbol = order.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise _order_problem("symbol", "must be a non-empty string")
    side = order.get("side")
    if side not in ("buy", "sell"):
        raise _order_problem("side", f"must be buy or sell, not {str(side)[:16]!r}")
    kind = order.get("type", "market")
    if kind not in _ORDER_TYPES:
        raise _order_problem("type", f"must be one of {', '.join(_ORDER_TYPES)}, not {str(kind)[:16]!r}")
    quantity = _decimal(order, "quantity")
    if quantity is None:
        raise _order_problem("quantity", "is required")
    limit, stop = _prices(order, kind)
    tif = str(order.get("time_in_force", "day")).lower()
    try:
        time_in_force = TimeInForce(tif)
    except ValueError:
        choices = ", ".join(t.value for t in TimeInForce)
        raise _order_problem("time_in_force", f"must be one of {choices}, not {tif[:16]!r}") from None
    expire_at = order.get("expire_at")
    try:
        moment = None if expire_at is None else parse_moment(expire_at)
    except ParseError as error:
        raise _order_problem("expire_at", f"must be an ISO-8601 time ({error})") from None
    return OrderRequest(
        symbol=symbol.upper(),
        side=OrderSide(side),
        quantity=quantity,
        limit_price=limit,
        stop_price=stop,
        time_in_force=time_in_force,
        expire_at=moment,
        stop_loss=_decimal(order, "stop_loss"),
        take_profit=_decimal(order, "take_profit"),
        order_id=order_id,
    )


# -- one run ------------------------------------------------------------------------------


class RemoteRun:
    """One session's simulation driven by a remote client (see the module's docstring).

    Args:
        engine: The engine (results and state events go through it).
        user_id: The owner.
        handle: The started simulation.
        options: What ``start_simulation`` asked for.
        limits: The server's simulation limits.
        clock: Seconds (trio's clock in the server) for the ack timeout and order rate.
        journal: Queues journal entries and returns their ticket (a durable server's
            `simutrador.storage.journal.JournalWriter`); None keeps no journal.
        deferred_finish: The handle does not record the result itself: the run holds
            it in `finishing` for the server to record (`Engine.finish_simulation`)
            on a worker thread before sending the completion.
    """

    def __init__(
        self,
        engine: Engine,
        user_id: str,
        handle: SimulationHandle,
        *,
        options: RunOptions,
        limits: SimulationLimits,
        clock: Callable[[], float] = time.monotonic,
        journal: Callable[[Sequence[JournalEntry]], int] | None = None,
        deferred_finish: bool = False,
    ) -> None:
        self.engine = engine
        self._journal = journal
        self.ticket = 0  # the journal ticket the last command's answer waits for (0: nothing to wait for)
        self.owner: object | None = None  # the connection's desk driving it (None: nobody, after a disconnect)
        self._answered: dict[str, tuple[dict[str, Any], list[Push]]] = {}  # this tick's batches, by id
        self.deferred_finish = deferred_finish
        self.finishing: tuple[SimulationResult, list[Push]] | None = None  # recorded by the server, then sent
        self._last_advance: list[Push] = []  # what reaching the current tick caused (resent after a resume)
        self.user_id = user_id
        self.handle = handle
        self.simulator = handle.simulator
        self.session_id = handle.simulator.config.session_id
        self.options = options
        self.limits = limits
        self._clock = clock
        feed = self.simulator.feed
        self.total = len(feed.ticks)
        self._timeframe = feed.timeframe
        self._eod = _end_of_day_flags(self.simulator)
        self.acked = -1 if options.ack_start else 0
        self.sent = 0
        self.paused = False
        self.pause_reason = ""
        self.finished = False
        self.failed: SimutradorError | None = None
        self.waiting_since: float | None = None  # when the oldest unacknowledged tick was sent
        self.started_wall = clock()
        self._orders_window: list[float] = []
        self._progress_step = max(1, self.total // 100)
        self._progress_at = self.started_wall

    # -- reading --------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The tick the simulator stands on (0 before the first)."""
        return self.simulator.sequence_id

    @property
    def reproducible(self) -> bool:
        """Whether orders apply at the tick they name (flow control)."""
        return self.options.flow_control

    def started(self) -> dict[str, Any]:
        """The ``simulation_started`` data."""
        options = self.options
        return {
            "session_id": self.session_id,
            "started_at": format_datetime(self.engine.clock()),
            "flow_control_enabled": options.flow_control,
            "max_pending_ticks": options.max_pending_ticks,
            "include_bars": options.include_bars,
            "account_update_frequency": options.account_update_frequency,
            "tick_interval_ms": options.tick_interval_ms or None,
            "ack_start": options.ack_start,
            "estimated_ticks": self.total,
            "timeframe": self._timeframe,
            "symbols": list(self.simulator.feed.symbols),
            "initial_capital": str(self.simulator.config.initial_capital),
            "reproducible": self.reproducible,
            "history_follows": self._has_history(),
        }

    def _has_history(self) -> bool:
        feed = self.simulator.feed
        return self.options.include_bars and any(feed.first[s] for s in feed.symbols)

    def history(self) -> list[Push]:
        """The ``history_snapshot`` (warmup bars) when the session has any and bars are wanted."""
        feed = self.simulator.feed
        if not self._has_history():
            return []
        candles = {s: [candle_to_wire(b) for b in feed.series[s][: feed.first[s]]] for s in feed.symbols}
        count = sum(len(c) for c in candles.values())
        return [
            Push(
                type="history_snapshot",
                data={"session_id": self.session_id, "timeframe": self._timeframe, "candles": candles, "count": count},
            )
        ]

    def account(self) -> dict[str, Any]:
        """The ``account_snapshot`` / ``current_positions`` data."""
        return {"session_id": self.session_id, "sequence_id": self.position, **account_to_wire(self.simulator)}

    # -- flow ---------------------------------------------------------------------------

    def begin(self) -> list[Push]:
        """What follows ``simulation_started``: the history, then the first ticks the window allows."""
        out = self.history()
        if self.options.flow_control:
            out += self._flow()
        return out

    def ack(self, sequence_id: object, orders: object) -> list[Push]:
        """A ``tick_ack``: submit its orders at the tick, then move on and refill the window.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for an ack out of order, of a tick
                never sent, or without flow control; nothing changes.
        """
        self._check_running()
        if not self.options.flow_control:
            raise _invalid("sequence_id", "is not acknowledged without flow control (this run streams)")
        expected = self.acked + 1
        if isinstance(sequence_id, bool) or not isinstance(sequence_id, int):
            raise _invalid("sequence_id", "must be a whole number")
        if sequence_id <= self.acked:
            raise _invalid("sequence_id", f"{sequence_id} was already acknowledged (next: {expected})")
        if sequence_id > self.sent:
            raise _invalid("sequence_id", f"{sequence_id} was never sent (last sent: {self.sent})")
        if sequence_id != expected:
            raise _invalid("sequence_id", f"acknowledge ticks in order: {expected} first, not {sequence_id}")
        out: list[Push] = []
        if orders is not None:
            reply, pushes = self.batch(f"ack-{sequence_id}", sequence_id, orders, "best_effort")
            out += pushes
            out.append(Push(type="batch_ack", data=reply))
        self.acked = sequence_id
        self.waiting_since = None
        self._answered.clear()  # a batch can only be sent again for the tick not yet acknowledged
        return out + self._flow()

    def batch(
        self, batch_id: str, for_sequence_id: object, orders: object, mode: object
    ) -> tuple[dict[str, Any], list[Push]]:
        """Submit a batch at its tick: the ``batch_ack`` data and the events it caused (sent before it).

        Each order is accepted or rejected on its own (``best_effort``); ``atomic``
        submits none unless every order is well-formed. Orders the account cannot
        afford are rejected by the simulator (an ``order_update`` says so).

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a batch at the wrong tick, too
                large, or not a list; nothing is submitted.
        """
        self._check_running()
        answered = self._answered.get(batch_id)
        if answered is not None:  # sent again after a reconnection: the same answer, nothing submitted twice
            return answered
        if mode not in ("best_effort", "atomic"):
            raise _invalid("execution_mode", "must be best_effort or atomic")
        if not isinstance(orders, list):
            raise _invalid("orders", "must be a list of orders")
        items: list[object] = orders  # pyright: ignore[reportUnknownVariableType]
        if len(items) > self.limits.max_orders_per_batch:
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"{len(items):,} orders in one batch; at most {self.limits.max_orders_per_batch:,} "
                "(setting simulation_max_orders_per_batch)",
                {"fields": ["orders"], "max_orders_per_batch": self.limits.max_orders_per_batch},
            )
        if self.options.flow_control:
            self._check_tick(for_sequence_id)
        requests: list[OrderRequest | SimutradorError] = []
        for item in items:
            try:
                requests.append(order_request_from_wire(item))
            except SimutradorError as error:
                requests.append(error)
        accepted: list[str] = []
        errors: dict[str, dict[str, Any]] = {}
        events: list[Event] = []
        seen: set[str] = set()
        atomic_failure = mode == "atomic" and any(isinstance(r, SimutradorError) for r in requests)
        submitted: list[OrderRequest] = []
        for index, request in enumerate(requests):
            key = _order_key(items[index], index)
            problem = self._submit_one(request, seen, events, submitted, atomic_failure=atomic_failure)
            if problem is None:
                accepted.append(key)
            else:
                errors[key] = problem
        rejected = {key: str(problem["message"]) for key, problem in errors.items()}
        reply = {
            "session_id": self.session_id,
            "batch_id": batch_id,
            "for_sequence_id": self.position,
            "accepted_orders": accepted,
            "rejected_orders": rejected,
            "errors": errors,
            "estimated_fills": {},
        }
        pushes = self._event_pushes(events)
        if any(type(e) is OrderFilled for e in events) and self.options.account_update_frequency != "none":
            pushes.append(Push(type="account_snapshot", data=self.account()))
        self._answered[batch_id] = (reply, pushes)
        if submitted:
            self._record(
                "batch",
                {
                    "batch_id": batch_id,
                    "orders": [converter.unstructure(r) for r in submitted],
                    "reply": reply,
                    "pushes": [[p.type, p.data] for p in pushes],
                },
            )
        return reply, pushes

    def _submit_one(
        self,
        request: OrderRequest | SimutradorError,
        seen: set[str],
        events: list[Event],
        submitted: list[OrderRequest],
        *,
        atomic_failure: bool,
    ) -> dict[str, Any] | None:
        """Submit one order of a batch (its events join `events`); what refused it, or None when accepted."""
        if isinstance(request, SimutradorError):
            return _error_of(request)
        if atomic_failure:
            return _error_of(
                SimutradorError(ErrorCode.INVALID_ORDER, "not submitted: another order of the atomic batch is invalid")
            )
        problem = self._admit(request, seen)
        if problem is not None:
            return _error_of(problem)
        seen.add(request.order_id or "")
        submitted.append(request)  # journaled even if the simulator refuses it: it counted it
        try:
            caused = self.handle.submit(request)
        except SimutradorError as error:
            return _error_of(error)
        events += caused
        first = caused[0]
        if isinstance(first, OrderRejected):
            return {"error_code": first.code, "message": first.reason, "details": dict(first.details)}
        return None

    def cancel(self, order_id: object, for_sequence_id: object) -> tuple[dict[str, Any], list[Push]]:
        """Cancel a working order at the current tick: the ``order_canceled`` data and the events.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown or finished order;
                ``VALIDATION_FAILED`` for the wrong tick.
        """
        self._check_running()
        if not isinstance(order_id, str):
            raise _invalid("order_id", "must be a string")
        if self.options.flow_control and for_sequence_id is not None:
            self._check_tick(for_sequence_id)
        events = self.handle.cancel_order(order_id)
        self._record("cancel", {"order_id": order_id})
        canceled = [e.order.order_id for e in events if isinstance(e, OrderCanceled)]
        reply = {
            "session_id": self.session_id,
            "order_id": order_id,
            "canceled": canceled,
            "sequence_id": self.position,
        }
        return reply, self._event_pushes(events)

    def pause(self, reason: str) -> list[Push]:
        """Hold the run (state kept): no tick moves until `resume`."""
        if self.finished or self.paused:
            return []
        self.paused, self.pause_reason = True, reason
        self.handle.pause()
        return [
            Push(
                type="simulation_paused",
                data={
                    "session_id": self.session_id,
                    "reason": reason,
                    "sequence_id": self.position,
                    "last_acknowledged": max(self.acked, 0),
                    "last_sent": self.sent,
                },
            )
        ]

    def resume(self, *, resend: bool = False) -> list[Push]:
        """Go on after `pause`; with `resend` (a new connection) the unacknowledged ticks are sent again."""
        self._check_running(allow_paused=True)
        was = self.paused
        self.paused, self.pause_reason = False, ""
        self.handle.resume()
        out = [
            Push(
                type="simulation_resumed",
                data={"session_id": self.session_id, "sequence_id": self.position, "was_paused": was},
            )
        ]
        if resend and self.options.flow_control:
            for sequence_id in range(max(self.acked + 1, 1), self.sent + 1):
                out.append(self._tick(sequence_id, resolved=sequence_id == self.position))
        if self.options.flow_control:
            out += self._flow()
        self.waiting_since = self._clock() if self.sent > self.acked else None
        return out

    def stream_step(self) -> list[Push]:
        """Without flow control: advance one tick and return what it sends (nothing when paused or done)."""
        if self.paused or self.finished or self.options.flow_control:
            return []
        return self._advance_once(send_tick=True)

    def stalled(self, now: float) -> bool:
        """Whether the oldest unacknowledged tick has waited longer than the ack timeout."""
        since = self.waiting_since
        return since is not None and not self.paused and now - since >= self.limits.ack_timeout

    def record_start(self) -> None:
        """Journal the start (the options a restore needs)."""
        self._record("start", {"options": attrs.asdict(self.options)})

    def remember_batches(self, entries: Sequence[JournalEntry]) -> None:
        """After a restore: the answers of the current tick's batches, for a client that sends one again."""
        for entry in entries:
            if entry.kind == "batch" and entry.tick == self.position:
                body = entry.body
                pushes = [Push(type=str(kind), data=data) for kind, data in body["pushes"]]
                self._answered[str(body["batch_id"])] = (dict(body["reply"]), pushes)

    def resync(self, last_processed: object) -> tuple[dict[str, Any], list[Push]]:
        """A client (re)connected after processing tick `last_processed`: the ``state_sync`` data and what follows.

        The run stands on that tick (its ``tick_ack`` is expected again) or one
        past it (its ack arrived and the server moved on: what reaching the next
        tick caused is missed, sent in ``state_sync`` and followed by that tick
        again). Ticks sent ahead are sent again.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a tick the run is not at.
        """
        self._check_running(allow_paused=True)
        if not self.options.flow_control:
            raise _invalid("session_id", "streams without flow control; resume it with resume_simulation")
        position = self.position
        if isinstance(last_processed, bool) or not isinstance(last_processed, int):
            raise _invalid("last_processed_sequence_id", "must be a whole number")
        if last_processed not in (position, position - 1):
            raise _invalid(
                "last_processed_sequence_id",
                f"{last_processed} does not match the run: it stands on tick {position} "
                f"(resume from tick {max(position - 1, 0)} or {position})",
            )
        missed = self._last_advance if last_processed == position - 1 else []
        self.acked = position - 1
        self.sent = position
        self.paused, self.pause_reason = False, ""
        self.handle.resume()
        now = self.simulator.now
        data = {
            "session_id": self.session_id,
            "current_sim_time": None if now is None else format_datetime(now),
            "next_sequence_id": last_processed + 1,
            "last_acknowledged": max(self.acked, 0),
            "account_snapshot": self.account(),
            "pending_orders": [order.order_id for order in self.simulator.open_orders()],
            "missed_executions": [p.data for p in missed if p.type == "execution_report"],
            "missed_messages": [{"type": p.type, "data": p.data} for p in missed],
        }
        out: list[Push] = []
        if last_processed == position - 1 and position >= 1:
            out.append(self._tick(position, resolved=True))
        out += self._flow()
        self.waiting_since = self._clock() if self.sent > self.acked else None
        return data, out

    # -- internals ----------------------------------------------------------------------

    def _record(self, kind: str, body: dict[str, Any]) -> None:
        if self._journal is not None:
            entry = JournalEntry(session_id=self.session_id, tick=self.position, kind=kind, body=body)
            self.ticket = self._journal([entry])

    def _check_running(self, *, allow_paused: bool = False) -> None:
        if self.finished:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"the simulation of session {self.session_id} has ended; its results are in get_results",
                {"session_id": self.session_id},
            )
        if self.paused and not allow_paused:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"the simulation of session {self.session_id} is paused ({self.pause_reason}); send resume_simulation",
                {"session_id": self.session_id},
            )

    def _check_tick(self, for_sequence_id: object) -> None:
        if isinstance(for_sequence_id, bool) or not isinstance(for_sequence_id, int):
            raise _invalid("for_sequence_id", "must be the whole number of the tick the orders are for")
        current = self.acked + 1
        if for_sequence_id < current:
            raise _invalid(
                "for_sequence_id", f"{for_sequence_id} is in the past: tick {current - 1} was already acknowledged"
            )
        if for_sequence_id > current or for_sequence_id > self.sent:
            raise _invalid(
                "for_sequence_id",
                f"{for_sequence_id} is beyond the window: orders are for tick {current}, the oldest unacknowledged",
            )

    def _admit(self, request: OrderRequest, seen: set[str]) -> SimutradorError | None:
        order_id = request.order_id or ""
        if order_id in seen or self._known(order_id):
            return SimutradorError(ErrorCode.INVALID_ORDER, f"duplicate order id {order_id!r}", {"order_id": order_id})
        if len(self.simulator.open_orders()) >= self.limits.max_open_orders:
            return SimutradorError(
                ErrorCode.INVALID_ORDER,
                f"{self.limits.max_open_orders:,} orders are already working; cancel some first "
                "(setting simulation_max_open_orders)",
                {"max_open_orders": self.limits.max_open_orders},
            )
        per_minute = self.limits.orders_per_minute
        if per_minute is not None:
            now = self._clock()
            recent = [t for t in self._orders_window if now - t < 60.0]
            if len(recent) >= per_minute:
                self._orders_window = recent
                wait = 60.0 - (now - recent[0])
                return SimutradorError(
                    ErrorCode.RATE_LIMIT_EXCEEDED,
                    f"more than {per_minute:,} orders per minute (the plan's orders_per_minute)",
                    {"orders_per_minute": per_minute},
                    retry_after_ms=math.ceil(wait * 1000),
                )
            recent.append(now)
            self._orders_window = recent
        return None

    def _known(self, order_id: str) -> bool:
        try:
            self.simulator.order(order_id)
        except SimutradorError:
            return False
        return True

    def _flow(self) -> list[Push]:
        """Advance to the oldest unacknowledged tick, then send what the window allows."""
        out: list[Push] = []
        if self.paused or self.finished:
            return out
        while self.position < self.acked + 1 and self.position < self.total:
            out += self._advance_once(send_tick=self.position + 1 > self.sent)
            if self.finished:
                return out
        if self.acked >= self.total:  # every tick acknowledged: complete
            return out + self._advance_once(send_tick=False)
        window = self.options.max_pending_ticks
        while self.sent - self.acked < window and self.sent < self.total:
            self.sent += 1
            out.append(self._tick(self.sent, resolved=self.sent == self.position))
        if self.sent > self.acked and self.waiting_since is None:
            self.waiting_since = self._clock()
        return out

    def _advance_once(self, *, send_tick: bool) -> list[Push]:
        simulator = self.simulator
        working = simulator.has_working_orders
        try:
            events = self.handle.advance()
        except SimutradorError as error:  # the plan's wall-clock limit
            return self._fail(error)
        last = events[-1]
        if type(last) is SimulationCompleted:
            return self._complete(last.result)
        out = self._event_pushes(events) if len(events) > 1 else []
        frequency = self.options.account_update_frequency
        if frequency == "every_tick" or (frequency == "every_fill" and any(type(e) is OrderFilled for e in events)):
            out.append(Push(type="account_snapshot", data=self.account()))
        self._last_advance = list(out)
        position = self.position
        if send_tick:
            self.sent = max(self.sent, position)
            out.append(self._tick(position, resolved=True))
        elif working:
            out.append(
                Push(
                    type="tick_resolved",
                    data={
                        "session_id": self.session_id,
                        "sequence_id": position,
                        "cash": str(simulator.cash),
                        "equity": str(simulator.equity),
                    },
                )
            )
        if position % self._progress_step == 0 and self._clock() - self._progress_at >= PROGRESS_INTERVAL:
            self._progress_at = self._clock()
            out.append(self._progress(position))
        return out

    def _tick(self, sequence_id: int, *, resolved: bool) -> Push:
        feed = self.simulator.feed
        index = sequence_id - 1
        series = feed.series
        slot = feed.slots[index]
        moment = feed.ticks[index]
        when = format_datetime(moment)
        data: dict[str, Any] = {
            "session_id": self.session_id,
            "sequence_id": sequence_id,
            "sim_time": when,
            "timeframe": self._timeframe,
            "symbols_trading": [symbol for symbol, _ in slot],
            "is_eod": self._eod[index],
            "resolved": resolved,
        }
        if self.options.include_bars:
            candles: dict[str, dict[str, str]] = {}
            for symbol, i in slot:
                bar = series[symbol][i]
                candles[symbol] = {
                    "date": when if bar.timestamp == moment else format_datetime(bar.timestamp),
                    "open": str(bar.open),
                    "high": str(bar.high),
                    "low": str(bar.low),
                    "close": str(bar.close),
                    "volume": str(bar.volume),
                }
            data["candles"] = candles
        if resolved:
            account = self.simulator.account
            data["cash"] = str(account.cash)
            data["equity"] = str(account.equity)
        return Push(type="tick", data=data)

    def _progress(self, done: int) -> Push:
        elapsed = self._clock() - self.started_wall
        eta = elapsed / done * (self.total - done) if done else None
        return Push(
            type="simulation_progress",
            data={
                "session_id": self.session_id,
                "done": done,
                "total": self.total,
                "eta_sec": None if eta is None else round(eta, 3),
            },
        )

    def _event_pushes(self, events: Iterable[Event]) -> list[Push]:
        out: list[Push] = []
        session_id = self.session_id
        for event in events:
            kind = type(event)
            if kind is TickAdvanced or kind is SimulationCompleted:
                continue
            if kind is OrderFilled:
                fill = event.fill  # type: ignore[union-attr]
                out.append(
                    Push(
                        type="execution_report",
                        data={
                            "session_id": session_id,
                            "sequence_id": self.position,
                            "execution_id": fill.execution_id,
                            "order_id": fill.order_id,
                            "symbol": fill.symbol,
                            "side": fill.side.value,
                            "executed_quantity": str(fill.quantity),
                            "executed_price": str(fill.price),
                            "commission": str(fill.commission),
                            "slippage_bps": int(fill.slippage_bps.to_integral_value()),
                            "slippage_bps_exact": str(fill.slippage_bps),
                            "timestamp": format_datetime(fill.time),
                            "is_partial": fill.is_partial,
                            "remaining_quantity": str(fill.remaining_quantity),
                            "fill_reason": fill.reason.value,
                            "ambiguous": fill.ambiguous,
                            "order": order_to_wire(event.order),  # type: ignore[union-attr]
                        },
                    )
                )
                continue
            data: dict[str, Any] = {"session_id": session_id, "sequence_id": self.position}
            if isinstance(event, OrderAccepted):
                data |= {"event": "accepted", "order": order_to_wire(event.order)}
            elif isinstance(event, OrderRejected):
                data |= {
                    "event": "rejected",
                    "order": order_to_wire(event.order),
                    "reason": event.reason,
                    "error_code": event.code,
                    "details": dict(event.details),
                }
            elif isinstance(event, OrderCanceled):
                data |= {"event": "canceled", "order": order_to_wire(event.order), "reason": event.reason}
            elif isinstance(event, OrderExpired):
                data |= {"event": "expired", "order": order_to_wire(event.order)}
            else:  # AccountUpdated: the account_snapshot says it
                continue
            out.append(Push(type="order_update", data=data))
        return out

    def _complete(self, result: SimulationResult) -> list[Push]:
        self.finished = True
        self.waiting_since = None
        if self.deferred_finish:  # the server records the result on a worker thread, then sends these
            self.finishing = (result, self._completion_pushes(result))
            return []
        return self._completion_pushes(result)

    def _completion_pushes(self, result: SimulationResult) -> list[Push]:
        data = self.completion(result)
        out = [
            Push(
                type="simulation_progress",
                data={"session_id": self.session_id, "done": self.total, "total": self.total, "eta_sec": 0},
            )
        ]
        out.append(Push(type="simulation_complete", data=data))
        out.append(Push(type="simulation_end", data=data))
        return out

    def completion(self, result: SimulationResult) -> dict[str, Any]:
        """The ``simulation_complete`` data: final equity, every metric of the embedded result, the digest."""
        summary = result_to_wire(result, series=False)
        metrics: dict[str, Any] = summary.get("metrics", {})
        return {
            **metrics,
            "session_id": self.session_id,
            "final_equity": summary["final_equity"],
            "cash": summary["cash"],
            "total_trades": metrics.get("total_trades", metrics.get("trades", len(result.trades))),
            "digest": result.digest,
            "ticks": result.ticks,
            "fills": len(result.fills),
            "metrics": metrics,
            "win_rate": metrics.get("win_rate_pct"),
            "simulation_duration_sec": round(self._clock() - self.started_wall),
            "wall_seconds": round(self._clock() - self.started_wall, 3),
            "reproducible": self.reproducible,
        }

    def fail(self, error: SimutradorError) -> list[Push]:
        """End the run in ERROR with `error` (a limit passed, the journal failed); the ``session_error`` to send."""
        return self._fail(error)

    def _fail(self, error: SimutradorError) -> list[Push]:
        self.finished = True
        self.failed = error
        self.waiting_since = None
        self.engine.fail_simulation(self.user_id, self.session_id, error)
        payload = error.to_dict() | {"session_id": self.session_id}
        return [Push(type="session_error", data=payload)]


def _order_key(item: object, index: int) -> str:
    if isinstance(item, Mapping):
        value = item.get("order_id")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(value, str) and value:
            return value[:MAX_ORDER_ID_LENGTH]
    return f"#{index}"


def _error_of(error: SimutradorError) -> dict[str, Any]:
    return {"error_code": error.code.value, "message": error.message, "details": dict(error.details)}


def _end_of_day_flags(simulator: Simulator) -> list[bool]:
    """Per tick: whether it is the last of its trading day (the first instrument's zone)."""
    ticks = simulator.feed.ticks
    if not parse_timeframe(simulator.feed.timeframe).intraday:
        return [True] * len(ticks)
    zone_name = next(iter(simulator.config.instruments.values())).timezone if simulator.config.instruments else "UTC"
    zone = ZoneInfo(str(zone_name))
    days: list[date] = [t.astimezone(zone).date() for t in ticks]
    return [i + 1 == len(days) or days[i + 1] != days[i] for i in range(len(days))]


# -- the connection's desk and the server's registry --------------------------------------


class SimulationRegistry:
    """Every remote run of a server, by session id: they outlive the connection that started them."""

    def __init__(self) -> None:
        self._runs: dict[str, RemoteRun] = {}

    def get(self, session_id: str) -> RemoteRun | None:
        """The run of `session_id`, if one was started and not forgotten."""
        return self._runs.get(session_id)

    def add(self, run: RemoteRun) -> None:
        """Remember `run` (replacing a finished one of the same session)."""
        self._runs[run.session_id] = run

    def __len__(self) -> int:
        return len(self._runs)

    def prune(self, engine: Engine) -> int:
        """Forget finished runs and runs whose session is gone (deleted, expired); how many were forgotten.

        A finished run's result is in the store; a paused one is kept until its
        session expires (``session_timeout_minutes`` after its last activity).
        """
        gone = [
            session_id
            for session_id, run in self._runs.items()
            if run.finished or not _exists(engine, run.user_id, session_id)
        ]
        for session_id in gone:
            run = self._runs.pop(session_id)
            owner = run.owner
            if isinstance(owner, SimulationDesk) and owner.runs.get(session_id) is run:
                del owner.runs[session_id]
        return len(gone)


def _exists(engine: Engine, user_id: str, session_id: str) -> bool:
    try:
        engine.get_session(user_id, session_id)
    except SimutradorError:
        return False
    return True


class SimulationDesk:
    """One connection's runs (sans I/O): which it drives, and what to do when it closes.

    Args:
        engine: The engine.
        user_id: The connection's user.
        registry: The server's runs (shared by every connection).
        limits: The server's simulation limits.
        clock: Seconds (trio's clock in the server).
        journal: Queues journal entries, returns their ticket (a durable server's
            writer); None keeps no journal (then a restart loses running simulations).
        deferred_finish: Leave recording results to the server (see `RemoteRun`).
    """

    def __init__(
        self,
        engine: Engine,
        user_id: str,
        registry: SimulationRegistry,
        limits: SimulationLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        journal: Callable[[Sequence[JournalEntry]], int] | None = None,
        deferred_finish: bool = False,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.deferred_finish = deferred_finish
        self.user_id = user_id
        self.registry = registry
        self.limits = limits
        self.clock = clock
        self.runs: dict[str, RemoteRun] = {}
        self.streams_started: list[RemoteRun] = []  # runs without flow control the server must pace
        self._waiting: list[RemoteRun] = []  # runs whose last answer waits for a journal ticket

    def start(self, session_id: str, options: RunOptions) -> RemoteRun:
        """Start `session_id`'s simulation for this connection.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` (another user's session included);
                ``INVALID_STATE_TRANSITION`` unless READY.
        """
        handle = self.engine.start_simulation(self.user_id, session_id, deferred_finish=self.deferred_finish)
        run = self._new_run(handle, options)
        run.owner = self
        run.record_start()
        self.registry.add(run)
        self.runs[session_id] = run
        if not options.flow_control:
            self.streams_started.append(run)
        return run

    def run(self, session_id: object) -> RemoteRun:
        """The run of `session_id` this connection drives.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` for a session not the caller's;
                ``INVALID_STATE_TRANSITION`` for one not running here (resume it first).
        """
        if not isinstance(session_id, str):
            raise _invalid("session_id", "must be a string")
        run = self.runs.get(session_id)
        if run is not None:
            return run
        session = self.engine.get_session(self.user_id, session_id)  # SESSION_NOT_FOUND for others' sessions
        held = self.registry.get(session_id)
        if held is not None and held.user_id == self.user_id and not held.finished:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"session {session_id} is simulating on another connection (or paused after a disconnect); "
                "send resume_simulation here to take it over",
                {"session_id": session_id, "state": session.state.value},
            )
        state = session.state.value
        advice = "its results are in get_results" if state == "completed" else "send start_simulation first"
        raise SimutradorError(
            ErrorCode.INVALID_STATE_TRANSITION,
            f"session {session_id} is {state}, not simulating; {advice}",
            {"session_id": session_id, "state": state},
        )

    def adopt(self, session_id: object) -> RemoteRun:
        """Take over a run of this user whose connection is gone; raises like `run`.

        Raises:
            SimutradorError: ``INVALID_STATE_TRANSITION`` for a run another open
                connection drives (it keeps it).
        """
        if not isinstance(session_id, str):
            raise _invalid("session_id", "must be a string")
        if session_id in self.runs:
            return self.runs[session_id]
        self.engine.get_session(self.user_id, session_id)
        held = self.registry.get(session_id)
        if held is None or held.user_id != self.user_id or held.finished:
            return self.run(session_id)
        self._take(held)
        if not held.options.flow_control:
            self.streams_started.append(held)
        return held

    def resume_session(self, session_id: object, last_processed: object) -> tuple[dict[str, Any], list[Push]]:
        """``resume_session``: take the run over (rebuilding it from the journal after a restart) and resync it.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` for a
                session with nothing to resume or driven by another open connection;
                ``DATA_CHANGED`` when its data changed since it started;
                ``VALIDATION_FAILED`` for a tick the run is not at.
        """
        if not isinstance(session_id, str):
            raise _invalid("session_id", "must be a string")
        run = self.runs.get(session_id)
        if run is None:
            session = self.engine.get_session(self.user_id, session_id)
            held = self.registry.get(session_id)
            if held is not None and held.user_id == self.user_id and not held.finished:
                run = held
            elif session.state.value == "paused":
                run = self._restore(session_id, last_processed)
            else:
                return self.run(session_id).resync(last_processed)  # raises: nothing to resume
            self._take(run)
        return run.resync(last_processed)

    def _restore(self, session_id: str, last_processed: object) -> RemoteRun:
        entries = self.engine.journal_of(session_id)
        start = next((entry for entry in entries if entry.kind == "start"), None)
        if start is None:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"session {session_id} has no journal to resume from (it ran on a server without a durable store, "
                "or did not start over the wire); start a new session",
                {"session_id": session_id},
            )
        if isinstance(last_processed, bool) or not isinstance(last_processed, int):
            raise _invalid("last_processed_sequence_id", "must be a whole number")
        commands = [entry for entry in entries if entry.kind in ("batch", "cancel")]
        handle = self.engine.restore_simulation(
            self.user_id, session_id, commands, until=last_processed, deferred_finish=self.deferred_finish
        )
        options = RunOptions(**dict(start.body["options"]))
        run = self._new_run(handle, options)
        run.paused, run.pause_reason = True, "restored after a restart"
        run.remember_batches(entries)
        self.registry.add(run)
        return run

    def _new_run(self, handle: SimulationHandle, options: RunOptions) -> RemoteRun:
        return RemoteRun(
            self.engine,
            self.user_id,
            handle,
            options=options,
            limits=self.limits,
            clock=self.clock,
            journal=self.journal,
            deferred_finish=self.deferred_finish,
        )

    def _take(self, run: RemoteRun) -> None:
        if run.owner is not None and run.owner is not self:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"session {run.session_id} is simulating on another open connection, which keeps it; "
                "close that connection (or pause it there) first",
                {"session_id": run.session_id},
            )
        run.owner = self
        self.runs[run.session_id] = run

    def take_ticket(self) -> int:
        """The highest journal ticket the answers queued since the last call must wait for (0: none)."""
        ticket = 0
        self._waiting = []
        for run in self.runs.values():
            if run.ticket:
                ticket = max(ticket, run.ticket)
                run.ticket = 0
                self._waiting.append(run)
        return ticket

    def take_finishing(self) -> list[RemoteRun]:
        """Runs whose last tick was processed and whose result the server must now record."""
        return [run for run in self.runs.values() if run.finishing is not None]

    def fail_uncommitted(self, error: SimutradorError) -> list[Push]:
        """The journal could not commit the last commands: their runs end in ERROR (what to tell the client).

        Their orders were applied in memory but are not durable, so the run cannot
        go on as if they were: it stops here, with the storage error.
        """
        out: list[Push] = []
        for run in self._waiting:
            out += run.fail(error)
        self._waiting = []
        return out

    def stalled(self, now: float) -> list[Push]:
        """Pause every run whose oldest tick has waited past the ack timeout; what to tell the client."""
        out: list[Push] = []
        for run in self.runs.values():
            if run.stalled(now):
                out += run.pause(f"no tick_ack for {self.limits.ack_timeout:g} s")
        return out

    def closed(self) -> None:
        """The connection is gone: pause its unfinished runs (state kept for resume_simulation)."""
        for run in self.runs.values():
            if not run.finished:
                run.pause("disconnected")
            if run.owner is self:
                run.owner = None
        self.runs.clear()
        self.streams_started.clear()

    def take_new_streams(self) -> list[RemoteRun]:
        """The runs without flow control started since the last call (the server starts a pump for each)."""
        started, self.streams_started = self.streams_started, []
        return started
