"""``simutrador session ...`` (through the client SDK) and ``simutrador data ...`` (the local catalog)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
import trio
from simutrador_ws.client import ClientConnectionError, SessionClient

from simutrador import (
    DAILY,
    TIMEFRAMES,
    Catalog,
    DirectoryCatalog,
    SampleCatalog,
    Session,
    SimutradorError,
    SymbolInfo,
    SymbolProblem,
    available_days,
    normalize_symbol,
    parse_timeframe,
    source_timeframe,
)
from simutrador.codec import ParseError, parse_moment, parse_money, session_to_wire
from simutrador_cli.exitcodes import EXIT_CONNECTION, EXIT_USAGE, exit_code_for
from simutrador_cli.fields import load_request_file, merge_fields
from simutrador_cli.render import format_error, format_session_table, format_table

__all__ = ["data", "session"]

T = TypeVar("T")

_connection = [
    click.option("--url", envvar="SIMUTRADOR_URL", required=True, help="Server URL [env SIMUTRADOR_URL]."),
    click.option("--token", envvar="SIMUTRADOR_TOKEN", required=True, help="JWT [env SIMUTRADOR_TOKEN]."),
    click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout."),
]


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add --url, --token and --json."""
    for option in reversed(_connection):
        function = option(function)
    return function


def run_with_client(url: str, token: str, as_json: bool, work: Callable[[SessionClient], Awaitable[T]]) -> T:
    """Connect, run `work`, and turn failures into messages and exit codes."""

    async def main() -> T:
        async with SessionClient.connect(url, token) as client:
            return await work(client)

    try:
        return trio.run(main)
    except SimutradorError as error:
        if as_json:
            click.echo(json.dumps({"error": error.to_dict()}))
        else:
            click.echo(f"error: {format_error(error)}", err=True)
            for problem in error.details.get("problems", []):
                if isinstance(problem, Mapping) and len(error.details.get("problems", [])) > 1:
                    click.echo(f"  - {problem.get('message')}", err=True)
        sys.exit(exit_code_for(error.code.error_type))
    except ClientConnectionError as error:
        if as_json:
            click.echo(json.dumps({"error": {"error_code": "CONNECTION_ERROR", "message": str(error)}}))
        else:
            click.echo(f"error: connection: {error}", err=True)
        sys.exit(EXIT_CONNECTION)


def show_sessions(sessions: list[Session], as_json: bool, *, single: bool = False) -> None:
    """Print sessions as a table (or JSON)."""
    if as_json:
        wire = [session_to_wire(s) for s in sessions]
        click.echo(json.dumps(wire[0] if single else wire))
    elif sessions:
        click.echo(format_session_table(sessions))
    else:
        click.echo("No live sessions.")


@click.group()
def session() -> None:
    """Sessions on a server: create, inspect, list, delete; run a strategy, pause, resume, read results."""


def interactive() -> bool:
    """Whether a person is at a terminal to answer prompts."""
    return sys.stdin.isatty()


def _prompt_checked(label: str, check: Callable[[str], str | None]) -> str:
    while True:
        value = str(click.prompt(label))  # no default: an empty answer is asked again
        problem = check(value)
        if problem is None:
            return value
        click.echo(f"  {problem}", err=True)


def _check_symbols(known: set[str]) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        for part in text.split(","):
            normalized = normalize_symbol(part)
            if isinstance(normalized, SymbolProblem):
                return f"{part.strip()!r}: {normalized.reason}"
            if known and normalized not in known:
                return f"{normalized} is not in the server's catalog"
        return None

    return check


def _check_date(text: str) -> str | None:
    try:
        parse_moment(text)
    except ParseError as exc:
        return str(exc)
    return None


def _check_money(text: str) -> str | None:
    try:
        parse_money(text)
    except ParseError as exc:
        return str(exc)
    return None


