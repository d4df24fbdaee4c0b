"""The server side of the over-the-wire benchmarks, run as its own process.

``python -m simutrador_bench.serverproc simutrador|defaults|echo [--max-seconds S] [--profile FILE]
[--store memory|FILE] [--synchronous normal|full]`` listens on a free port of 127.0.0.1,
prints ``PORT <n>`` on stdout, and serves until its stdin closes (the benchmark process
ended, however it ended) or ``--max-seconds`` pass, so it always stops by itself.

``simutrador`` is the real `SimutradorServer` over an `Engine` on the sample catalog,
with per-user and per-connection limits lifted so only speed is measured; the JWT
secret comes from ``SIMUTRADOR_BENCH_SECRET``. ``defaults`` is the same server with the
production `ServerSettings` (every abuse limit at its default, or as ``SIMUTRADOR_*``
variables set it: the hostile loads of `simutrador_bench.hostile`). ``echo`` is a bare
trio-websocket server that sends every message back: the baseline.

The SimuTrador servers keep sessions in memory unless ``--store`` names a SQLite file:
then, as ``simutrador serve --store FILE`` does, sessions live in a `SqliteStore`
(``--synchronous`` sets its durability) and every simulation command goes through the
command journal before it is answered (`simutrador_bench.durable_remote` compares the two).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import resource
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import partial

import attrs
import trio
import trio_websocket
from simutrador_ws.auth import TokenVerifier
from simutrador_ws.server import SimutradorServer, tune_garbage_collector
from simutrador_ws.settings import AuthSettings, ServerSettings, load_server_settings

from simutrador import Engine, EngineSettings, Plan, PlanLimits, SqliteStore
from simutrador_bench.inprocess import unlimited_settings

__all__ = [
    "BENCH_SERVER_SETTINGS",
    "MEMORY",
    "SECRET_VARIABLE",
    "bench_engine_settings",
    "main",
    "raise_open_files_limit",
]

SECRET_VARIABLE = "SIMUTRADOR_BENCH_SECRET"  # noqa: S105 - the name of the variable, not a secret
MEMORY = "memory"
"""The ``--store`` that keeps sessions in memory (the default), as ``simutrador serve --store memory``."""

BENCH_SERVER_SETTINGS = ServerSettings(
    host="127.0.0.1",
    port=0,
    max_connections=20_000,
    max_connections_per_ip=1_000_000,  # every bench client is on 127.0.0.1
    max_pending_handshakes=1_000_000,
    max_pending_handshakes_per_ip=1_000_000,
    receive_bytes_per_second=1 << 40,
    receive_burst_bytes=1 << 40,
    messages_per_second=1e9,
    message_burst=10**9,
    handshakes_per_second=1e9,
    handshake_burst=10**6,
    idle_timeout=3600,
    idle_warning=60,
    handshake_timeout=30,
)
"""Production code paths with the abuse limits lifted (they would throttle the load)."""


def bench_engine_settings() -> EngineSettings:
    """`unlimited_settings` with the enterprise plan's limits lifted too: bench clients' tokens name that plan."""
    lifted = PlanLimits(
        sessions_per_hour=10**9,
        concurrent_sessions=10**9,
        symbols_per_session=500,
        websocket_connections=10,
        orders_per_minute=10**9,
        max_simulation_duration=timedelta(days=3650),
    )
    return attrs.evolve(unlimited_settings(), plans={Plan.ENTERPRISE: lifted})


def raise_open_files_limit(wanted: int = 1 << 20) -> int:
    """Raise this process's open-files soft limit towards `wanted` (capped by the hard limit); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


async def _until_stdin_closes() -> None:
    """Return once stdin reaches end of file (the benchmark process closed it, or died)."""
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        while await stdin.receive_some():
            pass


def _announce(port: int) -> None:
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


async def _serve_simutrador(
    max_seconds: float,
    settings: ServerSettings = BENCH_SERVER_SETTINGS,
    *,
    store: str = MEMORY,
    synchronous: str = "normal",
) -> None:
    secret = os.environ[SECRET_VARIABLE]
    with contextlib.ExitStack() as stack:
        sessions = None if store == MEMORY else stack.enter_context(SqliteStore(store, synchronous=synchronous))
        engine = Engine(bench_engine_settings(), store=sessions)
        server = SimutradorServer(engine, settings, TokenVerifier(AuthSettings(jwt_secret=secret)))
        tune_garbage_collector(settings)  # as `simutrador serve` does
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            assert server.port is not None
            _announce(server.port)
            with trio.move_on_after(max_seconds):
                await _until_stdin_closes()
            server.shutdown()


async def _echo(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            await ws.send_message(await ws.get_message())
    except trio_websocket.ConnectionClosed:
        pass


async def _serve_echo(max_seconds: float) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, _echo, "127.0.0.1", 0, None)
        _announce(server.port)
        with trio.move_on_after(max_seconds):
            await _until_stdin_closes()
        nursery.cancel_scope.cancel()


def _default_settings() -> ServerSettings:
    """The server's own settings (defaults, or SIMUTRADOR_* variables), on a free port of 127.0.0.1."""
    settings, _ = load_server_settings(environ={k: v for k, v in os.environ.items() if k != "SIMUTRADOR_CONFIG"})
    return attrs.evolve(settings, host="127.0.0.1", port=0)


def main(argv: Sequence[str] | None = None) -> None:
    """Run one benchmark server until stdin closes or the time is up."""
    parser = argparse.ArgumentParser(prog="python -m simutrador_bench.serverproc")
    parser.add_argument("kind", choices=["simutrador", "defaults", "echo"])
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--profile", default=None, help="write a cProfile of the whole run here")
    parser.add_argument("--store", default=MEMORY, help="'memory' (default) or a SQLite file for the sessions")
    parser.add_argument("--synchronous", choices=["normal", "full"], default="normal", help="of the SQLite store")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    stored = partial(_serve_simutrador, store=args.store, synchronous=args.synchronous)
    serve = {
        "simutrador": stored,
        "defaults": partial(stored, settings=_default_settings()),
        "echo": _serve_echo,
    }[args.kind]
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(trio.run, serve, args.max_seconds)
        profiler.dump_stats(args.profile)
    else:
        trio.run(serve, args.max_seconds)


if __name__ == "__main__":
    main()
