"""``simutrador bench``: measure the speed and capacity targets on this machine."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from simutrador_bench.report import compare as compare_reports
from simutrador_bench.report import format_compare, load_json
from simutrador_bench.runner import FULL, QUICK, STEPS, run, select_steps

__all__ = ["bench"]


@click.command()
@click.option("--quick", is_flag=True, help="Shorter windows, memory per session at 1,000/10,000 only: under a minute.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Save the run as JSON (pytest-benchmark's format).",
)
@click.option(
    "--compare",
    "compare_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An earlier --json file to compare this run with.",
)
@click.option(
    "--only", multiple=True, metavar="STEP", help="Run only these steps (a name, prefix or glob); repeatable."
)
@click.option("--list", "list_steps", is_flag=True, help="List the steps and exit.")
def bench(
    quick: bool, json_path: Path | None, compare_path: Path | None, only: tuple[str, ...], list_steps: bool
) -> None:
    """Measure the speed and capacity figures; print each next to its target and the seed's.

    Over-the-wire figures use a server in a separate process on 127.0.0.1; every load
    is bounded in count and time. Timings only compare within one run on one machine;
    the exit status is 0 whatever the verdicts (a benchmark reports, it does not gate).
    Progress goes to stderr, the table to stdout. Figures and targets: docs/performance.md.
    """
    if list_steps:
        for step in STEPS:
            click.echo(f"{step.name:<20} {step.title}")
        return
    try:
        select_steps(only)
        previous = load_json(compare_path) if compare_path is not None else None
    except (ValueError, json.JSONDecodeError) as error:
        raise click.UsageError(str(error)) from None
    profile = QUICK if quick else FULL
    started = time.perf_counter()

    def progress(line: str) -> None:
        click.echo(f"{time.perf_counter() - started:6.1f}s {line}", err=True)

    report = run(profile, only=only, progress=progress)
    click.echo(report.format_table())
    if json_path is not None:
        report.write_json(json_path)
        click.echo(f"\nsaved {json_path}")
    if previous is not None and compare_path is not None:
        rows = compare_reports(previous, report.to_json())
        click.echo("\n" + format_compare(rows, before=str(compare_path), after="this run"))
