"""Sweeps: a parameter grid run as many backtests, on one machine or a Ray cluster (DESIGN §8).

`sweep` expands the grid, runs each combination as its own session (serially, in
local processes, or on Ray), streams the rows to a table as runs finish, and returns
them in grid order. Results are identical across executors: each run is a
deterministic simulation, so its digest is the same wherever it ran. Memory stays
flat with the number of runs: rows keep metrics and digests, not series (unless
``keep_results=True``).

This package is imported on first use of ``simutrador.sweep``; ``import simutrador``
does not load it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from simutrador.data.catalog import Catalog
from simutrador.data.timeframes import DAILY
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.simulation.metrics import Metrics
from simutrador.sweeps.examples import HoldFor, SmaCross
from simutrador.sweeps.executors import EXECUTORS
from simutrador.sweeps.grid import MAX_RUNS, expand_grid, parameters_key, parse_grid_spec
from simutrador.sweeps.runs import FactoryRef, SweepRow, SweepSpec
from simutrador.sweeps.table import SweepResult, SweepWriter, columns_for, finished_keys, read_rows

__all__ = [
    "MAX_RUNS",
    "FactoryRef",
    "HoldFor",
    "SmaCross",
    "SweepResult",
    "SweepRow",
    "expand_grid",
    "parse_grid_spec",
    "sweep",
]

METRIC_NAMES = tuple(a.name for a in attrs.fields(Metrics))
"""The metric columns of a sweep's table."""


def sweep(
    strategy_factory: Callable[..., object] | FactoryRef,
    grid: Mapping[str, Iterable[Any]],
    *,
    symbols: Iterable[str] | str,
    start: object,
    end: object,
    initial_capital: object,
    timeframe: str = DAILY,
    executor: str = "processes",
    max_workers: int | None = None,
    address: str | None = None,
    progress: Callable[[int, int], object] | None = None,
    out: str | os.PathLike[str] | None = None,
    catalog: Catalog | None = None,
    keep_results: bool = False,
    **settings: Any,
) -> SweepResult:
    """Backtest `strategy_factory(**parameters)` for every combination in `grid`.

    Args:
        strategy_factory: Called with one run's parameters as keywords; returns its
            strategy. For the process and Ray executors it must be importable (a
            module-level function or class), or a `FactoryRef` to a file.
        grid: Parameter name → the values to try (``{"fast": range(5, 25, 5), "slow": [30, 50]}``).
        symbols: The instruments of every run.
        start: First day of every run.
        end: Last day of every run.
        initial_capital: Starting cash of every run.
        timeframe: Bar size of every run.
        executor: ``"processes"`` (default), ``"serial"`` or ``"ray"``.
        max_workers: Workers (default: the CPUs; 1 for serial).
        address: A Ray cluster's address (``ray`` only; a local instance when None).
        progress: Called with (runs done, runs total) as runs finish.
        out: A ``.csv``, ``.jsonl`` or ``.parquet`` table written as runs finish; if it
            already holds runs of this grid, they are not run again.
        catalog: The market data (the sample catalog by default); it must pickle for
            the process and Ray executors.
        keep_results: Keep every run's full result (series included) in its row.
        **settings: Any other session field (``commission_per_share``, ``slippage_bps``...).

    Returns:
        The rows in grid order: parameters, metrics, final equity, digest, error.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` for a bad grid, executor or output
            (before any run). A run that fails is recorded in its row's ``error``;
            the sweep goes on.

    Example:
        >>> from simutrador.sweeps.examples import HoldFor
        >>> table = sweep(HoldFor, {"days": [5, 10]}, symbols="SPY", start="2024-01-02",
        ...               end="2024-03-28", initial_capital=10_000, executor="serial")
        >>> [row.parameters["days"] for row in table], all(row.digest for row in table)
        ([5, 10], True)
    """
    if executor not in EXECUTORS:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}",
            {"fields": ["executor"]},
        )
    runs = list(enumerate(expand_grid(grid)))
    workers = 1 if executor == "serial" else max(1, max_workers or os.cpu_count() or 1)
    session = {
        "symbols": symbols,
        "start_date": start,
        "end_date": end,
        "initial_capital": initial_capital,
        "timeframe": timeframe,
        **settings,
    }
    spec = SweepSpec(factory=strategy_factory, session=session, catalog=catalog, keep_results=keep_results)
    path = Path(out) if out is not None else None
    earlier: dict[int, SweepRow] = {}
    if path is not None:
        for row in read_rows(path, METRIC_NAMES):
            earlier[row.index] = row  # a later line (a retried run) wins
    done_keys = finished_keys(earlier.values())
    todo = [(i, p) for i, p in runs if parameters_key(p) not in done_keys]
    rows: dict[int, SweepRow] = {i: r for i, r in earlier.items() if not r.error}
    writer = SweepWriter(path, columns_for(runs[0][1], METRIC_NAMES)) if path is not None else None
    total = len(runs)
    try:
        if progress is not None:
            progress(len(rows), total)
        for row in EXECUTORS[executor](spec, todo, min(workers, max(1, len(todo))), address):
            rows[row.index] = row
            if writer is not None:
                writer.write(row)
            if progress is not None:
                progress(len(rows), total)
    finally:
        if writer is not None:
            writer.close(sorted(rows.values(), key=lambda r: r.index) if len(rows) == total else None)
    return SweepResult(tuple(sorted(rows.values(), key=lambda r: r.index)))
