"""``simutrador run STRATEGY``: a backtest of a strategy file on the embedded engine (or a server).

A strategy file defines ``on_tick(ctx, tick)`` (plus optional hooks) or a ``strategy``
object; its ``SESSION`` dict gives default session fields. Session fields come from,
in order of precedence: flags, ``--config`` (TOML or JSON), the file's ``SESSION``.
Progress goes to stderr; a results table (or, with ``--json``, exactly one JSON
document) to stdout. With ``--url`` the same session is created on a server and the
strategy runs there (`simutrador_cli.remote_run`); the output is the same.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import click

from simutrador import Catalog, DirectoryCatalog, Engine, SimulationResult, SimutradorError
from simutrador.codec import result_to_wire
from simutrador_cli.exitcodes import EXIT_STRATEGY, EXIT_USAGE, exit_code_for
from simutrador_cli.fields import load_request_file, merge_fields, session_options
from simutrador_cli.render import format_error, format_table
from simutrador_cli.report import write_run_report

__all__ = [
    "format_result",
    "load_module",
    "load_strategy",
    "progress_bar",
    "run",
    "session_defaults",
    "show_result",
    "sparkline",
    "strategy_failed",
]

EXAMPLES = Path(__file__).resolve().parent / "examples"
_BLOCKS = "▁▂▃▄▅▆▇█"


def load_module(source: str) -> tuple[ModuleType, Path]:
    """Import the strategy file `source` (or a built-in example's name); returns the module and its path.

    Raises:
        click.BadParameter: the file is missing or does not import.
    """
    path = Path(source)
    if not path.exists() and (EXAMPLES / f"{source}.py").exists():
        path = EXAMPLES / f"{source}.py"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")))
        raise click.BadParameter(f"no file {source!r} (built-in examples: {known})", param_hint="STRATEGY")
    spec = importlib.util.spec_from_file_location(f"simutrador_strategy_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise click.BadParameter(f"{path} does not import: {type(exc).__name__}: {exc}", param_hint="STRATEGY") from exc
    return module, path.resolve()


def session_defaults(module: ModuleType) -> dict[str, Any]:
    """The strategy file's ``SESSION`` dict (empty when it has none)."""
    defaults = getattr(module, "SESSION", {})
    return dict(defaults) if isinstance(defaults, Mapping) else {}


def load_strategy(source: str) -> tuple[object, dict[str, Any]]:
    """The strategy in file `source` (or a built-in example's name) and its ``SESSION`` defaults.

    Raises:
        click.BadParameter: the file is missing, does not import, or defines no strategy.
    """
    module, path = load_module(source)
    strategy: object = getattr(module, "strategy", None) or (module if hasattr(module, "on_tick") else None)
    if strategy is None:
        raise click.BadParameter(
            f"{path} defines neither on_tick(ctx, tick) nor a `strategy` object", param_hint="STRATEGY"
        )
    return strategy, session_defaults(module)


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """A one-line chart of `values` in block characters, `width` wide (downsampled by averaging buckets)."""
    if not values:
        return ""
    size = max(1, -(-len(values) // width))
    points = [sum(values[i : i + size]) / len(values[i : i + size]) for i in range(0, len(values), size)]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    return "".join(_BLOCKS[min(len(_BLOCKS) - 1, int((p - low) / span * len(_BLOCKS)))] for p in points)


def _number(value: object, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}{suffix}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value}{suffix}"


def _duration(value: timedelta) -> str:
    days = value.days
    return f"{days:,} days" if days >= 2 else str(value)


def _percentages(*values: float | None) -> str:
    return " / ".join(_number(v, " %") for v in values)


def format_result(result: SimulationResult) -> str:
    """The key figures of a run as a two-column table."""
    m = result.metrics
    rows = [
        ("final equity", _number(result.final_equity)),
        ("total return", _number(m.total_return_pct, " %")),
        ("CAGR", _number(m.cagr_pct, " %")),
        ("max drawdown", _number(m.max_drawdown_pct, " %")),
        ("max drawdown duration", _duration(m.max_drawdown_duration)),
        (
            "Sharpe / Sortino / Calmar",
            " / ".join(_number(v) for v in (m.sharpe_ratio, m.sortino_ratio, m.calmar_ratio)),
        ),
        ("volatility", _number(m.volatility_pct, " %")),
        ("trades (won)", f"{m.total_trades} ({m.winning_trades})"),
        ("win rate", _number(m.win_rate_pct, " %")),
        ("profit factor", _number(m.profit_factor)),
        (
            "avg / best / worst trade",
            " / ".join(_number(v, " %") for v in (m.avg_trade_pct, m.best_trade_pct, m.worst_trade_pct)),
        ),
        ("exposure", _number(m.exposure_pct, " %")),
        ("commission / turnover", f"{_number(m.total_commission)} / {_number(m.turnover)}"),
        ("fills (ambiguous)", f"{len(result.fills)} ({sum(f.ambiguous for f in result.fills)})"),
        (
            "ticks",
            f"{result.ticks:,} {result.timeframe} bars, {result.started_at:%Y-%m-%d} to {result.ended_at:%Y-%m-%d}",
        ),
        ("digest", result.digest[:16]),
    ]
    return format_table(("METRIC", "VALUE"), rows)


def _session_fields(defaults: Mapping[str, Any], config: Path | None, flags: Mapping[str, Any]) -> dict[str, Any]:
    sources: list[tuple[str, Mapping[str, Any]]] = [("the strategy's SESSION", defaults)]
    if config is not None:
        sources.append((str(config), load_request_file(config)))
    return merge_fields(sources, flags)


@click.command()
@click.argument("strategy_file", metavar="STRATEGY")
@session_options
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document (the full result) on stdout.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run's HTML report (charts, metrics, trades) to this file (needs the report extra).",
)
@click.option(
    "--url",
    default=None,
    help="Run on this server (ws://HOST:PORT/ws/simulate) instead of the embedded engine; never read from "
    "SIMUTRADOR_URL.",
)
@click.option("--token", envvar="SIMUTRADOR_TOKEN", default=None, help="JWT for --url [env SIMUTRADOR_TOKEN].")
@click.option(
    "--max-pending-ticks",
    type=click.IntRange(min=1),
    default=None,
    help="With --url: ticks the server may send ahead of the strategy (default 1, lockstep); the result is the same.",
)
def run(  # noqa: PLR0917 - one parameter per click option
    strategy_file: str,
    symbols: str | None,
    start: str | None,
    end: str | None,
    capital: str | None,
    timeframe: str | None,
    config: Path | None,
    data_dir: Path | None,
    as_json: bool,
    report_path: Path | None,
    url: str | None,
    token: str | None,
    max_pending_ticks: int | None,
) -> None:
    """Backtest STRATEGY (a .py file, or a built-in example such as sma_crossover) on the embedded engine.

    With --url, the session is created on that server and the strategy runs there
    (this process answers every tick); the output is the same as embedded.
    """
    _check_remote_options(url, token, data_dir, max_pending_ticks)
    strategy, defaults = load_strategy(strategy_file)
    flags = {
        "symbols": symbols,
        "start_date": start,
        "end_date": end,
        "initial_capital": capital,
        "timeframe": timeframe,
    }
    fields = _session_fields(defaults, config, flags)
    missing = [f for f in ("symbols", "start_date", "end_date", "initial_capital") if f not in fields]
    if missing:
        flag = {"symbols": "--symbols", "start_date": "--start", "end_date": "--end", "initial_capital": "--capital"}
        click.echo(f"error: missing {', '.join(flag[m] for m in missing)} (no SESSION default in the file)", err=True)
        sys.exit(EXIT_USAGE)
    if url is not None:
        from simutrador_cli.remote_run import run_on_server  # noqa: PLC0415 - the embedded path needs no client

        assert token is not None  # _check_remote_options
        result = run_on_server(
            url, token, strategy, fields=fields, max_pending_ticks=max_pending_ticks or 1, as_json=as_json
        )
        show_result(result, strategy_file, as_json=as_json, report_path=report_path)
        return
    try:
        engine = Engine(catalog=DirectoryCatalog(data_dir) if data_dir else None)
        session = engine.create_session("cli", **fields)
        with progress_bar(session.estimated_ticks) as progress:
            result = engine.run_simulation("cli", session.session_id, strategy, progress=progress)
    except SimutradorError as error:
        _fail(error, as_json)
    except Exception as exc:  # the strategy's own bug: show where, exit with the strategy code
        strategy_failed(exc)
    show_result(result, strategy_file, as_json=as_json, report_path=report_path, catalog=engine.catalog)


def _check_remote_options(url: str | None, token: str | None, data_dir: Path | None, window: int | None) -> None:
    """Refuse option combinations that mean nothing: server options without --url, local data with it."""
    problem = None
    if url is None:
        if window is not None:
            problem = "--max-pending-ticks needs --url (it is the server's credit window)"
    elif data_dir is not None:
        problem = "--data-dir is the embedded engine's: a server reads its own data (simutrador serve --data-dir)"
    elif not token:
        problem = "--url needs --token (or SIMUTRADOR_TOKEN)"
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_USAGE)


