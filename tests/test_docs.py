"""The docs are part of the product: their examples run and their tables match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simutrador.errors import ErrorCode
from simutrador.sessions.states import TRANSITIONS, SessionState

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for page in PAGES:
        for index, match in enumerate(FENCE.finditer(page.read_text())):
            blocks.append((page.name, index, match.group(1)))
    return blocks


@pytest.mark.parametrize(("page", "index", "code"), python_blocks(), ids=lambda v: str(v)[:20])
def test_python_examples_run(page: str, index: int, code: str) -> None:
    exec(compile(code, f"{page}[{index}]", "exec"), {"__name__": f"docs_{index}"})


def test_every_page_with_examples_is_collected() -> None:
    pages = {"README.md", "embedding.md", "configuration.md", "errors.md", "market-data.md"}
    assert pages <= {p for p, _, _ in python_blocks()}


def table_rows(page: str, first_cell: str) -> dict[str, list[str]]:
    rows = {}
    for line in (ROOT / "docs" / page).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and re.fullmatch(first_cell, cells[0].strip("`")):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_error_table_matches_the_code() -> None:
    rows = table_rows("errors.md", r"[A-Z_]+")
    assert set(rows) == {c.value for c in ErrorCode}
    for code in ErrorCode:
        error_type, severity, recoverable = rows[code.value][:3]
        assert (error_type, severity, recoverable) == (
            code.error_type.value,
            code.severity.value,
            "yes" if code.recoverable else "no",
        )


def test_state_table_matches_the_code() -> None:
    rows = table_rows("embedding.md", r"[a-z]+")
    documented = {
        (state, event): target
        for state, cells in rows.items()
        for event, target in re.findall(r"`([a-z]+)` → `([a-z]+)`", cells[0])
    }
    assert documented == {(s.value, e.value): t.value for (s, e), t in TRANSITIONS.items()}
    assert set(rows) == {s.value for s in SessionState}


def test_protocol_tables_match_the_code() -> None:
    from simutrador_ws.envelope import CloseCode
    from simutrador_ws.routes import ROUTES

    text = (ROOT / "docs" / "protocol.md").read_text()
    documented_codes = {int(m) for m in re.findall(r"^\| (\d{4}) \|", text, re.M)}
    assert documented_codes == {int(c) for c in CloseCode}
    documented_types = set(re.findall(r"^\| `([a-z_]+)`(?: \(admin tokens\))? \|", text, re.M))
    assert set(ROUTES) <= documented_types
    for route in ROUTES.values():
        assert f"`{route.reply_type}`" in text


def test_cli_exit_code_table_matches_the_code() -> None:
    from simutrador_cli import exitcodes

    text = (ROOT / "docs" / "cli.md").read_text()
    documented = {int(m) for m in re.findall(r"^\| (\d) \|", text, re.M)}
    actual = {value for name, value in vars(exitcodes).items() if name.startswith("EXIT_") and isinstance(value, int)}
    assert documented == actual


def test_the_workflow_page_runs_as_written(tmp_path: Path) -> None:
    """docs/session-management-workflow.md: every bash block, in order, in one real shell."""
    import os
    import signal
    import subprocess
    import sys

    page = (ROOT / "docs" / "session-management-workflow.md").read_text()
    script = "\n".join(re.findall(r"```bash\n(.*?)```", page, re.S))
    assert "simutrador serve" in script
    assert "kill" in script
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("SIMUTRADOR_CONFIG", None)
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = shell.communicate(timeout=120)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
            shell.communicate()
    log = tmp_path / "server.log"
    server_log = log.read_text() if log.exists() else "(no server.log)"
    assert shell.returncode == 0, f"{output}\n--- server.log\n{server_log}"
    assert "created " in output, output
    assert "refused: INVALID_SYMBOL" in output, output
    assert "exit code 3 (3: validation error)" in output, output
    assert "Server stopped." in server_log, server_log
