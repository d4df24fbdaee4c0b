"""Session fields from the command line: ``--config`` files, aliases and flags, merged one way.

``simutrador session create`` and ``simutrador run`` both take session fields from
flags, a ``--config`` file (TOML or JSON) and, for ``run``, the strategy file's
``SESSION``; the names and aliases are the core's one table
(`simutrador.codec.canonical_fields`). Later sources override earlier ones.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from simutrador.codec import canonical_fields

__all__ = ["load_request_file", "merge_fields", "session_options"]


_SESSION_OPTIONS = (
    click.option("--symbols", help="Comma-separated symbols, e.g. AAPL,MSFT."),
    click.option("--start", help="First day (YYYY-MM-DD)."),
    click.option("--end", help="Last day (YYYY-MM-DD)."),
    click.option("--capital", help="Initial capital, e.g. 100000."),
    click.option("--timeframe", help="Bar size: 1min 5min 15min 30min 1h 2h 4h daily weekly monthly."),
    click.option(
        "--config", type=click.Path(dir_okay=False, path_type=Path), help="A .toml or .json file of session fields."
    ),
    click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Your own data folder."),
)


def session_options(function: Any) -> Any:
    """Add --symbols, --start, --end, --capital, --timeframe, --config and --data-dir (``run`` and ``sweep``)."""
    for option in reversed(_SESSION_OPTIONS):
        function = option(function)
    return function


def load_request_file(path: Path) -> dict[str, Any]:
    """A ``.toml`` or ``.json`` file holding one table of session fields.

    Raises:
        click.BadParameter: unreadable, not TOML/JSON, or not a table.
    """
    try:
        text = path.read_bytes()
        loaded = tomllib.loads(text.decode()) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--config") from None
    if not isinstance(loaded, dict):
        raise click.BadParameter(f"{path} must hold a table/object of session fields", param_hint="--config")
    return loaded  # pyright: ignore[reportUnknownVariableType]


def merge_fields(sources: list[tuple[str, Mapping[str, Any]]], flags: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `sources` (label, fields) in order, then the flags that were given (not None).

    Aliases become canonical names; symbols given as ``"AAPL,MSFT"`` become a list.
    Missing fields are left for the caller to report or prompt for.

    Raises:
        click.BadParameter: a source names an unknown field or an alias beside its canonical name.
    """
    fields: dict[str, Any] = {}
    for where, source in sources:
        renamed, problems, _ = canonical_fields(source)
        problems = [p for p in problems if not p.startswith("missing field")]
        if problems:
            raise click.BadParameter(f"{where}: {'; '.join(problems)}", param_hint="--config")
        fields.update(renamed)
    fields.update({k: v for k, v in flags.items() if v is not None})
    if isinstance(fields.get("symbols"), str):
        fields["symbols"] = [part.strip() for part in fields["symbols"].split(",") if part.strip()]
    return fields
