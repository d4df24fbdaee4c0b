"""SimuTrador: a library-first trading-simulation session engine.

Embed it directly::

    from simutrador import Engine
    engine = Engine()
    session = engine.create_session("alice", symbols=["AAPL"], start_date="2024-03-01",
                                    end_date="2024-03-01", initial_capital="25000")

or serve it over WebSocket with the ``simutrador`` command (``adapters/``).
"""

from __future__ import annotations

from simutrador.catalog import Bar as Bar
from simutrador.catalog import Catalog as Catalog
from simutrador.catalog import SymbolInfo as SymbolInfo
from simutrador.directory_catalog import DirectoryCatalog as DirectoryCatalog
from simutrador.engine import Engine as Engine
from simutrador.errors import ErrorCode as ErrorCode
from simutrador.errors import ErrorType as ErrorType
from simutrador.errors import Severity as Severity
from simutrador.errors import SimutradorError as SimutradorError
from simutrador.models import DataRange as DataRange
from simutrador.models import Session as Session
from simutrador.models import SessionParams as SessionParams
from simutrador.sample_catalog import SampleCatalog as SampleCatalog
from simutrador.settings import EngineSettings as EngineSettings
from simutrador.settings import Plan as Plan
from simutrador.settings import PlanLimits as PlanLimits
from simutrador.settings import SessionSettings as SessionSettings
from simutrador.states import SessionState as SessionState
from simutrador.symbols import AssetClass as AssetClass
from simutrador.validator import MarketDataValidator as MarketDataValidator
from simutrador.validator import ValidationResult as ValidationResult

__all__ = [
    "AssetClass",
    "Bar",
    "Catalog",
    "DataRange",
    "DirectoryCatalog",
    "Engine",
    "EngineSettings",
    "ErrorCode",
    "ErrorType",
    "MarketDataValidator",
    "Plan",
    "PlanLimits",
    "SampleCatalog",
    "Session",
    "SessionParams",
    "SessionSettings",
    "SessionState",
    "Severity",
    "SimutradorError",
    "SymbolInfo",
    "ValidationResult",
]

__version__ = "0.1.0"