def show_result(
    result: SimulationResult,
    name: str,
    *,
    as_json: bool,
    report_path: Path | None,
    catalog: Catalog | None = None,
    title: str | None = None,
) -> None:
    """Print `result` as ``simutrador run`` does: a heading and the table (or one JSON document), then the report.

    Args:
        result: The run's result.
        name: What ran (the strategy file as given, or ``session ID``), for the heading.
        as_json: Print the whole result as one JSON document instead of the table.
        report_path: Also write the HTML report there (its line goes to stderr with `as_json`).
        catalog: Where the report reads prices (None: the sample catalog when the run read it).
        title: The report's title (default: `name`'s stem and the symbols).
    """
    symbols = ", ".join(result.symbols)
    if as_json:
        click.echo(json.dumps(result_to_wire(result)))
    else:
        synthetic = " (SYNTHETIC sample data)" if result.catalog_name == "sample" else ""
        click.echo(f"{name} on {symbols}{synthetic}")
        click.echo(format_result(result))
        if sys.stdout.isatty():
            click.echo(f"equity {sparkline([p.equity for p in result.equity_curve])}")
    if report_path is not None:  # after the results, so a report that cannot be written loses nothing
        title = title or f"{Path(name).stem} on {symbols}"
        write_run_report(result, report_path, catalog, title, to_stderr=as_json)


@contextmanager
def progress_bar(total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for a run of `total` ticks; yields the ``progress(done, total)`` callback."""
    with click.progressbar(length=max(total, 1), label="simulating", file=sys.stderr) as bar:
        seen = [0]

        def progress(done: int, _total: int) -> None:
            bar.update(done - seen[0])
            seen[0] = done

        yield progress


def strategy_failed(exc: BaseException, after: str = "") -> NoReturn:
    """Say what the strategy raised and where (its notes), then `after`; exit with the strategy's code."""
    notes = " ".join(getattr(exc, "__notes__", ()))
    click.echo(f"error: the strategy raised {type(exc).__name__}: {exc} {notes}".rstrip(), err=True)
    if after:
        click.echo(after, err=True)
    sys.exit(EXIT_STRATEGY)


def _fail(error: SimutradorError, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": error.to_dict()}))
    else:
        click.echo(f"error: {format_error(error)}", err=True)
    sys.exit(exit_code_for(error.code.error_type))
