"""Token buckets and server settings loading."""

from __future__ import annotations

from pathlib import Path

import pytest
from simutrador_ws.ratelimit import DebtBucket, KeyedLimiter, TokenBucket
from simutrador_ws.settings import ServerSettings, load_server_settings

from simutrador import ErrorCode, SimutradorError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take() == 0.0
    clock.now += 100
    assert [bucket.take() for _ in range(4)][-1] == pytest.approx(0.5)  # refills to the burst only
    assert TokenBucket(rate=0, burst=1, clock=clock).take() == 0.0
    empty = TokenBucket(rate=0, burst=1, clock=clock)
    empty.take()
    assert empty.take() == float("inf")


def test_keyed_limiter_is_per_key_and_bounded() -> None:
    clock = Clock()
    limiter = KeyedLimiter(rate=1.0, burst=1, clock=clock, max_keys=2)
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0
    assert limiter.take("c") == 0.0  # "a" is evicted: the least recently seen
    assert limiter.take("a") == 0.0
    assert limiter.take("c") > 0


def test_server_settings_from_env_and_toml(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(
        '[server]\nport = 9100\nallowed_origins = ["https://a"]\nidle_timeout = 60\n[auth]\njwt_audience = "x"\n[session]\nmax_sessions_per_user = 3\n'
    )
    server, auth = load_server_settings(config, environ={"SIMUTRADOR_PORT": "9200", "SIMUTRADOR_JWT_SECRET": "k" * 40})
    assert (server.port, server.allowed_origins, server.idle_timeout) == (9200, ("https://a",), 60.0)
    assert (auth.jwt_audience, auth.jwt_secret) == ("x", "k" * 40)
    assert "k" * 40 not in repr(auth)
    via_env, _ = load_server_settings(environ={"SIMUTRADOR_CONFIG": str(config)})
    assert via_env.port == 9100
    assert load_server_settings(environ={})[0] == ServerSettings()


@pytest.mark.parametrize(
    ("text", "environ", "fragment"),
    [
        ("", {"SIMUTRADOR_PORT": "eighty"}, "server.port (SIMUTRADOR_PORT) must be a whole number >= 0, got 'eighty'"),
        ("", {"SIMUTRADOR_PING_TIMEOUT": "-1"}, "server.ping_timeout (SIMUTRADOR_PING_TIMEOUT) must be a number >= 0"),
        ("", {"SIMUTRADOR_PING_TIMEOUT": "nan"}, "must be a number >= 0"),
        ("[server]\nport = true\n", {}, "server.port (SIMUTRADOR_PORT) must be a whole number >= 0, got True"),
        ("[server]\nport = 80.5\n", {}, "must be a whole number >= 0"),
        ("[server]\nallowed_origins = [1]\n", {}, "must be a list of text"),
        ("[server]\nhost = 5\n", {}, "must be text"),
        ("[server]\nbogus = 1\n", {}, "server.bogus: unknown setting"),
        ("server = 3\n", {}, "server must be a table"),
        ("", {"SIMUTRADOR_MAX_TOKEN_BYTES": "lots"}, "auth.max_token_bytes"),
        ("[auth]\njwt_secret = 5\n", {}, "got <hidden>"),
    ],
)
def test_bad_server_settings_name_themselves(tmp_path: Path, text: str, environ: dict[str, str], fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SimutradorError) as info:
        load_server_settings(config, environ=environ)
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert fragment in info.value.message


def test_server_settings_validate_values_built_in_code() -> None:
    with pytest.raises(ValueError, match="port must be a whole number >= 0"):
        ServerSettings(port=-1)
    with pytest.raises(ValueError, match="idle_timeout must be a number >= 0"):
        ServerSettings(idle_timeout=float("nan"))
    with pytest.raises(ValueError, match="allowed_origins must be a list of text"):
        ServerSettings(allowed_origins=(1,))  # type: ignore[arg-type]


def test_debt_bucket_lets_work_happen_then_says_how_long_to_wait() -> None:
    clock = Clock()
    bucket = DebtBucket(rate=100.0, burst=50, clock=clock)
    assert bucket.delay() == 0.0
    bucket.spend(40)
    assert bucket.delay() == 0.0  # within the burst
    bucket.spend(60)  # 50 in debt
    assert bucket.delay() == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.delay() == pytest.approx(0.25)
    clock.now += 100
    bucket.spend(50)
    assert bucket.delay() == 0.0  # refilled to the burst only
    frozen = DebtBucket(rate=0, burst=1, clock=clock)
    frozen.spend(2)
    assert frozen.delay() == float("inf")
