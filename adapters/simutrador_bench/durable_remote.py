"""What the durable store costs over the wire (DESIGN §7, §9): a server on SQLite beside one in memory.

Two SimuTrador servers run at once, each in its own process
(`simutrador_bench.serverproc`): one keeps its sessions in memory (``--store memory``,
the baseline), the other in a SQLite file, journaling every simulation command and
answering a batch only once its journal entry is committed (what ``simutrador serve``
does by default). The same loads take turns on both, round after round (in the
opposite order every other round), so drift in the machine's speed hits both alike:

- **Lockstep ticks/s** on one connection (``max_pending_ticks`` 1, bars included):
  a do-nothing run (`LeanClient.run`: only the ``start`` entry is journaled) and a
  trading run (`trading_run`: every few ticks an ``order_batch`` of one market order,
  alternately buying and selling, waits for its ``batch_ack`` before the tick is
  acknowledged, as `SessionClient.run_simulation` does). The durable rate is
  compared with the memory rate round by round (100 % less its overhead).
- **create_session round trips** (`simutrador_bench.wire.alternating_round_trips`):
  one client's latency, and 100 clients' rate, each beside the other server's.

A run is timed from its first tick to ``simulation_complete``; every load is bounded
in count and in time.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Final

import attrs
import trio
import trio_websocket
from simutrador_ws.envelope import decode, encode_message

from simutrador_bench import wire
from simutrador_bench.remote_simulation import Contender, LeanClient, LeanRun, Measure, ProtocolError
from simutrador_bench.report import Result
from simutrador_bench.serverproc import MEMORY
from simutrador_bench.simulation import MINUTE_SYMBOL
from simutrador_bench.wire import ServerProcess, lazy_garbage_collector, server_process

__all__ = [
    "STORES",
    "WORKLOADS",
    "Lockstep",
    "WireSizes",
    "create_results",
    "lockstep",
    "lockstep_results",
    "measure",
    "trading_run",
]

STORES: Final = ("memory", "sqlite")
"""The two servers: sessions in memory (the baseline), and in a SQLite file with the journal."""
WORKLOADS: Final = ("nothing", "trading")
"""The lockstep runs: do-nothing, and a batch every few ticks."""
TRADE_EVERY: Final = 5
"""Ticks between two batches of the trading run."""

_TICK: Final = '{"type":"tick",'
_COMPLETE: Final = '{"type":"simulation_complete",'
_BATCH_ACK: Final = '{"type":"batch_ack",'
_FAILURES: Final = ('{"type":"session_error",', '{"type":"error",', '{"type":"simulation_paused",')
_MAX_BYTES: Final = 1 << 22


def _failure(text: str) -> ProtocolError:
    reply = decode(text, _MAX_BYTES)
    return ProtocolError(f"{reply.type}: {reply.data.get('message', reply.data.get('reason', ''))}")


async def trading_run(lean: LeanClient, session_id: str, *, every: int = TRADE_EVERY) -> tuple[LeanRun, int]:
    """Run `session_id` in lockstep, sending a one-order batch every `every` ticks before acknowledging the tick.

    Each batch (a market order for one unit of the session's symbol, buying then
    selling in turn) waits for its ``batch_ack`` — on a durable server, sent once the
    batch is committed to the journal — and only then is the tick acknowledged.

    Returns:
        The run (timed from its first tick to ``simulation_complete``) and its batches.

    Raises:
        ProtocolError: An error, or the run paused, instead of what was expected.
    """
    ws, clock = lean.ws, time.perf_counter
    start = {
        "session_id": session_id,
        "flow_control": True,
        "max_pending_ticks": 1,
        "include_bars": True,
        "account_update_frequency": "none",
    }
    await ws.send_message(encode_message("start_simulation", start, "trade-start"))
    sequence_id = batches = 0
    first = 0.0
    first_text = ""
    while True:
        text = await ws.get_message()
        assert isinstance(text, str)
        if text.startswith(_TICK):
            if not sequence_id:
                first, first_text = clock(), text
            sequence_id += 1
            if sequence_id % every == 0:
                batches += 1
                order = {
                    "order_id": f"o{sequence_id}",
                    "symbol": MINUTE_SYMBOL,
                    "side": "buy" if batches % 2 else "sell",
                    "type": "market",
                    "quantity": 1,
                }
                batch = {
                    "session_id": session_id,
                    "batch_id": f"b{sequence_id}",
                    "for_sequence_id": sequence_id,
                    "orders": [order],
                }
                await ws.send_message(encode_message("order_batch", batch, f"b{sequence_id}"))
                await _until(ws, _BATCH_ACK)
            await ws.send_message(encode_message("tick_ack", {"session_id": session_id, "sequence_id": sequence_id}))
        elif text.startswith(_COMPLETE):
            return LeanRun(sequence_id, clock() - first, first_text), batches
        elif text.startswith(_FAILURES):
            raise _failure(text)


async def _until(ws: trio_websocket.WebSocketConnection, prefix: str) -> None:
    """Read messages (what the batch caused) until one starts with `prefix`."""
    while True:
        text = await ws.get_message()
        assert isinstance(text, str)
        if text.startswith(prefix):
            return
        if text.startswith(_FAILURES):
            raise _failure(text)


# -- lockstep on both servers, in turn ------------------------------------------------------


@attrs.define
class Lockstep:
    """Lockstep runs on both servers: a `Contender` per (workload, store), and the batches each trading run sent.

    Attributes:
        contenders: By ``(workload, store)``.
        batches: Batches of the last trading run on each store.
    """

    contenders: dict[tuple[str, str], Contender]
    batches: dict[str, int] = attrs.Factory(dict)


async def lockstep(
    servers: dict[str, ServerProcess], ticks: int, *, rounds: int, every: int = TRADE_EVERY, time_limit: float
) -> Lockstep:
    """Every (workload, store) pair once per round, for `rounds` rounds, on connections opened first.

    A first untimed do-nothing run on each server builds its bar feed. Even rounds go
    memory first, odd rounds SQLite first. The whole is bounded by `time_limit` (a
    round cut by it counts as an error of every contender).
    """
    result = Lockstep({(w, s): Contender(f"{w}/{s}", _not_started) for w in WORKLOADS for s in STORES})
    deadline = time.perf_counter() + time_limit
    with trio.move_on_after(time_limit) as scope:
        async with (
            wire._connect(servers["memory"].url("durable-memory")) as memory_ws,  # pyright: ignore[reportPrivateUsage]
            wire._connect(servers["sqlite"].url("durable-sqlite")) as sqlite_ws,  # pyright: ignore[reportPrivateUsage]
        ):
            leans = {"memory": LeanClient(memory_ws), "sqlite": LeanClient(sqlite_ws)}
            for store, lean in leans.items():
                await lean.ws.get_message()  # connection_ready
                await lean.run(await lean.create_session(ticks))  # warm-up: the feed is built once
                result.contenders[("nothing", store)].measure = _nothing(lean, ticks)
                result.contenders[("trading", store)].measure = _trading(lean, ticks, every, result.batches, store)
                for workload in WORKLOADS:
                    result.contenders[(workload, store)].cpu_seconds = servers[store].cpu_seconds
            for index in range(max(1, rounds)):
                order = STORES if index % 2 == 0 else STORES[::-1]
                for workload in WORKLOADS:
                    for store in order:
                        await result.contenders[(workload, store)].take_turn()
                if time.perf_counter() >= deadline:  # pragma: no cover - the scope usually fires first
                    break
    if scope.cancelled_caught:
        for contender in result.contenders.values():
            contender.errors["time limit"] += 1
    return result


def _nothing(lean: LeanClient, ticks: int) -> Measure:
    async def turn() -> tuple[int, float]:
        run = await lean.run(await lean.create_session(ticks))
        return run.ticks, run.seconds

    return turn


def _trading(lean: LeanClient, ticks: int, every: int, batches: dict[str, int], store: str) -> Measure:
    async def turn() -> tuple[int, float]:
        run, batches[store] = await trading_run(lean, await lean.create_session(ticks), every=every)
        return run.ticks, run.seconds

    return turn


async def _not_started() -> tuple[int, float]:  # pragma: no cover - replaced before any turn
    raise ProtocolError("not started")


def _rate(key: str, contender: Contender, **extra: object) -> Result:
    return Result(
        key=key,
        value=contender.rate,
        samples=[s for s in contender.seconds if s > 0],
        errors=sum(contender.errors.values()),
        note="; ".join(f"{kind} x{count}" for kind, count in contender.errors.items()),
        extra={
            "ticks": contender.ticks,
            "rates_per_round": contender.rates,
            "server_cpu_us_per_tick": contender.server_cpu_per_tick * 1e6,
            **extra,
        },
    )


def _versus(key: str, durable: Contender, memory: Contender) -> Result:
    """The durable rate as % of the memory rate, the median of the rounds (rounds where either failed left out)."""
    percents = [ratio * 100 for ratio in durable.ratios(memory)]
    errors = sum(durable.errors.values()) + sum(memory.errors.values())
    cpu = durable.server_cpu_per_tick - memory.server_cpu_per_tick
    value = statistics.median(percents) if percents else 0.0
    return Result(
        key=key,
        value=value,
        errors=errors or (0 if percents else 1),
        extra={
            "percent_per_round": percents,
            "overhead_pct": 100 - value,
            "server_cpu_us_per_tick_added": None if math.isnan(cpu) else cpu * 1e6,
        },
    )


def lockstep_results(runs: Lockstep, every: int = TRADE_EVERY) -> list[Result]:
    """Each workload's rate on both stores, and the durable one's as % of the other's."""
    c = runs.contenders
    results: list[Result] = []
    for workload in WORKLOADS:
        extra: dict[str, object] = {"batch_every_ticks": every} if workload == "trading" else {}
        memory = _rate(f"durable.{workload}.memory", c[(workload, "memory")], **extra)
        durable = _rate(f"durable.{workload}.sqlite", c[(workload, "sqlite")], **extra)
        if workload == "trading":
            memory.extra["batches"] = runs.batches.get("memory", 0)
            durable.extra["batches"] = runs.batches.get("sqlite", 0)
        results += [
            memory,
            durable,
            _versus(f"durable.{workload}.vs_memory", c[(workload, "sqlite")], c[(workload, "memory")]),
        ]
    return results


