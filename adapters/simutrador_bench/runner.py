"""The suite: which workloads run, how long, in what order, and the figures they yield."""

from __future__ import annotations

import fnmatch
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import trio

from simutrador_bench import durability, inprocess, remote_simulation, simulation, sweeps, wire
from simutrador_bench.report import Report, Result, percentile
from simutrador_bench.serverproc import raise_open_files_limit

__all__ = ["FULL", "QUICK", "STEPS", "Profile", "Step", "run"]

Progress = Callable[[str], None]

LARGE_LOAD = 1000
"""Clients of the load compared with the bare echo server (DESIGN §9)."""


@attrs.frozen(kw_only=True)
class Profile:
    """How much of everything to measure.

    Attributes:
        name: ``quick`` or ``full`` (or a name of your own).
        timing_seconds: Time spent timing each in-process figure.
        memory_counts: Live-session counts for memory per session.
        rss_per_session: Also measure memory per session as RSS growth (a separate pass).
        cleanup_sessions: Live sessions for the cleanup figures.
        wire_warmup: Seconds of each round-trip load not counted.
        wire_window: Seconds of each round-trip load counted.
        rounds: Turns each of the echo and SimuTrador servers takes under the 1,000-client load.
        handshakes: Connection setups timed.
        connection_steps: Connections held at each step of the capacity climb.
        echo_connection_steps: The same for the bare echo server (the memory baseline).
        time_limit: Hard limit, in seconds, of each over-the-wire load; also the time
            after which a simulation step starts no further round.
        sim_minute_bars: 1-minute bars of the one-symbol simulations (the target is for 100,000).
        sim_rounds: Rounds of each simulation figure (each contender once per round, in turn).
        sim_daily_symbols: Symbols of the daily simulations (10 years each).
        sim_simulations: Concurrent simulations held for memory per simulation.
        sweep_runs: Runs of the sweep grids (the figures are for 100).
        remote_ticks: Ticks of each one-connection remote simulation (and echo round trips beside them).
        remote_rounds: Rounds of the one-connection remote figures (each contender once per round, in turn).
        remote_clients: Concurrent remote simulations (the figure is for 100).
        remote_concurrent_ticks: Ticks of each concurrent remote simulation (the concurrent loads
            take ``rounds`` turns with as many echo connections).
        durable: Sizes of the ``durability`` step (`simutrador_bench.durability.Sizes`).
    """

    name: str
    timing_seconds: float
    memory_counts: tuple[int, ...]
    rss_per_session: bool
    cleanup_sessions: int
    wire_warmup: float
    wire_window: float
    rounds: int
    handshakes: int
    connection_steps: tuple[int, ...]
    echo_connection_steps: tuple[int, ...]
    time_limit: float = 120.0
    sim_minute_bars: int = 100_000
    sim_rounds: int = 5
    sim_daily_symbols: int = 50
    sim_simulations: int = 1000
    sweep_runs: int = sweeps.GRID_RUNS
    remote_ticks: int = 4_000
    remote_rounds: int = 4
    remote_clients: int = 100
    remote_concurrent_ticks: int = 200
    durable: durability.Sizes = durability.FULL


QUICK = Profile(
    name="quick",
    timing_seconds=0.25,
    memory_counts=(1_000, 10_000),
    rss_per_session=False,
    cleanup_sessions=100_000,
    wire_warmup=0.3,
    wire_window=1.2,
    rounds=2,
    handshakes=300,
    connection_steps=(1000, 2500, 5000),
    echo_connection_steps=(1000, 2500),
    time_limit=60,
    sim_minute_bars=20_000,
    sim_rounds=3,
    sim_daily_symbols=50,
    sim_simulations=1000,
    remote_ticks=1_000,
    remote_rounds=2,
    remote_clients=100,
    remote_concurrent_ticks=30,
    durable=durability.QUICK,
)
"""Shorter windows, memory per session at 1,000 and 10,000 only, 20,000 1-minute bars: about a minute on 2 cores."""

FULL = Profile(
    name="full",
    timing_seconds=2.0,
    memory_counts=(1_000, 10_000, 100_000),
    rss_per_session=True,
    cleanup_sessions=100_000,
    wire_warmup=1.0,
    wire_window=5.0,
    rounds=3,
    handshakes=2000,
    connection_steps=(1000, 2000, 3000, 4000, 5000),
    echo_connection_steps=(1000, 2000, 3000, 4000, 5000),
    time_limit=180,
    sim_minute_bars=100_000,
    sim_rounds=5,
    sim_daily_symbols=50,
    sim_simulations=1000,
)
"""The reference run: longer windows and the capacity climb to 5,000 connections."""


