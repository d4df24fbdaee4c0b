"""The simulation that runs in a session: orders, fills, the account, metrics (DESIGN §4).

`simutrador.simulation.simulator.Simulator` is the sans-I/O state machine;
`simutrador.simulation.runner` drives it for embedders (strategies, the step handle).

This package is a public module: what a driver of simulations outside the engine
needs (the WebSocket server running a session for a remote client, the client's
mirror of it) is exported here, and adapters import it from here only.
"""

from simutrador.simulation.account import Position as Position
from simutrador.simulation.account import PositionState as PositionState
from simutrador.simulation.events import Event as Event
from simutrador.simulation.events import Fill as Fill
from simutrador.simulation.events import OrderAccepted as OrderAccepted
from simutrador.simulation.events import OrderCanceled as OrderCanceled
from simutrador.simulation.events import OrderExpired as OrderExpired
from simutrador.simulation.events import OrderFilled as OrderFilled
from simutrador.simulation.events import OrderRejected as OrderRejected
from simutrador.simulation.events import OrderRequest as OrderRequest
from simutrador.simulation.events import SimulationCompleted as SimulationCompleted
from simutrador.simulation.events import Tick as Tick
from simutrador.simulation.events import TickAdvanced as TickAdvanced
from simutrador.simulation.matching import FillReason as FillReason
from simutrador.simulation.orders import Order as Order
from simutrador.simulation.orders import OrderSide as OrderSide
from simutrador.simulation.orders import OrderStatus as OrderStatus
from simutrador.simulation.orders import OrderType as OrderType
from simutrador.simulation.orders import TimeInForce as TimeInForce
from simutrador.simulation.orders import invalid_order as invalid_order
from simutrador.simulation.results import SimulationResult as SimulationResult
from simutrador.simulation.runner import Book as Book
from simutrador.simulation.runner import Progress as Progress
from simutrador.simulation.runner import SimulationHandle as SimulationHandle
from simutrador.simulation.runner import StrategyContext as StrategyContext
from simutrador.simulation.runner import stage_of as stage_of
from simutrador.simulation.runner import strategy_callbacks as strategy_callbacks
from simutrador.simulation.simulator import Simulator as Simulator
from simutrador.simulation.simulator import field_values as field_values
from simutrador.simulation.simulator import not_a_session_symbol as not_a_session_symbol

__all__ = [
    "Book",
    "Event",
    "Fill",
    "FillReason",
    "Order",
    "OrderAccepted",
    "OrderCanceled",
    "OrderExpired",
    "OrderFilled",
    "OrderRejected",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionState",
    "Progress",
    "SimulationCompleted",
    "SimulationHandle",
    "Simulator",
    "StrategyContext",
    "Tick",
    "TickAdvanced",
    "TimeInForce",
    "SimulationResult",
    "field_values",
    "invalid_order",
    "not_a_session_symbol",
    "stage_of",
    "strategy_callbacks",
]
