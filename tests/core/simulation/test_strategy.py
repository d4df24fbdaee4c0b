"""Strategies through the Engine: the context, hooks, rejections, errors, the step handle, limits.

The sample catalog's AAPL, 2024-03-04..08 (daily), worked by hand:
  Mar 4 O 28.89 C 28.62 · Mar 5 O 28.36 C 27.78 · Mar 6 O 27.88 C 27.99 · Mar 7 O 28.02 C 27.61 · Mar 8 O 27.43 C 27.70
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from simutrador import Engine, Plan
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.states import SessionState
from simutrador.simulation.events import Fill, Tick
from simutrador.simulation.orders import Order, OrderStatus
from simutrador.simulation.results import SimulationResult
from simutrador.simulation.runner import StrategyContext
from simutrador.testing import ManualClock

D = Decimal
WEEK = {"symbols": ["AAPL"], "start": "2024-03-04", "end": "2024-03-08", "capital": 100_000}


def session(engine: Engine, **fields: Any) -> str:
    return engine.create_session("u", **{**WEEK, **fields}).session_id


class Recorder:
    """Buys 100 on the first tick, sells them on the third; records every hook."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fills: list[Fill] = []
        self.result: SimulationResult | None = None

    def on_start(self, ctx: StrategyContext) -> None:
        self.calls.append(f"start {ctx.now} {ctx.symbols}")

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        self.calls.append(f"tick {tick.sequence_id}")
        if tick.sequence_id == 1:
            ctx.buy("AAPL", 100)
        elif tick.sequence_id == 3:
            ctx.sell("AAPL", "100")

    def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
        self.calls.append(f"fill {fill.side.value} {fill.price}")
        self.fills.append(fill)

    def on_finish(self, ctx: StrategyContext, result: SimulationResult) -> None:
        self.calls.append("finish")
        self.result = result


def test_a_strategy_object_with_every_hook(engine: Engine) -> None:
    # buy 100 at Mar 5's open 28.36, sell at Mar 7's open 28.02: -34.00
    strategy = Recorder()
    sid = session(engine)
    result = engine.run_simulation("u", sid, strategy)
    assert strategy.calls == [
        "start None ('AAPL',)",
        "tick 1",
        "fill buy 28.36",
        "tick 2",
        "tick 3",
        "fill sell 28.02",
        "tick 4",
        "tick 5",
        "finish",
    ]
    assert strategy.result is result
    assert result.final_equity == result.cash == D("99966.00")
    assert engine.get_session("u", sid).state is SessionState.COMPLETED
    assert engine.get_result("u", sid) is result
    [trade] = result.trades
    assert (trade.entry_price, trade.exit_price, trade.pnl) == (D("28.36"), D("28.02"), D(-34))


def test_a_plain_function_and_the_context(engine: Engine) -> None:
    seen: list[tuple[object, ...]] = []

    def strategy(ctx: StrategyContext, tick: Tick) -> None:
        if tick.sequence_id == 1:
            ctx.buy("AAPL", 10.0, limit_price=28.5, time_in_force="GTC")  # floats and strings are accepted
            ctx.buy("AAPL", 10, limit_price="20", time_in_force="gtc", order_id="far")
        if tick.sequence_id == 2:
            seen.append((ctx.cash, ctx.equity, ctx.position("AAPL").quantity, ctx.positions()["AAPL"].avg_cost))
            seen.append(tuple(o.order_id for o in ctx.open_orders()))
            seen.append((ctx.order("o-1").status, ctx.history("AAPL"), ctx.history("AAPL", "open", 1)))
            ctx.cancel("far")
            seen.append(tuple(ctx.open_orders("AAPL")))

    engine.run_simulation("u", session(engine), strategy)
    # limit 28.50 on Mar 5: opens at 28.36 <= 28.50 -> 28.36; cash 100,000 - 283.60; marked at 27.78
    assert seen[0] == (D("99716.40"), D("99716.40") + D("277.80"), D(10), D("28.36"))
    assert seen[1] == ("far",)
    assert seen[2] == (OrderStatus.FILLED, [D("28.62"), D("27.78")], [D("28.36")])
    assert seen[3] == ()


