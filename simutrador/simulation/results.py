"""What a run produced: `SimulationResult` with its fills, trades, orders, equity curve and digest.

Results are plain frozen attrs data; `simutrador.codec.result_to_wire` turns them into
JSON and `SimulationResult.to_frame` into pandas DataFrames (when pandas is installed).

The **digest** is the SHA-256 of a canonical JSON encoding of every fill (order id,
symbol, side, quantity, price, commission, time, ambiguous flag) and of the final
account (cash and every position's quantity), with Decimals written as plain digits
without trailing zeros (``"10"``, ``"215.88"``). Same inputs give the same digest in any process on any machine.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from simutrador.simulation.account import Position
from simutrador.simulation.events import Fill
from simutrador.simulation.metrics import Metrics
from simutrador.simulation.orders import Order, OrderSide

if TYPE_CHECKING:
    from simutrador.data.catalog import Bar, Catalog

__all__ = ["EquityPoint", "SimulationResult", "Trade", "compute_digest"]


@attrs.frozen(kw_only=True, slots=True)
class Trade:
    """A round trip in one symbol: from a flat position to the next time it is flat (or flips).

    Attributes:
        symbol: The instrument.
        side: BUY for a long trade, SELL for a short one.
        quantity: The largest absolute position held during the trade.
        entry_time: The first fill's time.
        entry_price: Average price of the fills that opened or grew the position.
        exit_time: The closing fill's time (None while open).
        exit_price: Average price of the fills that reduced it (None while open).
        pnl: Realized P&L after the trade's commissions.
        return_pct: ``pnl / (entry_price x quantity) x 100``.
        commission: Commissions of its fills.
    """

    symbol: str
    side: OrderSide
    quantity: Decimal
    entry_time: datetime
    entry_price: Decimal
    exit_time: datetime | None = None
    exit_price: Decimal | None = None
    pnl: Decimal = Decimal(0)
    return_pct: float = 0.0
    commission: Decimal = Decimal(0)

    @property
    def is_open(self) -> bool:
        """Whether the position is still held."""
        return self.exit_time is None

    @property
    def duration(self) -> timedelta | None:
        """From entry to exit (None while open)."""
        return None if self.exit_time is None else self.exit_time - self.entry_time


@attrs.frozen(kw_only=True, slots=True)
class EquityPoint:
    """Equity at one tick (a float, for charts and statistics; the final equity is exact).

    Attributes:
        time: The tick.
        equity: Cash plus positions marked at the closes.
    """

    time: datetime
    equity: float


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def compute_digest(fills: Sequence[Fill], cash: Decimal, positions: Mapping[str, Position]) -> str:
    """The SHA-256 (hex) of the canonical encoding of `fills` and the final account."""
    document = {
        "fills": [
            [
                f.order_id,
                f.symbol,
                f.side.value,
                _canonical(f.quantity),
                _canonical(f.price),
                _canonical(f.commission),
                _canonical(f.time),
                f.ambiguous,
            ]
            for f in fills
        ],
        "cash": _canonical(cash),
        "positions": {s: _canonical(p.quantity) for s, p in sorted(positions.items()) if p.quantity},
    }
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen(kw_only=True, slots=True, eq=False)
class SimulationResult:
    """Everything a run produced.

    Attributes:
        session_id: The session it ran in.
        initial_capital: Starting cash.
        final_equity: Equity after the last tick (exact).
        cash: Final cash (exact; reconciles with the fills).
        metrics: Every metric (see `simutrador.simulation.metrics`).
        fills: Every fill, in order.
        trades: Round trips, closed ones first in time order; an open one last per symbol.
        orders: Every order with its final status.
        positions: Final positions by symbol (flat ones left out).
        times: The tick times (shared with the feed: no copy).
        equity: Equity at each tick, as floats (see `equity_curve`).
        digest: SHA-256 of the fills and the final account.
        started_at: First tick.
        ended_at: Last tick.
        ticks: Ticks simulated.
        timeframe: The session's timeframe.
        symbols: The session's symbols, in session order.
        catalog_name: The catalog the bars came from (``"sample"``, ``"directory"``...).
        data_fingerprint: That catalog's content fingerprint when the session was created.
    """

    session_id: str
    initial_capital: Decimal
    final_equity: Decimal
    cash: Decimal
    metrics: Metrics
    fills: tuple[Fill, ...]
    trades: tuple[Trade, ...]
    orders: tuple[Order, ...]
    positions: Mapping[str, Position] = attrs.field(factory=lambda: MappingProxyType({}))
    times: tuple[datetime, ...] = ()
    equity: tuple[float, ...] = ()
    digest: str
    started_at: datetime
    ended_at: datetime
    ticks: int
    timeframe: str
    symbols: tuple[str, ...] = ()
    catalog_name: str = ""
    data_fingerprint: str = ""

    @property
    def equity_curve(self) -> tuple[EquityPoint, ...]:
        """Equity at each tick, as points (built on demand from `times` and `equity`)."""
        return tuple(EquityPoint(time=t, equity=e) for t, e in zip(self.times, self.equity, strict=True))

    def to_frame(self, what: str = "equity") -> Any:
        """A pandas DataFrame of ``equity`` (default), ``fills``, ``trades`` or ``orders``.

        Raises:
            ImportError: pandas is not installed (``pip install 'simutrador[pandas]'``).
            ValueError: for another `what`.
        """
        pandas = importlib.import_module("pandas")
        rows: Sequence[Any]
        if what == "equity":
            frame = pandas.DataFrame({"equity": list(self.equity)}, index=list(self.times))
            frame.index.name = "time"
            return frame
        if what == "fills":
            rows = self.fills
        elif what == "trades":
            rows = self.trades
        elif what == "orders":
            rows = self.orders
        else:
            raise ValueError(f"what must be equity, fills, trades or orders, not {what!r}")
        return pandas.DataFrame([attrs.asdict(row, recurse=False) for row in rows])

    def summary(self) -> dict[str, object]:
        """The headline figures as plain data (for tables and the CLI)."""
        return {"final_equity": self.final_equity, **attrs.asdict(self.metrics, recurse=False)}

    def report(
        self,
        path: str | os.PathLike[str],
        *,
        catalog: Catalog | None = None,
        bars: Mapping[str, Sequence[Bar]] | None = None,
        title: str | None = None,
    ) -> Path:
        """Write one self-contained HTML report of this run to `path` and return its path.

        Equity with buy-and-hold and drawdown, prices with fills and trades, monthly
        returns, every metric and the trade list (see `simutrador.report.write_report`).

        Args:
            path: The HTML file to write.
            catalog: Where to read the prices (by default the sample catalog when the
                run used it; otherwise the report has no price charts unless given).
            bars: The prices by symbol, instead of a catalog.
            title: The page's title (default: the symbols and timeframe).

        Raises:
            ImportError: plotly is not installed (``pip install 'simutrador[report]'``).
        """
        from simutrador.report import write_report  # noqa: PLC0415 - plotly loads only when a report is asked for

        return write_report(self, path, catalog=catalog, bars=bars, title=title)
