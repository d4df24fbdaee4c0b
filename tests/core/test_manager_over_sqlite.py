"""The session rules of test_manager.py, run again with every store a `SqliteStore`.

The manager decides and the store holds: the same tests must pass whichever store
holds. Every engine and manager those tests make gets its own SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from simutrador import Engine, EngineSettings, SqliteStore
from simutrador.sessions.manager import SessionManager
from simutrador.testing import ManualClock, SequentialIds
from tests.core import test_manager
from tests.core.conftest import params
from tests.core.stores import rerun, sqlite_by_default

globals().update(rerun(test_manager))

pytestmark = pytest.mark.usefixtures(sqlite_by_default.__name__)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore(tmp_path / "manager.db") as opened:
        yield opened


@pytest.fixture
def manager(clock: ManualClock, store: SqliteStore) -> SessionManager:
    return SessionManager(EngineSettings(), clock=clock, id_factory=SequentialIds(), store=store)


def test_engines_made_here_keep_their_sessions_in_sqlite(
    make_engine: Callable[..., Engine], sqlite_by_default: list[SqliteStore]
) -> None:
    engine = make_engine()
    engine.create_session("alice", params())
    assert [len(store) for store in sqlite_by_default] == [1]
    assert isinstance(engine._sessions.store, SqliteStore)
