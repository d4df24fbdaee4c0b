"""``simutrador serve`` and its store file: one server per file, files that are not stores, ``synchronous``.

A store that cannot be used stops ``serve`` once, with its message and documented exit
code (3 for a file that cannot be opened or is held, 1 for a store that fails when the
engine starts), instead of serving errors or being restarted in a loop by hand.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from simutrador_cli import serve as serve_module
from simutrador_cli.main import cli
from simutrador_cli.serve import StoreSettings, load_store_settings

from simutrador import ErrorCode, SessionState, SimutradorError, SqliteStore
from tests.cli.test_serve import SECRET, start_server, stop
from tests.core.stores import make_session

ENV = {"SIMUTRADOR_JWT_SECRET": SECRET}


def serve(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["serve", "--port", "0", "--http-port", "0", *args], env={**ENV, **(env or {})})


def test_a_second_server_on_the_same_store_exits_at_once_and_keys_still_work(tmp_path: Path) -> None:
    store = tmp_path / "simutrador.db"
    process, lines = start_server(env=ENV, cwd=tmp_path)  # the default store, simutrador.db here
    try:
        assert "Press Ctrl+C" in "".join(lines)
        second = serve("--store", str(store))
        assert second.exit_code == 3, second.output
        assert second.output.startswith(f"error: VALIDATION_FAILED: cannot use {store} as a session store: ")
        assert f"another SimuTrador process (pid {process.pid}) holds it" in second.output
        runner = CliRunner()
        made = runner.invoke(cli, ["keys", "create", "--user", "alice", "--store", str(store)])
        assert made.exit_code == 0, made.output
        listed = runner.invoke(cli, ["keys", "list", "--store", str(store), "--json"])
        assert listed.exit_code == 0, listed.output
        assert '"user_id": "alice"' in listed.output
    finally:
        code, _ = stop(process)
    assert code == 0
    with SqliteStore(store) as reopened:  # the server let it go when it stopped
        assert [k.user_id for k in reopened.list_api_keys()] == ["alice"]


def test_a_file_that_is_not_a_store_stops_serve_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    result = serve("--store", str(notes))
    assert result.exit_code == 3
    assert f"cannot use {notes} as a session store: it is not a SQLite database" in result.output
    assert notes.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_store_that_fails_when_the_engine_starts_stops_serve_once(tmp_path: Path) -> None:
    """A run left RUNNING is paused when the engine starts: a store that cannot write that stops ``serve``."""
    store = tmp_path / "sessions.db"
    with SqliteStore(store) as opened:
        opened.save(make_session(state=SessionState.RUNNING))
    raw = sqlite3.connect(store)
    raw.execute("CREATE TRIGGER broken BEFORE UPDATE ON sessions BEGIN SELECT RAISE(FAIL, 'disk I/O error'); END")
    raw.commit()
    raw.close()
    result = serve("--store", str(store))
    assert result.exit_code == 1, result.output
    assert result.output == f"error: STORAGE_FAILED: the session store {store} failed: disk I/O error\n"
    with SqliteStore(store) as reopened:  # nothing lost, and the file let go
        assert reopened.get("alice", "s1") == make_session(state=SessionState.RUNNING)


# -- synchronous ----------------------------------------------------------------------------


def test_synchronous_comes_from_the_flag_then_the_environment_then_the_file(tmp_path: Path) -> None:
    config = tmp_path / "simutrador.toml"
    config.write_text('[store]\nsynchronous = "FULL"\n')
    assert load_store_settings(environ={}) == StoreSettings(synchronous="normal")
    assert load_store_settings(config, environ={}).synchronous == "full"
    assert load_store_settings(config, environ={"SIMUTRADOR_STORE_SYNCHRONOUS": "normal"}).synchronous == "normal"
    with pytest.raises(SimutradorError) as caught:
        load_store_settings(environ={"SIMUTRADOR_STORE_SYNCHRONOUS": "sometimes"})
    assert caught.value.message == (
        "invalid configuration: store.synchronous (SIMUTRADOR_STORE_SYNCHRONOUS) must be one of full, normal, "
        "got 'sometimes'"
    )


@pytest.mark.parametrize(
    ("args", "env", "toml", "expected"),
    [
        ((), {}, None, "normal"),
        (("--synchronous", "FULL"), {}, None, "full"),
        ((), {"SIMUTRADOR_STORE_SYNCHRONOUS": "full"}, None, "full"),
        ((), {}, "full", "full"),
        (("--synchronous", "normal"), {"SIMUTRADOR_STORE_SYNCHRONOUS": "full"}, "full", "normal"),
    ],
)
def test_serve_opens_its_store_with_the_synchronous_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: dict[str, str],
    toml: str | None,
    expected: str,
) -> None:
    seen: list[str] = []

    def open_store(name: str, *, create: bool, synchronous: str) -> Any:
        seen.append(synchronous)
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "seen")  # stop before serving

    monkeypatch.setattr(serve_module, "open_store", open_store)
    config: tuple[str, ...] = ()
    if toml is not None:
        (tmp_path / "c.toml").write_text(f'[store]\nsynchronous = "{toml}"\n')
        config = ("--config", str(tmp_path / "c.toml"))
    result = serve(*args, *config, env=env)
    assert result.output == "error: VALIDATION_FAILED: seen\n"
    assert seen == [expected]


def test_serve_says_when_it_keeps_sessions_with_synchronous_full(tmp_path: Path) -> None:
    process, lines = start_server("--synchronous", "full", env=ENV, cwd=tmp_path)
    try:
        assert "Sessions and API keys kept in simutrador.db, synchronous=full" in "".join(lines)
    finally:
        code, _ = stop(process)
    assert code == 0


def test_a_bad_synchronous_setting_stops_serve(tmp_path: Path) -> None:
    result = serve("--store", str(tmp_path / "s.db"), env={"SIMUTRADOR_STORE_SYNCHRONOUS": "off"})
    assert result.exit_code == 3
    assert "store.synchronous (SIMUTRADOR_STORE_SYNCHRONOUS) must be one of full, normal, got 'off'" in result.output
    assert list(tmp_path.iterdir()) == []
    flag = serve("--synchronous", "off")
    assert flag.exit_code == 2  # click refuses the choice
