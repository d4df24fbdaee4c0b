"""Every value SimuTrador reads from text or loose data, parsed in one place.

Money, moments, whole numbers, durations, lists of names and strict JSON are
parsed here and nowhere else: the validator, the codec, the settings loader and the
adapters (through `simutrador.codec`) all call these functions. Each one returns
the parsed value or raises `ParseError`, whose message is the reason, written for
a person (``"expected a decimal number"``), ready to be prefixed with a field name.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final, cast

__all__ = [
    "MAX_TEXT_LENGTH",
    "ParseError",
    "format_duration",
    "loads_json",
    "parse_duration",
    "parse_moment",
    "parse_money",
    "parse_names",
    "parse_number",
    "parse_whole",
]

MAX_TEXT_LENGTH: Final = 64
"""Longest string accepted for dates, numbers and durations."""

_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?", re.ASCII)
_WHOLE: Final = re.compile(r"[+]?\d{1,30}", re.ASCII)
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.ASCII)
_END_OF_DAY: Final = time(23, 59, 59, 999999)
_MAX_INT_DIGITS: Final = 30
_UNITS: Final = {
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_SPELLED: Final = ((604800, "week"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


class ParseError(ValueError):
    """A value that cannot be parsed; ``str(error)`` says why."""


def parse_money(value: object) -> Decimal:
    """A Decimal, int, float or numeric string as a finite `Decimal`.

    Raises:
        ParseError: for booleans, NaN/Infinity, malformed strings and other types.

    Example:
        >>> parse_money(" 100000.50 "), parse_money(0.1)
        (Decimal('100000.50'), Decimal('0.1'))
    """
    if isinstance(value, bool):
        raise ParseError("expected a number, got a boolean")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ParseError("must be a finite number")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParseError("must be a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT_LENGTH or not _NUMBER.fullmatch(text):
            raise ParseError("expected a decimal number")
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
            raise ParseError("expected a decimal number") from None
    raise ParseError(f"expected a number, got {type(value).__name__}")


def parse_moment(value: object, *, end_of_day: bool = False) -> datetime:
    """A date, datetime or ISO-8601 string as an aware UTC datetime.

    A naive datetime is UTC; a bare date means the whole day: its first moment, or
    its last microsecond when `end_of_day`.

    Raises:
        ParseError: for anything else.

    Example:
        >>> parse_moment("2024-03-01", end_of_day=True).isoformat()
        '2024-03-01T23:59:59.999999+00:00'
    """
    if isinstance(value, datetime):
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # an offset that moves it past year 1 or 9999
            raise ParseError("date out of range") from None
    if isinstance(value, date):
        return datetime.combine(value, _END_OF_DAY if end_of_day else time(0), tzinfo=UTC)
    if not isinstance(value, str):
        raise ParseError(f"expected a date or ISO-8601 datetime string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_LENGTH:
        raise ParseError("not a date (YYYY-MM-DD) or ISO-8601 datetime")
    parsed = _moment_text(value, end_of_day)
    if isinstance(parsed, str):
        raise ParseError(parsed)
    return parsed


@functools.lru_cache(maxsize=4096)
def _moment_text(value: str, end_of_day: bool) -> datetime | str:
    text = value.strip()
    if not text.isascii():
        return "not a date (YYYY-MM-DD) or ISO-8601 datetime"
    try:
        if len(text) == 10:
            return parse_moment(date.fromisoformat(text), end_of_day=end_of_day)
        return parse_moment(datetime.fromisoformat(text), end_of_day=end_of_day)
    except ParseError as exc:
        return str(exc)
    except ValueError:
        return "not a date (YYYY-MM-DD) or ISO-8601 datetime"


def parse_whole(value: object, *, minimum: int = 0) -> int:
    r"""A whole number (an int, or decimal digits as text) that is at least `minimum`.

    Raises:
        ParseError: for booleans, fractions, signs other than ``+``, and values below `minimum`.

    Example:
        >>> parse_whole(" +7\t", minimum=1)
        7
    """
    reason = f"must be a whole number >= {minimum}"
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE.fullmatch(text):
            raise ParseError(reason)
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParseError(reason)
    return value


def parse_number(value: object, *, minimum: float = 0.0) -> float:
    """A finite float (an int, float, or numeric text) that is at least `minimum`.

    Raises:
        ParseError: for booleans, NaN/Infinity, malformed text and values below `minimum`.
    """
    reason = f"must be a number >= {minimum:g}"
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT_LENGTH or not _NUMBER.fullmatch(text):
            raise ParseError(reason)
        value = float(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(reason)
    number = float(value)
    if not math.isfinite(number) or number < minimum:
        raise ParseError(reason)
    return number


def parse_duration(value: object) -> timedelta:
    """A positive duration: a `timedelta`, seconds as a number, or text such as ``"24h"``, ``"1 week"``.

    Units: s, min (or m), h, d, w and their spelled-out names; a bare number is seconds.

    Raises:
        ParseError: for anything else, zero and negative durations.

    Example:
        >>> parse_duration("365 days"), parse_duration("1w") == parse_duration(604800)
        (datetime.timedelta(days=365), True)
    """
    reason = "must be a positive duration such as 90s, 30min, 24h, 7d or 1 week"
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip().lower()) if len(value) <= MAX_TEXT_LENGTH else None
        if match is None or match.group(2) not in _UNITS:
            raise ParseError(reason)
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ParseError(reason)
    if not math.isfinite(seconds) or seconds <= 0 or seconds > timedelta.max.total_seconds() / 2:
        raise ParseError(reason)
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """A duration as a person writes it: ``"24 hours"``, ``"1 week"``, ``"365 days"``, ``"90 seconds"``.

    The largest unit that divides the duration exactly is used.

    Example:
        >>> format_duration(timedelta(hours=24)), format_duration(timedelta(days=7))
        ('1 day', '1 week')
    """
    seconds = round(duration.total_seconds())
    for size, name in _SPELLED:
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {name}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"  # pragma: no cover - 1 divides everything


def parse_names(value: object) -> tuple[str, ...]:
    """A list of names: a list of strings, or one comma-separated string (empty items dropped).

    Raises:
        ParseError: for anything else.
    """
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)):
        items = cast("Sequence[object]", value)
        if all(isinstance(item, str) for item in items):
            return tuple(cast("Sequence[str]", items))
    raise ParseError("must be a list of text")


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError("integer too large")
    return int(text)


_DECODER: Final = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite_float, parse_int=_bounded_int)
# built once: json.loads with options builds a new decoder on every call


def loads_json(text: str) -> object:
    """Strict JSON: no NaN/Infinity, no float that overflows, no integer over 30 digits, bounded nesting.

    Raises:
        ParseError: naming what is wrong (with the position for syntax errors).

    Example:
        >>> loads_json('{"a": [1, 2.5]}')
        {'a': [1, 2.5]}
    """
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and the parse hooks' errors
        raise ParseError(f"not valid JSON: {exc}") from None