@pytest.mark.parametrize(
    ("quantity", "fields"),
    [
        (1.5, {}),  # not a whole share (lot size 1)
        ("abc", {}),
        (True, {}),
        ([1], {}),
        (10, {"time_in_force": "week"}),
        (10, {"limit_price": "cheap"}),
    ],
)
def test_invalid_orders_raise_from_ctx_buy(engine: Engine, quantity: object, fields: dict[str, Any]) -> None:
    caught: list[SimutradorError] = []

    def strategy(ctx: StrategyContext, tick: Tick) -> None:
        if tick.sequence_id == 1:
            try:
                ctx.buy("AAPL", quantity, **fields)
            except SimutradorError as exc:
                caught.append(exc)
                assert ctx.open_orders() == []

    result = engine.run_simulation("u", session(engine), strategy)
    [error] = caught
    assert error.code is ErrorCode.INVALID_ORDER
    assert result.orders == ()


def test_unknown_symbol_from_ctx(engine: Engine) -> None:
    def strategy(ctx: StrategyContext, tick: Tick) -> None:
        ctx.buy("MSFT", 1)

    with pytest.raises(SimutradorError) as caught:
        engine.run_simulation("u", session(engine), strategy)
    assert caught.value.code is ErrorCode.INVALID_ORDER
    with pytest.raises(SimutradorError) as history:
        engine.run_simulation("u", session(engine), lambda ctx, tick: ctx.history("MSFT"))
    assert history.value.code is ErrorCode.VALIDATION_FAILED
    with pytest.raises(SimutradorError) as field:
        engine.run_simulation("u", session(engine), lambda ctx, tick: ctx.history("AAPL", "vwap"))
    assert field.value.code is ErrorCode.VALIDATION_FAILED


class Greedy:
    """Asks for more than it can pay; records the rejection."""

    def __init__(self) -> None:
        self.rejected: list[tuple[Order, str]] = []
        self.ids: list[str] = []

    def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
        if tick.sequence_id == 1:
            self.ids.append(ctx.buy("AAPL", 100))  # 100 x 28.62 = 2,862 > 1,000

    def on_order_rejected(self, ctx: StrategyContext, order: Order, reason: str) -> None:
        self.rejected.append((order, reason))


def test_insufficient_buying_power_is_an_event_and_a_callback(engine: Engine) -> None:
    strategy = Greedy()
    result = engine.run_simulation("u", session(engine, capital=1_000), strategy)
    [(order, reason)] = strategy.rejected
    assert order.order_id == strategy.ids[0] == "o-1"
    assert order.status is OrderStatus.REJECTED
    assert reason.startswith("the order needs 2862.00 of buying power; 1000.00 is available")
    assert [o.status for o in result.orders] == [OrderStatus.REJECTED]
    assert result.fills == ()


def test_a_strategy_that_raises_errs_its_session_only(engine: Engine) -> None:
    other = session(engine)

    def strategy(ctx: StrategyContext, tick: Tick) -> None:
        if tick.sequence_id == 3:
            raise ValueError("boom")

    failing = session(engine)
    with pytest.raises(ValueError, match="boom") as caught:
        engine.run_simulation("u", failing, strategy)
    where = "raised by the strategy in on_tick at tick 3 (2024-03-06T00:00:00+00:00)"
    assert caught.value.__notes__ == [f"SimuTrador: {where}"]
    failed = engine.get_session("u", failing)
    assert failed.state is SessionState.ERROR
    assert failed.error_message == f"ValueError: boom ({where})"
    # the engine and the other session are unaffected
    assert engine.get_session("u", other).state is SessionState.READY
    assert engine.run_simulation("u", other, Recorder()).final_equity == D("99966.00")


