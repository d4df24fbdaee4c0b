"""Rewrite docs/protocol.md's recorded exchanges from what the server says now.

Every ```text block of the page is replayed through the server's protocol object
(`simutrador_ws.connection.Connection`) exactly as `tests/ws/test_protocol_doc.py`
replays it: each ``>>>`` line is sent, and the ``<<<`` messages after it are
replaced by what the server queued. Run it after changing a message, then read the
diff: ``python scripts/record_protocol.py``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ws.test_protocol_doc import BLOCK, PAGE, abridged, new_connection


def _shown(texts: list[str]) -> list[str]:
    return [f"<<< {json.dumps(abridged(json.loads(t)), indent=2, ensure_ascii=False)}" for t in texts]


def main() -> None:
    """Replay the page and write what the server answered into it."""
    page = PAGE.read_text()
    connection = new_connection()

    def record(match: re.Match[str]) -> str:
        lines: list[str] = []
        for direction, text in re.findall(r"^(>>>|<<<) (.*?)(?=^>>> |^<<< |\Z)", match.group(1), flags=re.M | re.S):
            if direction == ">>>":
                lines.append(f">>> {text.strip()}")
                connection.receive(text.strip())
                lines += _shown(connection.outgoing())
            elif not lines:  # a block opening with what the server sends unasked (connection_ready)
                lines += _shown(connection.outgoing())
        return "```text\n" + "\n".join(lines) + "\n```"

    PAGE.write_text(BLOCK.sub(record, page))


if __name__ == "__main__":
    main()
