"""The HTTP side's answers, sans I/O: ``POST /auth/token`` and ``GET /health``.

The original SimuTrador clients log in over plain HTTP before they open a WebSocket:
``POST /auth/token`` with an ``X-API-Key`` header returns a JWT
(``{access_token, expires_in, token_type, user_id, plan}``) minted exactly as
``simutrador token`` mints it (`simutrador_ws.auth.issue_token`, the server's own
`AuthSettings`), for the user and plan the key was made for
(`simutrador.ApiKeyStore`: keys are kept hashed, made with ``simutrador keys create``).

`RestService.handle` turns one parsed `HttpRequest` into one `HttpResponse` and never
raises; it holds no sockets and reads time from injected clocks, so tests call it
directly. `simutrador_ws.httpserver.HttpServer` owns the listener, h11, sizes and
deadlines. In order, per request: the per-address request limiter (429 with
``Retry-After``), the path (404), the method (405 with ``Allow``), then the route.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import Any, Final

import attrs

from simutrador import ApiKeyStore, SimutradorError, load_settings, setting
from simutrador.codec import format_datetime, parse_number, parse_whole
from simutrador_ws.admission import address_key
from simutrador_ws.auth import issue_token
from simutrador_ws.ratelimit import KeyedLimiter
from simutrador_ws.settings import AuthSettings

__all__ = [
    "MIN_TOKEN_LIFETIME",
    "HttpRequest",
    "HttpResponse",
    "HttpSettings",
    "RestService",
    "load_http_settings",
    "server_version",
]

logger = logging.getLogger(__name__)

MIN_TOKEN_LIFETIME: Final = 301
"""Shortest ``token_expires_in``: the original clients throw a token away 5 minutes before it expires."""


def _seconds(value: object) -> float:
    return parse_number(value, minimum=0.0)


def _whole(value: object) -> int:
    return parse_whole(value, minimum=0)


def _at_least_one(value: object) -> int:
    return parse_whole(value, minimum=1)


def _token_lifetime(value: object) -> int:
    return parse_whole(value, minimum=MIN_TOKEN_LIFETIME)


def _header_budget(value: object) -> int:
    return parse_whole(value, minimum=1024)


@attrs.frozen(kw_only=True)
class HttpSettings:
    """The HTTP listener's settings: TOML table ``[http]``, variables ``SIMUTRADOR_HTTP_<SETTING>``.

    The listener shares the WebSocket server's ``host``.

    Attributes:
        port: TCP port (0 picks a free one); the original clients expect 8001.
        token_expires_in: Lifetime in seconds of the tokens ``POST /auth/token``
            issues; at least 301 (the original clients discard a token 5 minutes
            before it expires).
        requests_per_second: Sustained requests per client address (IPv4 address or
            IPv6 /64), any path; more are answered 429 with ``Retry-After``.
        request_burst: Burst of requests per client address.
        request_timeout: Seconds a client has to send its whole request (and read the
            answer); past it the connection is answered 408 (or dropped) and closed.
        max_header_bytes: Largest request line and headers; larger is 431 and a close.
        max_body_bytes: Largest request body; larger is 413 and a close.
        max_connections: Connections open at once, server-wide; when full, the oldest
            is dropped to admit a new one.
        max_connections_per_ip: Connections one client address may hold; more are
            closed at once, before any byte is read.
    """

    port: int = setting(8001, _whole)
    token_expires_in: int = setting(3600, _token_lifetime)
    requests_per_second: float = setting(5.0, _seconds)
    request_burst: int = setting(20, _at_least_one)
    request_timeout: float = setting(10.0, _seconds)
    max_header_bytes: int = setting(8192, _header_budget)
    max_body_bytes: int = setting(4096, _whole)
    max_connections: int = setting(256, _at_least_one)
    max_connections_per_ip: int = setting(16, _at_least_one)


def load_http_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> HttpSettings:
    """Load ``[http]`` (env ``SIMUTRADOR_HTTP_<SETTING>`` > TOML > defaults) with the core's one settings loader.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming every bad setting.
    """
    return load_settings({"http": HttpSettings}, path, environ, env_infixes={"http": "HTTP_"})["http"]


def server_version() -> str:
    """The installed SimuTrador's version (``0+unknown`` when it is not installed as a distribution)."""
    try:
        return metadata.version("simutrador")
    except metadata.PackageNotFoundError:  # pragma: no cover - the tests run from an installed checkout
        return "0+unknown"


