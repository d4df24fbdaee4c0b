"""Invariants over random bars and random orders (Hypothesis), look-ahead, and determinism across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simutrador.data.catalog import Bar
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.events import Event, Fill, OrderFilled, OrderRequest, Tick
from simutrador.simulation.matching import FillReason
from simutrador.simulation.orders import OrderSide, OrderType, TimeInForce
from simutrador.simulation.runner import StrategyContext, run_strategy
from simutrador.simulation.simulator import Simulator
from tests.core.simulation.helpers import D, at, make_sim

CENT = Decimal("0.01")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def bar_series(draw: st.DrawFn, days: Sequence[int]) -> list[Bar]:
    """Valid bars on `days` of January 2024 (prices in cents; high >= max(open, close), low <= min)."""
    bars = []
    price = draw(st.integers(5_000, 15_000))
    for day in days:
        open_ = max(100, price + draw(st.integers(-150, 150)))
        close = max(100, open_ + draw(st.integers(-400, 400)))
        high = max(open_, close) + draw(st.integers(0, 300))
        low = max(1, min(open_, close) - draw(st.integers(0, 300)))
        volume = draw(st.sampled_from([0, 50, 300, 1_000, 100_000]))
        bars.append(
            Bar(
                timestamp=at(day),
                open=open_ * CENT,
                high=high * CENT,
                low=low * CENT,
                close=close * CENT,
                volume=D(volume),
            )
        )
        price = close
    return bars


@st.composite
def markets(draw: st.DrawFn) -> dict[str, list[Bar]]:
    """One or two symbols; the second trades on a random subset of the first's days."""
    count = draw(st.integers(3, 12))
    days = list(range(2, 2 + count))
    series = {"A": draw(bar_series(days))}
    if draw(st.booleans()):
        some = sorted(draw(st.sets(st.sampled_from(days), min_size=1)))
        series["B"] = draw(bar_series(some))
    return series


@st.composite
def order_plans(draw: st.DrawFn, series: dict[str, list[Bar]], ticks: int) -> list[tuple[int, Any]]:
    """(after how many ticks, a request or ("cancel", n)) in random order; prices around the symbol's bars."""
    plans: list[tuple[int, Any]] = []
    for _ in range(draw(st.integers(1, 12))):
        when = draw(st.integers(0, ticks))
        if plans and draw(st.integers(0, 5)) == 0:
            plans.append((when, ("cancel", draw(st.integers(0, len(plans) - 1)))))
            continue
        kind = draw(st.sampled_from(["market", "limit", "stop", "stop_limit"]))
        symbol = draw(st.sampled_from(sorted(series)))
        low = int(min(b.low for b in series[symbol]) / CENT) - 100
        high = int(max(b.high for b in series[symbol]) / CENT) + 100

        def price() -> Decimal:
            return draw(st.integers(max(1, low), high)) * CENT  # noqa: B023

        tif = draw(st.sampled_from(list(TimeInForce)))
        fields: dict[str, Any] = {
            "symbol": symbol,
            "side": draw(st.sampled_from(list(OrderSide))),
            "quantity": D(draw(st.integers(1, 60))),
            "time_in_force": tif,
            "limit_price": price() if kind in ("limit", "stop_limit") else None,
            "stop_price": price() if kind in ("stop", "stop_limit") else None,
            "expire_at": at(2 + draw(st.integers(0, 12)), 12) if tif is TimeInForce.GTD else None,
        }
        if draw(st.booleans()):
            fields["stop_loss"] = draw(st.none() | st.builds(price))
            fields["take_profit"] = draw(st.none() | st.builds(price))
        plans.append((when, OrderRequest(**fields)))
    return plans


configs = st.fixed_dictionaries(
    {
        "capital": st.sampled_from([2_000, 20_000, 1_000_000]),
        "slippage_bps": st.sampled_from([0, 5, 100, 2_000]),
        "intrabar": st.sampled_from(["pessimistic", "optimistic"]),
        "fill_at": st.sampled_from(["next_open", "close"]),
        "max_volume_pct": st.sampled_from([None, 10, 100]),
        "per_share": st.sampled_from([0, "0.005"]),
        "minimum": st.sampled_from([0, 1]),
        "pct": st.sampled_from([0, "0.1"]),
        "leverage": st.sampled_from([1, 2, 4]),
    }
)


