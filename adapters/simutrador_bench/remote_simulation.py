"""Simulations over the wire (DESIGN §9), against a server in another process on 127.0.0.1.

Every figure is a rate of ticks on connections already open, beside the bare echo
server's rate for a message of a tick's size measured in the same run:

- **Lockstep on one connection** (``max_pending_ticks`` 1): a do-nothing run driven
  by `LeanClient`, a raw-protocol client that answers each ``tick`` with its
  ``tick_ack`` and does nothing else (the protocol's ceiling: its cost per tick is
  the echo client's), and the SDK's `SessionClient.run_simulation` running a
  do-nothing strategy and the shipped SMA example (whole calls: start, every tick,
  the result's pages; the SMA run's digest is checked against the embedded run's).
  The baseline: the echo server sending back a real tick's text, one at a time.
- **The cost of** ``include_bars`` and **of the window**: the lean lockstep run
  without candles, and with ``max_pending_ticks`` 8.
- **Concurrent simulations** (`concurrent`): one connection per simulation, each its
  own user (its own JWT) and session, all started at once; aggregate ticks/s and
  the time from one tick to the next, while every simulation is still running. The
  baseline: as many echo connections, each echoing a tick's text.

A lean run is timed from its first tick to ``simulation_complete``: that is exactly
one round trip per tick (each ``tick_ack`` is answered by the next tick, the last by
``simulation_complete``). The contenders take turns round after round
(`alternate`), so drift in the machine's speed hits them alike. Every load is
bounded in count and in time.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from functools import partial
from typing import Any, Final

import attrs
import trio
import trio_websocket
from simutrador_cli.examples import sma_crossover
from simutrador_ws.client import ClientConnectionError, SessionClient
from simutrador_ws.envelope import decode, encode_message

from simutrador import Engine, SimutradorError
from simutrador_bench.report import Result, percentile
from simutrador_bench.serverproc import bench_engine_settings
from simutrador_bench.simulation import CAPITAL, MINUTE_START, MINUTE_SYMBOL, do_nothing
from simutrador_bench.wire import (
    ServerProcess,
    _connect,  # pyright: ignore[reportPrivateUsage]
    lazy_garbage_collector,
    server_process,
)

__all__ = [
    "NOTHING",
    "TIMEFRAME",
    "ConcurrentResult",
    "Contender",
    "LeanClient",
    "LeanRun",
    "Measure",
    "OneConnection",
    "ProtocolError",
    "alternate",
    "concurrent",
    "concurrent_results",
    "echo_round_trips",
    "embedded_digest",
    "measure",
    "one_connection",
    "one_connection_results",
    "sdk_run",
    "session_request",
    "sma_strategy",
]

TIMEFRAME: Final = "1min"
_TICK: Final = '{"type":"tick",'
_COMPLETE: Final = '{"type":"simulation_complete",'
_FAILURES: Final = ('{"type":"session_error",', '{"type":"error",', '{"type":"simulation_paused",')
_MAX_BYTES: Final = 1 << 22


class ProtocolError(Exception):
    """The server answered a lean client with an error (or paused its run)."""


def session_request(ticks: int) -> dict[str, Any]:
    """A session of `ticks` consecutive 1-minute bars of BTC-USD (it trades every minute)."""
    end = MINUTE_START + timedelta(minutes=ticks - 1)
    return {
        "symbols": [MINUTE_SYMBOL],
        "start_date": MINUTE_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "initial_capital": str(CAPITAL),
        "timeframe": TIMEFRAME,
    }


@attrs.frozen
class LeanRun:
    """One lean run: its ticks, the seconds from the first tick to ``simulation_complete``, the first tick's text."""

    ticks: int
    seconds: float
    first_tick: str


