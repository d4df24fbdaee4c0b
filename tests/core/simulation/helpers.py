"""Tiny hand-made feeds and a simulator over them, for tests whose numbers are worked out by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from simutrador.data.catalog import Bar
from simutrador.data.feed import BarFeed
from simutrador.simulation.account import CommissionModel
from simutrador.simulation.events import Event, Fill, OrderFilled, OrderRequest
from simutrador.simulation.matching import IntrabarPolicy
from simutrador.simulation.orders import OrderSide, TimeInForce
from simutrador.simulation.simulator import FillTiming, Instrument, SimulationConfig, Simulator

D = Decimal
BUY = OrderSide.BUY
SELL = OrderSide.SELL


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1) -> datetime:
    """An aware UTC time in 2024 (daily bars are stamped at midnight)."""
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def bar(time: datetime | int, o: object, h: object, low: object, c: object, volume: object = 1_000_000) -> Bar:
    """One bar; `time` as a day of January 2024 or a datetime; prices as str/int."""
    stamp = at(time) if isinstance(time, int) else time
    return Bar(timestamp=stamp, open=D(str(o)), high=D(str(h)), low=D(str(low)), close=D(str(c)), volume=D(str(volume)))


def make_feed(
    series: Mapping[str, Sequence[Bar]], timeframe: str = "daily", warmup: Mapping[str, int] | None = None
) -> BarFeed:
    """A feed over `series` (the first ``warmup[symbol]`` bars of a symbol are warmup), merged as `build_feed` does."""
    first = {symbol: (warmup or {}).get(symbol, 0) for symbol in series}
    merged: dict[datetime, list[tuple[str, int]]] = {}
    for symbol, bars in series.items():
        for index in range(first[symbol], len(bars)):
            merged.setdefault(bars[index].timestamp, []).append((symbol, index))
    ticks = tuple(sorted(merged))
    return BarFeed(
        symbols=tuple(series),
        timeframe=timeframe,
        series={symbol: tuple(bars) for symbol, bars in series.items()},
        first=first,
        ticks=ticks,
        slots=tuple(tuple(merged[t]) for t in ticks),
    )


def make_sim(
    bars: Sequence[Bar] | Mapping[str, Sequence[Bar]],
    *,
    capital: object = 100_000,
    timeframe: str = "daily",
    increment: str = "0.01",
    lot: str = "1",
    timezone: str = "UTC",
    warmup: Mapping[str, int] | None = None,
    per_share: object = 0,
    minimum: object = 0,
    pct: object = 0,
    slippage_bps: object = 0,
    fill_at: str = "next_open",
    intrabar: str = "pessimistic",
    max_volume_pct: object = None,
    leverage: object = 1,
    periods_per_year: float = 252.0,
) -> Simulator:
    """A simulator over `bars` (one symbol ``X``, or a mapping of symbols)."""
    series = dict(bars) if isinstance(bars, Mapping) else {"X": bars}
    config = SimulationConfig(
        initial_capital=D(str(capital)),
        instruments={
            s: Instrument(symbol=s, price_increment=D(increment), lot_size=D(lot), timezone=timezone) for s in series
        },
        commission=CommissionModel(per_share=D(str(per_share)), minimum=D(str(minimum)), pct=D(str(pct))),
        slippage_bps=D(str(slippage_bps)),
        fill_at=FillTiming(fill_at),
        intrabar=IntrabarPolicy(intrabar),
        max_volume_pct=None if max_volume_pct is None else D(str(max_volume_pct)),
        leverage=D(str(leverage)),
        periods_per_year=periods_per_year,
    )
    return Simulator(config, make_feed(series, timeframe, warmup))


def request(side: OrderSide, quantity: object, symbol: str = "X", **fields: Any) -> OrderRequest:
    """An order request; prices may be given as str/int."""
    for name in ("limit_price", "stop_price", "stop_loss", "take_profit"):
        if fields.get(name) is not None:
            fields[name] = D(str(fields[name]))
    if isinstance(fields.get("time_in_force"), str):
        fields["time_in_force"] = TimeInForce(fields["time_in_force"])
    return OrderRequest(symbol=symbol, side=side, quantity=D(str(quantity)), **fields)


def buy(quantity: object, symbol: str = "X", **fields: Any) -> OrderRequest:
    """A buy request."""
    return request(BUY, quantity, symbol, **fields)


def sell(quantity: object, symbol: str = "X", **fields: Any) -> OrderRequest:
    """A sell request."""
    return request(SELL, quantity, symbol, **fields)


def fills_of(events: Sequence[Event]) -> list[Fill]:
    """The fills among `events`, in order."""
    return [e.fill for e in events if isinstance(e, OrderFilled)]


def advance(sim: Simulator, ticks: int = 1) -> list[Event]:
    """Advance `ticks` ticks; all their events."""
    events: list[Event] = []
    for _ in range(ticks):
        events.extend(sim.advance())
    return events


def run_out(sim: Simulator) -> list[Event]:
    """Advance to the end (the completion included)."""
    events: list[Event] = []
    while not sim.done:
        events.extend(sim.advance())
    return events
