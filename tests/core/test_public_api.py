"""The public surface: what `simutrador` exports, and what importing it pulls in."""

from __future__ import annotations

import subprocess
import sys

import simutrador


def test_exported_names_are_pinned() -> None:
    assert sorted(simutrador.__all__) == [
        "AssetClass",
        "Bar",
        "Catalog",
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
        "StrategyContext",
        "SymbolInfo",
        "Tick",
        "TimeInForce",
        "Timeframe",
        "Trade",
        "ValidationResult",
        "backtest",
        "load_settings",
        "parse_timeframe",
        "setting",
    ]
    for name in simutrador.__all__:
        assert getattr(simutrador, name).__doc__, name


def test_importing_the_core_pulls_in_no_transport() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import simutrador, simutrador.testing, simutrador.codec\n"
        "banned = {'trio', 'trio_websocket', 'jwt', 'click', 'anyio', 'asyncio', 'socket', 'wsproto',"
        " 'simutrador_ws', 'simutrador_cli', 'pyarrow', 'pandas', 'numpy'}\n"
        "print(sorted(banned & (set(sys.modules) - before)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
