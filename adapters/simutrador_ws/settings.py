"""Server and authentication settings, loaded like the core's: env > TOML > defaults.

TOML tables ``[server]`` and ``[auth]``; environment variables
``SIMUTRADOR_<SETTING>`` (for example ``SIMUTRADOR_PORT``, ``SIMUTRADOR_JWT_SECRET``).
A bad value raises ``VALIDATION_FAILED`` naming the setting and its variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Final, get_args

import attrs

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.settings import ENV_PREFIX, read_toml

__all__ = ["AuthSettings", "ServerSettings", "load_server_settings"]

MIN_SECRET_BYTES: Final = 32


@attrs.frozen(kw_only=True)
class ServerSettings:
    """Transport concerns of the WebSocket server.

    Attributes:
        host: Interface to listen on.
        port: TCP port (0 picks a free one).
        path: The WebSocket path.
        max_message_bytes: Larger messages get ``INVALID_MESSAGE``; the connection stays.
        hard_max_message_bytes: Larger frames close the connection (1009).
        handshake_timeout: Seconds to finish the HTTP upgrade, token check and accept.
        idle_timeout: Seconds without a client message before the connection closes.
        idle_warning: Seconds before the idle close at which a warning is sent.
        ping_interval: Seconds between heartbeat pings.
        ping_timeout: Seconds a pong may take before the connection is closed.
        send_timeout: Seconds one outbound message may take to send.
        max_connections: Open connections the whole server accepts.
        messages_per_second: Sustained messages per connection.
        message_burst: Burst of messages per connection.
        handshakes_per_second: Sustained handshakes per client IP (before auth).
        handshake_burst: Burst of handshakes per client IP.
        cleanup_interval: Seconds between expired-session cleanups.
        allowed_origins: Browser ``Origin`` values allowed; empty allows any.
        shutdown_timeout: Seconds given to close connections on shutdown.
        gc_threshold: Generation-0 threshold of Python's garbage collector that a server
            process (``simutrador serve``) sets; 0 keeps Python's default (700). Each
            message allocates many short-lived objects; collecting every 700 of them
            cost about a third of a busy server's CPU (docs/performance.md).
    """

    host: str = "127.0.0.1"
    port: int = 8003
    path: str = "/ws/simulate"
    max_message_bytes: int = 64 * 1024
    hard_max_message_bytes: int = 1024 * 1024
    handshake_timeout: float = 10.0
    idle_timeout: float = 300.0
    idle_warning: float = 30.0
    ping_interval: float = 20.0
    ping_timeout: float = 10.0
    send_timeout: float = 10.0
    max_connections: int = 10_000
    messages_per_second: float = 50.0
    message_burst: int = 100
    handshakes_per_second: float = 20.0
    handshake_burst: int = 40
    cleanup_interval: float = 30.0
    allowed_origins: tuple[str, ...] = ()
    shutdown_timeout: float = 5.0
    gc_threshold: int = 20_000


@attrs.frozen(kw_only=True)
class AuthSettings:
    """How tokens are checked.

    Attributes:
        jwt_secret: HS256 shared secret (at least 32 bytes).
        jwt_public_key_file: PEM public key for RS256/ES256 (instead of a secret).
        jwt_algorithms: The allow-list of algorithms.
        jwt_audience: Required ``aud``, when set.
        jwt_issuer: Required ``iss``, when set.
        max_token_bytes: Longer tokens are refused before decoding.
        leeway_seconds: Clock skew tolerated on ``exp``/``iat``.
    """

    jwt_secret: str = attrs.field(default="", repr=False)
    jwt_public_key_file: str = ""
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str = ""
    jwt_issuer: str = ""
    max_token_bytes: int = 8192
    leeway_seconds: int = 0


def _parse(kind: Any, text: object) -> object:
    if kind is str:
        if not isinstance(text, str):
            raise ValueError("must be text")
        return text
    if get_args(kind):  # tuple[str, ...]
        if isinstance(text, str):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if isinstance(text, list) and all(isinstance(i, str) for i in text):  # pyright: ignore[reportUnknownVariableType]
            return tuple(text)  # pyright: ignore[reportUnknownArgumentType]
        raise ValueError("must be a list of text")
    if isinstance(text, bool):
        raise ValueError("must be a number")
    value = kind(text.strip()) if isinstance(text, str) else kind(text)
    if value < 0 or (kind is float and not math.isfinite(value)):
        raise ValueError("must be a non-negative number")
    return value


def _load_table(cls: type[Any], raw: Mapping[str, Any], table: str, env: Mapping[str, str], problems: list[str]) -> Any:
    values: dict[str, object] = {}
    fields = {f.name: f for f in attrs.fields(cls)}
    problems += [f"{table}.{key}: unknown setting" for key in raw if key not in fields]
    kinds = {"str": str, "int": int, "float": float, "tuple[str, ...]": tuple[str, ...]}
    for name, field in fields.items():
        variable = ENV_PREFIX + name.upper()
        if variable in env:
            text: object = env[variable]
        elif name in raw:
            text = raw[name]
        else:
            continue
        kind = kinds[field.type] if isinstance(field.type, str) else field.type
        try:
            values[name] = _parse(kind, text)
        except (TypeError, ValueError, OverflowError) as exc:
            shown = "<hidden>" if "secret" in name else repr(text)
            problems.append(
                f"{table}.{name} ({variable}) {exc if str(exc).startswith('must') else 'is invalid'}, got {shown}"
            )
    return cls(**values)


def load_server_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[ServerSettings, AuthSettings]:
    """Load ``[server]`` and ``[auth]`` (env > TOML > defaults).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming every bad setting.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = env[ENV_PREFIX + "CONFIG"]
    raw = read_toml(path) if path is not None else {}
    problems: list[str] = []
    tables = {}
    for table in ("server", "auth"):
        value = raw.get(table, {})
        if not isinstance(value, Mapping):
            problems.append(f"{table} must be a table")
            value = {}
        tables[table] = value
    server = _load_table(ServerSettings, tables["server"], "server", env, problems)
    auth = _load_table(AuthSettings, tables["auth"], "auth", env, problems)
    if problems:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED, "invalid configuration: " + "; ".join(problems), {"problems": problems}
        )
    return server, auth
