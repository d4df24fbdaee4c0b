"""Simulations run on a server, driven from the client: the mirror, the driver, the strategy loop.

`RemoteBook` is the client's exact mirror of the server's simulator as a strategy
sees it (cash, positions with their cost basis, orders, bars up to the current tick),
kept from the server's messages; it is the `simutrador.simulation.runner.Book` a
`StrategyContext` reads, so a strategy runs unchanged. Orders a strategy submits are
given the id the embedded simulator would give (``o-1``, ``o-2``…), held, and sent
when its callback returns — in an ``order_batch`` for the current tick, whose
``batch_ack`` arrives after everything the batch caused — before the tick is
acknowledged. `RemoteDriver` speaks the protocol (start, batches, acks, results);
`run_remote_strategy` calls the strategy's callbacks in the embedded runner's order,
so the run's orders, fills and digest are the embedded run's.

`RemoteSimulation` is the lower-level async iterator for callers who drive a run
themselves: ``async for tick in sim: sim.buy(...)``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Final, Protocol, TypeVar

import attrs
import trio

from simutrador import Bar, ErrorCode, SimutradorError
from simutrador.codec import converter, format_datetime, parse_moment, result_from_wire
from simutrador.simulation import (
    Event,
    Fill,
    FillReason,
    Order,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionState,
    Progress,
    SimulationResult,
    StrategyContext,
    Tick,
    field_values,
    invalid_order,
    not_a_session_symbol,
    stage_of,
    strategy_callbacks,
)
from simutrador_ws.envelope import Envelope

__all__ = [
    "ClientConnectionError",
    "Reconnection",
    "RemoteBook",
    "RemoteDriver",
    "RemoteSimulation",
    "Transport",
    "run_remote_strategy",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ClientConnectionError(Exception):
    """The connection could not be opened, was lost, or a reply did not come in time."""


@attrs.frozen(kw_only=True)
class Reconnection:
    """How a remote run comes back after its connection drops.

    Attributes:
        attempts: Reconnections tried before giving up (0: never reconnect).
        first_delay: Seconds before the first; doubled for each next one.
        max_delay: Cap on one delay.
    """

    attempts: int = 8
    first_delay: float = 0.25
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt` (1, 2...)."""
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


_ZERO: Final = Decimal(0)


class Transport(Protocol):
    """What the driver needs of a client connection (`simutrador_ws.client.SessionClient` has it)."""

    async def request(self, type_: str, data: Mapping[str, Any] | None = None) -> Envelope:
        """Send one message and return its reply (raising the server's error)."""
        ...

    async def send(self, type_: str, data: Mapping[str, Any], *, errors_to: str) -> None:
        """Send one message expecting no reply; an error it causes goes to `errors_to`'s stream."""
        ...

    def subscribe(self, session_id: str) -> trio.MemoryReceiveChannel[Envelope | BaseException]:
        """Every pushed message carrying `session_id`, in order, from now on."""
        ...

    def unsubscribe(self, session_id: str) -> None:
        """Stop routing `session_id`'s messages to its stream."""
        ...

    @property
    def can_reconnect(self) -> bool:
        """Whether `reconnect` can open a new connection."""
        ...

    async def reconnect(self) -> None:
        """Open a new connection (the old one was lost); subscriptions carry on."""
        ...


def _bar(candle: Mapping[str, Any]) -> Bar:
    return Bar(
        timestamp=parse_moment(candle["date"]),
        open=Decimal(candle["open"]),
        high=Decimal(candle["high"]),
        low=Decimal(candle["low"]),
        close=Decimal(candle["close"]),
        volume=Decimal(candle["volume"]),
    )


def _order(data: Any) -> Order:
    return converter.structure(data, Order)