@session.command("create")
@click.option("--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT,EUR/USD.")
@click.option("--start", help="First day (YYYY-MM-DD) or ISO datetime.")
@click.option("--end", help="Last day (YYYY-MM-DD) or ISO datetime.")
@click.option("--capital", help="Initial capital, e.g. 100000.")
@click.option("--timeframe", default=None, help="Bar size: 1min 5min 15min 30min 1h 2h 4h daily weekly monthly.")
@click.option("--warmup-bars", type=click.IntRange(min=0), default=None, help="Bars of history before the start.")
@click.option("--session-id", default=None, help="Choose the session id.")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A .toml or .json file of session fields; flags override it.",
)
@connection_options
def create(  # noqa: PLR0917 - one parameter per click option
    symbols: str | None,
    start: str | None,
    end: str | None,
    capital: str | None,
    timeframe: str | None,
    warmup_bars: int | None,
    session_id: str | None,
    config: Path | None,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """Create a session (prompts for anything missing when run on a terminal)."""
    given = {
        "symbols": symbols,
        "start_date": start,
        "end_date": end,
        "initial_capital": capital,
        "timeframe": timeframe,
        "warmup_bars": warmup_bars,
        "session_id": session_id,
    }
    fields = merge_fields([(str(config), load_request_file(config))] if config else [], given)
    flags = {"symbols": "--symbols", "start_date": "--start", "end_date": "--end", "initial_capital": "--capital"}
    missing = [name for name in flags if name not in fields]
    if missing and not (interactive() and not as_json):
        click.echo(f"error: missing {', '.join(flags[m] for m in missing)} (no terminal to ask on)", err=True)
        sys.exit(EXIT_USAGE)

    async def work(client: SessionClient) -> Session:
        if missing:
            catalog = await client.list_symbols()
            known = {s["symbol"] for s in catalog}
            sample = ", ".join(sorted(known)[:12])
            click.echo(
                f"The server offers {len(known)} symbols ({client.ready.get('data_provider')}), e.g. {sample}..."
            )
            prompts: dict[str, tuple[str, Callable[[str], str | None]]] = {
                "symbols": ("Symbols (comma-separated)", _check_symbols(known)),
                "start_date": ("Start date (YYYY-MM-DD)", _check_date),
                "end_date": ("End date (YYYY-MM-DD)", _check_date),
                "initial_capital": (_capital_label(client.ready.get("limits", {})), _check_money),
            }
            for name in missing:
                label, check = prompts[name]
                fields[name] = await trio.to_thread.run_sync(functools.partial(_prompt_checked, label, check))
        symbols_field = fields.pop("symbols")
        if isinstance(symbols_field, str):  # a prompt's answer: comma-separated
            symbols_field = [part.strip() for part in symbols_field.split(",") if part.strip()]
        return await client.create_session(
            symbols_field, fields.pop("start_date"), fields.pop("end_date"), fields.pop("initial_capital"), **fields
        )

    created = run_with_client(url, token, as_json, work)
    if not as_json:
        click.echo(f"Created session {created.session_id} ({created.estimated_ticks} ticks to simulate).")
    show_sessions([created], as_json, single=True)


def _capital_label(limits: dict[str, Any]) -> str:
    """The capital prompt, with the range the server announced (no default: the user says)."""
    low, high = limits.get("min_initial_capital"), limits.get("max_initial_capital")
    return f"Initial capital ({low} to {high})" if low and high else "Initial capital"


@session.command("status")
@click.argument("session_id")
@connection_options
def status(session_id: str, url: str, token: str, as_json: bool) -> None:
    """Show one session."""
    found = run_with_client(url, token, as_json, lambda client: client.get_session_status(session_id))
    show_sessions([found], as_json, single=True)


@session.command("list")
@connection_options
def list_(url: str, token: str, as_json: bool) -> None:
    """List your live sessions."""
    show_sessions(run_with_client(url, token, as_json, lambda client: client.list_sessions()), as_json)


@session.command("delete")
@click.argument("session_id")
@connection_options
def delete(session_id: str, url: str, token: str, as_json: bool) -> None:
    """Delete a session."""
    deleted = run_with_client(url, token, as_json, lambda client: client.delete_session(session_id))
    click.echo(json.dumps({"session_id": deleted, "deleted": True}) if as_json else f"Deleted session {deleted}.")


@click.group()
def data() -> None:
    """What market data the catalog holds (the embedded sample, or --data-dir)."""


def _catalog(data_dir: Path | None) -> Catalog:
    try:
        return DirectoryCatalog(data_dir) if data_dir else SampleCatalog()
    except SimutradorError as error:
        click.echo(f"error: {format_error(error)}", err=True)
        sys.exit(exit_code_for(error.code.error_type))


_data_dir = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Your own data folder."
)


