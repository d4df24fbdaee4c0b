"""Simulations on a server: ``simutrador run --url`` and ``simutrador session start|pause|resume|results``.

A run over the wire moves only while a client acknowledges its ticks (orders for a
tick are applied when that tick is acknowledged: that is what makes a remote run's
digest equal the embedded one). So the CLI runs a strategy while the command lives
and prints what the embedded ``simutrador run`` prints: ``run STRATEGY --url``
creates the session and runs the strategy file on it, ``session start ID --strategy
FILE`` runs one on a READY session created before. ``session start`` without a
strategy is refused: nothing would answer the ticks. ``session pause`` and ``session
resume`` send one request and print the server's answer; ``session results`` reads
a COMPLETED session's result back (the same table, JSON and report as ``run``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from simutrador_ws.client import SessionClient

from simutrador import DirectoryCatalog, ErrorCode, SessionState, SimulationResult, SimutradorError
from simutrador_cli.exitcodes import EXIT_USAGE
from simutrador_cli.run import load_strategy, progress_bar, show_result, strategy_failed
from simutrador_cli.session import connection_options, run_with_client

__all__ = ["NO_STRATEGY", "SESSION_SIMULATION_COMMANDS", "pause", "results", "resume", "run_on_server", "start"]

NO_STRATEGY = (
    "error: session start needs --strategy FILE. A run moves only while a client acknowledges each tick (with "
    "the orders it makes at that tick), so the command runs the strategy here until the end, as "
    "`simutrador run FILE --url URL` does for a new session; without one nothing would answer the ticks."
)

_report_option = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run's HTML report (charts, metrics, trades) to this file (needs the report extra).",
)


def run_on_server(
    url: str,
    token: str,
    strategy: object,
    *,
    fields: Mapping[str, Any] | None = None,
    session_id: str | None = None,
    max_pending_ticks: int = 1,
    as_json: bool = False,
) -> SimulationResult:
    """Run `strategy` on the server at `url`: on a new session made of `fields`, or on READY `session_id`.

    Progress goes to stderr. Server refusals and connection failures are printed and
    exit with their codes (`simutrador_cli.session.run_with_client`); an exception
    the strategy raised exits with the strategy's code, naming the session it leaves
    paused on the server.
    """
    ran: list[str] = []

    async def work(client: SessionClient) -> SimulationResult:
        if session_id is None:
            given = dict(fields or {})
            session = await client.create_session(
                given.pop("symbols"),
                given.pop("start_date"),
                given.pop("end_date"),
                given.pop("initial_capital"),
                **given,
            )
            click.echo(f"created session {session.session_id}", err=True)
        else:
            session = await client.get_session_status(session_id)
        ran.append(session.session_id)
        with progress_bar(session.estimated_ticks) as progress:
            return await client.run_simulation(
                session.session_id, strategy, max_pending_ticks=max_pending_ticks, progress=progress
            )

    try:
        return run_with_client(url, token, as_json, work)
    except Exception as exc:  # the strategy's own bug (the server's refusals exited in run_with_client)
        strategy_failed(
            exc,
            f"session {ran[0]} stays on the server, paused with its state "
            f"(`simutrador session delete {ran[0]}` removes it)",
        )


@click.command("start")
@click.argument("session_id")
@click.option(
    "--strategy",
    "strategy_file",
    metavar="FILE",
    default=None,
    help="The strategy to run (a .py file or a built-in example such as sma_crossover); required.",
)
@click.option(
    "--max-pending-ticks",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Ticks the server may send ahead of the strategy (1: lockstep); the result is the same.",
)
@_report_option
@connection_options
def start(  # noqa: PLR0917 - one parameter per click option
    session_id: str,
    strategy_file: str | None,
    max_pending_ticks: int,
    report_path: Path | None,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """Run --strategy FILE on the server over READY session SESSION_ID, and print its results as `run` does.

    The session's own fields apply (the file's SESSION is not read). The run lasts
    as long as this command: the strategy answers every tick from here.
    """
    if strategy_file is None:
        click.echo(NO_STRATEGY, err=True)
        sys.exit(EXIT_USAGE)
    strategy, _ = load_strategy(strategy_file)
    result = run_on_server(
        url, token, strategy, session_id=session_id, max_pending_ticks=max_pending_ticks, as_json=as_json
    )
    show_result(result, strategy_file, as_json=as_json, report_path=report_path)


@click.command("pause")
@click.argument("session_id")
@connection_options
def pause(session_id: str, url: str, token: str, as_json: bool) -> None:
    """Ask the server to pause SESSION_ID's simulation, and print its answer.

    The server pauses only a run driven by the connection that asks; a run driven by
    another client is refused with the server's reason.
    """
    answer = run_with_client(url, token, as_json, lambda client: client.pause_simulation(session_id))
    if as_json:
        click.echo(json.dumps(answer))
        return
    already = " already" if answer.get("already_paused") else ""
    reason = f" ({answer['reason']})" if answer.get("reason") else ""
    click.echo(f"Session {session_id} is{already} paused at tick {answer.get('sequence_id')}{reason}.")


@click.command("resume")
@click.argument("session_id")
@connection_options
def resume(session_id: str, url: str, token: str, as_json: bool) -> None:
    """Ask the server to resume SESSION_ID's paused simulation, and print its answer.

    The server hands the run over to the connection that resumes it. This command
    does not drive it (it answers no tick): when it exits, the server pauses the run
    again ("disconnected"). A running session (driven by another client) is refused
    here, since taking it over would pause it under its client.
    """

    async def work(client: SessionClient) -> dict[str, Any]:
        found = await client.get_session_status(session_id)
        if found.state is SessionState.RUNNING:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"session {session_id} is running, driven by another client; `session resume` takes over only a "
                "paused run (taking over a live one would pause it when this command exits)",
                {"session_id": session_id, "state": found.state.value},
            )
        return await client.resume_simulation(session_id)

    answer = run_with_client(url, token, as_json, work)
    if as_json:
        click.echo(json.dumps(answer))
        return
    was = " (it was paused)" if answer.get("was_paused") else ""
    click.echo(f"Resumed session {session_id} at tick {answer.get('sequence_id')}{was}.")
    click.echo(
        "note: this command answers no tick, so the server pauses the run again when it exits; "
        "a client that acknowledges ticks must resume it to finish it.",
        err=True,
    )


@click.command("results")
@click.argument("session_id")
@_report_option
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="For --report: the data folder the server read (for its prices; runs on the sample data need none).",
)
@connection_options
def results(  # noqa: PLR0917 - one parameter per click option
    session_id: str, report_path: Path | None, data_dir: Path | None, url: str, token: str, as_json: bool
) -> None:
    """Print a COMPLETED session's results as `run` does (the table, or with --json the same document)."""
    catalog = DirectoryCatalog(data_dir) if data_dir is not None else None  # click checked it is a folder
    result = run_with_client(url, token, as_json, lambda client: client.get_results(session_id))
    name = f"session {session_id}"
    show_result(
        result,
        name,
        as_json=as_json,
        report_path=report_path,
        catalog=catalog,
        title=f"{name} on {', '.join(result.symbols)}",
    )


SESSION_SIMULATION_COMMANDS = (start, pause, resume, results)
"""The ``simutrador session`` subcommands this module adds (`simutrador_cli.main` registers them)."""
