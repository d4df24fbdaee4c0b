"""``simutrador sweep STRATEGY --grid name=…``: a parameter grid backtested, locally or on Ray.

The strategy file defines ``make_strategy(**parameters)`` (or a ``Strategy`` class);
its ``SESSION`` dict, ``--config`` and flags give the session fields, as for
``simutrador run``. A progress bar with ETA goes to stderr; the best runs (or, with
``--json``, every row as one JSON document) to stdout; ``--out`` streams every row to
a table as runs finish, and rerunning with the same ``--out`` skips finished runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from simutrador import DirectoryCatalog, SimutradorError
from simutrador.sweeps import FactoryRef, SweepResult, parse_grid_spec, sweep
from simutrador_cli.exitcodes import EXIT_USAGE, exit_code_for
from simutrador_cli.fields import load_request_file, merge_fields, session_options
from simutrador_cli.render import format_error, format_table
from simutrador_cli.run import load_module, session_defaults

__all__ = ["sweep_command"]

_FACTORIES = ("make_strategy", "Strategy")


def _factory(source: str) -> tuple[FactoryRef, dict[str, Any]]:
    module, path = load_module(source)
    name = next((n for n in _FACTORIES if callable(getattr(module, n, None))), None)
    if name is None:
        raise click.BadParameter(
            f"{path} defines no make_strategy(**parameters) function or Strategy class to build each run's strategy",
            param_hint="STRATEGY",
        )
    return FactoryRef(str(path), name), session_defaults(module)


def _grid(specs: tuple[str, ...]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, values = parse_grid_spec(spec)
        if name in grid:
            raise click.BadParameter(f"{name} is given twice", param_hint="--grid")
        grid[name] = values
    if not grid:
        raise click.BadParameter("give at least one --grid name=values", param_hint="--grid")
    return grid


def _number(value: object) -> str:
    return f"{value:,.3f}" if isinstance(value, float) else str(value)


def _table(result: SweepResult, metric: str, top: int) -> str:
    best = result.best(metric, top=top)
    names = list(result.rows[0].parameters) if result.rows else []
    columns = ("RANK", *(n.upper() for n in names), metric.upper(), "RETURN %", "MAX DD %", "TRADES", "DIGEST")
    rows = [
        (
            str(rank),
            *(str(row.parameters[n]) for n in names),
            _number(row.metrics.get(metric)),
            _number(row.metrics.get("total_return_pct")),
            _number(row.metrics.get("max_drawdown_pct")),
            str(row.metrics.get("total_trades")),
            (row.digest or "")[:12],
        )
        for rank, row in enumerate(best, 1)
    ]
    return format_table(columns, rows)


@click.command("sweep")
@click.argument("strategy_file", metavar="STRATEGY")
@click.option("--grid", "grid_specs", multiple=True, help="name=start:stop:step or name=v1,v2 (repeat per parameter).")
@session_options
@click.option("--executor", type=click.Choice(["processes", "serial", "ray"]), default="processes", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Workers [default: the CPUs].")
@click.option("--ray", "ray_address", default=None, help="A Ray cluster's address (implies --executor ray).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Stream rows to .csv, .jsonl or .parquet.")
@click.option("--metric", default="sharpe_ratio", show_default=True, help="Rank the runs by this metric.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs to show.")
@click.option("--json", "as_json", is_flag=True, help="Print every row as one JSON document on stdout.")
def sweep_command(  # noqa: PLR0917 - one parameter per click option
    strategy_file: str,
    grid_specs: tuple[str, ...],
    symbols: str | None,
    start: str | None,
    end: str | None,
    capital: str | None,
    timeframe: str | None,
    config: Path | None,
    data_dir: Path | None,
    executor: str,
    workers: int | None,
    ray_address: str | None,
    out: Path | None,
    metric: str,
    top: int,
    as_json: bool,
) -> None:
    """Backtest STRATEGY for every combination of --grid values (e.g. sma_crossover --grid fast=5:20:5)."""
    try:
        grid = _grid(grid_specs)
    except SimutradorError as error:
        raise click.BadParameter(error.message, param_hint="--grid") from None
    reference, defaults = _factory(strategy_file)
    sources: list[tuple[str, Mapping[str, Any]]] = [("the strategy's SESSION", defaults)]
    if config is not None:
        sources.append((str(config), load_request_file(config)))
    flags = {"symbols": symbols, "start_date": start, "end_date": end, "initial_capital": capital}
    fields = merge_fields(sources, {**flags, "timeframe": timeframe})
    missing = [f for f in ("symbols", "start_date", "end_date", "initial_capital") if f not in fields]
    if missing:
        click.echo(f"error: missing {', '.join(missing)} (no SESSION default in the file)", err=True)
        sys.exit(EXIT_USAGE)
    session = {
        "symbols": fields.pop("symbols"),
        "start": fields.pop("start_date"),
        "end": fields.pop("end_date"),
        "initial_capital": fields.pop("initial_capital"),
    }
    if ray_address:
        executor = "ray"
    total = 1
    for values in grid.values():
        total *= len(values)
    try:
        with click.progressbar(length=total, label="sweeping", show_eta=True, file=sys.stderr) as bar:
            seen = [0]

            def progress(done: int, _total: int) -> None:
                bar.update(done - seen[0])
                seen[0] = done

            result = sweep(
                reference,
                grid,
                **session,
                executor=executor,
                max_workers=workers,
                address=ray_address,
                progress=progress,
                out=out,
                catalog=DirectoryCatalog(data_dir) if data_dir else None,
                **fields,
            )
    except SimutradorError as error:
        if as_json:
            click.echo(json.dumps({"error": error.to_dict()}))
        else:
            click.echo(f"error: {format_error(error)}", err=True)
        sys.exit(exit_code_for(error.code.error_type))
    if as_json:
        rows = [
            {
                "index": r.index,
                "parameters": dict(r.parameters),
                "metrics": dict(r.metrics),
                "final_equity": r.final_equity,
                "digest": r.digest,
                "error": r.error,
            }
            for r in result
        ]
        click.echo(json.dumps({"runs": len(result), "errors": len(result.errors), "rows": rows}, default=str))
        return
    click.echo(f"{len(result)} runs, {len(result.errors)} failed; the best {min(top, len(result))} by {metric}:")
    click.echo(_table(result, metric, top))
    for row in result.errors[:5]:
        click.echo(f"failed {dict(row.parameters)}: {row.error}", err=True)
    if out is not None:
        click.echo(f"every run: {out}")
