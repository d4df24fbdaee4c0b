"""Helpers to run store-level and rule-level tests over every `SessionStore`: memory and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from simutrador import MemoryStore, Session, SessionState, SqliteStore
from simutrador.sessions import manager as manager_module
from simutrador.storage.base import SessionStore

STORE_KINDS = ("memory", "sqlite")
T0 = datetime(2025, 1, 2, 12, 0, tzinfo=UTC)


def make_store(kind: str, path: Path) -> SessionStore:
    return MemoryStore() if kind == "memory" else SqliteStore(path)


def close(store: object) -> None:
    if isinstance(store, SqliteStore):
        store.close()


def make_session(
    user_id: str = "alice",
    session_id: str = "s1",
    *,
    expires_in: timedelta = timedelta(minutes=60),
    state: SessionState = SessionState.READY,
    **fields: Any,
) -> Session:
    """A plain session snapshot, as the manager would store it."""
    values: dict[str, Any] = {
        "session_id": session_id,
        "user_id": user_id,
        "symbols": ("AAPL",),
        "start_date": datetime(2024, 3, 4, tzinfo=UTC),
        "end_date": datetime(2024, 3, 8, 23, 59, 59, 999999, tzinfo=UTC),
        "initial_capital": Decimal("10000"),
        "state": state,
        "created_at": T0,
        "updated_at": T0,
        "expires_at": T0 + expires_in,
        "data_provider": "sample",
    }
    values.update(fields)
    return Session(**values)


def rerun(module: ModuleType) -> dict[str, Any]:
    """The tests (classes and functions) of `module`, to collect again in another module.

    The other module defines the fixtures they need (its own, or the conftest's).
    """
    return {name: value for name, value in vars(module).items() if name.startswith(("Test", "test_"))}


@pytest.fixture
def sqlite_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SqliteStore]]:
    """Every `SessionManager` (so every `Engine`) made without a store gets a new SQLite file."""
    opened: list[SqliteStore] = []

    def new_store() -> SqliteStore:
        store = SqliteStore(tmp_path / f"default-{len(opened)}.db")
        opened.append(store)
        return store

    monkeypatch.setattr(manager_module, "MemoryStore", new_store)
    yield opened
    for store in opened:
        store.close()