def _timeframe(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return parse_timeframe(value).name
    except ParseError as exc:
        raise click.BadParameter(str(exc)) from None


_timeframe_option = click.option(
    "--timeframe",
    default=DAILY,
    show_default=True,
    callback=_timeframe,
    help="The session timeframe whose availability to show (1min 5min 15min 30min 1h 2h 4h daily weekly monthly).",
)


def _days(info: SymbolInfo, timeframe: str) -> tuple[str | None, str | None, str | None]:
    """(first day, last day, held timeframe used) a session at `timeframe` may use: validation's own rule."""
    available = info.available(timeframe)
    if available is None:
        return None, None, None
    first, last = available_days(available)
    return first.isoformat(), last.isoformat(), source_timeframe(info.ranges, timeframe)


@data.command("list")
@click.option("--market", default=None, help="Only one market (NYSE, NASDAQ, FOREX, CRYPTO, US...).")
@_timeframe_option
@_data_dir
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout.")
def data_list(market: str | None, timeframe: str, data_dir: Path | None, as_json: bool) -> None:
    """List the symbols and the days a session at --timeframe may use (exactly what validation accepts)."""
    catalog = _catalog(data_dir)
    infos = catalog.symbols(market=market)
    rows: list[dict[str, Any]] = []
    for info in infos:
        start, end, source = _days(info, timeframe)
        rows.append(
            {
                "symbol": info.symbol,
                "asset_class": info.asset_class.value,
                "market": info.market,
                "timeframes": list(info.ranges),
                "timeframe": timeframe,
                "from_timeframe": source,
                "start": start,
                "end": end,
            }
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "data_provider": catalog.name,
                    "timeframe": timeframe,
                    "symbols": rows,
                    "problems": dict(catalog.problems()),
                }
            )
        )
        return
    synthetic = " (SYNTHETIC data)" if any(i.synthetic for i in infos) else ""
    click.echo(f"{catalog.name} catalog{synthetic}: {len(rows)} symbols; {timeframe} sessions may use these days")
    click.echo(
        format_table(
            ("SYMBOL", "CLASS", "MARKET", "HELD", "FROM", "TO"),
            [
                (
                    r["symbol"],
                    r["asset_class"],
                    r["market"],
                    ",".join(r["timeframes"]),
                    r["start"] or f"(no {timeframe})",
                    r["end"] or "",
                )
                for r in rows
            ],
        )
    )
    for where, reason in catalog.problems().items():
        click.echo(f"skipped {where}: {reason}", err=True)


@data.command("show")
@click.argument("symbol")
@_data_dir
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document on stdout.")
def data_show(symbol: str, data_dir: Path | None, as_json: bool) -> None:
    """Show one symbol: what it is, the bars it holds, and the days a session may use at each timeframe."""
    catalog = _catalog(data_dir)
    normalized = normalize_symbol(symbol)
    info = None if isinstance(normalized, SymbolProblem) else catalog.symbol_info(normalized)
    if info is None:
        reason = (
            normalized.reason
            if isinstance(normalized, SymbolProblem)
            else catalog.problems().get(normalized, "not in the catalog")
        )
        click.echo(f"error: INVALID_SYMBOL: {symbol}: {reason}", err=True)
        sys.exit(3)
    held = {tf: {"start": r.start.isoformat(), "end": r.end.isoformat()} for tf, r in info.ranges.items()}
    sessions: dict[str, dict[str, str | None]] = {}
    for timeframe in TIMEFRAMES:
        start, end, source = _days(info, timeframe)
        if start is not None:
            sessions[timeframe] = {"start": start, "end": end, "from": source}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "symbol": info.symbol,
                    "asset_class": info.asset_class.value,
                    "market": info.market,
                    "name": info.name,
                    "synthetic": info.synthetic,
                    "price_increment": str(info.price_increment),
                    "lot_size": str(info.lot_size),
                    "currency": info.currency,
                    "timezone": info.timezone,
                    "ranges": held,
                    "sessions": sessions,
                }
            )
        )
        return
    click.echo(f"{info.symbol}  {info.name or ''}".rstrip())
    click.echo(f"  class {info.asset_class.value}, market {info.market}{', SYNTHETIC data' if info.synthetic else ''}")
    click.echo(
        f"  quoted in {info.currency}, price increment {info.price_increment}, lot size {info.lot_size}, "
        f"trading days in {info.timezone}"
    )
    click.echo("  held bars:")
    for timeframe, span in held.items():
        click.echo(f"    {timeframe:>7}: {span['start']} .. {span['end']}")
    click.echo("  sessions may use (days, as validation checks them):")
    for timeframe, span in sessions.items():
        made = "" if span["from"] == timeframe else f"  (resampled from {span['from']})"
        click.echo(f"    {timeframe:>7}: {span['start']} .. {span['end']}{made}")
