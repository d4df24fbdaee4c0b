"""Driving a `Simulator` from Python: strategies, their context, and the step handle.

A **strategy** is an object with ``on_tick(ctx, tick)`` and, optionally,
``on_start(ctx)``, ``on_fill(ctx, fill)``, ``on_order_rejected(ctx, order, reason)``
and ``on_finish(ctx, result)``; or a plain function ``(ctx, tick)``. `run_strategy`
calls them around the simulator's events; `StrategyContext` is the ``ctx`` they get:
orders in, account and history out, never a bar after the current tick.

`SimulationHandle` is the same simulator stepped by hand: iterate it for ticks, and
submit, cancel or read the account between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from simutrador.data.catalog import Bar
from simutrador.simulation.account import Position
from simutrador.simulation.events import (
    Event,
    Fill,
    OrderFilled,
    OrderRejected,
    OrderRequest,
    SimulationCompleted,
    Tick,
    TickAdvanced,
)
from simutrador.simulation.orders import Order, OrderSide, TimeInForce, invalid_order
from simutrador.simulation.results import SimulationResult
from simutrador.simulation.simulator import Simulator

__all__ = [
    "Book",
    "Progress",
    "SimulationHandle",
    "Strategy",
    "StrategyContext",
    "run_strategy",
    "stage_of",
    "strategy_callbacks",
]

Progress = Callable[[int, int], object]
"""Called with (ticks done, ticks total) as a run goes."""


class Book(Protocol):
    """What a `StrategyContext` reads and drives: a `Simulator`, or a remote run's mirror of one."""

    @property
    def now(self) -> datetime | None:
        """The current tick's time (None before the first)."""
        ...

    @property
    def sequence_id(self) -> int:
        """The current tick's sequence id (0 before the first)."""
        ...

    @property
    def cash(self) -> Decimal:
        """Cash now."""
        ...

    @property
    def equity(self) -> Decimal:
        """Cash plus positions at their last closes."""
        ...

    @property
    def symbols(self) -> tuple[str, ...]:
        """The session's symbols."""
        ...

    def submit(self, request: OrderRequest) -> list[Event]:
        """Submit an order; the events it caused, an order event first."""
        ...

    def cancel(self, order_id: str) -> list[Event]:
        """Cancel a working order; the events it caused."""
        ...

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders, optionally of one symbol."""
        ...

    def order(self, order_id: str) -> Order:
        """One order by id."""
        ...

    def position(self, symbol: str) -> Position:
        """The position in `symbol`."""
        ...

    def positions(self) -> dict[str, Position]:
        """Every open position."""
        ...

    def history(self, symbol: str, field: str = "close", length: int | None = None) -> list[Decimal]:
        """The last values of a bar field up to the current tick."""
        ...

    def bars(self, symbol: str, length: int | None = None) -> tuple[Bar, ...]:
        """The last bars up to the current tick."""
        ...


class Strategy(Protocol):
    """What a strategy object offers; only `on_tick` is required."""

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        """React to a new tick: look at the bars and the account, submit or cancel orders."""
        ...


def _as_decimal(value: object, name: str) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid_order(f"{name} must be a number, not {type(value).__name__}", field=name)
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError:
        raise invalid_order(f"{name} must be a number, not {value!r}", field=name) from None


def _time_in_force(value: object) -> TimeInForce:
    if isinstance(value, TimeInForce):
        return value
    try:
        return TimeInForce(str(value).lower())
    except ValueError:
        raise invalid_order(
            f"time_in_force must be one of {', '.join(t.value for t in TimeInForce)}, not {value!r}",
            field="time_in_force",
        ) from None


class StrategyContext:
    """What a strategy sees and does (the ``ctx`` of every callback).

    Args:
        simulator: The simulation it acts on (a `Simulator`, or a remote run's mirror).
    """

    def __init__(self, simulator: Book) -> None:
        self._simulator = simulator
        self.rejections: list[tuple[Order, str]] = []
        self.pending: list[Event] = []  # events caused between ticks, handled with the next tick's

    @property
    def now(self) -> datetime | None:
        """The current tick's time (None in ``on_start``)."""
        return self._simulator.now

    @property
    def cash(self) -> Decimal:
        """Cash now."""
        return self._simulator.cash

    @property
    def equity(self) -> Decimal:
        """Cash plus positions at their last closes."""
        return self._simulator.equity

    @property
    def symbols(self) -> tuple[str, ...]:
        """The session's symbols."""
        return self._simulator.symbols

    def buy(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Submit a buy order; returns its id (see `submit` for the keywords)."""
        return self.submit(symbol, OrderSide.BUY, quantity, **prices)

    def sell(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Submit a sell order; returns its id (see `submit` for the keywords)."""
        return self.submit(symbol, OrderSide.SELL, quantity, **prices)

    def submit(
        self,
        symbol: str,
        side: OrderSide,
        quantity: object,
        *,
        limit_price: object = None,
        stop_price: object = None,
        time_in_force: object = TimeInForce.DAY,
        expire_at: datetime | None = None,
        stop_loss: object = None,
        take_profit: object = None,
        order_id: str | None = None,
    ) -> str:
        """Submit an order; its type follows from the prices given.

        Market without prices, limit with `limit_price`, stop with `stop_price`,
        stop-limit with both; `stop_loss`/`take_profit` make it a bracket entry.

        Returns:
            The order id. An order the account cannot afford is still given an id, is
            REJECTED, and ``on_order_rejected`` is called.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an order that can never be valid.
        """
        request = OrderRequest(
            symbol=symbol,
            side=side,
            quantity=_as_decimal(quantity, "quantity") or Decimal(0),
            limit_price=_as_decimal(limit_price, "limit_price"),
            stop_price=_as_decimal(stop_price, "stop_price"),
            time_in_force=_time_in_force(time_in_force),
            expire_at=expire_at,
            stop_loss=_as_decimal(stop_loss, "stop_loss"),
            take_profit=_as_decimal(take_profit, "take_profit"),
            order_id=order_id,
        )
        events = self._simulator.submit(request)
        self.pending.extend(events)
        return events[0].order.order_id  # type: ignore[union-attr]  # always an order event first

    def cancel(self, order_id: str) -> None:
        """Cancel a working order (a bracket entry takes its exits with it).

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown or finished order.
        """
        self.pending.extend(self._simulator.cancel(order_id))

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders, optionally of one symbol."""
        return self._simulator.open_orders(symbol)

    def order(self, order_id: str) -> Order:
        """One order by id."""
        return self._simulator.order(order_id)

    def position(self, symbol: str) -> Position:
        """The position in `symbol` (flat when none)."""
        return self._simulator.position(symbol)

    def positions(self) -> dict[str, Position]:
        """Every open position."""
        return self._simulator.positions()

    def history(self, symbol: str, field: str = "close", length: int | None = None) -> list[Decimal]:
        """The last `length` values of `field` of `symbol`, up to the current tick (warmup bars first)."""
        return self._simulator.history(symbol, field, length)

    def bars(self, symbol: str, length: int | None = None) -> tuple[Bar, ...]:
        """The last `length` bars of `symbol`, up to the current tick."""
        return self._simulator.bars(symbol, length)


def strategy_callbacks(strategy: object) -> tuple[Callable[..., object], ...]:
    """A strategy's five callbacks (on_tick, on_start, on_fill, on_order_rejected, on_finish); missing ones do nothing.

    Raises:
        TypeError: `strategy` is neither an object with ``on_tick`` nor a function.
    """
    on_tick = getattr(strategy, "on_tick", None)
    if on_tick is None:
        if not callable(strategy):
            raise TypeError("a strategy is an object with on_tick(ctx, tick), or a function (ctx, tick)")
        on_tick = strategy
    nothing: Callable[..., object] = lambda *_: None  # noqa: E731
    return (
        on_tick,
        getattr(strategy, "on_start", None) or nothing,
        getattr(strategy, "on_fill", None) or nothing,
        getattr(strategy, "on_order_rejected", None) or nothing,
        getattr(strategy, "on_finish", None) or nothing,
    )


def stage_of(where: str, simulator: Book) -> str:
    """Where a strategy was when it raised: ``in on_tick at tick 12 (2024-01-17T00:00:00+00:00)``."""
    now = simulator.now
    return f"in {where}" + (f" at tick {simulator.sequence_id} ({now.isoformat()})" if now is not None else "")


def run_strategy(
    simulator: Simulator,
    strategy: object,
    *,
    progress: Progress | None = None,
    check: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Run `strategy` over every tick of `simulator` and return the result.

    Args:
        simulator: A fresh simulator.
        strategy: An object with ``on_tick`` (and optional hooks) or a function ``(ctx, tick)``.
        progress: Called with (ticks done, total) about a hundred times per run.
        check: Called with the ticks done every 1,024 ticks (the engine's wall-clock limit).

    Raises:
        Exception: whatever the strategy raised, with a note saying where (callback,
            tick and time).
    """
    run = _Run(simulator, strategy)
    ctx, on_tick = run.ctx, run.on_tick
    total = simulator.total_ticks
    step = max(1, total // 100)
    advance = simulator.advance
    done = 0
    try:
        run.on_start(ctx)
        run.drain()
        while True:
            events = advance()
            done += 1
            if len(events) == 1 and type(events[0]) is TickAdvanced:  # the common case, kept lean
                run.where = "on_tick"
                on_tick(ctx, events[0].tick)  # type: ignore[union-attr]
                if ctx.pending:
                    run.drain()
            else:
                result = run.dispatch(events)
                if result is not None:
                    if progress is not None:
                        progress(total, total)
                    return result
            if progress is not None and done % step == 0:
                progress(done, total)
            if check is not None and not done & 1023:
                check(done)
    except Exception as exc:
        exc.add_note(f"SimuTrador: raised by the strategy {stage_of(run.where, simulator)}")
        raise


class _Run:
    """One `run_strategy`: the strategy's callbacks and what calls them."""

    def __init__(self, simulator: Simulator, strategy: object) -> None:
        self.on_tick, self.on_start, self.on_fill, self.on_rejected, self.on_finish = strategy_callbacks(strategy)
        self.ctx = StrategyContext(simulator)
        self.where = "on_start"  # the callback running, for the error note

    def drain(self) -> None:
        """Dispatch what the last callback caused (fills at the close, rejections)."""
        while self.ctx.pending:
            caused, self.ctx.pending = self.ctx.pending, []
            self.dispatch(caused)

    def dispatch(self, events: list[Event]) -> SimulationResult | None:
        """Call the strategy for each event; the result when the simulation completed."""
        ctx = self.ctx
        for event in events:
            kind = type(event)
            if kind is TickAdvanced:
                self.where = "on_tick"
                self.on_tick(ctx, event.tick)  # type: ignore[union-attr]
            elif kind is OrderFilled:
                self.where = "on_fill"
                self.on_fill(ctx, event.fill)  # type: ignore[union-attr]
            elif kind is OrderRejected:
                self.where = "on_order_rejected"
                ctx.rejections.append((event.order, event.reason))  # type: ignore[union-attr]
                self.on_rejected(ctx, event.order, event.reason)  # type: ignore[union-attr]
            elif kind is SimulationCompleted:
                self.where = "on_finish"
                self.on_finish(ctx, event.result)  # type: ignore[union-attr]
                return event.result  # type: ignore[union-attr]
            self.drain()
        return None


class SimulationHandle:
    """A simulation stepped by hand: ``for tick in handle: ...`` then ``handle.result``.

    Between ticks, submit or cancel orders through `ctx` (or `buy`/`sell`) and read
    the account. `pause` stops the iteration after the current tick; iterating again
    resumes it.

    Args:
        simulator: The simulator to step.
        on_done: Called once with the result when the last tick has been processed.
        on_pause: Called when paused; on_resume when iteration starts again after a pause.
        on_resume: See `on_pause`.
        check: Called with the ticks done every 1,024 ticks (the engine's wall-clock limit).
        paused: Start paused (a simulation restored after a restart).
    """

    def __init__(
        self,
        simulator: Simulator,
        *,
        on_done: Callable[[SimulationResult], object] | None = None,
        on_pause: Callable[[], object] | None = None,
        on_resume: Callable[[], object] | None = None,
        check: Callable[[int], None] | None = None,
        paused: bool = False,
    ) -> None:
        self._simulator = simulator
        self.ctx = StrategyContext(simulator)
        self._on_done = on_done
        self._on_pause = on_pause
        self._on_resume = on_resume
        self._check = check
        self._paused = paused
        self.fills: list[Fill] = []

    @property
    def simulator(self) -> Simulator:
        """The simulator stepped (read its account, orders and bars; drive it through the handle)."""
        return self._simulator

    @property
    def done(self) -> bool:
        """Whether every tick has been processed."""
        return self._simulator.done

    @property
    def paused(self) -> bool:
        """Whether `pause` was called and iteration has not resumed."""
        return self._paused

    @property
    def result(self) -> SimulationResult | None:
        """The result once done (None before)."""
        return self._simulator.result

    def buy(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Submit a buy order (see `StrategyContext.submit`)."""
        return self.ctx.buy(symbol, quantity, **prices)

    def sell(self, symbol: str, quantity: object, **prices: Any) -> str:
        """Submit a sell order (see `StrategyContext.submit`)."""
        return self.ctx.sell(symbol, quantity, **prices)

    def cancel(self, order_id: str) -> None:
        """Cancel a working order."""
        self.ctx.cancel(order_id)

    def pause(self) -> None:
        """Stop iterating after the current tick (resume by iterating again)."""
        if not self._paused and not self.done:
            self._paused = True
            if self._on_pause is not None:
                self._on_pause()

    def resume(self) -> None:
        """Leave the paused state (iterating, `step` and `advance` also resume by themselves)."""
        if self._paused:
            self._paused = False
            if self._on_resume is not None:
                self._on_resume()

    def submit(self, request: OrderRequest) -> list[Event]:
        """Submit an order as a remote client does: the simulator's events, unfiltered.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an order that can never be valid.
        """
        events = self._simulator.submit(request)
        self.fills.extend(event.fill for event in events if type(event) is OrderFilled)
        return events

    def cancel_order(self, order_id: str) -> list[Event]:
        """Cancel a working order; the simulator's events, unfiltered.

        Raises:
            SimutradorError: ``INVALID_ORDER`` for an unknown or finished order.
        """
        return self._simulator.cancel(order_id)

    def advance(self) -> list[Event]:
        """Process one tick (or complete) and return every event it caused, in order.

        The lower-level twin of `step`, for drivers that forward every event (the
        WebSocket server). Resumes a paused handle; calls ``on_done`` on completion.

        Raises:
            SimutradorError: ``INVALID_STATE_TRANSITION`` when already done;
                ``SESSION_LIMIT_EXCEEDED`` past the plan's wall-clock limit.
        """
        self.resume()
        events = self._simulator.advance()
        if self._check is not None and not self._simulator.sequence_id & 1023:
            self._check(self._simulator.sequence_id)
        for event in events:
            if type(event) is OrderFilled:
                self.fills.append(event.fill)
            elif type(event) is SimulationCompleted and self._on_done is not None:
                self._on_done(event.result)
        return events

    def step(self) -> Tick | None:
        """Process one tick and return it; None when the simulation has completed."""
        if self.done:
            return None
        pending, self.ctx.pending = self.ctx.pending, []  # what was sent since the last tick
        self.fills.extend(event.fill for event in pending if type(event) is OrderFilled)  # fills at the close
        for event in self.advance():
            if type(event) is TickAdvanced:
                return event.tick
        return None

    def run_to_end(self) -> SimulationResult:
        """Process every remaining tick; returns the result."""
        while self.step() is not None:
            pass
        result = self._simulator.result
        assert result is not None
        return result

    def __iter__(self) -> Iterator[Tick]:
        """Yield ticks until done or paused."""
        self.resume()
        while not self._paused:
            tick = self.step()
            if tick is None:
                return
            yield tick