class LeanClient:
    """Just enough of the protocol on a raw connection: create a session, run it doing nothing.

    Args:
        ws: An open, greeted connection to a SimuTrador server.
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def create_session(self, ticks: int) -> str:
        """Create a READY session of `ticks` ticks (`session_request`); its id.

        Raises:
            ProtocolError: The server refused it.
        """
        request_id = f"r{next(self._ids)}"
        await self.ws.send_message(encode_message("create_session", session_request(ticks), request_id))
        while True:  # skip what an earlier run left (its simulation_end)
            reply = decode(await self.ws.get_message(), _MAX_BYTES)
            if reply.request_id == request_id:
                break
        if reply.type != "session_created":
            raise ProtocolError(f"create_session: {reply.type} {reply.data.get('message', '')}")
        return str(reply.data["session_id"])

    async def run(
        self,
        session_id: str,
        *,
        window: int = 1,
        include_bars: bool = True,
        arrivals: list[float] | None = None,
    ) -> LeanRun:
        """Start `session_id`'s simulation and acknowledge every tick as it arrives, placing no order.

        Args:
            session_id: A READY session of this connection's user.
            window: ``max_pending_ticks``.
            include_bars: Ask for each tick's candles.
            arrivals: When given, each tick's arrival time (``time.perf_counter``) is appended.

        Raises:
            ProtocolError: An error, or the run paused, instead of the next tick.
        """
        ws, clock = self.ws, time.perf_counter
        start = {
            "session_id": session_id,
            "flow_control": True,
            "max_pending_ticks": window,
            "include_bars": include_bars,
            "account_update_frequency": "none",
        }
        await ws.send_message(encode_message("start_simulation", start, f"r{next(self._ids)}"))
        sequence_id = 0
        first = 0.0
        first_text = ""
        while True:
            text = await ws.get_message()
            assert isinstance(text, str)
            if text.startswith(_TICK):
                now = clock()
                if not sequence_id:
                    first, first_text = now, text
                if arrivals is not None:
                    arrivals.append(now)
                sequence_id += 1
                ack = {"session_id": session_id, "sequence_id": sequence_id}
                await ws.send_message(encode_message("tick_ack", ack))
            elif text.startswith(_COMPLETE):
                return LeanRun(sequence_id, clock() - first, first_text)
            elif text.startswith(_FAILURES):
                reply = decode(text, _MAX_BYTES)
                raise ProtocolError(f"{reply.type}: {reply.data.get('message', reply.data.get('reason', ''))}")


async def echo_round_trips(
    ws: trio_websocket.WebSocketConnection, payload: str, count: int, arrivals: list[float] | None = None
) -> float:
    """Send `payload` to an echo server and wait for it back, `count` times; the seconds it took.

    Raises:
        ProtocolError: A reply was not the payload.
    """
    clock = time.perf_counter
    started = clock()
    for _ in range(count):
        await ws.send_message(payload)
        if await ws.get_message() != payload:
            raise ProtocolError("the echo server sent back something else")
        if arrivals is not None:
            arrivals.append(clock())
    return clock() - started


def embedded_digest(ticks: int) -> str:
    """The digest of the SMA example run embedded over `session_request` (what the remote run must give)."""
    engine = Engine(bench_engine_settings())
    request = session_request(ticks)
    session = engine.create_session(
        "embedded",
        symbols=request["symbols"],
        start_date=request["start_date"],
        end_date=request["end_date"],
        initial_capital=request["initial_capital"],
        timeframe=TIMEFRAME,
    )
    return engine.run_simulation("embedded", session.session_id, sma_crossover.make_strategy()).digest


# -- contenders taking turns ------------------------------------------------------------


Measure = Callable[[], Awaitable[tuple[int, float]]]
"""One timed run: (ticks, seconds)."""

_ERRORS: Final = (ProtocolError, SimutradorError, ClientConnectionError, trio_websocket.ConnectionClosed)


@attrs.define
class Contender:
    """One workload timed round after round.

    Attributes:
        name: What it is (for errors and progress).
        measure: The timed run.
        cpu_seconds: The CPU seconds the server it runs against has used so far, when known.
        ticks: Ticks of its last successful round.
        seconds: Seconds per round (NaN for a round that failed).
        server_cpu: The server's CPU seconds per tick, each round (NaN when unknown or failed).
        errors: Error → count.
    """

    name: str
    measure: Measure
    cpu_seconds: Callable[[], float] | None = None
    ticks: int = 0
    seconds: list[float] = attrs.Factory(list)
    server_cpu: list[float] = attrs.Factory(list)
    errors: Counter[str] = attrs.Factory(Counter)

    @property
    def rates(self) -> list[float]:
        """Ticks (round trips) per second of each round; NaN for a failed one."""
        return [self.ticks / s if s > 0 else math.nan for s in self.seconds]

    @property
    def rate(self) -> float:
        """Ticks per second at the median of the rounds that succeeded (0 when none did)."""
        done = [s for s in self.seconds if s > 0]
        return self.ticks / statistics.median(done) if done else 0.0

    def ratios(self, baseline: Contender) -> list[float]:
        """This rate ÷ `baseline`'s, round by round (rounds where either failed left out)."""
        pairs = zip(self.rates, baseline.rates, strict=False)  # a time limit may cut a round short
        return [mine / theirs for mine, theirs in pairs if not (math.isnan(mine) or math.isnan(theirs))]

    @property
    def server_cpu_per_tick(self) -> float:
        """The server's CPU seconds per tick at the median of the rounds (NaN when unknown)."""
        known = [c for c in self.server_cpu if not math.isnan(c)]
        return statistics.median(known) if known else math.nan

    async def take_turn(self) -> None:
        """One round: time `measure` (and the server's CPU meanwhile), or count its error."""
        read = self.cpu_seconds or (lambda: math.nan)
        before = read()
        try:
            ticks, seconds = await self.measure()
        except _ERRORS as error:
            self.errors[f"{type(error).__name__}: {error}"[:160]] += 1
            self.seconds.append(math.nan)
            self.server_cpu.append(math.nan)
            return
        self.ticks = ticks
        self.seconds.append(seconds)
        self.server_cpu.append((read() - before) / ticks if ticks else math.nan)


