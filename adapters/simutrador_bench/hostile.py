"""Hostile loads against the server with its default limits (issue 13): a good client's latency under attack.

One run measures a well-behaved client with no attack and then under each attack, in the
same run (ratios, not absolute times: the machine is shared):

- ``baseline``: no attack;
- ``idle_flood`` (defect 1): `Profile.idle` TCP connections from one address that never
  send a byte, plus 64 from each of 20 more addresses (1,280: more than the server's
  pending-handshake budget), opened at 4,000 a second and held (measured while the
  first are still within the server's 10-second handshake deadline);
- ``big_messages`` (defect 2): `Profile.connections` authenticated connections from one
  address, each sending a 58 KB array of integers as fast as TCP lets it;
- ``ping_flood``: the same connections sending ping frames;
- ``continuation_flood``: the same connections sending empty continuation frames.

The server runs in one process (`simutrador_bench.serverproc` ``defaults``), the
attackers in another (``python -m simutrador_bench.hostile attack KIND ...``), the good
client in this one, from 127.0.0.1; the attackers come from other loopback addresses
(127.0.0.2 and up), as they would from other hosts. The good client measures the round
trip of a ``ping`` on an open connection (paced under the message rate limit) and the
time to open a new connection (TCP, upgrade, token check, ``connection_ready``). Every
load is bounded in count and time and stops by itself.

Run:  python -m simutrador_bench.hostile [--window 5] [--connections 20] [--idle 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from typing import Final

import attrs
import trio
import trio_websocket
import wsproto
from simutrador_ws.auth import issue_token
from simutrador_ws.envelope import encode_message
from simutrador_ws.settings import AuthSettings
from wsproto.events import AcceptConnection, Ping, RejectConnection, Request, TextMessage

from simutrador import Plan
from simutrador_bench.serverproc import SECRET_VARIABLE, raise_open_files_limit
from simutrador_bench.wire import ServerProcess, server_process

__all__ = ["ATTACKS", "Measured", "Profile", "SMOKE", "main", "measure", "report"]

ATTACKS: Final = ("idle_flood", "big_messages", "ping_flood", "continuation_flood")
"""The attacks, in the order a run measures them (after the baseline)."""

_GOOD_PING: Final = encode_message("ping", {}, "good")
_CONNECT_ERRORS: Final = (
    OSError,
    trio.TooSlowError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
    trio.BrokenResourceError,
)
_ATTACKER_ADDRESS: Final = "127.0.0.2"
_SPREAD_ADDRESSES: Final = tuple(f"127.0.0.{i}" for i in range(3, 23))
_SPREAD_EACH: Final = 64
_OPEN_RATE: Final = 4000.0  # idle connections opened per second
_OPEN_BATCH: Final = 100


@attrs.frozen(kw_only=True)
class Profile:
    """How big and how long.

    Attributes:
        window: Seconds the good client measures, per scenario.
        warmup: Seconds an attack runs before the good client starts measuring.
        connections: Attacking WebSocket connections (message floods).
        idle: Idle TCP connections from one address (idle flood; the issue's attack used 10,100).
        pace: Seconds between the good client's pings (under the 50 messages/s limit).
        connect_every: Seconds between the good client's new connections.
    """

    window: float = 5.0
    warmup: float = 1.0
    connections: int = 20
    idle: int = 2000
    pace: float = 0.025
    connect_every: float = 0.25


SMOKE: Final = Profile(window=1.0, warmup=0.3, connections=3, idle=100)
"""Tiny counts for CI's smoke run."""


@attrs.define
class Measured:
    """What the good client saw during one scenario.

    Attributes:
        scenario: ``baseline`` or an attack.
        round_trips: Seconds per ping round trip.
        connects: Seconds per new connection (until ``connection_ready``).
        errors: What went wrong for the good client (kind → count).
        server_cpu: Share of one core the server used during the window.
    """

    scenario: str
    round_trips: list[float] = attrs.Factory(list)
    connects: list[float] = attrs.Factory(list)
    errors: Counter[str] = attrs.Factory(Counter)
    server_cpu: float = 0.0

    def figures(self) -> dict[str, float | int]:
        """p50/p99 in milliseconds, counts and CPU, JSON-ready."""
        return {
            "rtt_p50_ms": _quantile_ms(self.round_trips, 0.50),
            "rtt_p99_ms": _quantile_ms(self.round_trips, 0.99),
            "round_trips": len(self.round_trips),
            "connect_p50_ms": _quantile_ms(self.connects, 0.50),
            "connect_p99_ms": _quantile_ms(self.connects, 0.99),
            "connects": len(self.connects),
            "errors": sum(self.errors.values()),
            "server_cpu": round(self.server_cpu, 3),
        }


def _quantile_ms(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


# -- the good client ---------------------------------------------------------------------


@asynccontextmanager
async def _websocket(port: int, target: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A trio-websocket client whose TCP stream is always closed (its own leaks a refused one)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", target)
            try:
                yield ws
            finally:
                nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


def _target(server: ServerProcess, user: str) -> str:
    return "/ws/simulate?" + server.url(user).split("?", 1)[1]


async def _good_client(server: ServerProcess, profile: Profile, measured: Measured) -> None:
    """Ping on one connection at `Profile.pace` and open a new connection every `Profile.connect_every`."""
    clock = time.perf_counter
    ends = clock() + profile.window

    async def connect_repeatedly() -> None:
        while clock() < ends:
            started = clock()
            try:
                with trio.fail_after(5):
                    async with _websocket(server.port, _target(server, "good-connect")) as fresh:
                        await fresh.get_message()
                        measured.connects.append(clock() - started)
            except _CONNECT_ERRORS as exc:
                measured.errors[f"connect: {type(exc).__name__}"] += 1
            await trio.sleep(max(0.0, started + profile.connect_every - clock()))

    async def ping_repeatedly() -> None:
        while clock() < ends:
            try:
                with trio.CancelScope(deadline=trio.current_time() + 5) as connecting:
                    async with _websocket(server.port, _target(server, "good")) as ws:
                        await ws.get_message()  # connection_ready
                        connecting.deadline = math.inf
                        await _pings(ws, profile, measured, ends)
                        return
                measured.errors["ping connection: not connected in 5 s"] += 1
            except _CONNECT_ERRORS as exc:
                measured.errors[f"ping connection: {type(exc).__name__}"] += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(connect_repeatedly)
        nursery.start_soon(ping_repeatedly)


async def _pings(ws: trio_websocket.WebSocketConnection, profile: Profile, measured: Measured, ends: float) -> None:
    clock = time.perf_counter
    next_at = clock()
    while (started := clock()) < ends:
        with trio.fail_after(5):  # a reply later than this is an error of the run
            await ws.send_message(_GOOD_PING)
            reply = json.loads(await ws.get_message())
        if reply.get("type") != "pong":
            measured.errors[f"ping: {reply.get('data', {}).get('error_code', reply.get('type'))}"] += 1
        measured.round_trips.append(clock() - started)
        next_at += profile.pace
        await trio.sleep(max(0.0, next_at - clock()))


# -- the attackers (their own process) --------------------------------------------------


async def _open_raw(port: int, source: str, token: str) -> tuple[trio.SocketStream, wsproto.WSConnection]:
    stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    await stream.send_all(conn.send(Request(host="127.0.0.1", target=f"/ws/simulate?token={token}")))
    while True:
        data = await stream.receive_some(65536)
        if not data:
            raise ConnectionError("closed during the handshake")
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, AcceptConnection):
                return stream, conn
            if isinstance(event, RejectConnection):
                raise ConnectionError(f"refused with {event.status_code}")


def _flood_bytes(kind: str, conn: wsproto.WSConnection) -> tuple[bytes, bytes]:
    """What one attacking connection sends first, then over and over (its frames, masked once)."""
    if kind == "big_messages":
        numbers = [(i * 7919) % 10_000 for i in range(12_000)]
        text = json.dumps({"type": "ping", "request_id": "flood", "data": {"x": numbers}}, separators=(",", ":"))
        return b"", conn.send(TextMessage(data=text))
    if kind == "ping_flood":
        return b"", b"".join(conn.send(Ping(payload=b"p")) for _ in range(256))
    start = conn.send(TextMessage(data="", message_finished=False))  # a text frame that is not the last...
    return start, b"".join(conn.send(TextMessage(data="", message_finished=False)) for _ in range(256))  # ...nor these


async def _flood(kind: str, port: int, token: str, ends: float, sent: Counter[str]) -> None:
    try:
        stream, conn = await _open_raw(port, _ATTACKER_ADDRESS, token)
    except (OSError, ConnectionError) as exc:
        sent[f"refused: {exc}"] += 1
        return
    first, chunk = _flood_bytes(kind, conn)
    async with stream, trio.open_nursery() as nursery:

        async def drain() -> None:  # read (and drop) the server's answers, or its send watchdog hangs up
            try:
                while await stream.receive_some(65536):
                    pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        nursery.start_soon(drain)
        with trio.move_on_at(ends):
            try:
                await stream.send_all(first)
                while True:
                    await stream.send_all(chunk)
                    sent["bytes"] += len(chunk)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                sent["dropped"] += 1
        nursery.cancel_scope.cancel()


async def _idle(port: int, source: str, counts: Counter[str]) -> None:
    """Hold a TCP connection from `source` that never sends a byte, until the server drops it."""
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    except OSError:
        counts["connect failed"] += 1
        return
    counts["opened"] += 1
    async with stream:
        try:
            while await stream.receive_some(1024):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
    counts["dropped by the server"] += 1


async def _attack(kind: str, port: int, seconds: float, connections: int, idle: int) -> None:
    """Attack for `seconds`, or until stdin closes (the measuring process is done, or died)."""
    auth = AuthSettings(jwt_secret=os.environ[SECRET_VARIABLE])
    ends = trio.current_time() + seconds
    counts: Counter[str] = Counter()
    async with trio.open_nursery() as nursery:

        async def stop_when_stdin_closes() -> None:
            async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
                while await stdin.receive_some():
                    pass
            nursery.cancel_scope.cancel()

        nursery.start_soon(stop_when_stdin_closes)
        with trio.move_on_at(ends):
            await _attack_until(kind, port, ends=ends, connections=connections, idle=idle, auth=auth, counts=counts)
        nursery.cancel_scope.cancel()
    sys.stdout.write(json.dumps(dict(counts)) + "\n")
    sys.stdout.flush()


async def _attack_until(
    kind: str, port: int, *, ends: float, connections: int, idle: int, auth: AuthSettings, counts: Counter[str]
) -> None:
    async with trio.open_nursery() as nursery:
        if kind == "idle_flood":
            sources = [_ATTACKER_ADDRESS] * idle + [a for a in _SPREAD_ADDRESSES for _ in range(_SPREAD_EACH)]
            for index, source in enumerate(sources):  # opened at a bounded rate: no SYN storm
                nursery.start_soon(_idle, port, source, counts)
                if index % _OPEN_BATCH == _OPEN_BATCH - 1:
                    await trio.sleep(_OPEN_BATCH / _OPEN_RATE)
            while counts["opened"] + counts["connect failed"] < len(sources):
                await trio.sleep(0.05)  # all of them open before the good client measures
        else:
            for i in range(connections):
                token = issue_token(auth, f"attacker-{i}", plan=Plan.ENTERPRISE, expires_in=timedelta(hours=1))
                nursery.start_soon(_flood, kind, port, token, ends, counts)
        sys.stdout.write("READY\n")
        sys.stdout.flush()


@asynccontextmanager
async def _attacking(kind: str, server: ServerProcess, profile: Profile) -> AsyncIterator[subprocess.Popen[bytes]]:
    opening = (profile.idle + len(_SPREAD_ADDRESSES) * _SPREAD_EACH) / _OPEN_RATE if kind == "idle_flood" else 0.0
    seconds = 2 * opening + profile.warmup + profile.window + 10
    command = [
        sys.executable,
        "-m",
        "simutrador_bench.hostile",
        "attack",
        kind,
        "--port",
        str(server.port),
        "--seconds",
        str(seconds),
        "--connections",
        str(profile.connections),
        "--idle",
        str(profile.idle),
    ]
    env = {**os.environ, SECRET_VARIABLE: server.auth.jwt_secret}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)  # noqa: S603 - our own module
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = await trio.to_thread.run_sync(process.stdout.readline)
        if line.strip() != b"READY":
            raise RuntimeError(f"the attack {kind} did not start (said {line!r})")
        await trio.sleep(min(profile.warmup, 0.2) if kind == "idle_flood" else profile.warmup)  # idle: all opened
        yield process
    finally:
        process.stdin.close()  # the attack stops (and exits cleanly: its own coverage data is kept)
        try:
            await trio.to_thread.run_sync(partial(process.wait, timeout=30))
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged attacker
            process.kill()
            process.wait()
        process.stdout.close()


# -- a run ------------------------------------------------------------------------------


async def _scenario(server: ServerProcess, scenario: str, profile: Profile) -> Measured:
    measured = Measured(scenario)

    async def good() -> None:
        cpu_before, started = server.cpu_seconds(), time.perf_counter()
        await _good_client(server, profile, measured)
        measured.server_cpu = (server.cpu_seconds() - cpu_before) / (time.perf_counter() - started)

    with trio.fail_after(profile.warmup + profile.window + 60):
        if scenario == "baseline":
            await good()
        else:
            async with _attacking(scenario, server, profile):
                await good()
    await trio.sleep(0.2)  # the server closes what the attack left
    return measured


def measure(
    profile: Profile = Profile(), progress: Callable[[str], object] = print, scenarios: Sequence[str] = ATTACKS
) -> list[Measured]:
    """The baseline, then each attack in `scenarios`, against one server with its default limits."""
    raise_open_files_limit()
    results: list[Measured] = []
    with server_process(
        "defaults", max_seconds=(profile.warmup + profile.window + 70) * (len(scenarios) + 1)
    ) as server:
        for scenario in ("baseline", *scenarios):
            progress(f"hostile: {scenario}...")
            results.append(trio.run(_scenario, server, scenario, profile))
    return results


def report(results: Sequence[Measured]) -> str:
    """A Markdown table: the good client's p50/p99 under each attack next to its baseline."""
    base = results[0].figures()
    lines = [
        "| scenario | ping p50 ms | ping p99 ms | p99 / baseline | connect p50 ms | connect p99 ms | "
        "connects | errors | server CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        f = result.figures()
        ratio = f["rtt_p99_ms"] / base["rtt_p99_ms"] if base["rtt_p99_ms"] else float("nan")
        lines.append(
            f"| {result.scenario} | {f['rtt_p50_ms']:.2f} | {f['rtt_p99_ms']:.2f} | {ratio:.1f}x | "
            f"{f['connect_p50_ms']:.2f} | {f['connect_p99_ms']:.2f} | {f['connects']} | {f['errors']} | "
            f"{f['server_cpu']:.0%} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print (``attack KIND ...``: run one attack; it is this module's own subprocess)."""
    parser = argparse.ArgumentParser(prog="python -m simutrador_bench.hostile")
    parser.add_argument("mode", nargs="?", default="measure", choices=["measure", "attack"])
    parser.add_argument("kind", nargs="?", choices=ATTACKS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=10.0)
    defaults = Profile()
    parser.add_argument("--window", type=float, default=defaults.window)
    parser.add_argument("--connections", type=int, default=defaults.connections)
    parser.add_argument("--idle", type=int, default=defaults.idle)
    parser.add_argument("--scenarios", default=",".join(ATTACKS), help="attacks to run, comma-separated")
    args = parser.parse_args(argv)
    if args.mode == "attack":
        raise_open_files_limit()
        trio.run(_attack, args.kind, args.port, args.seconds, args.connections, args.idle)
        return
    profile = Profile(window=args.window, connections=args.connections, idle=args.idle)
    scenarios = [name for name in args.scenarios.split(",") if name]
    unknown = sorted(set(scenarios) - set(ATTACKS))
    if unknown:
        parser.error(f"unknown attacks: {', '.join(unknown)}")
    results = measure(profile, progress=lambda text: sys.stderr.write(text + "\n"), scenarios=scenarios)
    sys.stdout.write(report(results) + "\n")
    for result in results:
        if result.errors:
            sys.stderr.write(f"{result.scenario}: {dict(result.errors)}\n")


if __name__ == "__main__":
    main()