@attrs.frozen
class Step:
    """One workload of the suite: a name to select it by, a title for the progress display."""

    name: str
    title: str
    measure: Callable[[Profile, Progress], list[Result]]


def _timed(key: str, call: Callable[[], object], profile: Profile) -> Result:
    return Result.from_timings(key, inprocess.time_calls(call, seconds=profile.timing_seconds), scale=1e6)


def _floor(profile: Profile, progress: Progress) -> list[Result]:
    return [_timed("inproc.floor", inprocess.floor_call(), profile)]


def _create(profile: Profile, progress: Progress) -> list[Result]:
    return [_timed(f"inproc.create.{n}", inprocess.create_call(n), profile) for n in (1, 5, 50)]


def _validation(profile: Profile, progress: Progress) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="simutrador-bench-") as folder:
        progress("writing 500 CSV files for the 500-symbol catalog")
        catalog = inprocess.write_folder_catalog(Path(folder))
        for warm in (True, False):
            for n in (1, 50, 500):
                call = inprocess.validation_call(n, warm=warm, folder=catalog)
                results.append(_timed(f"inproc.validation.{'warm' if warm else 'cold'}.{n}", call, profile))
    return results


def _cycle(profile: Profile, progress: Progress) -> list[Result]:
    return [_timed("inproc.cycle", inprocess.cycle_call(), profile)]


def _cleanup(profile: Profile, progress: Progress) -> list[Result]:
    n = profile.cleanup_sessions
    idle = _timed("inproc.cleanup.idle", inprocess.cleanup_idle_call(n), profile)
    idle.extra["live_sessions"] = n
    progress(f"expiring {n:,} sessions at once")
    seconds = inprocess.expire_all(n)
    expire = Result(
        key="inproc.cleanup.expire",
        value=seconds * 1e3,
        samples=[seconds],
        extra={"live_sessions": n, "per_session_us": seconds * 1e6 / n},
    )
    live = Result(key="inproc.live_sessions", value=n, extra={"measured_in": "inproc.cleanup.expire"})
    return [idle, expire, live]


def _memory(profile: Profile, progress: Progress) -> list[Result]:
    results: list[Result] = []
    for n in profile.memory_counts:
        progress(f"{n:,} live sessions")
        figures = inprocess.memory_per_session(n, rss=profile.rss_per_session)
        extra = {"rss_bytes": figures.rss_bytes} if profile.rss_per_session else {}
        results.append(Result(key=f"inproc.memory.{n}", value=figures.traced_bytes, extra=extra))
    return results


def _load_extra(load: wire.LoadResult) -> dict[str, object]:
    return {
        "clients": load.clients,
        "connected": load.connected,
        "round_trips": len(load.latencies),
        "throughput_per_s": load.throughput,
        "server_cpu_share": load.server_cpu,
        "error_kinds": dict(load.errors),
    }


def _latency_result(key: str, load: wire.LoadResult) -> Result:
    if not load.latencies:
        return Result(key=key, value=float("inf"), errors=load.error_count or 1, extra=_load_extra(load))
    return Result.from_timings(key, load.latencies, scale=1e3, errors=load.error_count, extra=_load_extra(load))


def _wire_loads(profile: Profile, progress: Progress) -> list[Result]:
    raise_open_files_limit()
    results: list[Result] = []
    limit = profile.time_limit
    with (
        wire.server_process("echo", max_seconds=limit * 6) as echo,
        wire.server_process("simutrador", max_seconds=limit * 6) as server,
        wire.lazy_garbage_collector(),
    ):
        progress("1 client: echo, then SimuTrador")
        pair = trio.run(
            lambda: wire.alternating_round_trips(
                [echo, server], 1, rounds=1, warmup=profile.wire_warmup, window=profile.wire_window, time_limit=limit
            )
        )[0]
        results += [_latency_result("wire.echo.1", pair[0]), _latency_result("wire.create.1", pair[1])]
        progress("100 clients: SimuTrador")
        load = trio.run(
            lambda: wire.round_trips(
                server, 100, warmup=profile.wire_warmup, window=profile.wire_window, time_limit=limit
            )
        )
        results.append(_latency_result("wire.create.100", load))
        progress(f"{LARGE_LOAD:,} clients each: echo and SimuTrador in turn, {profile.rounds} rounds")
        rounds = trio.run(
            lambda: wire.alternating_round_trips(
                [echo, server],
                LARGE_LOAD,
                rounds=profile.rounds,
                warmup=profile.wire_warmup,
                window=profile.wire_window,
                time_limit=limit,
            )
        )
    for index, kind in enumerate(("echo", "create")):
        loads = [pair[index] for pair in rounds]
        rates = [load.throughput for load in loads]
        latencies = [t for load in loads for t in load.latencies]
        extra = {
            "clients": LARGE_LOAD,
            "rounds_per_s": rates,
            "round_trips": len(latencies),
            "server_cpu_share": [load.server_cpu for load in loads],
            "latency_ms_p50": _ms(latencies, 50),
            "latency_ms_p99": _ms(latencies, 99),
            "error_kinds": dict(sum((load.errors for load in loads), Counter[str]())),
        }
        errors = sum(load.error_count for load in loads)
        results.append(
            Result(key=f"wire.{kind}.{LARGE_LOAD}", value=statistics.median(rates), errors=errors, extra=extra)
        )
    ratios = [c.throughput / e.throughput * 100 if e.throughput else 0.0 for e, c in rounds]
    results.append(
        Result(
            key=f"wire.ratio.{LARGE_LOAD}",
            value=statistics.median(ratios),
            errors=results[-1].errors + results[-2].errors,
            extra={"ratio_per_round": ratios, "rounds": profile.rounds},
        )
    )
    return results


