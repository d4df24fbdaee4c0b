"""`Engine.close` and ``with Engine.open(path) as engine:`` release the store's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from simutrador import Engine, SimutradorError
from tests.core.conftest import params


def test_an_engine_closes_its_store_and_a_memory_engine_has_nothing_to_close(tmp_path: Path) -> None:
    with Engine.open(tmp_path / "closing.db") as engine:
        engine.create_session("alice", params())
    with pytest.raises(SimutradorError) as closed:
        engine.list_sessions("alice")
    assert "closed" in closed.value.message
    with Engine() as memory:
        memory.create_session("alice", params())
    assert len(memory.list_sessions("alice")) == 1  # nothing was released
    with Engine.open(tmp_path / "closing.db") as reopened:
        assert len(reopened.list_sessions("alice")) == 1