def _fill(data: Mapping[str, Any]) -> Fill:
    return Fill(
        execution_id=data["execution_id"],
        order_id=data["order_id"],
        symbol=data["symbol"],
        side=OrderSide(data["side"]),
        quantity=Decimal(data["executed_quantity"]),
        price=Decimal(data["executed_price"]),
        commission=Decimal(data["commission"]),
        time=parse_moment(data["timestamp"]),
        ambiguous=bool(data.get("ambiguous", False)),
        reason=FillReason(data.get("fill_reason", FillReason.MARKET_OPEN.value)),
        slippage_bps=Decimal(str(data.get("slippage_bps_exact", data.get("slippage_bps", 0)))),
        is_partial=bool(data.get("is_partial", False)),
        remaining_quantity=Decimal(data.get("remaining_quantity", "0")),
    )


def _order_type(request: OrderRequest) -> OrderType:
    if request.limit_price is not None and request.stop_price is not None:
        return OrderType.STOP_LIMIT
    if request.limit_price is not None:
        return OrderType.LIMIT
    if request.stop_price is not None:
        return OrderType.STOP
    return OrderType.MARKET


def order_to_request_wire(request: OrderRequest) -> dict[str, Any]:
    """An `OrderRequest` (with its id) as a wire order."""
    kind = _order_type(request)
    wire: dict[str, Any] = {
        "order_id": request.order_id,
        "symbol": request.symbol,
        "side": request.side.value,
        "type": kind.value,
        "quantity": str(request.quantity),
        "time_in_force": request.time_in_force.value,
    }
    optional = {
        "price": request.limit_price,
        "stop_price": request.stop_price,
        "stop_loss": request.stop_loss,
        "take_profit": request.take_profit,
    }
    wire |= {k: str(v) for k, v in optional.items() if v is not None}
    if request.expire_at is not None:
        wire["expire_at"] = format_datetime(request.expire_at)
    return wire