def _ms(latencies: Sequence[float], q: float) -> float | None:
    return percentile(latencies, q) * 1e3 if latencies else None


def _handshake(profile: Profile, progress: Progress) -> list[Result]:
    raise_open_files_limit()
    with wire.server_process("simutrador", max_seconds=profile.time_limit * 2) as server:
        progress(f"{profile.handshakes:,} connection setups, 10 at a time")
        outcome = trio.run(
            lambda: wire.handshakes(server, profile.handshakes, concurrency=10, time_limit=profile.time_limit)
        )
    return [
        Result(
            key="wire.handshake",
            value=outcome.rate,
            errors=sum(outcome.errors.values()),
            samples=outcome.latencies,
            extra={"setups": len(outcome.latencies), "setup_ms_p50": _ms(outcome.latencies, 50)},
        )
    ]


def _climb(kind: wire.Kind, profile: Profile, progress: Progress) -> wire.HoldResult:
    steps = profile.connection_steps if kind == "simutrador" else profile.echo_connection_steps
    progress(f"{kind} server, climbing to {max(steps):,} connections")

    def announce(count: int) -> None:
        progress(f"{kind} server holds {count:,} connections")

    with wire.server_process(kind, max_seconds=profile.time_limit * 2) as server:
        return trio.run(lambda: wire.hold_connections(server, steps, time_limit=profile.time_limit, on_step=announce))


def _connections(profile: Profile, progress: Progress) -> list[Result]:
    raise_open_files_limit()
    results: list[Result] = []
    for kind in ("simutrador", "echo"):
        hold = _climb(kind, profile, progress)
        kib = hold.bytes_per_connection() / 1024
        extra = {
            "steps": [{"connections": n, "rss_bytes": rss} for n, rss in hold.steps],
            "baseline": hold.baseline_rss,
        }
        if kind == "simutrador":
            results.append(
                Result(
                    key="wire.connections",
                    value=hold.held,
                    errors=sum(hold.errors.values()),
                    note=hold.stopped,
                    extra={**extra, "error_kinds": dict(hold.errors)},
                )
            )
            results.append(Result(key="wire.memory.connection", value=kib, extra={"at_connections": hold.held}))
        else:
            results.append(Result(key="wire.memory.echo", value=kib, extra={"at_connections": hold.held}))
    return results


def _rate(key: str, timed: simulation.Timed, **extra: object) -> Result:
    """A rate figure: bars per second at the median of the rounds."""
    run = timed.run
    return Result(
        key=key,
        value=timed.rate,
        samples=list(timed.seconds),
        extra={"bars": run.bars, "orders": run.orders, "fills": run.fills, "rates_per_round": timed.rates, **extra},
    )


def _ratio(key: str, ours: simulation.Timed, theirs: simulation.Timed) -> Result:
    """Our rate ÷ theirs: the median of the per-round ratios (rounds taken in turn, so drift hits both)."""
    ratios = [o / t for o, t in zip(ours.rates, theirs.rates, strict=False)]
    return Result(key=key, value=statistics.median(ratios), extra={"ratio_per_round": ratios})


def _same_work(timed: Sequence[simulation.Timed]) -> str:
    """A note when contenders placed different numbers of orders (they should take the same signals)."""
    orders = {t.run.orders for t in timed}
    return "" if len(orders) == 1 else f"orders differ between contenders: {sorted(orders)}"