def test_an_error_in_on_start_names_it(engine: Engine) -> None:
    class Broken:
        def on_start(self, ctx: StrategyContext) -> None:
            raise KeyError("x")

        def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
            raise AssertionError("not reached")

    sid = session(engine)
    with pytest.raises(KeyError):
        engine.run_simulation("u", sid, Broken())
    assert engine.get_session("u", sid).error_message == "KeyError: 'x' (raised by the strategy in on_start)"


def test_not_a_strategy(engine: Engine) -> None:
    with pytest.raises(TypeError, match="on_tick"):
        engine.run_simulation("u", session(engine), object())


def test_progress_reports_to_the_total(engine: Engine) -> None:
    calls: list[tuple[int, int]] = []
    engine.run_simulation("u", session(engine), lambda ctx, tick: None, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5), (5, 5)]


def test_the_step_handle(engine: Engine) -> None:
    sid = session(engine)
    handle = engine.start_simulation("u", sid)
    assert engine.get_session("u", sid).state is SessionState.RUNNING
    times = []
    for tick in handle:
        times.append(tick.time.day)
        if tick.sequence_id == 1:
            handle.buy("AAPL", 100)
        if tick.sequence_id == 2:
            handle.pause()
            handle.pause()  # once is enough
    assert times == [4, 5]
    assert handle.paused and not handle.done
    assert engine.get_session("u", sid).state is SessionState.PAUSED
    assert [f.price for f in handle.fills] == [D("28.36")]
    tick = handle.step()  # resumes
    assert tick is not None and tick.sequence_id == 3
    assert engine.get_session("u", sid).state is SessionState.RUNNING
    handle.sell("AAPL", 100)
    handle.pause()
    result = handle.run_to_end()  # resumes
    assert handle.done and handle.result is result
    assert handle.step() is None
    assert result.final_equity == D("99966.00")  # sold at Mar 7's open 28.02, as in the strategy run
    assert engine.get_session("u", sid).state is SessionState.COMPLETED
    assert engine.get_result("u", sid) is result


def test_the_step_handle_records_fills_at_the_close(engine: Engine) -> None:
    # fill_at="close": a buy sent after tick 1 fills at once at Mar 4's close, 28.62
    handle = engine.start_simulation("u", session(engine, fill_at="close"))
    handle.step()
    handle.buy("AAPL", 10)
    handle.step()
    handle.sell("AAPL", 10)  # at Mar 5's close, 27.78
    result = handle.run_to_end()
    assert [(f.side.value, f.price) for f in handle.fills] == [("buy", D("28.62")), ("sell", D("27.78"))]
    assert list(result.fills) == handle.fills


def test_the_step_handle_cancel(engine: Engine) -> None:
    handle = engine.start_simulation("u", session(engine))
    handle.step()
    order_id = handle.buy("AAPL", 1, limit_price=1, time_in_force="gtc")
    handle.cancel(order_id)
    result = handle.run_to_end()
    assert [o.status for o in result.orders] == [OrderStatus.CANCELED]


def test_a_session_past_its_plans_wall_clock_limit(make_engine: Callable[..., Engine], clock: ManualClock) -> None:
    # the free plan allows 24 hours; the strategy makes an hour pass per tick, checked every 1,024 ticks
    engine = make_engine(plan=Plan.FREE)
    sid = engine.create_session("u", symbols=["AAPL"], start="2016-01-04", end="2024-12-31", capital=1_000).session_id

    def slow(ctx: StrategyContext, tick: Tick) -> None:
        clock.advance(timedelta(hours=1))

    with pytest.raises(SimutradorError) as caught:
        engine.run_simulation("u", sid, slow)
    assert caught.value.code is ErrorCode.SESSION_LIMIT_EXCEEDED
    assert "stopped after 1,024 ticks" in caught.value.message
    assert engine.get_session("u", sid).state is SessionState.ERROR
