"""The real server on 127.0.0.1 in a background thread, for synchronous tests (CLI, sync client)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio
from simutrador_ws.auth import TokenVerifier
from simutrador_ws.server import SimutradorServer
from simutrador_ws.settings import ServerSettings

from simutrador import Engine, EngineSettings, Plan
from tests.ws.harness import AUTH, Harness, fast_settings


@contextmanager
def server_in_thread(engine: Engine | None = None, settings: ServerSettings | None = None) -> Iterator[Harness]:
    engine = engine or Engine(EngineSettings(default_plan=Plan.PROFESSIONAL))
    server = SimutradorServer(engine, settings or fast_settings(), TokenVerifier(AUTH))
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["token"] = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            started.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert started.wait(10), "the server did not start"
    try:
        yield Harness(server, AUTH)
    finally:
        trio.from_thread.run_sync(server.shutdown, trio_token=holder["token"])
        thread.join(10)
        assert not thread.is_alive()
