"""Over-the-wire load generators, on 127.0.0.1, against a server in another process.

The server runs in its own process (`server_process`); the load runs in this one on
trio-websocket clients, each client its own connection and its own user (its own
JWT). Every load is bounded both in count and in time and stops by itself: a client
sends its next request only before the deadline, and the whole load sits under a
hard ``time_limit`` that cancels whatever is left.

The same raw client drives the SimuTrador server and the bare echo server, so the
ratio between them measures the server's work, not the client's. Its messages are
written and read by the server's own envelope codec (`simutrador_ws.envelope`).
"""

from __future__ import annotations

import gc
import math
import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import timedelta
from typing import IO, Literal
from urllib.parse import urlsplit

import attrs
import psutil
import trio
import trio_websocket
from simutrador_ws.auth import generate_secret, issue_token
from simutrador_ws.envelope import decode, encode_message
from simutrador_ws.settings import AuthSettings
from wsproto.utilities import LocalProtocolError

from simutrador import Plan, SimutradorError
from simutrador_bench.serverproc import MEMORY, SECRET_VARIABLE

__all__ = [
    "CREATE_MESSAGE",
    "PING_MESSAGE",
    "alternating_round_trips",
    "HandshakeResult",
    "HoldResult",
    "LoadResult",
    "ServerProcess",
    "handshakes",
    "hold_connections",
    "lazy_garbage_collector",
    "round_trips",
    "server_process",
]

Kind = Literal["simutrador", "defaults", "echo"]
"""The benchmark servers: the real one (abuse limits lifted, or ``defaults``) and the bare echo baseline."""

CREATE_MESSAGE = encode_message(
    "create_session",
    {"symbols": ["AAPL", "MSFT"], "start_date": "2022-03-07", "end_date": "2022-03-11", "initial_capital": "100000"},
    "bench",
)
"""The request of the round-trip loads (also the echo baseline's payload)."""

PING_MESSAGE = encode_message("ping", {}, "alive")
"""Asked of a sample of held connections to prove they still answer."""

_REPLY_MAX_BYTES = 1024 * 1024


def _reply_type(text: str | bytes) -> str:
    """The ``type`` of a reply, or ``""`` when it is not a valid envelope."""
    try:
        return decode(text, _REPLY_MAX_BYTES).type
    except SimutradorError:
        return ""


