"""How a simulation fills and charges: `SimulationConfig`, its instruments and fill timing."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum

import attrs

from simutrador.simulation.account import CommissionModel
from simutrador.simulation.matching import IntrabarPolicy

__all__ = ["FillTiming", "Instrument", "SimulationConfig"]

_ZERO = Decimal(0)


class FillTiming(StrEnum):
    """When market orders fill."""

    NEXT_OPEN = "next_open"
    CLOSE = "close"


@attrs.frozen(kw_only=True, slots=True)
class Instrument:
    """What the simulator needs to know of a symbol.

    Attributes:
        symbol: The symbol.
        price_increment: Prices are multiples of it.
        lot_size: Quantities are multiples of it.
        timezone: The zone whose dates are its trading days.
    """

    symbol: str
    price_increment: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal(1)
    timezone: str = "UTC"


@attrs.frozen(kw_only=True, slots=True)
class SimulationConfig:
    """How a simulation fills and charges (DESIGN §4).

    Attributes:
        session_id: The session simulated.
        initial_capital: Starting cash.
        instruments: Per symbol, its price grid, lot size and time zone.
        commission: The commission model.
        slippage_bps: Slippage of market and stop fills, basis points.
        fill_at: When market orders fill: next open (default) or this close.
        intrabar: How an ambiguous bar is read.
        max_volume_pct: Percent of a bar's volume one symbol's orders may take (None: no limit).
        leverage: Gross position value allowed per unit of equity.
        periods_per_year: Ticks per year at the session's timeframe (for metrics).
        catalog_name: The catalog the bars come from (recorded on the result, for reports).
        data_fingerprint: That catalog's fingerprint (recorded on the result).
    """

    session_id: str = "session"
    initial_capital: Decimal
    instruments: Mapping[str, Instrument]
    commission: CommissionModel = attrs.field(factory=CommissionModel)
    slippage_bps: Decimal = _ZERO
    fill_at: FillTiming = FillTiming.NEXT_OPEN
    intrabar: IntrabarPolicy = IntrabarPolicy.PESSIMISTIC
    max_volume_pct: Decimal | None = None
    leverage: Decimal = Decimal(1)
    periods_per_year: float = 252.0
    catalog_name: str = ""
    data_fingerprint: str = ""