class RemoteBook:
    """The client's mirror of a remote simulation, as a strategy reads it.

    Args:
        started: The ``simulation_started`` data (symbols, initial capital).
    """

    def __init__(self, started: Mapping[str, Any]) -> None:
        self._symbols: tuple[str, ...] = tuple(started["symbols"])
        self._cash = Decimal(started["initial_capital"])
        self._now: datetime | None = None
        self._sequence_id = 0
        self._bars: dict[str, list[Bar]] = {s: [] for s in self._symbols}
        self._positions: dict[str, PositionState] = {}
        self._orders: dict[str, Order] = {}
        self._next_order = 1
        self.outbox: list[OrderRequest | str] = []  # orders (and cancels, by id) not yet sent

    # -- the Book a StrategyContext reads --------------------------------------------------

    @property
    def now(self) -> datetime | None:
        """The current tick's time (None before the first)."""
        return self._now

    @property
    def sequence_id(self) -> int:
        """The current tick's sequence id (0 before the first)."""
        return self._sequence_id

    @property
    def cash(self) -> Decimal:
        """Cash as of the last message."""
        return self._cash

    @property
    def equity(self) -> Decimal:
        """Cash plus positions at their last closes (the simulator's own formula)."""
        return self._cash + sum((p.quantity * p.price for p in self._positions.values()), _ZERO)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The session's symbols."""
        return self._symbols

    @property
    def has_working_orders(self) -> bool:
        """Whether any order is working (as the server's simulator counts them)."""
        return any(order.is_open for order in self._orders.values())

    def submit(self, request: OrderRequest) -> list[Event]:
        """Hold an order for the next batch; the provisional acceptance (its id is the embedded one)."""
        order_id = request.order_id or f"o-{self._next_order}"
        self._next_order += 1
        self.outbox.append(attrs.evolve(request, order_id=order_id))
        order = Order(
            order_id=order_id,
            symbol=request.symbol,
            side=request.side,
            type=_order_type(request),
            quantity=request.quantity,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            time_in_force=request.time_in_force,
            expire_at=request.expire_at,
            stop_loss=request.stop_loss,
            take_profit=request.take_profit,
            status=OrderStatus.ACCEPTED,
            submitted_at=self._now,
        )
        self._orders[order_id] = order
        return [OrderAccepted(order=order)]

    def cancel(self, order_id: str) -> list[Event]:
        """Hold a cancel for the next batch.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown or finished order (as embedded).
        """
        order = self._orders.get(order_id)
        if order is None:
            raise invalid_order(f"no order {order_id!r} to cancel", order_id=order_id)
        if not order.is_open:
            raise invalid_order(
                f"order {order_id} is {order.status.value} and can no longer be canceled",
                order_id=order_id,
                status=order.status.value,
            )
        self.outbox.append(order_id)
        return []

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders, optionally of one symbol (symbols in session order)."""
        working = [o for o in self._orders.values() if o.is_open]
        if symbol is not None:
            return [o for o in working if o.symbol == symbol]
        rank = {s: i for i, s in enumerate(self._symbols)}
        return sorted(working, key=lambda o: rank.get(o.symbol, len(rank)))

    def order(self, order_id: str) -> Order:
        """One order by id.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown id.
        """
        order = self._orders.get(order_id)
        if order is None:
            raise invalid_order(f"no order {order_id!r} in this simulation", order_id=order_id)
        return order

    def position(self, symbol: str) -> Position:
        """The position in `symbol` (flat when none)."""
        held = self._positions.get(symbol)
        return held.snapshot() if held is not None else Position(symbol=symbol)

    def positions(self) -> dict[str, Position]:
        """Every non-flat position."""
        return {s: p.snapshot() for s, p in self._positions.items() if p.quantity}

    def history(self, symbol: str, field: str = "close", length: int | None = None) -> list[Decimal]:
        """The last `length` values of `field` of `symbol`'s bars up to the current tick.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for an unknown symbol or field.
        """
        return field_values(self.bars(symbol, length), field)

    def bars(self, symbol: str, length: int | None = None) -> tuple[Bar, ...]:
        """`symbol`'s bars up to the current tick (warmup included), the last `length` of them.

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` for a symbol the session does not have.
        """
        series = self._bars.get(symbol)
        if series is None:
            raise not_a_session_symbol(symbol, self._symbols)
        start = 0 if length is None else max(0, len(series) - length)
        return tuple(series[start:])

    # -- kept from the server's messages -------------------------------------------------

    def load_history(self, data: Mapping[str, Any]) -> None:
        """A ``history_snapshot``: the warmup bars."""
        for symbol, candles in data["candles"].items():
            self._bars[symbol] = [_bar(c) for c in candles]

    def enter_tick(self, data: Mapping[str, Any]) -> Tick:
        """Move to a ``tick``: its bars join the history, positions are marked at their closes."""
        time = parse_moment(data["sim_time"])
        bars: dict[str, Bar] = {}
        for symbol, candle in (data.get("candles") or {}).items():
            bar = _bar(candle)
            bars[symbol] = bar
            self._bars[symbol].append(bar)
            held = self._positions.get(symbol)
            if held is not None:
                held.price = bar.close
        self._now, self._sequence_id = time, int(data["sequence_id"])
        if data.get("cash") is not None:
            self._cash = Decimal(data["cash"])
        return Tick(time, self._sequence_id, bars)

    def apply_account(self, data: Mapping[str, Any]) -> None:
        """An ``account_snapshot``: cash and every position's state."""
        self._cash = Decimal(data["cash"])
        positions: dict[str, PositionState] = {}
        for item in data["positions"]:
            positions[item["symbol"]] = PositionState(
                symbol=item["symbol"],
                quantity=Decimal(item["quantity"]),
                cost=Decimal(item["cost_basis"]),
                realized=Decimal(item["realized_pnl"]),
                price=Decimal(item["market_price"]),
            )
        for symbol, held in self._positions.items():  # flat now: keep its realized P&L, as the simulator does
            if symbol not in positions:
                positions[symbol] = PositionState(symbol=symbol, realized=held.realized, price=held.price)
        self._positions = positions

    def apply_order(self, data: Mapping[str, Any]) -> Order:
        """An order's new state (from ``order_update`` or ``execution_report``)."""
        order = _order(data)
        if order.order_id not in self._orders and order.parent_id is not None:
            self._next_order += 1  # the simulator numbers a bracket's exits from the same sequence
        self._orders[order.order_id] = order
        return order

    def mark_canceled(self, order_id: str) -> None:
        """An order the server canceled while its notice was lost (a reconnection)."""
        order = self._orders.get(order_id)
        if order is not None:
            self._orders[order_id] = attrs.evolve(order, status=OrderStatus.CANCELED)

    def forget(self, order_id: str) -> None:
        """Drop a held order the server refused outright (never created there)."""
        self._orders.pop(order_id, None)


class RemoteDriver:
    """The protocol of one remote run, for `run_remote_strategy` and `RemoteSimulation`.

    Args:
        transport: The connection.
        session_id: A READY session of the caller.
        max_pending_ticks: The credit window (1: lockstep).
        progress: Called with (ticks done, total).
        reconnection: When the connection drops mid-run: reconnect with backoff and
            ``resume_session`` (None: never; the error is raised).
    """

    def __init__(
        self,
        transport: Transport,
        session_id: str,
        *,
        max_pending_ticks: int = 1,
        progress: Progress | None = None,
        reconnection: Reconnection | None = None,
    ) -> None:
        self.transport = transport
        self.reconnection = reconnection or Reconnection(attempts=0)
        self.resumes = 0
        self.session_id = session_id
        self.window = max_pending_ticks
        self.progress = progress
        self.book: RemoteBook | None = None
        self.started: dict[str, Any] = {}
        self.completion: dict[str, Any] | None = None
        self._stream: trio.MemoryReceiveChannel[Envelope | BaseException] | None = None
        self._ahead: deque[Mapping[str, Any]] = deque()
        self._events: list[Event] = []
        self._resolved: set[int] = set()
        self._working_at_ack = False
        self._acked = 0
        self._batches = 0
        self._history = False

    async def start(self) -> RemoteBook:
        """Start the run (holding the first tick for the strategy's ``on_start`` orders)."""
        self._stream = self.transport.subscribe(self.session_id)
        reply = await self.transport.request(
            "start_simulation",
            {
                "session_id": self.session_id,
                "flow_control": True,
                "max_pending_ticks": self.window,
                "include_bars": True,
                "account_update_frequency": "every_fill",
                "ack_start": True,
            },
        )
        self.started = dict(reply.data)
        self.book = RemoteBook(self.started)
        self._history = not self.started.get("history_follows", False)
        while not self._history:  # the strategy's on_start may read the warmup bars
            await self._receive()
        self._take_ready()
        return self.book

    def close(self) -> None:
        """Stop receiving this run's messages."""
        self.transport.unsubscribe(self.session_id)

    async def flush(self) -> list[Event]:
        """Send what the strategy held (orders, cancels) for the current tick; the events they caused, in order."""
        book = self._book()
        caused: list[Event] = []
        while book.outbox:
            held, book.outbox = book.outbox, []
            group: list[OrderRequest] = []
            for item in [*held, None]:
                if isinstance(item, OrderRequest):
                    group.append(item)
                    continue
                if group:
                    caused += await self._send_batch(group)
                    group = []
                if isinstance(item, str):
                    caused += await self._send_cancel(item)
        return caused

    async def acknowledge(self) -> None:
        """Acknowledge the current tick (the server moves on and refills the window)."""
        book = self._book()
        self._working_at_ack = book.has_working_orders
        self._acked = book.sequence_id
        try:
            await self._send_ack()
        except ClientConnectionError as lost:
            await self._recover(lost)  # which sends the ack again if the server did not get it

    async def _send_ack(self) -> None:
        await self.transport.send(
            "tick_ack", {"session_id": self.session_id, "sequence_id": self._acked}, errors_to=self.session_id
        )

    async def next_tick(self) -> tuple[list[Event], Tick] | None:
        """Wait for the next tick to be resolved: the events of reaching it (fills...) and the tick; None at the end."""
        book = self._book()
        wanted = book.sequence_id + 1
        while True:
            if self.completion is not None:
                return None
            if self._ahead and int(self._ahead[0]["sequence_id"]) == wanted:
                head = self._ahead[0]
                if head.get("resolved") or wanted in self._resolved or not self._working_at_ack:
                    self._ahead.popleft()
                    self._resolved.discard(wanted)
                    tick = book.enter_tick(head)
                    events, self._events = self._events, []
                    return events, tick
            await self._receive()

    async def result(self) -> SimulationResult:
        """The run's result, every page of ``get_results`` joined."""
        offset: int | None = 0
        document: dict[str, Any] | None = None
        series = ("fills", "trades", "orders", "equity_curve")
        while offset is not None:
            reply = await self._retrying(
                partial(self.transport.request, "get_results", {"session_id": self.session_id, "offset": offset})
            )
            page = reply.data
            if document is None:
                document = dict(page["result"])
            else:
                for name in series:
                    document[name] = [*document[name], *page["result"][name]]
            offset = page.get("next_offset")
        assert document is not None
        return result_from_wire(document)

    # -- internals ---------------------------------------------------------------------

    def _book(self) -> RemoteBook:
        if self.book is None:
            raise RuntimeError("start() the run first")
        return self.book

    async def _send_batch(self, group: list[OrderRequest]) -> list[Event]:
        self._batches += 1
        book = self._book()
        batch = {
            "session_id": self.session_id,
            "batch_id": f"b{self._batches}",
            "for_sequence_id": book.sequence_id,
            "orders": [order_to_request_wire(o) for o in group],
            "execution_mode": "best_effort",
        }
        reply = await self._retrying(lambda: self.transport.request("order_batch", batch))
        self._take_ready()
        caused, self._events = self._events, []
        errors: Mapping[str, Any] = reply.data.get("errors", {})
        for request in group:
            order_id = request.order_id or ""
            problem = errors.get(order_id)
            if problem is not None and problem.get("error_code") != "INSUFFICIENT_BUYING_POWER":
                book.forget(order_id)
                raise SimutradorError(
                    ErrorCode(problem.get("error_code", "INVALID_ORDER")),
                    str(problem.get("message", "order refused")),
                    problem.get("details") or {},
                )
        return caused

    async def _send_cancel(self, order_id: str) -> list[Event]:
        data = {"session_id": self.session_id, "order_id": order_id, "for_sequence_id": self._book().sequence_id}
        resumes = self.resumes
        try:
            await self._retrying(lambda: self.transport.request("cancel_order", data))
        except SimutradorError as error:
            if self.resumes == resumes or error.details.get("status") != "canceled":
                raise
            self._book().mark_canceled(order_id)  # canceled before the connection dropped; its notice was lost
        self._take_ready()
        caused, self._events = self._events, []
        return caused

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation`; when the connection drops, recover (`_recover`) and run it again."""
        while True:
            try:
                return await operation()
            except ClientConnectionError as lost:
                await self._recover(lost)

    async def _recover(self, lost: ClientConnectionError) -> None:
        """Reconnect with backoff and ``resume_session``; raise `lost` when that is not possible."""
        book = self.book
        policy = self.reconnection
        if book is None or policy.attempts <= 0 or not self.transport.can_reconnect:
            raise lost
        last: Exception = lost
        for attempt in range(1, policy.attempts + 1):
            delay = policy.delay(attempt)
            logger.warning(
                "simulation %s: connection lost (%s); reconnecting in %.2f s (attempt %d of %d)",
                self.session_id,
                last,
                delay,
                attempt,
                policy.attempts,
            )
            await trio.sleep(delay)
            self._drop_stale()
            try:
                await self.transport.reconnect()
                reply = await self.transport.request(
                    "resume_session",
                    {"session_id": self.session_id, "last_processed_sequence_id": book.sequence_id},
                )
            except ClientConnectionError as error:
                last = error
                continue
            except SimutradorError as error:
                if error.details.get("state") == "completed":  # it ended while we were away: the result is kept
                    self.completion = {"session_id": self.session_id}
                    logger.warning("simulation %s completed while the connection was down", self.session_id)
                    return
                if error.code not in (ErrorCode.RATE_LIMIT_EXCEEDED, ErrorCode.INTERNAL_ERROR):
                    raise
                last = error
                continue
            self._resync(reply.data)
            self.resumes += 1
            logger.warning("simulation %s resumed at tick %d", self.session_id, book.sequence_id)
            if self._acked > int(reply.data.get("last_acknowledged", 0)) and self._acked == book.sequence_id:
                await self._send_ack()  # the ack was lost with the connection
            return
        raise ClientConnectionError(
            f"gave up on simulation {self.session_id} after {policy.attempts} reconnection attempts: {last}"
        )

    def _drop_stale(self) -> None:
        """Forget what arrived before the connection dropped and was not used yet: it is sent again."""
        stream = self._stream
        assert stream is not None
        while True:
            try:
                stream.receive_nowait()
            except trio.WouldBlock:
                break
        self._ahead.clear()
        self._events.clear()
        self._resolved.clear()

    def _resync(self, data: Mapping[str, Any]) -> None:
        """Take the ``state_sync``: the account, and what reaching the next tick caused, if the server got there."""
        self._book().apply_account(data["account_snapshot"])
        for message in data.get("missed_messages", ()):
            self._handle(Envelope(type=str(message["type"]), data=message["data"]))

    def _take_ready(self) -> None:
        """Handle every message already received, without waiting."""
        stream = self._stream
        assert stream is not None
        while True:
            try:
                message = stream.receive_nowait()
            except trio.WouldBlock:
                return
            self._handle(message)

    async def _receive(self) -> None:
        stream = self._stream
        assert stream is not None
        try:
            self._handle(await stream.receive())
        except ClientConnectionError as lost:
            await self._recover(lost)
        except SimutradorError as error:  # an ack refused by the message rate: wait, send it again
            if error.code is not ErrorCode.RATE_LIMIT_EXCEEDED:
                raise
            await trio.sleep((error.retry_after_ms or 100) / 1000)
            await self._send_ack()

    def _handle(self, message: Envelope | BaseException) -> None:
        if isinstance(message, BaseException):
            raise message
        book = self._book()
        kind, data = message.type, message.data
        if kind == "tick":
            self._ahead.append(data)
        elif kind == "execution_report":
            order = book.apply_order(data["order"])
            self._events.append(OrderFilled(order=order, fill=_fill(data)))
        elif kind == "order_update":
            order = book.apply_order(data["order"])
            if data.get("event") == "rejected":
                self._events.append(
                    OrderRejected(
                        order=order,
                        reason=str(data.get("reason", "")),
                        code=str(data.get("error_code", "")),
                        details=data.get("details") or {},
                    )
                )
        elif kind == "account_snapshot":
            book.apply_account(data)
        elif kind == "tick_resolved":
            self._resolved.add(int(data["sequence_id"]))
        elif kind == "history_snapshot":
            book.load_history(data)
            self._history = True
        elif kind == "simulation_progress":
            if self.progress is not None:
                self.progress(int(data["done"]), int(data["total"]))
        elif kind == "simulation_complete":
            self.completion = dict(data)
        elif kind in ("session_error", "error"):
            retry = data.get("retry_after_ms")
            raise SimutradorError(
                ErrorCode(data.get("error_code", "INTERNAL_ERROR")),
                str(data.get("message", "")),
                data.get("details") or {},
                retry_after_ms=retry if isinstance(retry, int) else None,
            )
        elif kind == "simulation_paused":
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"the server paused the simulation: {data.get('reason', '')}",
                dict(data),
            )
        # simulation_end (the same as simulation_complete), simulation_resumed: nothing to do


async def run_remote_strategy(driver: RemoteDriver, strategy: object) -> SimulationResult:
    """Run `strategy` on the server through `driver`, calling it exactly as the embedded runner does.

    Raises:
        SimutradorError: the server's refusals (and ``INVALID_ORDER`` for an order the
            server refused outright, as the embedded simulator raises it).
        Exception: whatever the strategy raised, with a note saying where.
    """
    on_tick, on_start, on_fill, on_rejected, on_finish = strategy_callbacks(strategy)
    book = await driver.start()
    ctx = StrategyContext(book)
    where = "on_start"

    async def dispatch(events: list[Event]) -> None:
        nonlocal where
        for event in events:  # the driver hands over fills and rejections only
            if isinstance(event, OrderFilled):
                where = "on_fill"
                on_fill(ctx, event.fill)
            else:
                assert isinstance(event, OrderRejected)
                where = "on_order_rejected"
                ctx.rejections.append((event.order, event.reason))
                on_rejected(ctx, event.order, event.reason)
            await drain()

    async def drain() -> None:
        ctx.pending.clear()  # the mirror's provisional acceptances: the server's events replace them
        if book.outbox:
            await dispatch(await driver.flush())

    try:
        on_start(ctx)
        await drain()
        await driver.acknowledge()
        while True:
            step = await driver.next_tick()
            if step is None:
                break
            events, tick = step
            await dispatch(events)
            where = "on_tick"
            on_tick(ctx, tick)
            await drain()
            await driver.acknowledge()
        result = await driver.result()
        where = "on_finish"
        on_finish(ctx, result)
        return result
    except Exception as exc:
        if not isinstance(exc, SimutradorError):
            exc.add_note(f"SimuTrador: raised by the strategy {stage_of(where, book)}")
        raise
    finally:
        driver.close()


class RemoteSimulation:
    """A remote run stepped by hand: ``async for tick in sim:`` then ``await sim.result()``.

    Between ticks, submit or cancel through `ctx` (or `buy`/`sell`/`cancel`) and read
    the account; what was submitted is sent when the next tick is asked for (or on
    `flush`), applied at the current tick. `fills` collects every fill.
    """

    def __init__(self, driver: RemoteDriver) -> None:
        self._driver = driver
        self.fills: list[Fill] = []
        self.rejections: list[tuple[Order, str]] = []
        self._ctx: StrategyContext | None = None
        self._first = True

    @property
    def ctx(self) -> StrategyContext:
        """The context (account, orders, bars) of the current tick."""
        if self._ctx is None:
            raise RuntimeError("the simulation has not started")
        return self._ctx

    async def start(self) -> None:
        """Start the run on the server."""
        self._ctx = StrategyContext(await self._driver.start())

    def buy(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Hold a buy order for the current tick; its id."""
        return self.ctx.buy(symbol, quantity, **prices)

    def sell(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Hold a sell order for the current tick; its id."""
        return self.ctx.sell(symbol, quantity, **prices)

    def cancel(self, order_id: str) -> None:
        """Hold a cancel for the current tick."""
        self.ctx.cancel(order_id)

    async def flush(self) -> list[Event]:
        """Send what is held now; the events it caused (fills at the close, rejections)."""
        self.ctx.pending.clear()
        events = await self._driver.flush()
        self._note(events)
        return events

    def __aiter__(self) -> AsyncGenerator[Tick]:
        return self._ticks()

    async def _ticks(self) -> AsyncGenerator[Tick]:
        while True:
            await self.flush()
            await self._driver.acknowledge()
            step = await self._driver.next_tick()
            if step is None:
                return
            events, tick = step
            self._note(events)
            yield tick

    async def result(self) -> SimulationResult:
        """The result (once every tick has been iterated)."""
        try:
            return await self._driver.result()
        finally:
            self._driver.close()

    def _note(self, events: list[Event]) -> None:
        for event in events:
            if type(event) is OrderFilled:
                self.fills.append(event.fill)
            elif type(event) is OrderRejected:
                self.rejections.append((event.order, event.reason))