@attrs.frozen
class ServerProcess:
    """A benchmark server running in another process."""

    kind: Kind
    port: int
    process: subprocess.Popen[bytes]
    auth: AuthSettings
    store: str = MEMORY
    """Where a SimuTrador server keeps sessions: ``memory`` or its SQLite file."""

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def token(self, user: str) -> str:
        """A fresh token for `user`, on the enterprise plan (whose limits the benchmark servers lift)."""
        return issue_token(self.auth, user, plan=Plan.ENTERPRISE, expires_in=timedelta(hours=2))

    @property
    def endpoint(self) -> str:
        """The WebSocket URL without a token (for clients that send it in a header)."""
        return f"ws://127.0.0.1:{self.port}/ws/simulate"

    def url(self, user: str) -> str:
        """A WebSocket URL carrying a fresh token for `user` (ignored by the echo server)."""
        return f"{self.endpoint}?token={self.token(user)}"

    def urls(self, count: int, prefix: str = "bench") -> list[str]:
        """`count` URLs, one user each."""
        return [self.url(f"{prefix}-{i}") for i in range(count)]

    def rss(self) -> int:
        """The server's resident memory, in bytes (0 once it has exited)."""
        try:
            return psutil.Process(self.pid).memory_info().rss
        except psutil.NoSuchProcess:
            return 0

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server has used (NaN once it has exited)."""
        try:
            times = psutil.Process(self.pid).cpu_times()
        except psutil.NoSuchProcess:
            return math.nan
        return times.user + times.system

    def expect(self, text: str | bytes) -> bool:
        """Whether `text` is the right reply to a round-trip request."""
        if self.kind == "echo":
            return text == CREATE_MESSAGE
        # the server's compact encoder writes "type" first; a prefix test keeps the client cheap
        return isinstance(text, str) and text.startswith('{"type":"session_created"')

    @property
    def greets(self) -> bool:
        """Whether the server sends a message (``connection_ready``) once connected."""
        return self.kind != "echo"


def _read_port(stdout: IO[bytes], timeout: float) -> int:
    ready, _, _ = select.select([stdout], [], [], timeout)
    line = stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        raise RuntimeError(f"the benchmark server did not start (said {line!r})")
    return int(line.split()[1])


@contextmanager
def lazy_garbage_collector(threshold: int = 20_000) -> Iterator[None]:
    """Collect less often while a load runs, so the load generator, not its GC, sets the pace."""
    saved = gc.get_threshold()
    gc.set_threshold(threshold, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


@contextmanager
def server_process(
    kind: Kind,
    *,
    max_seconds: float = 600,
    profile: str | None = None,
    store: str = MEMORY,
    synchronous: str = "normal",
) -> Iterator[ServerProcess]:
    """Start a benchmark server (see `simutrador_bench.serverproc`) and stop it on exit.

    A SimuTrador server keeps its sessions in memory, or in the SQLite file `store`
    (with `synchronous`), journaling its simulations as ``simutrador serve`` does.
    """
    auth = AuthSettings(jwt_secret=generate_secret())
    command = [sys.executable, "-m", "simutrador_bench.serverproc", kind, "--max-seconds", str(max_seconds)]
    if profile:
        command += ["--profile", profile]
    if store != MEMORY:
        command += ["--store", store, "--synchronous", synchronous]
    env = {**os.environ, SECRET_VARIABLE: auth.jwt_secret}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)  # noqa: S603 - our own module
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        yield ServerProcess(kind, _read_port(process.stdout, timeout=60), process, auth, store)
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
            process.kill()
            process.wait()
        process.stdout.close()


@asynccontextmanager
async def _connect(url: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """Like ``trio_websocket.open_websocket_url``, but the TCP stream is ours and always closed.

    trio-websocket leaves the socket of a refused or cancelled handshake open; a load
    generator opening thousands of connections, and cancelling them at its time limit,
    must not leak them. A body that ends normally closes the WebSocket politely first
    (a ping arriving meanwhile is not an error).
    """
    target = urlsplit(url)
    stream = await trio.open_tcp_stream(target.hostname or "127.0.0.1", target.port or 80)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, target.hostname or "127.0.0.1", f"{target.path}?{target.query}"
            )
            try:
                yield ws
                with trio.move_on_after(5):
                    await ws.aclose()
            finally:
                nursery.cancel_scope.cancel()
    except* LocalProtocolError:
        # trio-websocket's reader answers a ping that arrives while the connection closes,
        # which wsproto refuses (the server pings connections idle for 20 s): it was closing anyway
        pass
    finally:
        await trio.aclose_forcefully(stream)


_CONNECT_ERRORS = (OSError, trio_websocket.HandshakeError, trio_websocket.ConnectionClosed)
"""What opening a connection may raise: refused, rejected, or closed during the handshake."""


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
    time_limit: float = 120.0,
) -> LoadResult:
    """`clients` connections to `server`, each sending one request at a time; latencies over `window` seconds.

    All clients connect first; then each loops send → reply. Requests that start in
    the first `warmup` seconds are not counted; none start after the window ends.
    """
    results = await alternating_round_trips(
        [server], clients, rounds=1, warmup=warmup, window=window, time_limit=time_limit
    )
    return results[0][0]


@attrs.define(eq=False)
class _Round:
    server: ServerProcess
    result: LoadResult
    go: trio.Event = attrs.Factory(trio.Event)
    counted_from: float = 0.0
    ends: float = 0.0
    running: int = 0
    finished: trio.Event = attrs.Factory(trio.Event)


async def _take_turn(ws: trio_websocket.WebSocketConnection, turn: _Round) -> None:
    """One client's part of one turn: send → reply until the turn ends."""
    await turn.go.wait()
    server, result, clock = turn.server, turn.result, time.perf_counter
    turn.running += 1
    try:
        while True:
            started = clock()
            if started >= turn.ends:
                break
            await ws.send_message(CREATE_MESSAGE)
            reply = await ws.get_message()
            ended = clock()
            if not server.expect(reply):
                result.errors["wrong reply"] += 1
            elif started >= turn.counted_from and ended <= turn.ends:
                result.latencies.append(ended - started)
    finally:
        turn.running -= 1
        if not turn.running:
            turn.finished.set()


async def _run_turns(schedule: list[list[_Round]], warmup: float, window: float) -> None:
    """Give each turn the floor in order, measuring its server's CPU while it runs."""
    for turns in schedule:
        for turn in turns:
            cpu_before = turn.server.cpu_seconds()
            turn.counted_from = time.perf_counter() + warmup
            turn.ends = turn.counted_from + window
            turn.go.set()
            await trio.sleep(warmup + window)
            if turn.running:
                await turn.finished.wait()  # the last replies of this turn, before the next one starts
            turn.result.server_cpu = (turn.server.cpu_seconds() - cpu_before) / (warmup + window)
            turn.result.window = window


