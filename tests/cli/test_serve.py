"""``simutrador serve`` as a real process, and ``simutrador token``."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jwt
import trio
import trio_websocket
from click.testing import CliRunner
from simutrador_cli.main import cli

SECRET = "cli-secret-" + "z" * 40


def executable() -> str:
    found = shutil.which("simutrador", path=str(Path(sys.executable).parent))
    assert found is not None
    return found


def start_server(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], list[str]]:
    """``simutrador serve`` on free ports (WebSocket and HTTP) in `cwd` (its default store is made there)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIMUTRADOR_")}
    environment.update(env or {})
    process = subprocess.Popen(
        [executable(), "serve", "--port", "0", "--http-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=cwd,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for _ in range(20):
        line = process.stdout.readline()
        lines.append(line)
        if "Press Ctrl+C" in line or not line:
            break
    return process, lines


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def list_sessions(url: str, token: str, create: dict[str, object] | None = None) -> list[dict[str, object]]:
    async def talk() -> list[dict[str, object]]:
        with trio.fail_after(20):
            async with trio_websocket.open_websocket_url(f"{url}?token={token}") as ws:
                assert json.loads(await ws.get_message())["type"] == "connection_ready"
                if create is not None:
                    await ws.send_message(json.dumps({"type": "create_session", "data": create}))
                    reply = json.loads(await ws.get_message())
                    assert reply["type"] == "session_created", reply
                await ws.send_message(json.dumps({"type": "list_sessions"}))
                sessions = json.loads(await ws.get_message())["data"]["sessions"]
                await ws.aclose()
                await trio.aclose_forcefully(ws._stream)
                return sessions

    return trio.run(talk)


def test_serve_with_an_ephemeral_secret_prints_a_working_dev_token(tmp_path: Path) -> None:
    process, lines = start_server("--store", "memory", cwd=tmp_path)
    try:
        text = "".join(lines)
        url = re.search(r"at (ws://\S+)", text)
        token = re.search(r"^\s+(eyJ\S+)$", text, re.M)
        assert url is not None and token is not None, text
        assert "SYNTHETIC" in text and "SIMUTRADOR_TOKEN=" in text
        assert list_sessions(url.group(1), token.group(1)) == []
    finally:
        code, out = stop(process)
    assert code == 0
    assert "Server stopped." in out


def test_serve_own_data_with_a_configured_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with (data / "ACME.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "open", "high", "low", "close"])
        writer.writerows([[f"2024-01-{d:02d}", 1, 2, 0.5, 1.5] for d in range(2, 20)])
    token_result = CliRunner().invoke(
        cli, ["token", "--user", "zoe", "--plan", "enterprise"], env={"SIMUTRADOR_JWT_SECRET": SECRET}
    )
    assert token_result.exit_code == 0
    token = token_result.output.strip()
    process, lines = start_server("--data-dir", str(data), env={"SIMUTRADOR_JWT_SECRET": SECRET}, cwd=tmp_path)
    try:
        text = "".join(lines)
        assert "Dev token" not in text and str(data) in text
        url = re.search(r"at (ws://\S+)", text)
        assert url is not None
        create = {"symbols": ["acme"], "start_date": "2024-01-03", "end_date": "2024-01-05", "initial_capital": 5000}
        sessions = list_sessions(url.group(1), token, create)
        assert [(s["symbols"], s["data_provider"], s["estimated_ticks"]) for s in sessions] == [
            (["ACME"], "directory", 3)
        ]
    finally:
        code, _ = stop(process)
    assert code == 0


def test_serve_refuses_bad_configuration(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["serve", "--port", "0", "--data-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 3
    assert "does not exist" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 'x'\n")
    assert runner.invoke(cli, ["serve", "--config", str(bad)]).exit_code == 3
    short = runner.invoke(cli, ["serve", "--port", "0"], env={"SIMUTRADOR_JWT_SECRET": "short"})
    assert short.exit_code == 3
    assert "at least 32 bytes" in short.output


def test_token_command() -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["token", "--user", "ann", "--plan", "professional", "--expires-in", "60", "--admin"],
        env={"SIMUTRADOR_JWT_SECRET": SECRET},
    )
    assert result.exit_code == 0
    claims = jwt.decode(result.output.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["plan"], claims["admin"], claims["exp"] - claims["iat"]) == (
        "ann",
        "professional",
        True,
        60,
    )
    short = runner.invoke(cli, ["token", "--user", "ann"], env={"SIMUTRADOR_JWT_SECRET": "short"})
    assert short.exit_code == 3
    assert runner.invoke(cli, ["token", "--user", "ann", "--plan", "gold"]).exit_code == 2


def test_token_plan_defaults_to_the_configured_default_plan(tmp_path: Path) -> None:
    runner = CliRunner()
    plain = runner.invoke(cli, ["token", "--user", "ann"], env={"SIMUTRADOR_JWT_SECRET": SECRET})
    assert jwt.decode(plain.output.strip(), SECRET, algorithms=["HS256"])["plan"] == "free"
    by_env = runner.invoke(
        cli, ["token", "--user", "ann"], env={"SIMUTRADOR_JWT_SECRET": SECRET, "SIMUTRADOR_DEFAULT_PLAN": "enterprise"}
    )
    assert jwt.decode(by_env.output.strip(), SECRET, algorithms=["HS256"])["plan"] == "enterprise"
    config = tmp_path / "simutrador.toml"
    config.write_text('default_plan = "professional"\n')
    by_file = runner.invoke(
        cli, ["token", "--user", "ann", "--config", str(config)], env={"SIMUTRADOR_JWT_SECRET": SECRET}
    )
    assert jwt.decode(by_file.output.strip(), SECRET, algorithms=["HS256"])["plan"] == "professional"
    for plan in ("free", "professional", "enterprise"):  # any plan can be minted for local development
        minted = runner.invoke(
            cli,
            ["token", "--user", "ann", "--plan", plan, "--config", str(config)],
            env={"SIMUTRADOR_JWT_SECRET": SECRET},
        )
        assert jwt.decode(minted.output.strip(), SECRET, algorithms=["HS256"])["plan"] == plan


def test_serve_refuses_to_start_with_key_material_that_cannot_verify(tmp_path: Path) -> None:
    """Issue 13, defect 6: a garbage public key meant 401 for every client; a private key dropped every handshake."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    private = tmp_path / "private.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for path, message in ((garbage, "holds no key RS256 can verify with"), (private, "holds a private key")):
        process, lines = start_server(
            env={"SIMUTRADOR_JWT_ALGORITHMS": "RS256", "SIMUTRADOR_JWT_PUBLIC_KEY_FILE": str(path)}, cwd=tmp_path
        )
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 3  # EXIT_VALIDATION: before listening, nothing served
        assert "".join(lines) == ""
        assert not (tmp_path / "simutrador.db").exists()  # refused before the store was made
        assert f"error: VALIDATION_FAILED: the JWT public key file '{path}' {message}" in errors
