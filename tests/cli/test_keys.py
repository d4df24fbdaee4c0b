"""``simutrador keys`` and ``simutrador serve``'s store and HTTP side, as a user runs them."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from simutrador_cli.main import cli

from simutrador import Plan, SqliteStore
from tests.cli.test_serve import SECRET, list_sessions, start_server, stop

ENV = {"SIMUTRADOR_JWT_SECRET": SECRET}
CREATE = {"symbols": ["AAPL"], "start_date": "2024-03-04", "end_date": "2024-03-08", "initial_capital": 10_000}


def keys(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["keys", *args], env=env)


def test_create_list_revoke(tmp_path: Path) -> None:
    store = str(tmp_path / "keys.db")
    made = keys("create", "--user", "alice", "--plan", "professional", "--store", store)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert re.fullmatch(r"stk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", key)
    key_id = key[4:20]
    assert f"key id {key_id}: user alice, professional plan" in made.stderr
    assert "Shown once" in made.stderr
    with SqliteStore(store) as opened:
        assert opened.verify_api_key(key) == ("alice", Plan.PROFESSIONAL)
    bob = keys("create", "--user", "bob", "--store", store, "--json")
    assert bob.exit_code == 0
    bobs = json.loads(bob.stdout)
    assert (bobs["user_id"], bobs["plan"], bobs["revoked_at"]) == ("bob", "free", None)
    assert bobs["key"].startswith(f"stk_{bobs['key_id']}_")

    listed = keys("list", "--store", store)
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["KEY", "ID", "USER", "PLAN", "CREATED", "REVOKED"]
    assert lines[2].split()[:3] == [key_id, "alice", "professional"]
    assert lines[3].split()[:3] == [bobs["key_id"], "bob", "free"]
    assert key[21:] not in listed.stdout and bobs["key"] not in listed.stdout  # never a secret
    only_bob = json.loads(keys("list", "--user", "bob", "--store", store, "--json").stdout)
    assert [k["key_id"] for k in only_bob["keys"]] == [bobs["key_id"]]
    assert keys("list", "--user", "carol", "--store", store).stdout == "No API keys for carol.\n"

    revoked = keys("revoke", key_id, "--store", store)
    assert (revoked.exit_code, revoked.stdout) == (0, f"revoked {key_id}\n")
    again = keys("revoke", key, "--store", store)  # the whole key names it too
    assert again.exit_code == 0 and f"{key_id} was already revoked" in again.stdout
    assert keys("revoke", bobs["key"], "--store", store).exit_code == 0
    after = json.loads(keys("list", "--store", store, "--json").stdout)["keys"]
    assert [k["revoked_at"] is not None for k in after] == [True, True]
    with SqliteStore(store) as opened:
        assert opened.verify_api_key(key) is None


def test_the_store_comes_from_the_environment_and_defaults_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMUTRADOR_STORE", raising=False)
    assert keys("create", "--user", "ann").exit_code == 0
    assert (tmp_path / "simutrador.db").exists()
    assert keys("create", "--user", "zed", env={"SIMUTRADOR_STORE": "other.db"}).exit_code == 0
    with SqliteStore(tmp_path / "other.db") as other:
        assert [k.user_id for k in other.list_api_keys()] == ["zed"]
    assert "ann" in keys("list").stdout
    assert "zed" not in keys("list").stdout


def test_the_plan_defaults_to_the_configured_default_plan(tmp_path: Path) -> None:
    store = str(tmp_path / "keys.db")
    config = tmp_path / "simutrador.toml"
    config.write_text('default_plan = "enterprise"\n')
    made = keys("create", "--user", "ann", "--store", store, "--config", str(config), "--json")
    assert json.loads(made.stdout)["plan"] == "enterprise"
    bad = tmp_path / "bad.toml"
    bad.write_text('default_plan = "gold"\n')
    refused = keys("create", "--user", "ann", "--store", store, "--config", str(bad))
    assert refused.exit_code == 3
    assert "default_plan" in refused.stderr


def test_clear_errors(tmp_path: Path) -> None:
    store = str(tmp_path / "keys.db")
    unknown_plan = keys("create", "--user", "ann", "--plan", "gold", "--store", store)
    assert unknown_plan.exit_code == 2 and "'gold' is not one of" in unknown_plan.stderr
    assert not Path(store).exists()  # nothing made for a refused command
    bad_user = keys("create", "--user", "a\nb", "--store", store)
    assert bad_user.exit_code == 3 and "user_id must be" in bad_user.stderr

    missing = tmp_path / "nowhere.db"
    for command in (["list"], ["revoke", "0123456789abcdef"]):
        result = keys(*command, "--store", str(missing))
        assert result.exit_code == 3, result.output
        assert f"no store at {missing}" in result.stderr
        assert not missing.exists()  # listing never makes a store
    unwritable = tmp_path / "a-file"
    unwritable.write_text("not a folder")
    cannot = keys("create", "--user", "ann", "--store", str(unwritable / "keys.db"))
    assert cannot.exit_code == 3 and "cannot use" in cannot.stderr
    folder = keys("list", "--store", str(tmp_path))
    assert folder.exit_code == 3 and "is a folder" in folder.stderr
    memory = keys("create", "--user", "ann", "--store", "memory")
    assert memory.exit_code == 2 and "--store memory keeps keys only inside a running server" in memory.stderr

    assert keys("create", "--user", "ann", "--store", store).exit_code == 0
    unknown = keys("revoke", "fedcba9876543210", "--store", store)
    assert unknown.exit_code == 3
    assert "no API key with id 'fedcba9876543210'" in unknown.stderr
    assert keys("list", "--store", store).stdout.count("ann") == 1


# -- serve: the store and the HTTP side, as a process --------------------------------------


def addresses(lines: list[str]) -> tuple[str, str]:
    text = "".join(lines)
    ws = re.search(r"at (ws://\S+)", text)
    http_base = re.search(r"HTTP at (http://\S+):", text)
    assert ws is not None and http_base is not None, text
    return ws.group(1), http_base.group(1)


def request(base: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def login(base: str, key: str) -> tuple[int, dict[str, Any]]:
    return request(base, "POST", "/auth/token", {"X-API-Key": key, "Content-Type": "application/json"})


def test_a_key_from_keys_create_logs_in_to_serve_and_sessions_survive_a_restart(tmp_path: Path) -> None:
    made = keys("create", "--user", "alice", "--plan", "professional", "--store", str(tmp_path / "simutrador.db"))
    key = made.stdout.strip()
    process, lines = start_server(env=ENV, cwd=tmp_path)  # the default store: simutrador.db here
    try:
        ws_url, base = addresses(lines)
        assert "Sessions and API keys kept in simutrador.db" in "".join(lines)
        status, health = request(base, "GET", "/health")
        assert (status, health["status"]) == (200, "ok")
        status, answer = login(base, key)
        assert status == 200, answer
        claims = jwt.decode(answer["access_token"], SECRET, algorithms=["HS256"])
        assert (claims["sub"], claims["plan"], answer["expires_in"]) == ("alice", "professional", 3600)
        created = list_sessions(ws_url, answer["access_token"], CREATE)
        assert [s["symbols"] for s in created] == [["AAPL"]]
        revoked = keys("revoke", key[4:20], "--store", str(tmp_path / "simutrador.db"))  # while it runs
        assert revoked.exit_code == 0
        assert login(base, key) == (401, {"detail": "invalid API key"})
    finally:
        code, out = stop(process)
    assert code == 0 and "Server stopped." in out
    process, lines = start_server(env=ENV, cwd=tmp_path)
    try:
        ws_url, _ = addresses(lines)
        assert list_sessions(ws_url, answer["access_token"]) == created  # the same session, after a restart
    finally:
        stop(process)


def test_serve_with_a_memory_store_forgets_at_exit(tmp_path: Path) -> None:
    process, lines = start_server("--store", "memory", env=ENV, cwd=tmp_path)
    try:
        ws_url, base = addresses(lines)
        assert "kept in memory: they end with this run" in "".join(lines)
        token = jwt.encode({"sub": "bob", "plan": "enterprise", "iat": 0, "exp": 4_000_000_000}, SECRET)
        assert len(list_sessions(ws_url, token, CREATE)) == 1
        assert login(base, "stk_0123456789abcdef_" + "x" * 43)[0] == 401
    finally:
        stop(process)
    assert list(tmp_path.iterdir()) == []  # no file made
    process, lines = start_server("--store", "memory", env=ENV, cwd=tmp_path)
    try:
        assert list_sessions(addresses(lines)[0], token) == []
    finally:
        stop(process)


def test_serve_without_http(tmp_path: Path) -> None:
    process, lines = start_server("--no-http", "--store", "memory", env=ENV, cwd=tmp_path)
    try:
        text = "".join(lines)
        assert "at ws://" in text and "HTTP at" not in text
    finally:
        code, _ = stop(process)
    assert code == 0


def test_serve_says_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*start_command(), "--http-port", str(port)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=environment(),
            timeout=60,
            check=False,
        )
    assert result.returncode == 5, result.stderr
    assert "error: cannot listen:" in result.stderr
    assert "Traceback" not in result.stderr


def start_command() -> list[str]:
    from tests.cli.test_serve import executable

    return [executable(), "serve", "--port", "0", "--store", "memory"]


def environment() -> dict[str, str]:
    import os

    return {**{k: v for k, v in os.environ.items() if not k.startswith("SIMUTRADOR_")}, **ENV}


def test_a_server_with_public_key_auth_issues_no_tokens(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = tmp_path / "public.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    env = {"SIMUTRADOR_JWT_ALGORITHMS": "RS256", "SIMUTRADOR_JWT_PUBLIC_KEY_FILE": str(public)}
    process, lines = start_server("--store", "memory", env=env, cwd=tmp_path)
    try:
        _, base = addresses(lines)
        assert "no tokens (public-key auth)" in "".join(lines)
        status, answer = login(base, "stk_0123456789abcdef_" + "x" * 43)
        assert status == 501 and "issues no tokens" in answer["detail"]
    finally:
        stop(process)


def test_a_failure_other_than_binding_is_not_disguised() -> None:
    import trio
    from simutrador_cli.serve import _serve_both
    from simutrador_ws.auth import TokenVerifier
    from simutrador_ws.server import SimutradorServer

    from simutrador import Engine
    from tests.ws.harness import AUTH, fast_settings

    def greet() -> None:
        raise RuntimeError("a bug in the greeting")

    server = SimutradorServer(Engine(), fast_settings(), TokenVerifier(AUTH))
    with pytest.raises(BaseExceptionGroup) as caught:
        trio.run(_serve_both, server, None, greet)
    assert caught.group_contains(RuntimeError, match="a bug in the greeting")
