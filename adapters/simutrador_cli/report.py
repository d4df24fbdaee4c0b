"""``simutrador report RESULT.json... --html OUT``: a run's HTML report, or a comparison of runs.

A result file is what ``simutrador run STRATEGY --json`` printed (``-`` reads it from
stdin). One file gives the run's report; several give a comparison (equity curves
overlaid, metrics side by side). Prices come from the catalog the run recorded: the
sample catalog by itself, a data folder with ``--data-dir``.

A SESSION_ID is not a file: a session's result is on its server, and ``simutrador
session results SESSION_ID --report OUT`` reports it (`simutrador_cli.remote_run`). The
command says so instead of guessing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import click

from simutrador import Catalog, DirectoryCatalog, ErrorCode, SimulationResult, SimutradorError
from simutrador.codec import ParseError, loads_json, result_from_wire
from simutrador.report import write_comparison, write_report
from simutrador_cli.exitcodes import EXIT_INTERNAL, EXIT_USAGE, exit_code_for
from simutrador_cli.render import format_error

__all__ = ["load_result", "report", "write_run_report"]

NOT_A_FILE = (
    "{source!r} is not a result file. A session's result is on its server: "
    "`simutrador session results {source} --report out.html` (or `--json > result.json`). A local run's result: "
    "`simutrador run STRATEGY --json > result.json` (then `simutrador report result.json --html out.html`), "
    "or `simutrador run STRATEGY --report out.html`."
)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _invalid(message: str) -> SimutradorError:
    return SimutradorError(ErrorCode.VALIDATION_FAILED, message, {"fields": ["result"]})


def load_result(source: str) -> SimulationResult:
    """The result in file `source` (``-``: stdin), as ``simutrador run --json`` wrote it.

    Raises:
        click.UsageError: `source` is not a file (a SESSION_ID: see the module's docstring).
        SimutradorError: ``VALIDATION_FAILED`` when the file is not a result.
    """
    path = Path(source)
    if source == "-":
        text = sys.stdin.read()
    elif path.is_file():
        text = path.read_text(encoding="utf-8")
    elif path.suffix or len(path.parts) > 1:
        raise click.UsageError(f"no file {source!r}")
    else:
        raise click.UsageError(NOT_A_FILE.format(source=source))
    try:
        document = loads_json(text)
    except ParseError as exc:
        raise _invalid(f"{source} is not JSON: {exc}") from None
    if isinstance(document, dict) and set(document) == {"error"}:
        raise _invalid(f"{source} holds an error, not a result: {document['error']}")
    return result_from_wire(document)


def _write(write: Callable[[], object], path: Path) -> None:
    try:
        write()
    except ImportError as exc:
        _fail(str(exc), EXIT_INTERNAL)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_USAGE)


def write_run_report(
    result: SimulationResult, path: Path, catalog: Catalog | None, title: str, *, to_stderr: bool
) -> None:
    """Write `result`'s report to `path` (``--report``) and say where it is; `catalog` None: the sample's prices."""
    _write(lambda: write_report(result, path, catalog=catalog, title=title), path)
    click.echo(f"report: {path} ({_size(path)})", err=to_stderr)


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def _labels(sources: Sequence[str], given: Sequence[str]) -> list[str]:
    if given:
        if len(given) != len(sources):
            raise click.UsageError(f"give one --label per result ({len(given)} for {len(sources)})")
        return list(given)
    stems = [Path(s).stem if s != "-" else "stdin" for s in sources]
    return stems if len(set(stems)) == len(stems) else [f"{i}: {s}" for i, s in enumerate(stems, start=1)]


@click.command()
@click.argument("sources", nargs=-1, required=True, metavar="RESULT.json...")
@click.option(
    "--html",
    "html_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write (self-contained: it opens offline).",
)
@click.option("--title", help="The page's title.")
@click.option("--label", "labels", multiple=True, help="A name per result, in order, for a comparison.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The data folder the run read (for its prices; runs on the sample data need none).",
)
def report(
    sources: tuple[str, ...], html_path: Path, title: str | None, labels: tuple[str, ...], data_dir: Path | None
) -> None:
    """Write an HTML report of a result (from `simutrador run --json`), or a comparison of several.

    RESULT.json is a file `simutrador run STRATEGY --json` wrote (- reads stdin). One
    gives the run's report (equity and buy-and-hold, drawdown, prices with fills and
    trades, monthly returns, metrics, trades); several give a comparison (equity
    overlaid, metrics side by side). A session's result on a server: `simutrador session
    results SESSION_ID --report OUT`.
    """
    try:
        results = [load_result(source) for source in sources]
    except SimutradorError as error:
        _fail(format_error(error), exit_code_for(error.code.error_type))
    names = _labels(sources, labels)
    if len(results) == 1:
        catalog = DirectoryCatalog(data_dir) if data_dir is not None else None
        _write(lambda: write_report(results[0], html_path, catalog=catalog, title=title), html_path)
    else:
        _write(lambda: write_comparison(results, html_path, labels=names, title=title), html_path)
    click.echo(f"report: {html_path} ({_size(html_path)}) {html_path.resolve().as_uri()}")
