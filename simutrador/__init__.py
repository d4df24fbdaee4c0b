"""SimuTrador: a library-first trading-simulation session engine.

Embed it directly::

    from simutrador import Engine
    engine = Engine()
    session = engine.create_session("alice", symbols=["AAPL"], start_date="2024-03-01",
                                    end_date="2024-03-01", initial_capital="25000")

or serve it over WebSocket with the ``simutrador`` command (``adapters/``).
"""

from __future__ import annotations

from simutrador.data.catalog import Bar as Bar
from simutrador.data.catalog import Catalog as Catalog
from simutrador.data.catalog import SymbolInfo as SymbolInfo
from simutrador.data.catalog import available_days as available_days
from simutrador.data.directory import DirectoryCatalog as DirectoryCatalog
from simutrador.data.frames import FrameCatalog as FrameCatalog
from simutrador.data.market import MarketDataValidator as MarketDataValidator
from simutrador.data.market import ValidationResult as ValidationResult
from simutrador.data.sample import SampleCatalog as SampleCatalog
from simutrador.data.symbols import AssetClass as AssetClass
from simutrador.data.symbols import SymbolProblem as SymbolProblem
from simutrador.data.symbols import normalize_symbol as normalize_symbol
from simutrador.data.timeframes import DAILY as DAILY
from simutrador.data.timeframes import TIMEFRAMES as TIMEFRAMES
from simutrador.data.timeframes import Timeframe as Timeframe
from simutrador.data.timeframes import parse_timeframe as parse_timeframe
from simutrador.data.timeframes import source_timeframe as source_timeframe
from simutrador.engine import Engine as Engine
from simutrador.engine import backtest as backtest
from simutrador.errors import ErrorCode as ErrorCode
from simutrador.errors import ErrorType as ErrorType
from simutrador.errors import Severity as Severity
from simutrador.errors import SimutradorError as SimutradorError
from simutrador.sessions.models import DataRange as DataRange
from simutrador.sessions.models import Session as Session
from simutrador.sessions.models import SessionParams as SessionParams
from simutrador.sessions.states import SessionState as SessionState
from simutrador.settings import EngineSettings as EngineSettings
from simutrador.settings import Plan as Plan
from simutrador.settings import PlanLimits as PlanLimits
from simutrador.settings import SessionSettings as SessionSettings
from simutrador.settings import load_settings as load_settings
from simutrador.settings import setting as setting
from simutrador.simulation.account import Position as Position
from simutrador.simulation.events import Fill as Fill
from simutrador.simulation.events import OrderRequest as OrderRequest
from simutrador.simulation.events import Tick as Tick
from simutrador.simulation.metrics import Metrics as Metrics
from simutrador.simulation.orders import Order as Order
from simutrador.simulation.orders import OrderSide as OrderSide
from simutrador.simulation.orders import OrderStatus as OrderStatus
from simutrador.simulation.orders import OrderType as OrderType
from simutrador.simulation.orders import TimeInForce as TimeInForce
from simutrador.simulation.results import EquityPoint as EquityPoint
from simutrador.simulation.results import SimulationResult as SimulationResult
from simutrador.simulation.results import Trade as Trade
from simutrador.simulation.runner import SimulationHandle as SimulationHandle
from simutrador.simulation.runner import StrategyContext as StrategyContext
from simutrador.storage import ApiKey as ApiKey
from simutrador.storage import ApiKeyStore as ApiKeyStore
from simutrador.storage import MemoryStore as MemoryStore
from simutrador.storage import SessionStore as SessionStore
from simutrador.storage import SqliteStore as SqliteStore

__all__ = [
    "ApiKey",
    "ApiKeyStore",
    "AssetClass",
    "Bar",
    "Catalog",
    "DAILY",
    "DataRange",
    "DirectoryCatalog",
    "Engine",
    "EngineSettings",
    "EquityPoint",
    "ErrorCode",
    "ErrorType",
    "Fill",
    "FrameCatalog",
    "MarketDataValidator",
    "MemoryStore",
    "Metrics",
    "Order",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Plan",
    "PlanLimits",
    "Position",
    "SampleCatalog",
    "Session",
    "SessionParams",
    "SessionSettings",
    "SessionState",
    "SessionStore",
    "Severity",
    "SimulationHandle",
    "SimulationResult",
    "SimutradorError",
    "SqliteStore",
    "StrategyContext",
    "SymbolInfo",
    "SymbolProblem",
    "TIMEFRAMES",
    "Tick",
    "TimeInForce",
    "Timeframe",
    "Trade",
    "ValidationResult",
    "available_days",
    "backtest",
    "load_settings",
    "normalize_symbol",
    "parse_timeframe",
    "setting",
    "source_timeframe",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`simutrador.sweep` loads the sweep package (and its process pools) on first use only."""
    if name == "sweep":
        from simutrador.sweeps import sweep  # noqa: PLC0415 - lazily: `import simutrador` stays light

        return sweep
    raise AttributeError(f"module 'simutrador' has no attribute {name!r}")