async def alternating_round_trips(
    servers: Sequence[ServerProcess],
    clients: int,
    *,
    rounds: int,
    warmup: float,
    window: float,
    connect_concurrency: int = 100,
    time_limit: float = 120.0,
) -> list[list[LoadResult]]:
    """Round-trip loads on several servers in turn, for comparisons immune to drift.

    `clients` connections are opened to every server first (each its own user) and
    stay open; then the servers take turns, `rounds` times, each turn a load of
    `warmup` + `window` seconds by that server's clients while the others' clients
    sit idle. Returns, per round, one `LoadResult` per server (in `servers` order).
    Machine noise that drifts over seconds hits both sides of a pair alike.
    """
    schedule = [[_Round(server, LoadResult(clients)) for server in servers] for _ in range(rounds)]
    expected = clients * len(servers)
    arrived = 0
    all_connected, done = trio.Event(), trio.Event()
    limiter = trio.CapacityLimiter(connect_concurrency)

    def arrive() -> None:
        nonlocal arrived
        arrived += 1
        if arrived >= expected:
            all_connected.set()

    async def client(index: int, url: str) -> None:
        server = servers[index]
        async with AsyncExitStack() as stack:
            try:
                async with limiter:
                    ws = await stack.enter_async_context(_connect(url))
                    if server.greets:
                        await ws.get_message()
            except _CONNECT_ERRORS as exc:
                for turns in schedule:
                    turns[index].result.errors[f"connect: {_error_name(exc)}"] += 1
                arrive()
                return
            for turns in schedule:
                turns[index].result.connected += 1
            arrive()
            for turns in schedule:
                try:
                    await _take_turn(ws, turns[index])
                except trio_websocket.ConnectionClosed:
                    turns[index].result.errors["connection closed"] += 1  # the turn it happened in
                    return
            await done.wait()

    with trio.move_on_after(time_limit) as scope:
        async with trio.open_nursery() as nursery:
            for index, server in enumerate(servers):
                for url in server.urls(clients):
                    nursery.start_soon(client, index, url)
            await all_connected.wait()
            await _run_turns(schedule, warmup, window)
            done.set()
    if scope.cancelled_caught:
        for turns in schedule:
            for turn in turns:
                turn.result.errors["time limit"] += 1
    return [[turn.result for turn in turns] for turns in schedule]


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
                async with _connect(url) as ws:
                    if server.greets:
                        await ws.get_message()
                    result.latencies.append(clock() - started)
            except _CONNECT_ERRORS as exc:
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


async def _answers(server: ServerProcess, ws: trio_websocket.WebSocketConnection) -> bool:
    """Whether a held connection still answers (``ping`` → ``pong``, or an echo)."""
    try:
        await ws.send_message(PING_MESSAGE)
        reply = await ws.get_message()
    except trio_websocket.ConnectionClosed:
        return False
    return reply == PING_MESSAGE if server.kind == "echo" else _reply_type(reply) == "pong"


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
    try:
        async with _connect(server.url("warm-up")) as ws:
            if server.greets:
                await ws.get_message()
    except _CONNECT_ERRORS as exc:
        result.errors[_error_name(exc)] += 1
        result.stopped = f"could not connect at all: {_error_name(exc)}"
        return result
    await trio.sleep(settle)
    result.baseline_rss = server.rss()
    held: list[trio_websocket.WebSocketConnection] = []
    limiter = trio.CapacityLimiter(concurrency)
    step_errors: Counter[str] = Counter()
    arrivals = 0

    async def holder(url: str, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal arrivals
        try:
            async with AsyncExitStack() as stack:
                async with limiter:
                    ws = await stack.enter_async_context(_connect(url))
                    if server.greets:
                        await ws.get_message()
                held.append(ws)
                arrivals += 1
                await trio.sleep_forever()
        except _CONNECT_ERRORS as exc:
            step_errors[_error_name(exc)] += 1
            arrivals += 1

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
                alive = [await _answers(server, ws) for ws in held[:: max(1, len(held) // sample)]]
                if step_errors or not all(alive):
                    result.errors = step_errors + Counter({"no answer": alive.count(False)})
                    result.stopped = f"stopped at {target:,} connections: " + ", ".join(
                        f"{kind} x{count}" for kind, count in result.errors.items() if count
                    )
                    break
                result.steps.append((target, server.rss()))
                if on_step is not None:
                    on_step(target)
            nursery.cancel_scope.cancel()  # drop them all at once: a polite close of thousands takes seconds
    if scope.cancelled_caught:
        result.stopped = result.stopped or f"time limit of {time_limit:g} s reached"
        result.errors["time limit"] += 1
    return result
