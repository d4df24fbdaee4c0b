"""SimuTrador: a library-first trading-simulation session engine.

Embed it directly::

    from simutrador import Engine
    engine = Engine()
    session = engine.create_session("alice", symbols=["AAPL"], start_date="2024-03-01",
                                    end_date="2024-03-01", initial_capital="25000")

or serve it over WebSocket with the ``simutrador`` command (``adapters/``).
"""

from __future__ import annotations

from simutrador.engine import Engine as Engine
from simutrador.errors import ErrorCode as ErrorCode
from simutrador.errors import ErrorType as ErrorType
from simutrador.errors import Severity as Severity
from simutrador.errors import SimutradorError as SimutradorError
from simutrador.models import DataRange as DataRange
from simutrador.models import Session as Session
from simutrador.models import SessionParams as SessionParams
from simutrador.settings import EngineSettings as EngineSettings
from simutrador.settings import Plan as Plan
from simutrador.settings import PlanLimits as PlanLimits
from simutrador.settings import SessionSettings as SessionSettings
from simutrador.states import SessionState as SessionState

__all__ = [
    "DataRange",
    "Engine",
    "EngineSettings",
    "ErrorCode",
    "ErrorType",
    "Plan",
    "PlanLimits",
    "Session",
    "SessionParams",
    "SessionSettings",
    "SessionState",
    "Severity",
    "SimutradorError",
]

__version__ = "0.1.0"
