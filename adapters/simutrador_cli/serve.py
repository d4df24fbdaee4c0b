"""``simutrador serve`` and ``simutrador token``."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from pathlib import Path

import attrs
import click
import trio
from simutrador_ws.auth import TokenVerifier, generate_secret, issue_token
from simutrador_ws.server import SimutradorServer, run_server
from simutrador_ws.settings import load_server_settings

from simutrador import Catalog, DirectoryCatalog, Engine, EngineSettings, Plan, SimutradorError
from simutrador_cli.exitcodes import exit_code_for

__all__ = ["serve", "token"]


def fail(error: SimutradorError) -> None:
    """Print `error` on stderr and exit with its documented status."""
    click.echo(f"error: {error.code.value}: {error.message}", err=True)
    sys.exit(exit_code_for(error.code.error_type))


@click.command()
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="TCP port; 0 picks a free one [default: 8003].")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TOML settings file.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of your own CSV/Parquet data [default: the embedded synthetic sample].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request (INFO) on stderr.")
def serve(host: str | None, port: int | None, config: Path | None, data_dir: Path | None, verbose: bool) -> None:
    """Serve sessions over WebSocket at ws://HOST:PORT/ws/simulate until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        engine_settings = EngineSettings.load(config)
        server_settings, auth = load_server_settings(config)
        catalog: Catalog | None = DirectoryCatalog(data_dir) if data_dir is not None else None
    except SimutradorError as error:
        fail(error)
        return
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    server_settings = attrs.evolve(server_settings, **overrides)
    ephemeral = not auth.jwt_secret and not auth.jwt_public_key_file
    if ephemeral:
        auth = attrs.evolve(auth, jwt_secret=generate_secret())
    try:
        verifier = TokenVerifier(auth)
    except SimutradorError as error:
        fail(error)
        return
    engine = Engine(engine_settings, catalog=catalog)
    server = SimutradorServer(engine, server_settings, verifier)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_server, server)
            url = f"ws://{server_settings.host}:{server.port}{server_settings.path}"
            source = f"data from {data_dir}" if data_dir else "the embedded SYNTHETIC sample data"
            click.echo(f"SimuTrador serving {source} at {url}")
            if ephemeral:
                dev = issue_token(auth, "dev-user", plan=Plan.PROFESSIONAL, expires_in=timedelta(hours=8))
                click.echo("No SIMUTRADOR_JWT_SECRET configured: using an ephemeral secret for this run.")
                click.echo(f"Dev token (user dev-user, professional plan, 8 h):\n  {dev}")
                click.echo(f"Try:\n  SIMUTRADOR_URL={url} SIMUTRADOR_TOKEN={dev} simutrador session list")
            click.echo("Press Ctrl+C to stop.")

    trio.run(main)
    click.echo("Server stopped.")


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
