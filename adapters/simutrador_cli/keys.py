"""``simutrador keys create | list | revoke``, and the store option ``serve`` shares with them.

API keys live in the server's store (`simutrador.SqliteStore`), hashed: ``keys create``
prints a key once, ``POST /auth/token`` exchanges it for a token
(`simutrador_ws.rest`). ``--store`` (``SIMUTRADOR_STORE``) names the file; by default
``simutrador.db`` in the working directory, the file ``simutrador serve`` uses by
default too, so run both from the same folder or name the same file. A server owns
its store (no second server may open it), but key commands open it *shared*
(`simutrador.SqliteStore` ``shared=True``), so they work while it runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from simutrador import ApiKey, EngineSettings, ErrorCode, MemoryStore, Plan, SimutradorError, SqliteStore
from simutrador.codec import format_datetime
from simutrador_cli.exitcodes import EXIT_USAGE, exit_code_for
from simutrador_cli.render import format_table

__all__ = ["DEFAULT_STORE", "MEMORY", "STORE_ENV", "keys", "open_store", "store_option"]

DEFAULT_STORE = "simutrador.db"
"""The store file ``serve`` and ``keys`` use when none is named (in the working directory)."""
STORE_ENV = "SIMUTRADOR_STORE"
"""The environment variable naming the store, when ``--store`` is not given."""
MEMORY = "memory"
"""The ``--store`` value that keeps everything in memory (``serve`` only)."""

F = TypeVar("F", bound=Callable[..., Any])


def store_option(help_text: str) -> Callable[[F], F]:
    """The ``--store`` option (``SIMUTRADOR_STORE``, default `DEFAULT_STORE`)."""
    return click.option(
        "--store",
        default=DEFAULT_STORE,
        envvar=STORE_ENV,
        show_default=True,
        show_envvar=True,
        help=help_text,
    )


def open_store(
    name: str, *, create: bool, shared: bool = False, synchronous: str = "normal"
) -> SqliteStore | MemoryStore:
    """The store `name` names: `MEMORY`, or a SQLite file (made, with its schema, when `create`).

    A file is owned (locked against every other owner) unless `shared`; see
    `simutrador.SqliteStore` for `shared` and `synchronous`.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the file when it is missing (and
            not to be made) or cannot be used.
    """
    if name == MEMORY:
        return MemoryStore()
    path = Path(name).expanduser()
    if path.is_dir():
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED, f"the store {path} is a folder; name a file in it", {"store": str(path)}
        )
    if not create and not path.exists():
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"no store at {path}: `simutrador keys create` or `simutrador serve` makes one; "
            f"--store (or {STORE_ENV}) names another",
            {"store": str(path)},
        )
    return SqliteStore(path, shared=shared, synchronous=synchronous)


def _fail(error: SimutradorError) -> NoReturn:
    click.echo(f"error: {error.code.value}: {error.message}", err=True)
    sys.exit(exit_code_for(error.code.error_type))


def _key_store(name: str, *, create: bool) -> SqliteStore:
    """The key file `name`; ``memory`` is a usage error (its keys would vanish with this command)."""
    if name == MEMORY:
        click.echo(
            "error: --store memory keeps keys only inside a running server; name a store file "
            "(the one `simutrador serve --store` uses)",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    try:
        store = open_store(name, create=create, shared=True)  # beside a running server
    except SimutradorError as error:
        _fail(error)
    assert isinstance(store, SqliteStore)
    return store


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "user_id": key.user_id,
        "plan": key.plan.value,
        "created_at": format_datetime(key.created_at),
        "revoked_at": None if key.revoked_at is None else format_datetime(key.revoked_at),
    }


def _moment(key_time: Any) -> str:
    return "-" if key_time is None else key_time.strftime("%Y-%m-%d %H:%M:%SZ")


@click.group()
def keys() -> None:
    """API keys for the HTTP token endpoint (POST /auth/token), kept hashed in the server's store."""


@keys.command("create")
@click.option("--user", required=True, help="The user the key authenticates (the tokens' sub).")
@click.option(
    "--plan",
    type=click.Choice([p.value for p in Plan]),
    default=None,
    help="The user's plan [default: the configuration's default_plan].",
)
@store_option("The store file (made when missing).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TOML settings file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (with the key) instead.")
def create(user: str, plan: str | None, store: str, config: Path | None, as_json: bool) -> None:
    """Make a key and print it once: only its salted hash is kept, so it cannot be shown again.

    The key alone goes to stdout (``KEY=$(simutrador keys create ...)``); its id, for
    ``keys revoke``, goes to stderr.
    """
    try:
        chosen = Plan(plan) if plan is not None else EngineSettings.load(config).default_plan
    except SimutradorError as error:
        _fail(error)
    keys_file = _key_store(store, create=True)
    with keys_file:
        try:
            key = keys_file.add_api_key(user, chosen)
        except SimutradorError as error:
            _fail(error)
        about = next(k for k in keys_file.list_api_keys(user) if key.split("_")[1] == k.key_id)
    if as_json:
        click.echo(json.dumps({"key": key, **_key_json(about)}))
        return
    click.echo(key)
    click.echo(
        f"key id {about.key_id}: user {user}, {chosen.value} plan, in {keys_file.path}. "
        "Shown once: keep it now (the store holds only its hash).",
        err=True,
    )


@keys.command("list")
@click.option("--user", default=None, help="Only this user's keys.")
@store_option("The store file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead.")
def list_keys(user: str | None, store: str, as_json: bool) -> None:
    """List keys (id, user, plan, created, revoked), oldest first; never a secret."""
    with _key_store(store, create=False) as keys_file:
        found = keys_file.list_api_keys(user)
    if as_json:
        click.echo(json.dumps({"keys": [_key_json(k) for k in found]}))
        return
    if not found:
        click.echo("No API keys." if user is None else f"No API keys for {user}.")
        return
    click.echo(
        format_table(
            ("KEY ID", "USER", "PLAN", "CREATED", "REVOKED"),
            ((k.key_id, k.user_id, k.plan.value, _moment(k.created_at), _moment(k.revoked_at)) for k in found),
        )
    )


@keys.command("revoke")
@click.argument("key_id")
@store_option("The store file.")
def revoke(key_id: str, store: str) -> None:
    """Revoke a key by its id (or the whole key): it gets no more tokens; tokens already issued run out."""
    with _key_store(store, create=False) as keys_file:
        if keys_file.revoke_api_key(key_id):
            click.echo(f"revoked {key_id[:20]}")
            return
        known = {k.key_id: k for k in keys_file.list_api_keys()}
    wanted = key_id.split("_")[1] if key_id.startswith("stk_") and key_id.count("_") >= 2 else key_id
    earlier = known.get(wanted)
    if earlier is not None and earlier.revoked_at is not None:
        click.echo(f"{wanted} was already revoked ({_moment(earlier.revoked_at)})")
        return
    _fail(
        SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"no API key with id {wanted[:40]!r} in {keys_file.path} (`simutrador keys list` shows them)",
            {"key_id": wanted[:40]},
        )
    )