async def alternate(contenders: Sequence[Contender], *, rounds: int, time_limit: float) -> None:
    """Give each contender one turn per round, for `rounds` rounds or until `time_limit` seconds have passed.

    At least one round is started; a round cut by the time limit counts as an error.
    """
    deadline = time.perf_counter() + time_limit
    with trio.move_on_after(time_limit) as scope:
        for _ in range(max(1, rounds)):
            for contender in contenders:
                await contender.take_turn()
            if time.perf_counter() >= deadline:  # pragma: no cover - the scope usually fires first
                break
    if scope.cancelled_caught:
        for contender in contenders:
            contender.errors["time limit"] += 1


# -- many simulations at once -----------------------------------------------------------------


@attrs.define
class ConcurrentResult:
    """A concurrent load, measured while every client was still running.

    Attributes:
        clients: Clients asked for.
        connected: Clients that connected and were ready (their session created).
        completed: Clients that finished their run.
        ticks: Ticks (round trips) that arrived inside the window.
        window: Seconds of the window: from the warm-up's end to the first client's end.
        latencies: Seconds from one tick to the next, both inside the window.
        total_ticks: Every tick of every client.
        elapsed: Seconds from the start to the last client's end.
        server_cpu: Share of one core the server used from the start to the last client's end.
        server_cpu_seconds: The server's CPU seconds over the same time.
        errors: Error → count.
    """

    clients: int
    connected: int = 0
    completed: int = 0
    ticks: int = 0
    window: float = 0.0
    latencies: list[float] = attrs.Factory(list)
    total_ticks: int = 0
    elapsed: float = 0.0
    server_cpu: float = math.nan
    server_cpu_seconds: float = math.nan
    errors: Counter[str] = attrs.Factory(Counter)

    @property
    def throughput(self) -> float:
        """Ticks per second in the window, all clients together."""
        return self.ticks / self.window if self.window > 0 else 0.0

    def measure(
        self, arrivals: Sequence[Sequence[float]], started: float, ends: Sequence[float], warmup: float
    ) -> None:
        """Fill the figures from each client's arrival times, the start, and each finished client's end."""
        self.total_ticks = sum(len(times) for times in arrivals)
        if not ends:
            return
        low, high = started + warmup, min(ends)
        if high <= low:  # a run shorter than the warm-up: the whole of the first client's run
            low = started
        self.window = high - low
        self.elapsed = max(ends) - started
        for times in arrivals:
            inside = [t for t in times if low <= t <= high]
            self.ticks += len(inside)
            self.latencies += [b - a for a, b in itertools.pairwise(inside)]


async def _ready_client(stack: AsyncExitStack, server: ServerProcess, url: str, ticks: int) -> tuple[LeanClient, str]:
    """Connect (closed by `stack`) and, against SimuTrador, take the greeting and create the session."""
    lean = LeanClient(await stack.enter_async_context(_connect(url)))
    if not server.greets:
        return lean, ""
    await lean.ws.get_message()
    return lean, await lean.create_session(ticks)


