"""JWT authentication: who is connecting, on which plan, until when.

Tokens are checked with pyjwt against a constant allow-list of algorithms (never
``none``), with ``sub``, ``exp`` and ``iat`` required and ``aud``/``iss`` verified
when configured. The time claims (``exp``, ``iat``, ``nbf``) are checked here, not by
pyjwt: each must be a number of seconds that a datetime can hold (a string or a date
past year 9999 is refused), and each refusal says which claim failed.

Key material is loaded and checked when the verifier is built, so a server with a bad
key refuses to start instead of refusing every client: HS secrets shorter than 32 bytes
or shaped like a PEM/SSH key, an unreadable or unparsable public-key file, a private
key where the public key belongs, or a key that cannot verify one of the configured
algorithms. Tokens longer than `AuthSettings.max_token_bytes` are refused before
decoding. Every failure is ``AUTHENTICATION_FAILED`` with a short reason that never
echoes the token.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import get_default_algorithms

from simutrador import ErrorCode, Plan, SimutradorError
from simutrador_ws.settings import MIN_SECRET_BYTES, AuthSettings

__all__ = ["Identity", "TokenVerifier", "generate_secret", "issue_token"]

_SYMMETRIC: Final = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC: Final = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"})
_MAX_SUBJECT: Final = 128
_PUBLIC_KEY_TYPES: Final = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)
_CLAIM_NAMES: Final = {"exp": "expiry (exp)", "iat": "issue time (iat)", "nbf": "not-before time (nbf)"}


@attrs.frozen(kw_only=True, slots=True)
class Identity:
    """An authenticated user.

    Attributes:
        user_id: The token's ``sub``; owner of every session it creates.
        plan: The token's ``plan`` (free when absent).
        expires_at: The token's ``exp``: the connection closes then.
        admin: The token carries ``"admin": true`` (may ask for ``server_stats``).
    """

    user_id: str
    plan: Plan
    expires_at: datetime
    admin: bool = False


def _fail(reason: str) -> SimutradorError:
    return SimutradorError(ErrorCode.AUTHENTICATION_FAILED, reason)


def generate_secret() -> str:
    """A random HS256 secret of 48 bytes of entropy (URL-safe text)."""
    return secrets.token_urlsafe(48)


def _refuse_key(message: str, field: str) -> SimutradorError:
    return SimutradorError(ErrorCode.VALIDATION_FAILED, message, {"fields": [field]})


def _check_secret(secret: str, algorithms: tuple[str, ...]) -> str:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise _refuse_key(f"SIMUTRADOR_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes", "jwt_secret")
    for name in algorithms:
        try:
            get_default_algorithms()[name].prepare_key(secret)
        except jwt.InvalidKeyError:
            raise _refuse_key(
                "SIMUTRADOR_JWT_SECRET looks like a PEM or SSH key: HS algorithms need a shared secret "
                "(for a public key, set jwt_public_key_file and RS256/ES256)",
                "jwt_secret",
            ) from None
    return secret


def _load_public_key(path: str, algorithms: tuple[str, ...]) -> Any:
    """The key object in `path`, checked against every algorithm (a refusal names what is wrong)."""
    try:
        text = Path(path).read_bytes()
    except (OSError, ValueError):
        raise _refuse_key(f"cannot read the JWT public key file {path!r}", "jwt_public_key_file") from None
    key: Any = None
    for name in algorithms:
        try:
            key = get_default_algorithms()[name].prepare_key(text)
        except (jwt.InvalidKeyError, ValueError, TypeError):
            raise _refuse_key(
                f"the JWT public key file {path!r} holds no key {name} can verify with "
                "(expected a PEM public key of the algorithm's type)",
                "jwt_public_key_file",
            ) from None
        if not isinstance(key, _PUBLIC_KEY_TYPES):
            raise _refuse_key(
                f"the JWT public key file {path!r} holds a private key: give the server the public key only",
                "jwt_public_key_file",
            )
    return key


class TokenVerifier:
    """Checks tokens against `AuthSettings`.

    Args:
        settings: The algorithms, key material and claims required.
        clock: Seconds since the epoch (``time.time`` unless a test brings its own).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` at construction when the key material
            is missing, too short, unreadable, unparsable, a private key, or does not
            match the algorithms.
    """

    def __init__(self, settings: AuthSettings, *, clock: Callable[[], float] | None = None) -> None:
        algorithms = tuple(settings.jwt_algorithms)
        unknown = [a for a in algorithms if a not in _SYMMETRIC | _ASYMMETRIC]
        if not algorithms or unknown:
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"auth.jwt_algorithms must name supported algorithms, got {', '.join(algorithms) or 'none'}",
                {"fields": ["jwt_algorithms"]},
            )
        symmetric = set(algorithms) <= _SYMMETRIC
        if not symmetric and not set(algorithms) <= _ASYMMETRIC:
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                "auth.jwt_algorithms must not mix shared-secret and public-key algorithms",
                {"fields": ["jwt_algorithms"]},
            )
        self._key: Any = (
            _check_secret(settings.jwt_secret, algorithms)
            if symmetric
            else _load_public_key(settings.jwt_public_key_file, algorithms)
        )
        self._algorithms = list(algorithms)
        self._settings = settings
        self._clock = clock or (lambda: datetime.now(UTC).timestamp())
        self._options: Any = {
            "require": ["exp", "iat", "sub"],
            "verify_aud": bool(settings.jwt_audience),
            "verify_exp": False,  # the time claims are checked by `_check_times`, with exact reasons
            "verify_iat": False,
            "verify_nbf": False,
        }

    @property
    def settings(self) -> AuthSettings:
        """The settings checked against."""
        return self._settings

    def verify(self, token: str | None) -> Identity:
        """The identity in `token`.

        Raises:
            SimutradorError: ``AUTHENTICATION_FAILED`` with a short reason.
        """
        if not token:
            raise _fail("missing token")
        if len(token) > self._settings.max_token_bytes or not token.isascii():
            raise _fail("malformed token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._settings.jwt_audience or None,
                issuer=self._settings.jwt_issuer or None,
                options=self._options,
            )
        except jwt.InvalidAudienceError:
            raise _fail("wrong token audience") from None
        except jwt.InvalidIssuerError:
            raise _fail("wrong token issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _fail(f"token lacks the {exc.claim} claim") from None
        except jwt.InvalidAlgorithmError:
            raise _fail("token algorithm not allowed") from None
        except jwt.InvalidSignatureError:
            raise _fail("bad token signature") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):  # whatever else a crafted token trips
            raise _fail("malformed token") from None
        expires_at = self._check_times(claims)
        subject = claims.get("sub")
        if (
            not isinstance(subject, str)
            or not subject.strip()
            or len(subject) > _MAX_SUBJECT
            or not subject.isprintable()
        ):
            raise _fail("token subject must be 1-128 printable characters, not only spaces")
        try:
            plan = Plan(claims.get("plan", Plan.FREE.value))
        except (ValueError, TypeError):
            raise _fail(f"unknown plan; expected one of {', '.join(Plan)}") from None
        return Identity(user_id=subject, plan=plan, expires_at=expires_at, admin=claims.get("admin") is True)

    def _check_times(self, claims: dict[str, Any]) -> datetime:
        """Check ``exp``, ``iat`` and ``nbf`` as pyjwt would, with a reason naming the claim; the expiry."""
        moments = {name: _moment(claims, name) for name in ("exp", "iat", "nbf") if name in claims}
        now, leeway = self._clock(), self._settings.leeway_seconds
        if moments["exp"].timestamp() <= now - leeway:
            raise _fail("token expired")
        if "nbf" in moments and moments["nbf"].timestamp() > now + leeway:
            raise _fail("token not valid yet: its nbf (not before) is in the future")
        if moments["iat"].timestamp() > now + leeway:
            raise _fail("token issued in the future (iat); check the issuer's clock")
        return moments["exp"]


def _moment(claims: dict[str, Any], name: str) -> datetime:
    """The time claim `name` as an aware datetime; refuses what is not a NumericDate a datetime can hold."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"token {_CLAIM_NAMES[name]} must be a number of seconds since 1970")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(f"token {_CLAIM_NAMES[name]} is out of range") from None


def issue_token(
    settings: AuthSettings,
    user_id: str,
    *,
    plan: Plan = Plan.FREE,
    expires_in: timedelta = timedelta(hours=1),
    admin: bool = False,
    now: datetime | None = None,
) -> str:
    """Sign a token with the configured HS256 secret (for development and tests).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` when the secret is too short.
    """
    if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"SIMUTRADOR_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes to sign tokens",
            {"fields": ["jwt_secret"]},
        )
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user_id,
        "plan": plan.value,
        "iat": int(issued.timestamp()),
        "exp": int((issued + expires_in).timestamp()),
    }
    if admin:
        claims["admin"] = True
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
