"""JWT authentication: who is connecting, on which plan, until when.

Tokens are checked with pyjwt against a constant allow-list of algorithms (never
``none``), with ``sub``, ``exp`` and ``iat`` required and ``aud``/``iss`` verified
when configured. HS256 secrets shorter than 32 bytes are refused at start-up; tokens
longer than `AuthSettings.max_token_bytes` are refused before decoding. Every failure
is ``AUTHENTICATION_FAILED`` with a short reason that never echoes the token.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import attrs
import jwt

from simutrador import ErrorCode, Plan, SimutradorError
from simutrador_ws.settings import MIN_SECRET_BYTES, AuthSettings

__all__ = ["Identity", "TokenVerifier", "generate_secret", "issue_token"]

_SYMMETRIC: Final = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC: Final = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"})
_MAX_SUBJECT: Final = 128


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


class TokenVerifier:
    """Checks tokens against `AuthSettings`.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` at construction when the key material
            is missing, too short, unreadable, or does not match the algorithms.
    """

    def __init__(self, settings: AuthSettings) -> None:
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
        self._key: Any
        if symmetric:
            if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
                raise SimutradorError(
                    ErrorCode.VALIDATION_FAILED,
                    f"SIMUTRADOR_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes",
                    {"fields": ["jwt_secret"]},
                )
            self._key = settings.jwt_secret
        else:
            try:
                self._key = Path(settings.jwt_public_key_file).read_text()
            except (OSError, ValueError):
                raise SimutradorError(
                    ErrorCode.VALIDATION_FAILED,
                    f"cannot read the JWT public key file {settings.jwt_public_key_file!r}",
                    {"fields": ["jwt_public_key_file"]},
                ) from None
        self._algorithms = list(algorithms)
        self._settings = settings
        self._options: Any = {"require": ["exp", "iat", "sub"], "verify_aud": bool(settings.jwt_audience)}

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
                leeway=self._settings.leeway_seconds,
                options=self._options,
            )
        except jwt.ExpiredSignatureError:
            raise _fail("token expired") from None
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
        except jwt.PyJWTError:
            raise _fail("malformed token") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT or not subject.isprintable():
            raise _fail("token subject must be 1-128 printable characters")
        try:
            plan = Plan(claims.get("plan", Plan.FREE.value))
        except ValueError:
            raise _fail(f"unknown plan; expected one of {', '.join(Plan)}") from None
        return Identity(
            user_id=subject,
            plan=plan,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
            admin=claims.get("admin") is True,
        )


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