async def concurrent(
    server: ServerProcess,
    clients: int,
    ticks: int,
    *,
    payload: str = "",
    warmup: float = 0.2,
    connect_concurrency: int = 50,
    time_limit: float = 120.0,
) -> ConcurrentResult:
    """`clients` connections, each its own user, all running at once; measured while all are running.

    Against SimuTrador, each client creates a session of `ticks` ticks, then (all
    together) runs it in lockstep with `LeanClient`. Against the echo server, each
    sends `payload` and waits for it back `ticks` times.
    """
    result = ConcurrentResult(clients)
    arrivals: list[list[float]] = []
    ends: list[float] = []
    ready, go = trio.Event(), trio.Event()
    limiter = trio.CapacityLimiter(connect_concurrency)

    def arrive() -> None:
        if result.connected + sum(n for kind, n in result.errors.items() if kind.startswith("connect: ")) >= clients:
            ready.set()

    async def client(url: str) -> None:
        times: list[float] = []
        async with AsyncExitStack() as stack:
            try:
                async with limiter:
                    lean, session_id = await _ready_client(stack, server, url, ticks)
            except (OSError, trio_websocket.HandshakeError, *_ERRORS) as error:
                result.errors[f"connect: {type(error).__name__}"] += 1
                arrive()
                return
            result.connected += 1
            arrivals.append(times)
            arrive()
            await go.wait()
            try:
                if server.greets:
                    await lean.run(session_id, arrivals=times)
                else:
                    await echo_round_trips(lean.ws, payload, ticks, arrivals=times)
            except _ERRORS as error:
                result.errors[f"{type(error).__name__}: {error}"[:160]] += 1
                return
            ends.append(time.perf_counter())
            result.completed += 1

    started = cpu_before = 0.0
    with trio.move_on_after(time_limit) as scope:
        async with trio.open_nursery() as nursery:
            for url in server.urls(clients, prefix="sim"):
                nursery.start_soon(client, url)
            await ready.wait()
            cpu_before, started = server.cpu_seconds(), time.perf_counter()
            go.set()
    cpu_seconds = server.cpu_seconds() - cpu_before
    cpu_share = cpu_seconds / (time.perf_counter() - started)
    if scope.cancelled_caught:
        result.errors["time limit"] += 1
    result.measure(arrivals, started, ends, warmup)
    if result.elapsed > 0:
        result.server_cpu, result.server_cpu_seconds = cpu_share, cpu_seconds
    return result


# -- the SDK ---------------------------------------------------------------------------------


async def sdk_run(client: SessionClient, ticks: int, strategy: object) -> tuple[float, str, int]:
    """Create a session and run `strategy` on it with `SessionClient.run_simulation` (lockstep).

    Returns:
        The seconds of the whole call, the result's digest, and its ticks.
    """
    session = await client.create_session(**session_request(ticks))
    started = time.perf_counter()
    result = await client.run_simulation(session.session_id, strategy)
    return time.perf_counter() - started, result.digest, result.ticks


def sma_strategy() -> object:
    """A fresh instance of the shipped SMA example (``simutrador_cli/examples/sma_crossover.py``)."""
    return sma_crossover.make_strategy()


NOTHING: Final = do_nothing
"""The do-nothing strategy of the embedded figures."""


# -- the suite's step -------------------------------------------------------------------------

_ONE: Final = ("echo", "lockstep", "bars_off", "window8", "sdk_nothing", "sdk_sma")
"""The one-connection contenders, in the order they take their turns."""


@attrs.define
class OneConnection:
    """The one-connection figures of a run: each contender's rounds, and what they were compared on.

    Attributes:
        contenders: By name (`_ONE`).
        payload: The tick the echo server sent back (the first tick of a run with bars, as the server wrote it).
        embedded_digest: The SMA example's digest run embedded, which the SDK's run must equal.
    """

    contenders: dict[str, Contender]
    payload: str
    embedded_digest: str


