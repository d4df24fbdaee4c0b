"""docs/http.md: every recorded request, replayed against a real listener, gets the recorded answer.

The token and the time differ from run to run: the token is checked by its claims, the
time by its shape; everything else (status line, headers, the rest of the body) must
read exactly as recorded. The settings table must give every `HttpSettings` field its default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import jwt
import pytest
import trio
from simutrador_ws.httpserver import HttpServer
from simutrador_ws.rest import HttpSettings, RestService
from simutrador_ws.settings import AuthSettings

from simutrador import MemoryStore, Plan
from tests.ws.harness import raw_http

PAGE = Path(__file__).resolve().parents[2] / "docs" / "http.md"
BLOCK = re.compile(r"```http\n(.*?)```", re.S)
SECRET = "a-long-random-secret-for-the-docs-example-0123456789"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

pytestmark = pytest.mark.anyio


class DocumentedKeys(MemoryStore):
    """The page's key, as `simutrador keys create` made it (its secret cannot be made again)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def verify_api_key(self, key: str) -> tuple[str, Plan] | None:
        return ("alice", Plan.PROFESSIONAL) if key == self.key else None


def exchanges() -> list[tuple[str, str]]:
    blocks = BLOCK.findall(PAGE.read_text())
    assert len(blocks) % 2 == 0 and len(blocks) >= 8
    return list(zip(blocks[::2], blocks[1::2], strict=True))


def parse_response(text: bytes) -> tuple[list[str], dict[str, Any]]:
    head, _, body = text.replace(b"\r\n", b"\n").decode().partition("\n\n")
    return head.splitlines(), json.loads(body)


async def test_the_recorded_exchange_is_what_the_listener_says() -> None:
    pairs = exchanges()
    key = re.search(r"X-API-Key: (\S+)", pairs[0][0])
    assert key is not None
    settings = HttpSettings(port=0)
    service = RestService(
        DocumentedKeys(key.group(1)), AuthSettings(jwt_secret=SECRET), settings, clock=trio.current_time
    )
    server = HttpServer(service, settings)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            assert server.port is not None
            for request, recorded in pairs:
                sent = request.replace("127.0.0.1:8001", f"127.0.0.1:{server.port}").replace("\n", "\r\n")
                head, body = parse_response(await raw_http(server.port, sent.encode()))
                want_head, want_body = parse_response(recorded.encode())
                if "access_token" in want_body:
                    claims = jwt.decode(body.pop("access_token"), SECRET, algorithms=["HS256"])
                    assert (claims["sub"], claims["plan"], claims["exp"] - claims["iat"]) == (
                        "alice",
                        "professional",
                        3600,
                    )
                    want_body.pop("access_token")
                if "server_time" in want_body:
                    assert ISO.fullmatch(body.pop("server_time"))
                    want_body.pop("server_time")
                    head = [line for line in head if not line.startswith("content-length")]
                    want_head = [line for line in want_head if not line.startswith("content-length")]
                assert (head, body) == (want_head, want_body)
            server.shutdown()


def test_the_settings_table_gives_every_setting_its_default() -> None:
    rows = dict(re.findall(r"^\| `http\.([a-z_]+)` \| ([^|]+) \|", PAGE.read_text(), re.M))
    defaults = {f.name: f.default for f in attrs.fields(HttpSettings)}
    assert set(rows) == set(defaults)
    for name, text in rows.items():
        value = defaults[name]
        assert text.strip() == (f"{value:g}" if isinstance(value, float) else str(value)), name
