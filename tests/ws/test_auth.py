"""TokenVerifier and issue_token with real JWTs (HS256 and RS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from simutrador_ws.auth import TokenVerifier, generate_secret, issue_token
from simutrador_ws.settings import AuthSettings

from simutrador import ErrorCode, Plan, SimutradorError

SECRET = "s" * 40
NOW = datetime.now(UTC)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "alice",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(hours=1)).timestamp()),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def refused(verifier: TokenVerifier, token: str | None) -> str:
    with pytest.raises(SimutradorError) as info:
        verifier.verify(token)
    assert info.value.code is ErrorCode.AUTHENTICATION_FAILED
    return info.value.message


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (AuthSettings(jwt_secret=SECRET, jwt_algorithms=()), "jwt_algorithms"),
        (AuthSettings(jwt_secret=SECRET, jwt_algorithms=("none",)), "jwt_algorithms"),
        (AuthSettings(jwt_secret=SECRET, jwt_algorithms=("HS256", "RS256")), "must not mix"),
        (AuthSettings(jwt_secret="short"), "at least 32 bytes"),
        (AuthSettings(jwt_algorithms=("RS256",), jwt_public_key_file="/nonexistent.pem"), "cannot read"),
    ],
)
def test_bad_key_material_refuses_to_start(settings: AuthSettings, fragment: str) -> None:
    with pytest.raises(SimutradorError) as info:
        TokenVerifier(settings)
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert fragment in info.value.message


def test_hs256_claims_and_refusals() -> None:
    settings = AuthSettings(jwt_secret=SECRET, jwt_audience="aud-1", jwt_issuer="iss-1")
    verifier = TokenVerifier(settings)
    assert verifier.settings is settings
    good = issue_token(settings, "alice", plan=Plan.ENTERPRISE, admin=True)
    identity = verifier.verify(good)
    assert (identity.user_id, identity.plan, identity.admin) == ("alice", Plan.ENTERPRISE, True)
    assert identity.expires_at > NOW
    sign = lambda **c: jwt.encode(claims(aud="aud-1", iss="iss-1", **c), SECRET, algorithm="HS256")  # noqa: E731
    assert verifier.verify(sign()).plan is Plan.FREE  # no plan claim: free
    assert refused(verifier, None) == "missing token"
    assert refused(verifier, "") == "missing token"
    assert refused(verifier, "é" + good) == "malformed token"
    assert refused(verifier, "x" * 9000) == "malformed token"
    assert refused(verifier, sign(exp=int((NOW - timedelta(minutes=1)).timestamp()))) == "token expired"
    assert (
        refused(verifier, jwt.encode(claims(aud="other", iss="iss-1"), SECRET, algorithm="HS256"))
        == "wrong token audience"
    )
    assert (
        refused(verifier, jwt.encode(claims(aud="aud-1", iss="other"), SECRET, algorithm="HS256"))
        == "wrong token issuer"
    )
    assert refused(verifier, sign(sub=None)) == "token lacks the sub claim"
    assert (
        refused(verifier, jwt.encode(claims(aud="aud-1", iss="iss-1"), SECRET * 2, algorithm="HS512"))
        == "token algorithm not allowed"
    )
    assert (
        refused(verifier, jwt.encode(claims(aud="aud-1", iss="iss-1"), "t" * 40, algorithm="HS256"))
        == "bad token signature"
    )
    assert refused(verifier, sign(sub="x" * 200)).startswith("token subject must be")
    assert refused(verifier, sign(plan="gold")).startswith("unknown plan")
    assert verifier.verify(sign(admin="yes")).admin is False  # only a real true counts


def test_rs256_with_a_public_key_file(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verifier = TokenVerifier(AuthSettings(jwt_algorithms=("RS256",), jwt_public_key_file=str(public)))
    token = jwt.encode(claims(plan="professional"), key, algorithm="RS256")
    assert verifier.verify(token).plan is Plan.PROFESSIONAL
    forged = jwt.encode(claims(), SECRET, algorithm="HS256")  # key confusion attempt
    assert refused(verifier, forged) == "token algorithm not allowed"


def test_issue_token_needs_a_long_secret() -> None:
    with pytest.raises(SimutradorError) as info:
        issue_token(AuthSettings(jwt_secret="short"), "alice")
    assert info.value.code is ErrorCode.VALIDATION_FAILED
    assert len(generate_secret()) >= 48
    assert generate_secret() != generate_secret()


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": 10**13}, "token expiry (exp) is out of range"),  # past year 9999: it dropped the connection
        ({"exp": -(10**13)}, "token expiry (exp) is out of range"),
        ({"exp": "9999999999"}, "token expiry (exp) must be a number of seconds since 1970"),  # pyjwt took it
        ({"exp": True}, "token expiry (exp) must be a number of seconds since 1970"),
        ({"exp": float("inf")}, "token expiry (exp) must be a number of seconds since 1970"),
        ({"exp": float("nan")}, "token expiry (exp) must be a number of seconds since 1970"),
        ({"exp": [1]}, "token expiry (exp) must be a number of seconds since 1970"),
        ({"iat": "now"}, "token issue time (iat) must be a number of seconds since 1970"),
        ({"iat": 10**13}, "token issue time (iat) is out of range"),
        ({"nbf": "soon"}, "token not-before time (nbf) must be a number of seconds since 1970"),
        (
            {"nbf": int((NOW + timedelta(hours=1)).timestamp())},
            "token not valid yet: its nbf (not before) is in the future",
        ),
        (
            {"iat": int((NOW + timedelta(hours=1)).timestamp())},
            "token issued in the future (iat); check the issuer's clock",
        ),
        ({"exp": int(NOW.timestamp()) - 5}, "token expired"),
        ({"sub": "   "}, "token subject must be 1-128 printable characters, not only spaces"),
        ({"sub": "\t"}, "token subject must be 1-128 printable characters, not only spaces"),
        ({"sub": 5}, "malformed token"),  # pyjwt refuses a non-string sub
        ({"plan": ["gold"]}, "unknown plan; expected one of free, professional, enterprise"),
    ],
)
def test_claims_a_crafted_token_gets_wrong_are_refused_with_a_reason(overrides: dict[str, Any], reason: str) -> None:
    assert refused(TokenVerifier(AuthSettings(jwt_secret=SECRET)), hs256(**overrides)) == reason


def test_time_claims_follow_the_injected_clock_and_the_leeway() -> None:
    now = NOW.timestamp()
    verifier = TokenVerifier(AuthSettings(jwt_secret=SECRET, leeway_seconds=30), clock=lambda: now)
    fractional = verifier.verify(hs256(exp=now + 0.5, iat=now + 29, nbf=now + 29))
    assert fractional.expires_at.timestamp() == pytest.approx(now + 0.5)
    assert verifier.verify(hs256(exp=now - 29)).user_id == "alice"  # within the leeway
    assert refused(verifier, hs256(exp=now - 30)) == "token expired"
    assert refused(verifier, hs256(nbf=now + 31)).startswith("token not valid yet")
    assert refused(verifier, hs256(iat=now + 31)).startswith("token issued in the future")


def write_key(path: Path, key: Any, *, private: bool = False) -> str:
    if private:
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    else:
        data = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    path.write_bytes(data)
    return str(path)


def test_key_material_is_loaded_and_checked_at_start_up(tmp_path: Path) -> None:
    """Issue 13, defect 6: a garbage key meant 401 for everyone; a private key dropped every handshake."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    cases = [
        (("RS256",), str(garbage), "holds no key RS256 can verify with"),
        (("RS256",), write_key(tmp_path / "private.pem", rsa_key, private=True), "holds a private key"),
        (("ES256",), write_key(tmp_path / "rsa.pem", rsa_key), "holds no key ES256 can verify with"),
        (("ES256", "RS256"), write_key(tmp_path / "ec.pem", ec_key), "holds no key RS256 can verify with"),
        (("RS256",), str(tmp_path), "cannot read the JWT public key file"),
    ]
    for algorithms, path, fragment in cases:
        with pytest.raises(SimutradorError) as info:
            TokenVerifier(AuthSettings(jwt_algorithms=algorithms, jwt_public_key_file=path))
        assert info.value.code is ErrorCode.VALIDATION_FAILED
        assert fragment in info.value.message, (algorithms, info.value.message)
        assert info.value.details == {"fields": ["jwt_public_key_file"]}
    pem_secret = (tmp_path / "rsa.pem").read_text() + "x" * 40
    with pytest.raises(SimutradorError) as info:
        TokenVerifier(AuthSettings(jwt_secret=pem_secret))
    assert "looks like a PEM or SSH key" in info.value.message
    verifier = TokenVerifier(AuthSettings(jwt_algorithms=("ES256",), jwt_public_key_file=str(tmp_path / "ec.pem")))
    assert verifier.verify(jwt.encode(claims(), ec_key, algorithm="ES256")).user_id == "alice"
    other = ec.generate_private_key(ec.SECP256R1())
    assert refused(verifier, jwt.encode(claims(), other, algorithm="ES256")) == "bad token signature"
