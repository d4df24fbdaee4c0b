"""Server and authentication settings, loaded like the core's: env > TOML > defaults.

TOML tables ``[server]`` and ``[auth]``; environment variables
``SIMUTRADOR_<SETTING>`` (for example ``SIMUTRADOR_PORT``, ``SIMUTRADOR_JWT_SECRET``).
A bad value raises ``VALIDATION_FAILED`` naming the setting and its variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

import attrs

from simutrador import load_settings, setting
from simutrador.codec import ParseError, parse_names, parse_number, parse_whole

__all__ = ["AuthSettings", "ServerSettings", "load_server_settings"]

MIN_SECRET_BYTES: Final = 32


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ParseError("must be text")
    return value


def _seconds(value: object) -> float:
    return parse_number(value, minimum=0.0)


def _whole(value: object) -> int:
    return parse_whole(value, minimum=0)


_WHOLE: Final = _whole


def _at_least_one(value: object) -> int:
    return parse_whole(value, minimum=1)


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
        max_connections_per_ip: Connections one client address (an IPv4 address, an
            IPv6 /64) may hold, pending and established, counted from accept; more are
            closed at once, before any byte is read.
        max_pending_handshakes: Connections still in their handshake, server-wide (a
            budget apart from ``max_connections``); when full, the oldest is dropped to
            admit a new one.
        max_pending_handshakes_per_ip: Connections one client address may hold in their
            handshake; more are closed at once.
        messages_per_second: Sustained messages per connection; more are refused
            (``RATE_LIMIT_EXCEEDED``) without being decoded.
        message_burst: Burst of messages per connection.
        receive_bytes_per_second: What the server reads from one client address (all
            its connections together), in bytes per second, each WebSocket frame
            counting ``frame_cost_bytes`` more; past it the server stops reading from
            that address until the budget refills (TCP backpressure).
        receive_burst_bytes: Burst of that budget.
        frame_cost_bytes: What each frame received (data, continuation, ping, pong,
            close) costs, in bytes, on top of its own bytes.
        handshakes_per_second: Sustained handshakes per client IP (before auth).
        handshake_burst: Burst of handshakes per client IP.
        cleanup_interval: Seconds between expired-session cleanups.
        allowed_origins: Browser ``Origin`` values allowed; empty allows any.
        shutdown_timeout: Seconds given to close connections on shutdown.
        gc_threshold: Generation-0 threshold of Python's garbage collector that a server
            process (``simutrador serve``) sets; 0 keeps Python's default (700). Each
            message allocates many short-lived objects; collecting every 700 of them
            cost about a third of a busy server's CPU (docs/performance.md).
        simulation_max_pending_ticks: The largest credit window (``max_pending_ticks``)
            a client may ask for in ``start_simulation``.
        simulation_max_orders_per_batch: Orders one ``order_batch`` (or ``tick_ack``)
            may carry; a larger batch is refused whole.
        simulation_max_open_orders: Working orders one simulation may hold.
        simulation_tick_interval_ms: Pace of a simulation streamed without flow
            control when the client names none (the original clients never acknowledge).
        simulation_ack_timeout: Seconds a tick may wait for its ``tick_ack`` before
            the simulation is paused (its state kept; ``resume_simulation`` goes on).
    """

    host: str = setting("127.0.0.1", _text)
    port: int = setting(8003, _WHOLE)
    path: str = setting("/ws/simulate", _text)
    max_message_bytes: int = setting(64 * 1024, _WHOLE)
    hard_max_message_bytes: int = setting(1024 * 1024, _WHOLE)
    handshake_timeout: float = setting(10.0, _seconds)
    idle_timeout: float = setting(300.0, _seconds)
    idle_warning: float = setting(30.0, _seconds)
    ping_interval: float = setting(20.0, _seconds)
    ping_timeout: float = setting(10.0, _seconds)
    send_timeout: float = setting(10.0, _seconds)
    max_connections: int = setting(10_000, _WHOLE)
    max_connections_per_ip: int = setting(256, _at_least_one)
    max_pending_handshakes: int = setting(1024, _at_least_one)
    max_pending_handshakes_per_ip: int = setting(32, _at_least_one)
    messages_per_second: float = setting(50.0, _seconds)
    message_burst: int = setting(100, _WHOLE)
    receive_bytes_per_second: int = setting(512 * 1024, _at_least_one)
    receive_burst_bytes: int = setting(1024 * 1024, _at_least_one)
    frame_cost_bytes: int = setting(1024, _WHOLE)
    handshakes_per_second: float = setting(20.0, _seconds)
    handshake_burst: int = setting(40, _WHOLE)
    cleanup_interval: float = setting(30.0, _seconds)
    allowed_origins: tuple[str, ...] = setting((), parse_names)
    shutdown_timeout: float = setting(5.0, _seconds)
    gc_threshold: int = setting(20_000, _WHOLE)
    simulation_max_pending_ticks: int = setting(1000, _at_least_one)
    simulation_max_orders_per_batch: int = setting(1000, _at_least_one)
    simulation_max_open_orders: int = setting(10_000, _at_least_one)
    simulation_tick_interval_ms: int = setting(100, _WHOLE)
    simulation_ack_timeout: float = setting(300.0, _seconds)


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

    jwt_secret: str = setting("", _text, repr=False)
    jwt_public_key_file: str = setting("", _text)
    jwt_algorithms: tuple[str, ...] = setting(("HS256",), parse_names)
    jwt_audience: str = setting("", _text)
    jwt_issuer: str = setting("", _text)
    max_token_bytes: int = setting(8192, _WHOLE)
    leeway_seconds: int = setting(0, _WHOLE)


def load_server_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[ServerSettings, AuthSettings]:
    """Load ``[server]`` and ``[auth]`` (env > TOML > defaults) with the core's one settings loader.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming every bad setting.
    """
    loaded = load_settings({"server": ServerSettings, "auth": AuthSettings}, path, environ)
    return loaded["server"], loaded["auth"]