def play(
    series: dict[str, list[Bar]], plans: list[tuple[int, Any]], config: dict[str, Any]
) -> tuple[Simulator, list[Event], dict[str, int]]:
    """Run the plans; returns the simulator, every event, and the tick count after which each order was sent."""
    sim = make_sim(series, **config)
    events: list[Event] = []
    ids: list[str | None] = []
    sent_after: dict[str, int] = {}
    for now in range(sim.total_ticks + 1):
        for when, plan in plans:
            if when != now:
                continue
            try:
                if isinstance(plan, tuple):
                    target = ids[plan[1]] if plan[1] < len(ids) else None
                    if target is not None:
                        events.extend(sim.cancel(target))
                    continue
                caused = sim.submit(plan)
                order_id = caused[0].order.order_id  # type: ignore[union-attr]
                ids.append(order_id)
                sent_after[order_id] = now
                events.extend(caused)
            except SimutradorError as exc:
                assert exc.code is ErrorCode.INVALID_ORDER
                if not isinstance(plan, tuple):
                    ids.append(None)
        events.extend(sim.advance())
    assert sim.done
    return sim, events, sent_after


@SETTINGS
@given(data=st.data(), series=markets(), config=configs)
def test_fills_respect_the_bar_the_order_and_the_books(
    data: st.DataObject, series: dict[str, list[Bar]], config: dict[str, Any]
) -> None:
    ticks = sorted({b.timestamp for bars in series.values() for b in bars})
    plans = data.draw(order_plans(series, len(ticks)))
    sim, events, sent_after = play(series, plans, config)
    result = sim.result
    assert result is not None
    fills: list[Fill] = [e.fill for e in events if isinstance(e, OrderFilled)]
    assert list(result.fills) == fills
    bars = {(s, b.timestamp): b for s, bs in series.items() for b in bs}
    cash = D(config["capital"])
    held: dict[str, Decimal] = defaultdict(Decimal)
    filled: dict[str, Decimal] = defaultdict(Decimal)
    for fill in fills:
        bar = bars[(fill.symbol, fill.time)]
        assert bar.low <= fill.price <= bar.high, (fill, bar)
        order = sim.order(fill.order_id)
        if order.limit_price is not None and order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            if fill.side is OrderSide.BUY:
                assert fill.price <= order.limit_price
            else:
                assert fill.price >= order.limit_price
        if order.type is OrderType.STOP:
            assert order.stop_price is not None
            assert fill.price >= order.stop_price if fill.side is OrderSide.BUY else fill.price <= order.stop_price
        if order.parent_id is None:
            after = sent_after[fill.order_id]
            if fill.reason is FillReason.MARKET_CLOSE:
                assert fill.time == ticks[after - 1]
            elif after:
                assert fill.time > ticks[after - 1]  # eligible from the next bar only
        if config["max_volume_pct"] is not None:
            assert fill.quantity <= bar.volume * config["max_volume_pct"] / 100
        assert fill.quantity > 0 and fill.commission >= 0
        value = fill.quantity * fill.price
        cash += (value if fill.side is OrderSide.SELL else -value) - fill.commission
        held[fill.symbol] += fill.quantity if fill.side is OrderSide.BUY else -fill.quantity
        filled[fill.order_id] += fill.quantity
    # cash reconciles exactly: initial + sells - buys - commissions
    assert result.cash == cash
    assert sum((f.commission for f in fills), Decimal(0)) == result.metrics.total_commission
    last_close = {s: bs[-1].close for s, bs in series.items()}
    assert result.final_equity == cash + sum((q * last_close[s] for s, q in held.items()), Decimal(0))
    assert {s: p.quantity for s, p in result.positions.items()} == {s: q for s, q in held.items() if q}
    for order in result.orders:
        assert order.filled_quantity == filled[order.order_id] <= order.quantity
        if order.is_open and order.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
            # a DAY, IOC or FOK order still working at the end never had an eligible bar
            after = sent_after[order.order_id]
            since = ticks[after - 1] if after else ticks[0] - timedelta(days=1)
            assert all(b.timestamp <= since for b in series[order.symbol])
    # the same inputs give the same result, to the digest
    again, _, _ = play(series, plans, config)
    assert again.result is not None
    assert again.result.digest == result.digest


@st.composite
def warmed_markets(draw: st.DrawFn) -> tuple[dict[str, list[Bar]], dict[str, int]]:
    """A market whose session starts on a random day; every earlier bar is warmup (as `build_feed` reads it)."""
    series = draw(markets())
    days = [b.timestamp for b in series["A"]]
    start = draw(st.sampled_from(days))
    warmup = {s: sum(1 for b in bars if b.timestamp < start) for s, bars in series.items()}
    return series, warmup