def _simulation_minute(profile: Profile, progress: Progress) -> list[Result]:
    progress(f"generating {profile.sim_minute_bars:,} 1-minute bars of {simulation.MINUTE_SYMBOL}")
    data = simulation.MinuteBars(profile.sim_minute_bars)
    short = "" if len(data) >= 100_000 else f"{len(data):,} bars (the target is for 100,000)"
    results: list[Result] = []
    peers = simulation.backtesting_available()
    for kind in ("sma", "nothing"):
        if kind == "sma":
            calls = [
                simulation.engine_call(data, lambda: simulation.SmaCrossover(data.symbol)),
                simulation.plain_sma_call(data),
            ]
        else:
            calls = [simulation.engine_call(data, lambda: simulation.do_nothing), simulation.plain_nothing_call(data)]
        if peers:
            calls.append(simulation.backtesting_call(data, kind))
        progress(f"{kind}: SimuTrador, the plain loop{', backtesting.py' if peers else ''} in turn")
        timed = simulation.alternate(calls, rounds=profile.sim_rounds, time_limit=profile.time_limit)
        ours = _rate(f"sim.{kind}", timed[0])
        ours.note = "; ".join(filter(None, (short, _same_work(timed))))
        results += [ours, _rate(f"sim.{kind}.plain", timed[1]), _ratio(f"sim.{kind}.vs_plain", timed[0], timed[1])]
        if peers:
            results += [
                _rate(f"sim.{kind}.backtesting", timed[2]),
                _ratio(f"sim.{kind}.vs_backtesting", timed[0], timed[2]),
            ]
        if kind == "sma":
            results += _backtrader(data, timed[0], progress)
    return results


def _backtrader(data: simulation.MinuteBars, ours: simulation.Timed, progress: Progress) -> list[Result]:
    """The SMA rate of backtrader, one run (it is slow), and our median rate ÷ it; nothing when not installed."""
    if not simulation.backtrader_available():
        progress("backtrader is not installed: no backtrader baseline")
        return []
    return _backtrader_once(data, ours, progress)


def _backtrader_once(  # pragma: no cover - backtrader is not a dependency
    data: simulation.MinuteBars, ours: simulation.Timed, progress: Progress
) -> list[Result]:
    progress("sma: backtrader, one run")
    (theirs,) = simulation.alternate([simulation.backtrader_call(data, "sma")], rounds=1, time_limit=0)
    ratio = Result(key="sim.sma.vs_backtrader", value=ours.rate / theirs.rate)
    ratio.note = _same_work([ours, theirs])
    return [_rate("sim.sma.backtrader", theirs), ratio]


def _simulation_daily(profile: Profile, progress: Progress) -> list[Result]:
    count = profile.sim_daily_symbols
    with tempfile.TemporaryDirectory(prefix="simutrador-bench-") as folder:
        progress(f"writing {count} CSV files of daily bars, 2016-2025")
        universe = simulation.DailyUniverse(Path(folder), count)
        calls = [
            simulation.daily_call(universe, lambda: simulation.do_nothing),
            simulation.daily_call(universe, universe.buy_and_hold),
            simulation.plain_hold_call(universe),
        ]
        progress(f"{universe.bars:,} bars: do-nothing, buy-and-hold, the plain loop in turn")
        nothing, hold, plain = simulation.alternate(calls, rounds=profile.sim_rounds, time_limit=profile.time_limit)
    context = {"symbols": count}
    held = _rate("sim.daily.hold", hold, **context)
    held.note = _same_work([hold, plain])
    return [
        _rate("sim.daily.nothing", nothing, **context),
        held,
        _rate("sim.daily.plain", plain, **context),
        _ratio("sim.daily.vs_plain", hold, plain),
    ]


def _simulation_concurrent(profile: Profile, progress: Progress) -> list[Result]:
    count = profile.sim_simulations
    progress(f"{count:,} simulations of AAPL's 2024 daily bars, each stepped halfway, in turn")
    figures = simulation.concurrent_memory(count)
    context = {"simulations": count, "ticks_stepped": figures.ticks_stepped, "feeds_built": figures.feeds_built}
    return [
        Result(key="sim.concurrent.memory", value=figures.bytes_per_simulation, extra=context),
        Result(key="sim.concurrent.session", value=figures.session_bytes, extra={"sessions": count}),
        Result(key="sim.concurrent.data", value=figures.data_bytes),
        Result(key="sim.concurrent.vs_data", value=figures.data_bytes / figures.bytes_per_simulation),
    ]


def _remote_simulation(profile: Profile, progress: Progress) -> list[Result]:
    raise_open_files_limit()
    return remote_simulation.measure(
        ticks=profile.remote_ticks,
        rounds=profile.remote_rounds,
        clients=profile.remote_clients,
        concurrent_ticks=profile.remote_concurrent_ticks,
        concurrent_rounds=profile.rounds,
        warmup=profile.wire_warmup,
        time_limit=profile.time_limit,
        progress=progress,
    )