async def one_connection(
    server: ServerProcess, echo: ServerProcess, ticks: int, *, rounds: int, time_limit: float
) -> OneConnection:
    """Every one-connection contender on connections opened first, in turn, `rounds` times.

    A first untimed run builds the server's bar feed and gives the echo its payload:
    that run's first tick, as the server wrote it.
    """
    expected = embedded_digest(ticks)
    contenders = {name: Contender(name, _not_started) for name in _ONE}
    payload = ""
    with trio.move_on_after(time_limit * 1.5) as scope:  # connecting and the warm-up run, then `alternate`
        async with (
            _connect(server.url("lockstep")) as ws,
            _connect(echo.url("echo")) as echo_ws,
            SessionClient.connect(server.endpoint, server.token("sdk")) as sdk,
        ):
            await ws.get_message()  # connection_ready
            lean = LeanClient(ws)
            warm = await lean.run(await lean.create_session(ticks))
            payload = warm.first_tick

            async def echo_turn() -> tuple[int, float]:
                return ticks, await echo_round_trips(echo_ws, payload, ticks)

            def lean_turn(window: int, include_bars: bool) -> Measure:
                async def turn() -> tuple[int, float]:
                    run = await lean.run(await lean.create_session(ticks), window=window, include_bars=include_bars)
                    return run.ticks, run.seconds

                return turn

            async def sdk_nothing() -> tuple[int, float]:
                seconds, _, done = await sdk_run(sdk, ticks, NOTHING)
                return done, seconds

            async def sdk_sma() -> tuple[int, float]:
                seconds, digest, done = await sdk_run(sdk, ticks, sma_strategy())
                if digest != expected:
                    raise ProtocolError("the SMA example's digest differs from the embedded run's")
                return done, seconds

            measures = (echo_turn, lean_turn(1, True), lean_turn(1, False), lean_turn(8, True), sdk_nothing, sdk_sma)
            for contender, measure in zip(contenders.values(), measures, strict=True):
                contender.measure = measure
                contender.cpu_seconds = (echo if contender.name == "echo" else server).cpu_seconds
            await alternate(list(contenders.values()), rounds=rounds, time_limit=time_limit)
    if scope.cancelled_caught:  # pragma: no cover - alternate's own limit comes first
        for contender in contenders.values():
            contender.errors["time limit"] += 1
    return OneConnection(contenders, payload, expected)


async def _not_started() -> tuple[int, float]:  # pragma: no cover - replaced before any turn
    raise ProtocolError("not started")


def measure(
    *,
    ticks: int,
    rounds: int,
    clients: int,
    concurrent_ticks: int,
    concurrent_rounds: int,
    warmup: float,
    time_limit: float,
    progress: Callable[[str], None],
) -> list[Result]:
    """The step of ``simutrador bench``: both servers started, every figure measured, as `Result` s."""
    with (
        server_process("echo", max_seconds=time_limit * 6) as echo,
        server_process("simutrador", max_seconds=time_limit * 6) as server,
        lazy_garbage_collector(),
    ):
        progress(
            f"1 connection, {ticks:,} ticks, {rounds} rounds in turn: echo of a tick, lean lockstep "
            "(with and without bars, window 8), SDK do-nothing and SMA example"
        )
        one = trio.run(lambda: one_connection(server, echo, ticks, rounds=rounds, time_limit=time_limit))
        payload = one.payload or _FALLBACK_PAYLOAD
        progress(
            f"{clients:,} echo connections, then {clients:,} simulations at once, {concurrent_ticks:,} ticks each; "
            f"{concurrent_rounds} rounds"
        )
        many: list[ConcurrentResult] = []
        echoes: list[ConcurrentResult] = []
        deadline = time.perf_counter() + time_limit
        for _ in range(max(1, concurrent_rounds)):
            left = max(deadline - time.perf_counter(), 1.0)
            load = partial(concurrent, clients=clients, ticks=concurrent_ticks, warmup=warmup, time_limit=left)
            echoes.append(trio.run(partial(load, echo, payload=payload)))
            many.append(trio.run(partial(load, server)))
            if time.perf_counter() >= deadline:  # pragma: no cover - a server too slow for the profile
                break
    return one_connection_results(one, rounds) + concurrent_results(many, echoes)


_FALLBACK_PAYLOAD: Final = encode_message("tick", {"sequence_id": 1, "padding": "x" * 360})
"""The echo's payload when no run gave a tick (the server failed): about a tick's size."""


def _rate(key: str, contender: Contender, **extra: object) -> Result:
    errors = sum(contender.errors.values())
    return Result(
        key=key,
        value=contender.rate,
        samples=[s for s in contender.seconds if s > 0],
        errors=errors,
        note="; ".join(f"{kind} x{count}" for kind, count in contender.errors.items()),
        extra={
            "ticks": contender.ticks,
            "rates_per_round": contender.rates,
            "server_cpu_us_per_tick": contender.server_cpu_per_tick * 1e6,
            **extra,
        },
    )


