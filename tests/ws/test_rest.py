"""`simutrador_ws.rest`, sans I/O: the token endpoint, health, the request limiter, the routes, the settings."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from simutrador_ws.auth import TokenVerifier, issue_token
from simutrador_ws.rest import (
    MIN_TOKEN_LIFETIME,
    HttpRequest,
    HttpResponse,
    HttpSettings,
    RestService,
    load_http_settings,
    server_version,
)

from simutrador import ErrorCode, MemoryStore, Plan, SimutradorError
from tests.ws.harness import AUTH, SECRET

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


class Seconds:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_service(store: Any = None, *, auth: Any = AUTH, **settings: Any) -> tuple[RestService, Seconds]:
    clock = Seconds()
    service = RestService(
        store if store is not None else MemoryStore(),
        auth,
        HttpSettings(**settings),
        clock=clock,
        now=lambda: NOW,
        version="9.9.9",
    )
    return service, clock


def post_token(key: str | None, *, address: str = "192.0.2.1", extra: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    headers = (("content-type", "application/json"), *((("x-api-key", key),) if key is not None else ()), *extra)
    return HttpRequest(method="POST", target="/auth/token", headers=headers, body=b"{}", address=address)


def body(response: HttpResponse) -> dict[str, Any]:
    return json.loads(response.body)


def test_a_key_gets_a_token_minted_as_simutrador_token_mints_it() -> None:
    store = MemoryStore()
    key = store.add_api_key("alice", Plan.PROFESSIONAL)
    service, _ = make_service(store)
    response = service.handle(post_token(key))
    assert response.status == 200
    assert dict(response.headers) == {"cache-control": "no-store", "pragma": "no-cache"}
    answer = body(response)
    assert {k: v for k, v in answer.items() if k != "access_token"} == {
        "expires_in": 3600,
        "token_type": "Bearer",
        "user_id": "alice",
        "plan": "professional",
    }
    token = answer["access_token"]
    assert token == issue_token(AUTH, "alice", plan=Plan.PROFESSIONAL, expires_in=timedelta(hours=1), now=NOW)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUTH.jwt_audience, options={"verify_exp": False})
    assert (claims["sub"], claims["plan"], claims["exp"] - claims["iat"]) == ("alice", "professional", 3600)
    identity = TokenVerifier(AUTH, clock=NOW.timestamp).verify(token)
    assert (identity.user_id, identity.plan) == ("alice", Plan.PROFESSIONAL)


def test_the_token_lifetime_is_a_setting() -> None:
    store = MemoryStore()
    key = store.add_api_key("bob")
    service, _ = make_service(store, token_expires_in=900)
    answer = body(service.handle(post_token(key)))
    assert (answer["expires_in"], answer["plan"]) == (900, "free")
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900


@pytest.mark.parametrize("key", [None, "", "nonsense", "stk_0123456789abcdef_" + "x" * 43])
def test_a_missing_or_unknown_key_is_401(key: str | None, caplog: pytest.LogCaptureFixture) -> None:
    service, _ = make_service()
    with caplog.at_level(logging.INFO):
        response = service.handle(post_token(key))
    assert (response.status, body(response)) == (401, {"detail": "invalid API key"})
    if key:
        assert key not in caplog.text


def test_a_revoked_key_is_401() -> None:
    store = MemoryStore()
    key = store.add_api_key("alice")
    service, _ = make_service(store)
    assert service.handle(post_token(key)).status == 200
    assert store.revoke_api_key(key)
    assert body(service.handle(post_token(key))) == {"detail": "invalid API key"}


def test_two_key_headers_are_400() -> None:
    store = MemoryStore()
    key = store.add_api_key("alice")
    service, _ = make_service(store)
    response = service.handle(post_token(key, extra=(("x-api-key", key),)))
    assert (response.status, body(response)) == (400, {"detail": "more than one X-API-Key header"})


def test_a_server_that_only_verifies_issues_no_token() -> None:
    store = MemoryStore()
    service, _ = make_service(store, auth=None)
    response = service.handle(post_token(store.add_api_key("alice")))
    assert response.status == 501
    assert "issues no tokens" in body(response)["detail"]


class BrokenStore(MemoryStore):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def verify_api_key(self, key: str) -> tuple[str, Plan] | None:
        raise self.error


@pytest.mark.parametrize(
    "error", [SimutradorError(ErrorCode.INTERNAL_ERROR, "the session store x.db failed"), RuntimeError("bug")]
)
def test_a_failing_store_is_500_for_that_request_only(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    service, _ = make_service(BrokenStore(error))
    key = "stk_0123456789abcdef_" + "s" * 43
    with caplog.at_level(logging.ERROR):
        response = service.handle(post_token(key))
    assert (response.status, body(response)) == (500, {"detail": "internal error"})
    assert "/auth/token failed" in caplog.text
    assert key not in caplog.text
    assert service.handle(HttpRequest(method="GET", target="/health")).status == 200


def test_health() -> None:
    service, _ = make_service()
    response = service.handle(HttpRequest(method="GET", target="/health?probe=1"))
    assert (response.status, body(response)) == (
        200,
        {"status": "ok", "server_time": "2025-06-02T09:30:00Z", "server_version": "9.9.9"},
    )
    assert service.health() == body(response)


def test_the_server_version_is_the_installed_distributions() -> None:
    from importlib import metadata

    assert server_version() == metadata.version("simutrador")
    assert RestService(MemoryStore(), AUTH, HttpSettings(), clock=Seconds()).version == server_version()


@pytest.mark.parametrize(
    ("method", "target", "status", "allow"),
    [
        ("GET", "/", 404, None),
        ("GET", "/auth/tokens", 404, None),
        ("POST", "http://example.com/auth/token", 404, None),
        ("GET", "/auth/token", 405, "POST"),
        ("PUT", "/auth/token", 405, "POST"),
        ("POST", "/health", 405, "GET"),
        ("HEAD", "/health", 405, "GET"),
    ],
)
def test_other_paths_and_methods(method: str, target: str, status: int, allow: str | None) -> None:
    service, _ = make_service()
    response = service.handle(HttpRequest(method=method, target=target))
    assert response.status == status
    assert dict(response.headers).get("allow") == allow
    assert body(response)["detail"] == ("not found" if status == 404 else "method not allowed")


def test_requests_are_limited_per_address_with_retry_after() -> None:
    service, clock = make_service(requests_per_second=0.5, request_burst=3)
    health = HttpRequest(method="GET", target="/health", address="192.0.2.1")
    assert [service.handle(health).status for _ in range(3)] == [200, 200, 200]
    refused = service.handle(health)
    assert (refused.status, body(refused), dict(refused.headers)) == (
        429,
        {"detail": "too many requests"},
        {"retry-after": "2"},
    )
    other = HttpRequest(method="GET", target="/nope", address="192.0.2.2")
    assert service.handle(other).status == 404  # another address has its own bucket
    clock.now += 2
    assert service.handle(health).status == 200
    assert service.handle(post_token("x", address="192.0.2.1")).status == 429  # every path counts


def test_one_ipv6_subscriber_shares_one_bucket() -> None:
    service, _ = make_service(requests_per_second=0.001, request_burst=1)
    first = HttpRequest(method="GET", target="/health", address="2001:db8::1")
    same_prefix = HttpRequest(method="GET", target="/health", address="2001:db8::2")
    assert service.handle(first).status == 200
    assert service.handle(same_prefix).status == 429


def test_retry_after_is_bounded_when_the_rate_is_zero() -> None:
    service, _ = make_service(requests_per_second=0, request_burst=1)
    health = HttpRequest(method="GET", target="/health")
    assert service.handle(health).status == 200
    assert dict(service.handle(health).headers) == {"retry-after": "86400"}


def test_request_header_values() -> None:
    request = HttpRequest(method="GET", target="/", headers=(("a", "1"), ("b", "2"), ("a", "3")))
    assert request.header_values("a") == ["1", "3"]
    assert request.header_values("c") == []


# -- settings -------------------------------------------------------------------------------


def test_http_settings_defaults() -> None:
    settings = HttpSettings()
    assert (settings.port, settings.token_expires_in, settings.requests_per_second) == (8001, 3600, 5.0)
    assert load_http_settings(environ={}) == settings


def test_http_settings_from_env_and_toml(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text("[server]\nport = 9003\n[http]\nport = 9001\nrequest_timeout = 2.5\n")
    loaded = load_http_settings(config, environ={"SIMUTRADOR_HTTP_TOKEN_EXPIRES_IN": "7200"})
    assert (loaded.port, loaded.request_timeout, loaded.token_expires_in) == (9001, 2.5, 7200)
    by_env = load_http_settings(config, environ={"SIMUTRADOR_HTTP_PORT": "0", "SIMUTRADOR_PORT": "1"})
    assert by_env.port == 0  # SIMUTRADOR_PORT is the WebSocket's


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SIMUTRADOR_HTTP_TOKEN_EXPIRES_IN", "300", "http.token_expires_in (SIMUTRADOR_HTTP_TOKEN_EXPIRES_IN)"),
        ("SIMUTRADOR_HTTP_PORT", "-1", "http.port (SIMUTRADOR_HTTP_PORT)"),
        ("SIMUTRADOR_HTTP_MAX_HEADER_BYTES", "100", "http.max_header_bytes"),
        ("SIMUTRADOR_HTTP_REQUEST_BURST", "0", "http.request_burst"),
    ],
)
def test_bad_http_settings_name_themselves(variable: str, value: str, named: str) -> None:
    with pytest.raises(SimutradorError) as caught:
        load_http_settings(environ={variable: value})
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert named in caught.value.message


def test_tokens_outlive_the_original_clients_five_minute_margin() -> None:
    assert MIN_TOKEN_LIFETIME > 300
    with pytest.raises(ValueError, match="token_expires_in"):
        HttpSettings(token_expires_in=300)
