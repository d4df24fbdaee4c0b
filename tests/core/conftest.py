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


class PlanEngine(Engine):
    """An engine whose callers all have one plan, as a server's clients do (None: no plan)."""

    def __init__(self, settings: EngineSettings, *, plan: Plan | None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.plan = plan

    def create_session(self, user_id: str, params: SessionParams | None = None, **fields: Any) -> Any:
        fields.setdefault("plan", self.plan)
        return super().create_session(user_id, params, **fields)


@pytest.fixture
def make_engine(clock: ManualClock) -> Callable[..., Engine]:
    def make(plan: Plan | None = None, **session: Any) -> Engine:
        return PlanEngine(
            EngineSettings(session=SessionSettings(**session)), plan=plan, clock=clock, id_factory=SequentialIds()
        )

    return make


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


def params(**overrides: Any) -> SessionParams:
    """A valid request, with fields overridden."""
    fields: dict[str, Any] = {
        "symbols": ("AAPL", "MSFT"),
        "start_date": "2024-03-04",
        "end_date": "2024-03-08",
        "initial_capital": Decimal("100000"),
    }
    fields.update(overrides)
    return SessionParams(**fields)
