"""Where a sweep's runs execute: serially, in local processes, or on Ray.

Each executor takes the shared `SweepSpec` once per worker and the runs as
``(index, parameters)``, and yields rows as runs finish (not in grid order). At most
a few runs per worker are in flight, so a grid of a million runs never sits in memory
as futures.

* ``serial``: in the calling process, one after the other (the reference).
* ``processes``: a local process pool (`concurrent.futures`); each worker process
  keeps its engine, so data is loaded once per worker.
* ``ray``: one Ray actor per worker, each holding its engine; a local Ray instance
  when no address is given, or an existing cluster (``ray://host:10001`` or
  ``host:6379``). Needs the ``ray`` extra.
"""

from __future__ import annotations

import importlib
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Final

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sweeps.runs import SweepRow, SweepSpec, run_one

__all__ = ["EXECUTORS", "run_processes", "run_ray", "run_serial"]

Job = tuple[int, Mapping[str, Any]]
_IN_FLIGHT: Final = 2  # runs queued per worker

_SPEC: list[SweepSpec] = []  # a pool worker's spec, set once by its initializer


def run_serial(spec: SweepSpec, jobs: Iterable[Job], workers: int, address: str | None) -> Iterator[SweepRow]:
    """Every run in this process, in grid order."""
    del workers, address
    for index, parameters in jobs:
        yield run_one(spec, index, parameters)


def _init_worker(spec: SweepSpec) -> None:
    _SPEC[:] = [spec]


def _run_in_worker(index: int, parameters: Mapping[str, Any]) -> SweepRow:
    return run_one(_SPEC[0], index, parameters)


def _bounded(submit: Callable[[Job], Future[SweepRow]], jobs: Iterable[Job], limit: int) -> Iterator[SweepRow]:
    pending: set[Future[SweepRow]] = set()
    for job in jobs:
        pending.add(submit(job))
        if len(pending) >= limit:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from (future.result() for future in done)


def run_processes(spec: SweepSpec, jobs: Iterable[Job], workers: int, address: str | None) -> Iterator[SweepRow]:
    """Runs in a local process pool of `workers` processes (forked on Linux, spawned elsewhere)."""
    del address
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(spec,)) as pool:
        yield from _bounded(lambda job: pool.submit(_run_in_worker, *job), jobs, workers * _IN_FLIGHT)


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            "the ray executor needs Ray: pip install 'simutrador[ray]'",
            {"fields": ["executor"]},
        ) from None


class _Worker:
    """A Ray actor's body: one engine for its life, runs on demand."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec

    def run(self, index: int, parameters: Mapping[str, Any]) -> SweepRow:
        return run_one(self.spec, index, parameters)


def run_ray(spec: SweepSpec, jobs: Iterable[Job], workers: int, address: str | None) -> Iterator[SweepRow]:
    """Runs on `workers` Ray actors, on a cluster at `address` or a local instance started for the sweep."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers, **options)
    try:
        actor = ray.remote(num_cpus=1)(_Worker) if not address else ray.remote(_Worker)
        shared = ray.put(spec)
        actors = [actor.remote(shared) for _ in range(workers)]
        pending: dict[Any, int] = {}
        free = list(range(workers)) * _IN_FLIGHT
        iterator = iter(jobs)
        exhausted = False
        while True:
            while free and not exhausted:
                job = next(iterator, None)
                if job is None:
                    exhausted = True
                    break
                slot = free.pop()
                pending[actors[slot].run.remote(*job)] = slot
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                free.append(pending.pop(ref))
                yield ray.get(ref)
    finally:
        if started:
            ray.shutdown()


EXECUTORS: Final[dict[str, Callable[[SweepSpec, Iterable[Job], int, str | None], Iterator[SweepRow]]]] = {
    "serial": run_serial,
    "processes": run_processes,
    "ray": run_ray,
}
"""Executor name → how it runs a sweep."""
