"""TokenVerifier and issue_token with real JWTs (HS256 and RS256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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
