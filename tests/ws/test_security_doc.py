"""docs/security.md and docs/protocol.md list the server's limits as the code defines them."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from simutrador_ws.settings import AuthSettings, ServerSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROW = re.compile(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| ([^|]+) \|", re.M)


def documented(page: str) -> dict[str, str]:
    """Setting name → the default the page's tables give it."""
    found: dict[str, str] = {}
    for names, defaults in ROW.findall((DOCS / page).read_text()):
        keys = re.findall(r"`([a-z_]+)`", names)
        values = [v.strip() for v in defaults.split(",")] if len(keys) > 1 else [defaults.strip()]
        found.update(zip(keys, values, strict=False))
    return found


def default_text(value: object) -> str:
    if isinstance(value, tuple):
        return "(any)" if not value else ", ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_the_security_page_gives_every_limit_its_default() -> None:
    defaults = {f.name: f.default for f in (*attrs.fields(ServerSettings), *attrs.fields(AuthSettings))}
    rows = documented("security.md")
    assert len(rows) >= 20
    for name, text in rows.items():
        assert name in defaults, f"security.md names {name}, which is no setting"
        assert text == default_text(defaults[name]), (name, text)


def test_every_server_setting_is_in_the_protocol_page() -> None:
    rows = documented("protocol.md")
    missing = [f.name for f in attrs.fields(ServerSettings) if f.name not in rows]
    assert missing == []
