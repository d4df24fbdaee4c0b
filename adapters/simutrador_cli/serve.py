"""``simutrador serve`` and ``simutrador token``, and the store's settings (``[store]``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import attrs
import click
import trio
from simutrador_ws.auth import TokenVerifier, generate_secret, issue_token
from simutrador_ws.httpserver import HttpServer
from simutrador_ws.rest import RestService, load_http_settings
from simutrador_ws.server import SimutradorServer, run_server
from simutrador_ws.settings import AuthSettings, load_server_settings

from simutrador import (
    Catalog,
    DirectoryCatalog,
    Engine,
    EngineSettings,
    MemoryStore,
    Plan,
    SimutradorError,
    SqliteStore,
    load_settings,
    setting,
)
from simutrador.codec import ParseError
from simutrador.storage import SYNCHRONOUS_MODES
from simutrador_cli.exitcodes import EXIT_CONNECTION, exit_code_for
from simutrador_cli.keys import open_store, store_option

__all__ = ["StoreSettings", "load_store_settings", "serve", "token"]


def _synchronous(value: object) -> str:
    mode = value.lower() if isinstance(value, str) else None
    if mode not in SYNCHRONOUS_MODES:
        raise ParseError(f"must be one of {', '.join(sorted(SYNCHRONOUS_MODES))}")
    return mode


@attrs.frozen(kw_only=True)
class StoreSettings:
    """How ``serve`` keeps its store file: TOML ``[store]``, variables ``SIMUTRADOR_STORE_<SETTING>``.

    Attributes:
        synchronous: ``normal``: a committed change survives the server being killed;
            ``full``: it also survives a power loss or an OS crash (an fsync per
            commit, slower writes). ``--synchronous`` overrides it.
    """

    synchronous: str = setting("normal", _synchronous)


def load_store_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> StoreSettings:
    """Load ``[store]`` (env > TOML > defaults) with the core's settings loader.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming every bad setting.
    """
    loaded = load_settings({"store": StoreSettings}, path, environ, env_infixes={"store": "STORE_"})
    return loaded["store"]


def fail(error: SimutradorError) -> NoReturn:
    """Print `error` on stderr and exit with its documented status."""
    click.echo(f"error: {error.code.value}: {error.message}", err=True)
    sys.exit(exit_code_for(error.code.error_type))


@click.command()
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="WebSocket TCP port; 0 picks a free one [default: 8003].")
@click.option(
    "--http-port",
    type=click.IntRange(min=0),
    default=None,
    help="HTTP port (POST /auth/token, GET /health); 0 picks a free one [default: 8001].",
)
@click.option("--no-http", is_flag=True, help="Serve no HTTP side (no token endpoint; /ws/health stays).")
@store_option("Where sessions and API keys are kept: a SQLite file (made when missing), or 'memory'.")
@click.option(
    "--synchronous",
    type=click.Choice(sorted(SYNCHRONOUS_MODES), case_sensitive=False),
    default=None,
    help="What a committed change survives: the server being killed (normal), also a power loss (full) "
    "[default: [store] synchronous, SIMUTRADOR_STORE_SYNCHRONOUS, else normal].",
)
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TOML settings file.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of your own CSV/Parquet data [default: the embedded synthetic sample].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request (INFO) on stderr.")
def serve(  # noqa: PLR0917 - one parameter per option
    host: str | None,
    port: int | None,
    http_port: int | None,
    no_http: bool,
    store: str,
    synchronous: str | None,
    config: Path | None,
    data_dir: Path | None,
    verbose: bool,
) -> None:
    """Serve sessions over WebSocket at ws://HOST:PORT/ws/simulate, and tokens over HTTP, until SIGINT/SIGTERM.

    Sessions and API keys are kept in the store (by default simutrador.db in the
    working directory: they survive a restart); ``--store memory`` keeps them only
    for this run. One server owns a store file: a second one on the same file exits
    at once (code 3) naming it. The HTTP side answers POST /auth/token (an API key from
    ``simutrador keys create`` for a token) and GET /health.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        engine_settings = EngineSettings.load(config)
        server_settings, auth = load_server_settings(config)
        http_settings = load_http_settings(config)
        store_settings = load_store_settings(config)
        catalog: Catalog | None = DirectoryCatalog(data_dir) if data_dir is not None else None
    except SimutradorError as error:
        fail(error)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    server_settings = attrs.evolve(server_settings, **overrides)
    if http_port is not None:
        http_settings = attrs.evolve(http_settings, port=http_port)
    ephemeral = not auth.jwt_secret and not auth.jwt_public_key_file
    if ephemeral:
        auth = attrs.evolve(auth, jwt_secret=generate_secret())
    try:
        verifier = TokenVerifier(auth)
        sessions = open_store(store, create=True, synchronous=(synchronous or store_settings.synchronous).lower())
    except SimutradorError as error:
        fail(error)
    with contextlib.closing(sessions) if isinstance(sessions, SqliteStore) else contextlib.nullcontext():
        try:
            engine = Engine(engine_settings, catalog=catalog, store=sessions)  # pauses interrupted runs: writes
        except SimutradorError as error:  # a store that cannot be written: stop once, do not serve errors
            fail(error)
        server = SimutradorServer(engine, server_settings, verifier)
        minter = auth if auth.jwt_secret and "HS256" in auth.jwt_algorithms else None
        rest = None
        if not no_http:
            service = RestService(sessions, minter, http_settings, clock=trio.current_time, now=engine.clock)
            rest = HttpServer(service, http_settings, host=server_settings.host)
        try:
            trio.run(
                _serve_both,
                server,
                rest,
                _greeting(server, rest, sessions=sessions, auth=auth, ephemeral=ephemeral, data_dir=data_dir),
            )
        except OSError as error:  # a port in use, an address not here
            click.echo(f"error: cannot listen: {error.strerror or error}", err=True)
            sys.exit(EXIT_CONNECTION)
    click.echo("Server stopped.")


