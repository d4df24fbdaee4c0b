"""Fixtures for the core tests: an engine on a manual clock with predictable ids."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from simutrador import Engine, EngineSettings, Plan, SessionParams, SessionSettings
from simutrador.testing import ManualClock, SequentialIds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_engine(clock: ManualClock) -> Callable[..., Engine]:
    def make(plan: Plan = Plan.PROFESSIONAL, **session: Any) -> Engine:
        settings = EngineSettings(session=SessionSettings(**session), default_plan=plan)
        return Engine(settings, clock=clock, id_factory=SequentialIds())

    return make


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


def params(**overrides: Any) -> SessionParams:
    """A valid request (professional plan), with fields overridden."""
    fields: dict[str, Any] = {
        "symbols": ("AAPL", "MSFT"),
        "start_date": "2024-03-04",
        "end_date": "2024-03-08",
        "initial_capital": Decimal("100000"),
    }
    fields.update(overrides)
    return SessionParams(**fields)