def _durability(profile: Profile, progress: Progress) -> list[Result]:
    raise_open_files_limit()
    return durability.measure(profile.durable, progress)


def _sweeps(profile: Profile, progress: Progress) -> list[Result]:
    executors = ["processes", "ray"] if sweeps.ray_available() and profile.name != "quick" else ["processes"]
    progress("serial baseline")
    one_run = min(sweeps.time_sweep("serial", 1, runs=1).seconds for _ in range(3))  # the first also loads the data
    serial = sweeps.time_sweep("serial", 1, runs=profile.sweep_runs)
    results = [Result(key="sweep.serial", value=serial.rate, samples=[serial.seconds], extra={"runs": serial.runs})]
    for executor in executors:
        for workers in (1, 2):
            progress(f"{executor}, {workers} worker(s)")
            timing = sweeps.time_sweep(executor, workers, runs=profile.sweep_runs)
            same = timing.digests == serial.digests
            results.append(
                Result(
                    key=f"sweep.{executor}.{workers}",
                    value=timing.rate,
                    samples=[timing.seconds],
                    errors=0 if same else 1,
                    note="" if same else f"{executor} digests differ from the serial run's",
                    extra={"vs_serial": timing.rate / serial.rate, "same_digests": same},
                )
            )
        start = sweeps.time_sweep(executor, 2, runs=1).seconds - one_run
        results.append(Result(key=f"sweep.start.{executor}", value=max(start, 0.0), extra={"one_run_serial": one_run}))
    return results


STEPS: tuple[Step, ...] = (
    Step("inproc.floor", "floor: frozen attrs object in a dict", _floor),
    Step("inproc.create", "create_session in-process, 1/5/50 symbols", _create),
    Step("inproc.validation", "validation warm and cold, 1/50/500 symbols", _validation),
    Step("inproc.cycle", "get + list + create + delete", _cycle),
    Step("inproc.cleanup", "cleanup_expired_sessions with 100,000 live", _cleanup),
    Step("inproc.memory", "memory per live session", _memory),
    Step("wire.loads", "round trips over WebSocket: echo baseline, then create_session", _wire_loads),
    Step("wire.handshake", "connection setup rate", _handshake),
    Step("wire.connections", "concurrent connections and memory per connection", _connections),
    Step(
        "simulation.minute",
        "simulation, 1 symbol, 1-minute bars: SMA crossover and do-nothing, with baselines",
        _simulation_minute,
    ),
    Step("simulation.daily", "simulation, 50 symbols x 10 years daily: do-nothing and buy-and-hold", _simulation_daily),
    Step("simulation.concurrent", "1,000 concurrent simulations: memory per simulation", _simulation_concurrent),
    Step(
        "remote.simulation",
        "simulations over WebSocket: lockstep vs a tick-sized echo, bars, window, SDK, 100 at once",
        _remote_simulation,
    ),
    Step(
        "durability",
        "durable store: lockstep overhead, journal commit latency, recovery of a 1M-bar session, "
        "create_session, store size",
        _durability,
    ),
    Step("sweep", "sweeps: runs/s of a 100-run grid by executor and workers, start costs", _sweeps),
)
"""The suite, in order."""


def select_steps(only: Sequence[str]) -> list[Step]:
    """Steps whose name matches one of `only` (glob patterns, or a prefix such as ``wire``); all when empty."""
    if not only:
        return list(STEPS)
    chosen = [
        step
        for step in STEPS
        if any(fnmatch.fnmatchcase(step.name, p) or step.name.startswith(p.rstrip(".") + ".") for p in only)
    ]
    if not chosen:
        names = ", ".join(step.name for step in STEPS)
        raise ValueError(f"no benchmark step matches {', '.join(only)}; the steps are: {names}")
    return chosen


def run(profile: Profile, *, only: Sequence[str] = (), progress: Progress | None = None) -> Report:
    """Run the selected steps of the suite under `profile`; `progress` hears about each step."""
    say = progress or (lambda _line: None)
    steps = select_steps(only)
    report = Report(profile=profile.name)
    started = time.perf_counter()
    for index, step in enumerate(steps, 1):
        say(f"[{index}/{len(steps)}] {step.title}")
        step_started = time.perf_counter()
        report.results += step.measure(profile, lambda line: say(f"        {line}"))
        say(f"        done in {time.perf_counter() - step_started:.1f} s")
    report.seconds = time.perf_counter() - started
    return report
