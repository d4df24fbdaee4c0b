"""docs/protocol.md's example exchange, replayed through the server's `Connection`: the page reads as the code speaks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simutrador_ws.auth import Identity
from simutrador_ws.connection import Connection

from simutrador import Engine, EngineSettings, Plan
from simutrador.testing import ManualClock, SequentialIds

PAGE = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
BLOCK = re.compile(r"```text\n(.*?)```", re.S)
PLACEHOLDER = {"...": "the full session, as in session_status"}


def steps() -> list[tuple[str, str]]:
    """(``>>>`` or ``<<<``, text) in page order."""
    found: list[tuple[str, str]] = []
    for block in BLOCK.findall(PAGE.read_text()):
        parts = re.split(r"^(>>>|<<<) ", block, flags=re.M)
        found += [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]
    return found


def abridged(message: dict[str, Any]) -> dict[str, Any]:
    if message["type"] == "session_created" and "session" in message["data"]:
        message["data"]["session"] = PLACEHOLDER
    return message


def new_connection() -> Connection:
    """The connection the page was recorded on: fixed times (engine and run clocks), sequential ids."""
    now = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    engine = Engine(
        EngineSettings(default_plan=Plan.PROFESSIONAL), clock=ManualClock(now), id_factory=SequentialIds("sess-")
    )
    return Connection(
        engine,
        Identity(user_id="alice", plan=Plan.PROFESSIONAL, expires_at=now + timedelta(hours=1)),
        clock=lambda: 0.0,
    )


def test_the_example_exchange_is_what_the_server_says() -> None:
    connection = new_connection()
    script = steps()
    assert [direction for direction, _ in script].count(">>>") >= 4
    for direction, text in script:
        if direction == ">>>":
            connection.receive(text)
            continue
        sent = connection.next_outgoing()
        assert sent is not None, f"the server says nothing where the page shows {text[:80]}"
        assert abridged(json.loads(sent)) == json.loads(text)
    assert connection.next_outgoing() is None
