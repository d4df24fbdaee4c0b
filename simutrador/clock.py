"""Time and identity seams: the `Clock` and `IdFactory` an `Engine` is given.

The core never reads the wall clock or a random source directly; it calls what it
was handed, so tests (see `simutrador.testing`) control both.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "IdFactory", "new_session_id", "system_clock"]


class Clock(Protocol):
    """Returns the current time as a timezone-aware UTC datetime."""

    def __call__(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class IdFactory(Protocol):
    """Returns a fresh, unguessable session id."""

    def __call__(self) -> str:
        """A new session id."""
        ...


def system_clock() -> datetime:
    """The real current time, aware, in UTC."""
    return datetime.now(UTC)


def new_session_id() -> str:
    """A session id with 128 bits of randomness, URL-safe (22 characters), starting with a letter or digit.

    An id starting with ``-`` would read as an option on a command line
    (``simutrador session delete -0bu...``), so such draws are drawn again.
    """
    while True:
        candidate = secrets.token_urlsafe(16)
        if candidate[0].isalnum():
            return candidate