# -- create_session round trips on both servers -----------------------------------------------


def create_results(clients: int, rounds: list[list[wire.LoadResult]]) -> list[Result]:
    """Each store's round trips — one client: latency (ms), more: rate (/s) — and SQLite's rate as % of memory's.

    Latencies are pooled over the rounds; rates are the median of the rounds; the
    percentage is the median of the per-round ones (for one client, from the rounds'
    median latencies).
    """
    results: list[Result] = []
    for index, store in enumerate(STORES):
        loads = [pair[index] for pair in rounds]
        latencies = [t for load in loads for t in load.latencies]
        errors = sum(load.error_count for load in loads)
        extra: dict[str, object] = {
            "clients": clients,
            "round_trips": len(latencies),
            "rates_per_round": [load.throughput for load in loads],
            "server_cpu_share": [load.server_cpu for load in loads],
            "error_kinds": {kind: n for load in loads for kind, n in load.errors.items()},
        }
        key = f"durable.create.{store}.{clients}"
        if not latencies:
            results.append(Result(key=key, value=math.inf, errors=errors or 1, extra=extra))
        elif clients == 1:
            results.append(Result.from_timings(key, latencies, scale=1e3, errors=errors, extra=extra))
        else:
            rate = statistics.median(load.throughput for load in loads)
            results.append(Result(key=key, value=rate, errors=errors, extra=extra))
    if clients == 1:  # the round-trip rate is the inverse of the latency
        percents = [_median_ratio(memory.latencies, durable.latencies) * 100 for memory, durable in rounds]
    else:
        percents = [d.throughput / m.throughput * 100 if m.throughput else math.nan for m, d in rounds]
    percents = [p for p in percents if not math.isnan(p)]
    results.append(
        Result(
            key=f"durable.create.vs_memory.{clients}",
            value=statistics.median(percents) if percents else 0.0,
            errors=sum(r.errors for r in results) or (0 if percents else 1),
            extra={"percent_per_round": percents},
        )
    )
    return results


