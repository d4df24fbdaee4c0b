"""The public surface: what `simutrador` exports, and what importing it pulls in."""

from __future__ import annotations

import subprocess
import sys

import simutrador


def test_exported_names_are_pinned() -> None:
    assert sorted(simutrador.__all__) == [
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
    for name in simutrador.__all__:
        if name not in ("DAILY", "TIMEFRAMES"):  # constants: documented in their module
            assert getattr(simutrador, name).__doc__, name


def test_importing_the_core_pulls_in_no_transport() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import simutrador, simutrador.testing, simutrador.codec\n"
        "banned = {'trio', 'trio_websocket', 'jwt', 'click', 'anyio', 'asyncio', 'socket', 'wsproto',"
        " 'simutrador_ws', 'simutrador_cli', 'pyarrow', 'pandas', 'numpy', 'plotly'}\n"
        "print(sorted(banned & (set(sys.modules) - before)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_adapters_import_only_the_public_api() -> None:
    """Adapters use `simutrador`'s exports and its public modules (codec, testing, report, sweeps, simulation, storage)."""
    import ast
    from pathlib import Path

    allowed = {
        "simutrador",
        "simutrador.codec",
        "simutrador.testing",
        "simutrador.report",
        "simutrador.sweeps",
        "simutrador.simulation",
        "simutrador.storage",
    }
    found = []
    for path in sorted((Path(__file__).resolve().parents[2] / "adapters").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "simutrador" and n not in allowed]
    assert found == []