def _percent(key: str, mine: Contender, baseline: Contender) -> Result:
    ratios = [r * 100 for r in mine.ratios(baseline)]
    errors = sum(mine.errors.values()) + sum(baseline.errors.values())
    value = statistics.median(ratios) if ratios else 0.0
    return Result(key=key, value=value, errors=errors or (0 if ratios else 1), extra={"ratio_per_round": ratios})


def one_connection_results(one: OneConnection, rounds: int) -> list[Result]:
    """The one-connection figures: each rate, and each ratio (the median of the per-round ratios)."""
    c = one.contenders
    echo = _rate("remote.echo.1", c["echo"], payload_bytes=len(one.payload.encode()), rounds=rounds)
    sma = _rate("remote.sdk.sma", c["sdk_sma"], embedded_digest=one.embedded_digest)
    return [
        echo,
        _rate("remote.lockstep.1", c["lockstep"]),
        _percent("remote.lockstep.vs_echo", c["lockstep"], c["echo"]),
        _rate("remote.sdk.nothing", c["sdk_nothing"]),
        _percent("remote.sdk.nothing.vs_echo", c["sdk_nothing"], c["echo"]),
        sma,
        _percent("remote.sdk.sma.vs_echo", c["sdk_sma"], c["echo"]),
        _rate("remote.bars_off.1", c["bars_off"]),
        _percent("remote.bars.vs_off", c["lockstep"], c["bars_off"]),
        _rate("remote.window.8", c["window8"]),
        _percent("remote.window.8.vs_1", c["window8"], c["lockstep"]),
    ]


def _concurrent_extra(loads: Sequence[ConcurrentResult]) -> dict[str, object]:
    latencies = [t for load in loads for t in load.latencies]
    return {
        "clients": loads[0].clients if loads else 0,
        "rounds": len(loads),
        "rates_per_round": [load.throughput for load in loads],
        "connected": [load.connected for load in loads],
        "completed": [load.completed for load in loads],
        "ticks_in_window": [load.ticks for load in loads],
        "window_s": [load.window for load in loads],
        "total_ticks": sum(load.total_ticks for load in loads),
        "overall_per_s": [load.total_ticks / load.elapsed if load.elapsed > 0 else 0.0 for load in loads],
        "server_cpu_share": [load.server_cpu for load in loads],
        "server_cpu_us_per_tick": [
            load.server_cpu_seconds / load.total_ticks * 1e6 if load.total_ticks else math.nan for load in loads
        ],
        "latency_ms_p50": percentile(latencies, 50) * 1e3 if latencies else None,
        "latency_ms_p99": percentile(latencies, 99) * 1e3 if latencies else None,
        "error_kinds": dict(sum((load.errors for load in loads), Counter[str]())),
    }


def _median_rate(loads: Sequence[ConcurrentResult]) -> float:
    return statistics.median(load.throughput for load in loads) if loads else 0.0


def concurrent_results(many: Sequence[ConcurrentResult], echoes: Sequence[ConcurrentResult]) -> list[Result]:
    """The concurrent figures over rounds: aggregate ticks/s, tick-to-tick latency, the echo's rate, the ratio.

    Rates are the median of the rounds; latencies are pooled; the ratio is the median
    of the per-round ratios (each round's SimuTrador load ÷ the echo load just before it).
    """
    errors = sum(sum(load.errors.values()) for load in many)
    echo_errors = sum(sum(load.errors.values()) for load in echoes)
    clients = many[0].clients if many else 0
    note = "" if clients == 100 else f"{clients:,} clients (the figure is for 100)"
    latencies = [t for load in many for t in load.latencies]
    results = [
        Result(
            key="remote.concurrent", value=_median_rate(many), errors=errors, note=note, extra=_concurrent_extra(many)
        )
    ]
    if latencies:
        results.append(Result.from_timings("remote.concurrent.latency", latencies, scale=1e3, errors=errors))
    else:
        results.append(Result(key="remote.concurrent.latency", value=math.inf, errors=errors or 1))
    echo_extra = _concurrent_extra(echoes)
    results.append(
        Result(key="remote.concurrent.echo", value=_median_rate(echoes), errors=echo_errors, extra=echo_extra)
    )
    ratios = [m.throughput / e.throughput * 100 for m, e in zip(many, echoes, strict=False) if e.throughput]
    results.append(
        Result(
            key="remote.concurrent.vs_echo",
            value=statistics.median(ratios) if ratios else 0.0,
            errors=errors + echo_errors,
            extra={"ratio_per_round": ratios},
        )
    )
    return results