@attrs.frozen(kw_only=True, slots=True)
class HttpRequest:
    """One parsed HTTP request.

    Attributes:
        method: The method, upper case (``POST``).
        target: The request target as sent (``/auth/token``, with any query).
        headers: ``(name, value)`` pairs, names lower case, in the order sent.
        body: The whole body (already bounded by the listener).
        address: The client's address (``"unknown"`` for a memory stream).
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    address: str = "unknown"

    def header_values(self, name: str) -> list[str]:
        """Every value of the header `name` (lower case), in order."""
        return [value for key, value in self.headers if key == name]


@attrs.frozen(kw_only=True, slots=True)
class HttpResponse:
    """One answer: a status, a JSON body, extra headers (the listener adds length, type and ``Connection``).

    Attributes:
        status: The HTTP status code.
        body: The encoded JSON body.
        headers: Extra ``(name, value)`` pairs.
    """

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, status: int, data: Mapping[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
        """A response whose body is `data` as compact JSON."""
        return cls(status=status, body=json.dumps(data, separators=(",", ":")).encode(), headers=headers)

    @classmethod
    def problem(cls, status: int, detail: str, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
        """An error response ``{"detail": ...}`` (FastAPI's shape, which the original clients read)."""
        return cls.json(status, {"detail": detail}, headers)


_NO_STORE: Final = (("cache-control", "no-store"), ("pragma", "no-cache"))
_INVALID_KEY: Final = "invalid API key"

Handler = Callable[["RestService", HttpRequest], HttpResponse]


def _token(service: RestService, request: HttpRequest) -> HttpResponse:
    """``POST /auth/token``: an API key in, a JWT out."""
    if service.auth is None:
        return HttpResponse.problem(
            501, "this server issues no tokens: it verifies tokens signed elsewhere (public-key authentication)"
        )
    presented = request.header_values("x-api-key")
    if len(presented) > 1:
        return HttpResponse.problem(400, "more than one X-API-Key header")
    found = service.keys.verify_api_key(presented[0]) if presented else None
    if found is None:
        logger.info("token refused: %s API key from %s", "unknown" if presented else "no", request.address)
        return HttpResponse.problem(401, _INVALID_KEY)
    user_id, plan = found
    lifetime = service.settings.token_expires_in
    token = issue_token(service.auth, user_id, plan=plan, expires_in=timedelta(seconds=lifetime), now=service.now())
    logger.info("token issued: user=%s plan=%s", user_id, plan.value)
    return HttpResponse.json(
        200,
        {
            "access_token": token,
            "expires_in": lifetime,
            "token_type": "Bearer",
            "user_id": user_id,
            "plan": plan.value,
        },
        _NO_STORE,
    )


def _health(service: RestService, _request: HttpRequest) -> HttpResponse:
    """``GET /health``: the server answers."""
    return HttpResponse.json(200, service.health())


ROUTES: Final[Mapping[str, Mapping[str, Handler]]] = {
    "/auth/token": {"POST": _token},
    "/health": {"GET": _health},
}
"""Path → method → handler. The HTTP side's one dispatch table."""


class RestService:
    """Answers HTTP requests (sans I/O); thread-safe as its key store is.

    Args:
        keys: Where API keys are verified.
        auth: The settings tokens are signed with (`issue_token`'s HS256 secret);
            None when the server only verifies tokens signed elsewhere (then
            ``/auth/token`` answers 501).
        settings: Token lifetime and the request rate per client address.
        clock: Monotonic seconds, for the rate limiter.
        now: The current aware UTC time, for ``server_time`` and the tokens' ``iat``.
        version: What ``server_version`` says.
    """

    def __init__(
        self,
        keys: ApiKeyStore,
        auth: AuthSettings | None,
        settings: HttpSettings,
        *,
        clock: Callable[[], float],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        version: str | None = None,
    ) -> None:
        self.keys = keys
        self.auth = auth
        self.settings = settings
        self.now = now
        self.version = version or server_version()
        self._limiter = KeyedLimiter(settings.requests_per_second, settings.request_burst, clock)

    def health(self) -> dict[str, str]:
        """``{"status": "ok", "server_time", "server_version"}`` (``GET /health`` and ``/ws/health``)."""
        return {"status": "ok", "server_time": format_datetime(self.now()), "server_version": self.version}

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The answer to `request`. Never raises: a failure is a 500 (logged, never with the key)."""
        wait = self._limiter.take(address_key(request.address))
        if wait:
            return HttpResponse.problem(
                429, "too many requests", (("retry-after", str(max(1, math.ceil(min(wait, 86_400))))),)
            )
        methods = ROUTES.get(request.target.partition("?")[0])
        if methods is None:
            return HttpResponse.problem(404, "not found")
        handler = methods.get(request.method)
        if handler is None:
            return HttpResponse.problem(405, "method not allowed", (("allow", ", ".join(methods)),))
        try:
            return handler(self, request)
        except SimutradorError as error:  # the store failed (its own error names the file)
            logger.error("HTTP %s %s failed: %s", request.method, request.target[:100], error.message)
        except Exception:
            logger.exception("HTTP %s %s failed", request.method, request.target[:100])
        return HttpResponse.problem(500, "internal error")