@SETTINGS
@given(market=warmed_markets(), seed=st.integers(0, 2**16))
def test_a_strategy_never_sees_a_bar_after_the_current_tick(
    market: tuple[dict[str, list[Bar]], dict[str, int]], seed: int
) -> None:
    series, warmup = market
    sim = make_sim(series, warmup=warmup, capital=1_000_000)
    first_tick = sim.feed.ticks[0]

    def visible(symbol: str, until: datetime) -> list[Bar]:
        return [b for b in series[symbol] if b.timestamp <= until]

    class Peeker:
        def on_start(self, ctx: StrategyContext) -> None:
            assert ctx.now is None
            for symbol in series:
                seen = ctx.bars(symbol)
                assert all(b.timestamp < first_tick for b in seen)
                assert list(seen) == series[symbol][: warmup[symbol]]

        def on_tick(self, ctx: StrategyContext, tick: Tick) -> None:
            assert ctx.now == tick.time
            assert all(b.timestamp == tick.time for b in tick.bars.values())
            for symbol in series:
                expected = visible(symbol, tick.time)
                assert list(ctx.bars(symbol)) == expected  # everything up to now, nothing later
                assert list(ctx.bars(symbol, 10**9)) == expected
                assert ctx.history(symbol, "high", 10**9) == [b.high for b in expected]
                assert list(ctx.bars(symbol, 2)) == expected[-2:]
                position = ctx.position(symbol)
                if position.quantity:
                    assert position.market_price == expected[-1].close  # marked at the last close seen
                if (tick.sequence_id + seed) % 3 == 0 and symbol in tick.bars:
                    if seed % 2:
                        ctx.buy(symbol, 1 + seed % 5)
                    else:
                        ctx.sell(symbol, 1 + seed % 3)

        def on_fill(self, ctx: StrategyContext, fill: Fill) -> None:
            assert ctx.now is not None and fill.time <= ctx.now

    result = run_strategy(sim, Peeker())
    assert result.ticks == len(sim.feed.ticks)


SCRIPT = """
from simutrador import Engine
engine = Engine()
session = engine.create_session("u", symbols=["AAPL", "MSFT"], start="2023-01-03", end="2023-12-29", capital=100_000,
                                commission_per_share="0.005", slippage_bps=5, max_volume_pct="0.0003")
def strategy(ctx, tick):
    for symbol in ctx.symbols:
        closes = ctx.history(symbol, length=20)
        if len(closes) < 20:
            continue
        fast, slow = sum(closes[-5:]) / 5, sum(closes) / 20
        held = ctx.position(symbol).quantity
        if fast > slow and held <= 0:
            ctx.buy(symbol, 50 - held, stop_loss=float(closes[-1]) * 0.9)
        elif fast < slow and held >= 0:
            ctx.sell(symbol, 50 + held, limit_price=closes[-1])
result = engine.run_simulation("u", session.session_id, strategy)
print(result.digest, len(result.fills), sum(f.ambiguous or f.is_partial for f in result.fills))
"""


def test_same_inputs_same_digest_in_another_process() -> None:
    captured: list[str] = []
    exec(compile(SCRIPT, "<script>", "exec"), {"print": lambda *values: captured.append(" ".join(map(str, values)))})
    digests = set(captured)
    for seed in ("0", "12345"):
        completed = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        digests.add(completed.stdout.strip())
    assert len(digests) == 1
    digest, fills, partial_or_ambiguous = captured[0].split()
    assert len(digest) == 64
    assert int(fills) > 20 and int(partial_or_ambiguous) > 0  # a run with something to get wrong


def test_submission_order_decides_who_fills_first() -> None:
    # not the ids: reversing two orders' submission swaps who gets the bar's volume (100 of 1,000 at 10 %)
    bars = [
        Bar(timestamp=at(2), open=D(10), high=D(11), low=D(9), close=D(10), volume=D(1_000)),
        Bar(timestamp=at(3), open=D(10), high=D(11), low=D(9), close=D(10), volume=D(1_000)),
    ]
    takes = []
    for first, second in (("a", "b"), ("b", "a")):
        sim = make_sim(bars, max_volume_pct=10)
        sim.advance()
        sim.submit(OrderRequest(symbol="X", side=OrderSide.BUY, quantity=D(80), order_id=first))
        sim.submit(OrderRequest(symbol="X", side=OrderSide.BUY, quantity=D(80), order_id=second))
        fills = [e.fill for e in sim.advance() if isinstance(e, OrderFilled)]
        takes.append([(f.order_id, f.quantity) for f in fills])
    assert takes == [[("a", D(80)), ("b", D(20))], [("b", D(80)), ("a", D(20))]]
