"""API keys: their shape, how a new one is made, and how a presented one is checked against its hash.

A key reads ``stk_<key id>_<secret>``: the key id (16 hex digits) is public and
names the key in listings and revocations; the secret (256 random bits) is shown
once, when the key is made, and never stored. The store keeps a per-key random salt
and the HMAC-SHA-256 of the secret under that salt. Since the secret is 256 random
bits, one keyed hash suffices (a slow password hash guards guessable passwords,
which these are not); `hmac.compare_digest` compares in constant time.

Both stores keep keys (`simutrador.storage.base.ApiKeyStore`): the SQL lives with
`simutrador.storage.sqlite.SqliteStore`, the dictionaries with
`simutrador.storage.memory.MemoryStore`; this module holds what does not depend on
where keys are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Final

import attrs

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.settings import Plan

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "NewKey",
    "check_key_owner",
    "key_digest",
    "key_id_of",
    "new_key",
    "secret_matches",
    "split_key",
]

KEY_PREFIX: Final = "stk"
_KEY = re.compile(r"stk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_MAX_USER_ID_LENGTH: Final = 128


@attrs.frozen(kw_only=True, slots=True)
class ApiKey:
    """What is known about an API key (never its secret).

    Attributes:
        key_id: The key's public id (the part after ``stk_``).
        user_id: The user the key authenticates.
        plan: The plan the user gets with it.
        created_at: When it was made.
        revoked_at: When it was revoked (None while it works).
    """

    key_id: str
    user_id: str
    plan: Plan
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the key still authenticates."""
        return self.revoked_at is None


@attrs.frozen(kw_only=True, slots=True)
class NewKey:
    """A freshly made key: the text to hand to its user, and what is stored of it.

    Attributes:
        key: The whole key (``stk_<key id>_<secret>``), shown once.
        key_id: Its public id.
        salt: Random bytes the secret's digest is keyed with.
        digest: HMAC-SHA-256 of the secret under `salt`.
    """

    key: str = attrs.field(repr=False)
    key_id: str
    salt: bytes = attrs.field(repr=False)
    digest: bytes = attrs.field(repr=False)


def new_key() -> NewKey:
    """A new random key with its salt and digest."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    return NewKey(key=f"{KEY_PREFIX}_{key_id}_{secret}", key_id=key_id, salt=salt, digest=key_digest(salt, secret))


def key_digest(salt: bytes, secret: str) -> bytes:
    """HMAC-SHA-256 of `secret` keyed with `salt`."""
    return hmac.new(salt, secret.encode(), hashlib.sha256).digest()


def secret_matches(salt: bytes, digest: bytes, secret: str) -> bool:
    """Whether `secret` is the one whose digest under `salt` is `digest` (constant-time comparison)."""
    return hmac.compare_digest(key_digest(salt, secret), digest)


def split_key(key: object) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None.

    Example:
        >>> split_key("stk_0123456789abcdef_" + "x" * 43)[0]
        '0123456789abcdef'
        >>> split_key("Bearer nonsense") is None
        True
    """
    if not isinstance(key, str):
        return None
    match = _KEY.fullmatch(key.strip())
    return None if match is None else (match[1], match[2])


def key_id_of(text: object) -> str | None:
    """The key id in `text` (a key id, or a whole key), else None."""
    if isinstance(text, str) and _KEY_ID.fullmatch(text):
        return text
    parts = split_key(text)
    return None if parts is None else parts[0]


def check_key_owner(user_id: object, plan: object) -> Plan:
    """Check a new key's owner and plan; returns the plan.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming ``user_id`` or ``plan``.
    """
    if not isinstance(user_id, str) or not user_id or len(user_id) > _MAX_USER_ID_LENGTH or not user_id.isprintable():
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"user_id must be 1-{_MAX_USER_ID_LENGTH} printable characters",
            {"fields": ["user_id"]},
        )
    try:
        return Plan(plan)
    except ValueError:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"plan must be one of {', '.join(p.value for p in Plan)}, not {plan!r}",
            {"fields": ["plan"]},
        ) from None
