"""Over-the-wire load generators, on 127.0.0.1, against a server in another process.

The server runs in its own process (`server_process`); the load runs in this one on
trio-websocket clients, each client its own connection and its own user (its own
JWT). Every load is bounded both in count and in time and stops by itself: a client
sends its next request only before the deadline, and the whole load sits under a
hard ``time_limit`` that cancels whatever is left.

The same raw client drives the SimuTrador server and the bare echo server, so the
ratio between them measures the server's work, not the client's.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from datetime import timedelta
from typing import IO, Literal

import attrs
import psutil
import trio
import trio_websocket
from simutrador_ws.auth import generate_secret, issue_token
from simutrador_ws.settings import AuthSettings

from simutrador import Plan
from simutrador_bench.serverproc import SECRET_VARIABLE

__all__ = [
    "CREATE_MESSAGE",
    "PING_MESSAGE",
    "HandshakeResult",
    "HoldResult",
    "LoadResult",
    "ServerProcess",
    "handshakes",
    "hold_connections",
    "round_trips",
    "server_process",
]

Kind = Literal["simutrador", "echo"]

CREATE_MESSAGE = json.dumps(
    {
        "type": "create_session",
        "request_id": "bench",
        "data": {
            "symbols": ["AAPL", "MSFT"],
            "start_date": "2022-03-07",
            "end_date": "2022-03-11",
            "initial_capital": "100000",
        },
    },
    separators=(",", ":"),
)
"""The request of the round-trip loads (also the echo baseline's payload)."""

PING_MESSAGE = '{"type":"ping","request_id":"alive"}'
"""Asked of a sample of held connections to prove they still answer."""


def _reply_type(text: str | bytes) -> str:
    try:
        document = json.loads(text)
    except ValueError:
        return ""
    return str(document.get("type", "")) if isinstance(document, dict) else ""


@attrs.frozen
class ServerProcess:
    """A benchmark server running in another process."""

    kind: Kind
    port: int
    process: subprocess.Popen[bytes]
    auth: AuthSettings

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def url(self, user: str) -> str:
        """A WebSocket URL carrying a fresh token for `user` (ignored by the echo server)."""
        token = issue_token(self.auth, user, plan=Plan.ENTERPRISE, expires_in=timedelta(hours=2))
        return f"ws://127.0.0.1:{self.port}/ws/simulate?token={token}"

    def urls(self, count: int, prefix: str = "bench") -> list[str]:
        """`count` URLs, one user each."""
        return [self.url(f"{prefix}-{i}") for i in range(count)]

    def rss(self) -> int:
        """The server's resident memory, in bytes."""
        return psutil.Process(self.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server has used."""
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def expect(self, text: str | bytes) -> bool:
        """Whether `text` is the right reply to a round-trip request."""
        if self.kind == "echo":
            return text == CREATE_MESSAGE
        return _reply_type(text) == "session_created"

    @property
    def greets(self) -> bool:
        """Whether the server sends a message (``connection_ready``) once connected."""
        return self.kind == "simutrador"


def _read_port(stdout: IO[bytes], timeout: float) -> int:
    ready, _, _ = select.select([stdout], [], [], timeout)
    line = stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        raise RuntimeError(f"the benchmark server did not start (said {line!r})")
    return int(line.split()[1])


@contextmanager
def server_process(kind: Kind, *, max_seconds: float = 600, profile: str | None = None) -> Iterator[ServerProcess]:
    """Start a benchmark server (see `simutrador_bench.serverproc`) and stop it on exit."""
    auth = AuthSettings(jwt_secret=generate_secret())
    command = [sys.executable, "-m", "simutrador_bench.serverproc", kind, "--max-seconds", str(max_seconds)]
    if profile:
        command += ["--profile", profile]
    env = {**os.environ, SECRET_VARIABLE: auth.jwt_secret}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert process.stdin is not None and process.stdout is not None
    try:
        yield ServerProcess(kind, _read_port(process.stdout, timeout=60), process, auth)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
            process.kill()
            process.wait()
        process.stdout.close()


def _error_name(exc: BaseException) -> str:
    return type(exc).__name__


@attrs.define
class LoadResult:
    """What a round-trip load measured.

    Attributes:
        clients: Clients asked for.
        connected: Clients that connected (and were greeted).
        latencies: Seconds per round trip, for requests started and finished inside the window.
        window: Seconds of the measuring window.
        errors: Error kind → count (failed connections, wrong replies, dropped connections).
        server_cpu: Share of one core the server used during the window (0-1), when known.
    """

    clients: int
    connected: int = 0
    latencies: list[float] = attrs.Factory(list)
    window: float = 0.0
    errors: Counter[str] = attrs.Factory(Counter)
    server_cpu: float | None = None

    @property
    def throughput(self) -> float:
        """Round trips per second in the window."""
        return len(self.latencies) / self.window if self.window else 0.0

    @property
    def error_count(self) -> int:
        """All errors."""
        return sum(self.errors.values())


async def round_trips(
    server: ServerProcess,
    clients: int,
    *,
    warmup: float,
    window: float,
    max_per_client: int = 1_000_000,
    connect_concurrency: int = 100,
    time_limit: float = 120.0,
) -> LoadResult:
    """`clients` connections, each sending one request at a time; latencies over `window` seconds.

    All clients connect first; then each loops send → reply. Requests that start in
    the first `warmup` seconds are not counted; none start after the window ends.
    """
    result = LoadResult(clients)
    urls = server.urls(clients)
    expected = clients
    all_connected = trio.Event()
    limiter = trio.CapacityLimiter(connect_concurrency)
    clock = time.perf_counter
    window_start = window_end = 0.0

    def arrived() -> None:
        if result.connected + result.error_count >= expected:
            all_connected.set()

    async def client(url: str) -> None:
        nonlocal window_start, window_end
        async with AsyncExitStack() as stack:
            try:
                async with limiter:
                    ws = await stack.enter_async_context(trio_websocket.open_websocket_url(url))
                    if server.greets:
                        await ws.get_message()
            except (OSError, trio_websocket.HandshakeError, trio_websocket.ConnectionClosed) as exc:
                result.errors[f"connect: {_error_name(exc)}"] += 1
                arrived()
                return
            result.connected += 1
            arrived()
            await all_connected.wait()
            if not window_end:
                window_start = clock() + warmup
                window_end = window_start + window
            latencies = result.latencies
            try:
                for _ in range(max_per_client):
                    started = clock()
                    if started >= window_end:
                        break
                    await ws.send_message(CREATE_MESSAGE)
                    reply = await ws.get_message()
                    ended = clock()
                    if not server.expect(reply):
                        result.errors["wrong reply"] += 1
                    elif started >= window_start and ended <= window_end:
                        latencies.append(ended - started)
            except trio_websocket.ConnectionClosed:
                result.errors["connection closed"] += 1

    with trio.move_on_after(time_limit) as scope:
        async with trio.open_nursery() as nursery:
            for url in urls:
                nursery.start_soon(client, url)
            await all_connected.wait()
            cpu_before = server.cpu_seconds()
            await trio.sleep(warmup + window)
            result.server_cpu = (server.cpu_seconds() - cpu_before) / (warmup + window)
    if scope.cancelled_caught:
        result.errors["time limit"] += 1
    result.window = window
    return result


@attrs.define
class HandshakeResult:
    """Connection setups measured: seconds each (open → authenticated → greeted), and the rate."""

    latencies: list[float] = attrs.Factory(list)
    elapsed: float = 0.0
    errors: Counter[str] = attrs.Factory(Counter)

    @property
    def rate(self) -> float:
        """Connection setups per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def handshakes(
    server: ServerProcess, count: int, *, concurrency: int = 10, time_limit: float = 60.0
) -> HandshakeResult:
    """Open, authenticate and close `count` connections, `concurrency` at a time."""
    result = HandshakeResult()
    urls = iter(server.urls(count, prefix="hs"))
    clock = time.perf_counter

    async def worker() -> None:
        for url in urls:
            started = clock()
            try:
                async with trio_websocket.open_websocket_url(url) as ws:
                    if server.greets:
                        await ws.get_message()
                    result.latencies.append(clock() - started)
            except (OSError, trio_websocket.HandshakeError, trio_websocket.ConnectionClosed) as exc:
                result.errors[_error_name(exc)] += 1

    started = clock()
    with trio.move_on_after(time_limit) as scope:
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
    if scope.cancelled_caught:
        result.errors["time limit"] += 1
    result.elapsed = clock() - started
    return result


@attrs.define
class HoldResult:
    """Connections held open at once, step by step.

    Attributes:
        steps: (connections, server RSS bytes) after each step that fully succeeded.
        baseline_rss: Server RSS before the first step (after one warm-up connection).
        errors: Error kind → count at the step that stopped the climb.
        stopped: Why the climb stopped early, or ``""`` when every step succeeded.
    """

    steps: list[tuple[int, int]] = attrs.Factory(list)
    baseline_rss: int = 0
    errors: Counter[str] = attrs.Factory(Counter)
    stopped: str = ""

    @property
    def held(self) -> int:
        """The most connections held with every one answering."""
        return self.steps[-1][0] if self.steps else 0

    def bytes_per_connection(self) -> float:
        """Server RSS growth per connection at the largest step."""
        if not self.steps:
            return 0.0
        count, rss = self.steps[-1]
        return (rss - self.baseline_rss) / count


async def hold_connections(
    server: ServerProcess,
    steps: Sequence[int],
    *,
    concurrency: int = 200,
    sample: int = 50,
    settle: float = 0.5,
    time_limit: float = 120.0,
    on_step: Callable[[int], None] | None = None,
) -> HoldResult:
    """Open connections up to each of `steps` in turn and keep them all open.

    After each step: wait `settle` seconds, read the server's RSS, and check that a
    sample of the held connections still answers (``ping`` for SimuTrador, an echo
    otherwise). The climb stops at the first step with any failure, or at `time_limit`.
    """
    result = HoldResult()
    async with trio_websocket.open_websocket_url(server.url("warm-up")) as ws:
        if server.greets:
            await ws.get_message()
    await trio.sleep(settle)
    result.baseline_rss = server.rss()
    held: list[trio_websocket.WebSocketConnection] = []
    release = trio.Event()
    limiter = trio.CapacityLimiter(concurrency)
    step_errors: Counter[str] = Counter()
    arrivals = 0

    async def holder(url: str, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal arrivals
        try:
            async with AsyncExitStack() as stack:
                async with limiter:
                    ws = await stack.enter_async_context(trio_websocket.open_websocket_url(url))
                    if server.greets:
                        await ws.get_message()
                held.append(ws)
                arrivals += 1
                await release.wait()
        except (OSError, trio_websocket.HandshakeError, trio_websocket.ConnectionClosed) as exc:
            step_errors[_error_name(exc)] += 1
            arrivals += 1

    async def answers(ws: trio_websocket.WebSocketConnection) -> bool:
        try:
            await ws.send_message(PING_MESSAGE)
            reply = await ws.get_message()
        except trio_websocket.ConnectionClosed:
            return False
        return reply == PING_MESSAGE if server.kind == "echo" else _reply_type(reply) == "pong"

    with trio.move_on_after(time_limit) as scope:
        async with trio.open_nursery() as nursery:
            opened = 0
            for target in steps:
                for i in range(opened, target):
                    nursery.start_soon(holder, server.url(f"hold-{i}"))
                opened = target
                while arrivals < target:
                    await trio.sleep(0.05)
                await trio.sleep(settle)
                alive = [await answers(ws) for ws in held[:: max(1, len(held) // sample)]]
                if step_errors or not all(alive):
                    result.errors = step_errors + Counter({"no answer": alive.count(False)})
                    result.stopped = f"stopped at {target:,} connections: " + ", ".join(
                        f"{kind} x{count}" for kind, count in result.errors.items() if count
                    )
                    break
                result.steps.append((target, server.rss()))
                if on_step is not None:
                    on_step(target)
            release.set()
    if scope.cancelled_caught:
        result.stopped = result.stopped or f"time limit of {time_limit:g} s reached"
        result.errors["time limit"] += 1
    return result