def _median_ratio(mine: Sequence[float], baseline: Sequence[float]) -> float:
    return statistics.median(mine) / statistics.median(baseline) if mine and baseline else math.nan


# -- the step's over-the-wire half ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WireSizes:
    """How much of the over-the-wire half to measure.

    Attributes:
        ticks: Ticks of each lockstep run.
        rounds: Rounds of the lockstep runs.
        create_rounds: Rounds of the create_session loads.
        create_clients: Client counts of the create_session loads (1 gives latencies, more a rate).
        warmup: Seconds of each create_session turn not counted.
        window: Seconds of each create_session turn counted.
        time_limit: Hard limit, in seconds, of each load.
    """

    ticks: int
    rounds: int
    create_rounds: int
    create_clients: tuple[int, ...]
    warmup: float
    window: float
    time_limit: float


def measure(sizes: WireSizes, folder: Path, progress: Callable[[str], None]) -> list[Result]:
    """Both servers started (the SQLite one on a new file in `folder`), the lockstep and create_session figures."""
    limit = sizes.time_limit
    with (
        server_process("simutrador", max_seconds=limit * 6, store=MEMORY) as memory,
        server_process("simutrador", max_seconds=limit * 6, store=str(folder / "server.db")) as durable,
        lazy_garbage_collector(),
    ):
        servers = {"memory": memory, "sqlite": durable}
        progress(
            f"lockstep, {sizes.ticks:,} ticks, {sizes.rounds} rounds: do-nothing and a batch every {TRADE_EVERY} "
            "ticks, on a memory and a SQLite server in turn"
        )
        runs = trio.run(lambda: lockstep(servers, sizes.ticks, rounds=sizes.rounds, time_limit=limit))
        results = lockstep_results(runs)
        for clients in sizes.create_clients:
            progress(
                f"create_session, {clients:,} client(s) each, memory and SQLite in turn, {sizes.create_rounds} rounds"
            )
            load = partial(
                wire.alternating_round_trips,
                [memory, durable],
                clients,
                rounds=sizes.create_rounds,
                warmup=sizes.warmup,
                window=sizes.window,
                time_limit=limit,
            )
            loads = trio.run(load)
            results += create_results(clients, loads)
    return results