def _greeting(
    server: SimutradorServer,
    rest: HttpServer | None,
    *,
    sessions: SqliteStore | MemoryStore,
    auth: AuthSettings,
    ephemeral: bool,
    data_dir: Path | None,
) -> Callable[[], None]:
    """What `serve` prints once both listeners are bound."""

    def greet() -> None:
        settings = server.settings
        url = f"ws://{settings.host}:{server.port}{settings.path}"
        source = f"data from {data_dir}" if data_dir else "the embedded SYNTHETIC sample data"
        click.echo(f"SimuTrador serving {source} at {url}")
        if rest is not None:
            base = f"http://{rest.host}:{rest.port}"
            issues = "tokens for API keys" if rest.service.auth is not None else "no tokens (public-key auth)"
            click.echo(f"HTTP at {base}: POST {base}/auth/token ({issues}), GET {base}/health")
        if isinstance(sessions, SqliteStore):
            mode = ", synchronous=full" if sessions.synchronous == "full" else ""
            click.echo(f"Sessions and API keys kept in {sessions.path}{mode} (`simutrador keys create` makes keys)")
        else:
            click.echo("Sessions and API keys kept in memory: they end with this run.")
        if ephemeral:
            dev = issue_token(auth, "dev-user", plan=Plan.PROFESSIONAL, expires_in=timedelta(hours=8))
            click.echo("No SIMUTRADOR_JWT_SECRET configured: using an ephemeral secret for this run.")
            click.echo(f"Dev token (user dev-user, professional plan, 8 h):\n  {dev}")
            click.echo(f"Try:\n  SIMUTRADOR_URL={url} SIMUTRADOR_TOKEN={dev} simutrador session list")
        click.echo("Press Ctrl+C to stop.")

    return greet


async def _serve_both(server: SimutradorServer, rest: HttpServer | None, greet: Callable[[], None]) -> None:
    """Run the WebSocket server (until SIGINT/SIGTERM) and the HTTP listener in one nursery; greet once both listen.

    Raises:
        OSError: a listener could not bind (the other is stopped).
    """
    try:
        async with trio.open_nursery() as nursery:
            if rest is not None:
                await nursery.start(rest.serve)

            async def websocket(task_status: trio.TaskStatus[SimutradorServer] = trio.TASK_STATUS_IGNORED) -> None:
                try:
                    await run_server(server, task_status=task_status)
                finally:
                    if rest is not None:
                        rest.shutdown()

            await nursery.start(websocket)
            greet()
    except BaseExceptionGroup as group:
        bind_errors = group.subgroup(OSError)
        if bind_errors is None:
            raise
        raise _first(bind_errors) from None


def _first(group: BaseExceptionGroup[OSError]) -> OSError:
    error = group.exceptions[0]
    return _first(error) if isinstance(error, BaseExceptionGroup) else error


@click.command()
@click.option("--user", required=True, help="User id (the token's sub).")
@click.option(
    "--plan",
    type=click.Choice([p.value for p in Plan]),
    default=None,
    help="Any plan, for local development [default: the configuration's default_plan].",
)
@click.option("--expires-in", type=click.IntRange(min=1), default=3600, show_default=True, help="Lifetime in seconds.")
@click.option("--admin", is_flag=True, help="Allow server_stats.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TOML settings file.")
def token(user: str, plan: str | None, expires_in: int, admin: bool, config: Path | None) -> None:
    """Print a token signed with the configured SIMUTRADOR_JWT_SECRET."""
    try:
        _, auth = load_server_settings(config)
        chosen = Plan(plan) if plan is not None else EngineSettings.load(config).default_plan
        click.echo(issue_token(auth, user, plan=chosen, expires_in=timedelta(seconds=expires_in), admin=admin))
    except SimutradorError as error:
        fail(error)
