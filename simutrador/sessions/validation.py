"""Checking a `SessionParams` field by field, collecting every problem at once.

`check_params` turns a raw request into `CheckedParams` (normalized symbols, aware
UTC datetimes, Decimal money, frozen metadata) or raises one `SimutradorError`
whose details list every problem found. The error code is the most specific one
present, by `_CODE_PRIORITY`. Checks against the market data itself (does the
symbol exist, is the range covered) are the catalog validator's job and are added
to the same problem list by the `Engine`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, cast

import attrs

from simutrador.data.symbols import MAX_SYMBOL_LENGTH, SymbolProblem, normalize_symbol
from simutrador.data.timeframes import DAILY, parse_timeframe, parse_warmup_bars
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import MAX_TEXT_LENGTH, ParseError, parse_moment, parse_money
from simutrador.sessions.models import EMPTY_MAPPING, SessionParams
from simutrador.settings import ENV_PREFIX, EffectiveLimits, SessionSettings

__all__ = [
    "CheckedParams",
    "Problem",
    "check_dates",
    "check_metadata",
    "check_params",
    "check_symbols",
    "plural",
    "raise_problems",
]

MAX_COMMISSION_PER_SHARE: Final = Decimal(100)
MAX_SLIPPAGE_BPS: Final = Decimal(10_000)
MAX_COMMISSION_MINIMUM: Final = Decimal(1_000)
MAX_COMMISSION_PCT: Final = Decimal(10)
MAX_VOLUME_PCT: Final = Decimal(100)
MAX_LEVERAGE: Final = Decimal(100)
FILL_TIMINGS: Final = ("next_open", "close")
"""When market orders fill; the first is the default."""
INTRABAR_POLICIES: Final = ("pessimistic", "optimistic")
"""How an ambiguous bar is read; the first is the default."""
_MAX_METADATA_KEY_LENGTH: Final = 128
_MIN_METADATA_INT: Final = -(2**63)
_MAX_METADATA_INT: Final = 2**63 - 1
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")
_CENT: Final = Decimal("0.01")

_CODE_PRIORITY: Final = (
    ErrorCode.VALIDATION_FAILED,
    ErrorCode.INVALID_SYMBOL,
    ErrorCode.INVALID_DATE_RANGE,
    ErrorCode.INSUFFICIENT_CAPITAL,
)


@attrs.frozen(kw_only=True, slots=True)
class Problem:
    """One thing wrong with a request.

    Attributes:
        code: The error code this problem calls for.
        field: The request field at fault (``symbols``, ``start_date``...).
        message: What is wrong, for people.
        details: Extra machine-readable facts (the symbol, the allowed range...).
    """

    code: ErrorCode
    field: str
    message: str
    details: Mapping[str, Any] = EMPTY_MAPPING

    def to_dict(self) -> dict[str, Any]:
        """The problem as plain data for error details."""
        return {"code": self.code.value, "field": self.field, "message": self.message, **self.details}


@attrs.frozen(kw_only=True, slots=True)
class CheckedParams:
    """A request whose every field is well-formed and within the limits.

    Attributes:
        symbols: Canonical symbols, in request order, no duplicates.
        start_date: Aware UTC start.
        end_date: Aware UTC end, inclusive.
        initial_capital: Starting cash.
        commission_per_share: Commission per share.
        slippage_bps: Slippage in basis points.
        data_provider: The provider asked for, or None.
        metadata: Read-only copy of the caller's metadata.
        session_id: The client-chosen id, or None.
        timeframe: The canonical timeframe.
        warmup_bars: Bars of history before the first tick.
        commission_minimum: The least commission one order pays.
        commission_pct: Commission as a percent of traded value.
        fill_at: ``next_open`` or ``close``.
        intrabar: ``pessimistic`` or ``optimistic``.
        max_volume_pct: Percent of a bar's volume orders may take, or None.
        leverage: Gross position value per unit of equity.
    """

    symbols: tuple[str, ...]
    start_date: datetime
    end_date: datetime
    initial_capital: Decimal
    commission_per_share: Decimal
    slippage_bps: Decimal
    data_provider: str | None
    metadata: Mapping[str, Any]
    session_id: str | None
    timeframe: str = DAILY
    warmup_bars: int = 0
    commission_minimum: Decimal = Decimal(0)
    commission_pct: Decimal = Decimal(0)
    fill_at: str = "next_open"
    intrabar: str = "pessimistic"
    max_volume_pct: Decimal | None = None
    leverage: Decimal = Decimal(1)


def plural(count: int, noun: str) -> str:
    """``"1 live session"``, ``"5 live sessions"``: a count as a person writes it.

    Example:
        >>> plural(1, "live session"), plural(1000, "symbol")
        ('1 live session', '1,000 symbols')
    """
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def raise_problems(problems: Sequence[Problem], extra_details: Mapping[str, Any] | None = None) -> None:
    """Raise one `SimutradorError` for all `problems` (no-op when there are none).

    The code is the highest-priority code among the problems; the message joins
    every problem's message; details hold ``problems``, ``fields`` and `extra_details`.
    """
    if not problems:
        return
    present = {p.code for p in problems}
    code = next(c for c in _CODE_PRIORITY if c in present) if present & set(_CODE_PRIORITY) else problems[0].code
    details: dict[str, Any] = {
        "problems": [p.to_dict() for p in problems],
        "fields": sorted({p.field for p in problems}),
    }
    if extra_details:
        details.update(extra_details)
    raise SimutradorError(code, "; ".join(p.message for p in problems), details)


@functools.lru_cache(maxsize=4096)
def _normalize_clean(items: tuple[str, ...]) -> tuple[str, ...] | None:
    """Normalized `items` when every one is well-formed and unique, else None (cached)."""
    normalized = tuple(normalize_symbol(item) for item in items)
    if any(isinstance(n, SymbolProblem) for n in normalized) or len(set(normalized)) != len(normalized):
        return None
    return cast("tuple[str, ...]", normalized)


def check_symbols(raw: object, limits: EffectiveLimits, problems: list[Problem]) -> tuple[str, ...]:
    """Normalize a tuple of symbols; append problems for malformed, duplicate or too many.

    Returns the well-formed symbols, normalized, in request order.
    """
    if not isinstance(raw, tuple):
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field="symbols", message="symbols must be a list of strings")
        )
        return ()
    items: tuple[object, ...] = raw  # pyright: ignore[reportUnknownVariableType]
    if not items:
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field="symbols", message="at least one symbol is required")
        )
        return ()
    if len(items) > limits.max_symbols:
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field="symbols",
                message=(
                    f"too many symbols: {len(items)}, while {limits.plan_label} allows "
                    f"{limits.max_symbols} per session; {limits.source('max_symbols').hint()}"
                ),
                details={
                    "count": len(items),
                    "max_symbols": limits.max_symbols,
                    "setting": limits.source("max_symbols").setting,
                    "env": limits.source("max_symbols").env,
                },
            )
        )
        return ()
    if all(isinstance(item, str) and len(item) <= MAX_SYMBOL_LENGTH for item in items):
        clean = _normalize_clean(cast("tuple[str, ...]", items))
        if clean is not None:
            return clean
    not_text = [{"index": i, "type": type(item).__name__} for i, item in enumerate(items) if not isinstance(item, str)]
    if not_text:  # described by type: the repr of nested data can recurse or be huge
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field="symbols",
                message="symbols must be a list of strings: "
                + ", ".join(f"item {n['index']} is {n['type']}" for n in not_text[:5])
                + (f" and {len(not_text) - 5} more" if len(not_text) > 5 else ""),
                details={"not_strings": not_text[:50]},
            )
        )
        items = tuple(item for item in items if isinstance(item, str))
    normalized: list[str] = []
    seen: set[str] = set()
    malformed: list[dict[str, str]] = []
    duplicates: list[str] = []
    for item in items:
        result = normalize_symbol(item)
        if isinstance(result, SymbolProblem):
            malformed.append({"symbol": result.symbol, "reason": result.reason})
        elif result in seen:
            duplicates.append(result)
        else:
            seen.add(result)
            normalized.append(result)
    if malformed:
        problems.append(
            Problem(
                code=ErrorCode.INVALID_SYMBOL,
                field="symbols",
                message="malformed symbols: " + ", ".join(f"{m['symbol']!r} ({m['reason']})" for m in malformed),
                details={"invalid_symbols": [m["symbol"] for m in malformed], "reasons": malformed},
            )
        )
    if duplicates:
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field="symbols",
                message="duplicate symbols: " + ", ".join(duplicates),
                details={"duplicates": duplicates},
            )
        )
    return tuple(normalized)


def check_dates(
    raw_start: object, raw_end: object, now: datetime, problems: list[Problem]
) -> tuple[datetime, datetime]:
    """Parse a date range and check its order and that it is not in the future; append problems.

    No plan limits the span of a range: ten years of daily bars are as welcome as a
    day of minute bars (the plans limit a simulation's wall-clock time and bar count).

    Returns ``(start, end)``; meaningless when a problem was appended.
    """
    moments: list[datetime] = []
    for name, raw, end_of_day in (("start_date", raw_start, False), ("end_date", raw_end, True)):
        try:
            moments.append(parse_moment(raw, end_of_day=end_of_day))
        except ParseError as exc:
            problems.append(Problem(code=ErrorCode.INVALID_DATE_RANGE, field=name, message=f"{name}: {exc}"))
    if len(moments) < 2:
        return now, now
    start, end = moments
    if start >= end:
        problems.append(
            Problem(code=ErrorCode.INVALID_DATE_RANGE, field="start_date", message="start_date must be before end_date")
        )
    for name, moment in (("start_date", start), ("end_date", end)):
        if moment > now:
            problems.append(
                Problem(
                    code=ErrorCode.INVALID_DATE_RANGE,
                    field=name,
                    message=f"{name} {moment.isoformat()} is in the future",
                    details={"now": now.isoformat()},
                )
            )
    return start, end


def _check_capital(raw: object, settings: SessionSettings, problems: list[Problem]) -> Decimal:
    field = "initial_capital"
    try:
        value = parse_money(raw)
    except ParseError as exc:
        problems.append(Problem(code=ErrorCode.VALIDATION_FAILED, field=field, message=f"{field}: {exc}"))
        return Decimal(0)
    bounds = {
        "min_initial_capital": str(settings.min_initial_capital),
        "max_initial_capital": str(settings.max_initial_capital),
    }
    if value < settings.min_initial_capital:
        problems.append(
            Problem(
                code=ErrorCode.INSUFFICIENT_CAPITAL,
                field=field,
                message=(
                    f"{field} {value} is below the minimum {settings.min_initial_capital} "
                    f"(setting session.min_initial_capital, environment variable {ENV_PREFIX}MIN_INITIAL_CAPITAL)"
                ),
                details=bounds,
            )
        )
    elif value > settings.max_initial_capital:
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field=field,
                message=(
                    f"{field} {value} is above the maximum {settings.max_initial_capital} "
                    f"(setting session.max_initial_capital, environment variable {ENV_PREFIX}MAX_INITIAL_CAPITAL)"
                ),
                details=bounds,
            )
        )
    elif value != value.quantize(_CENT):
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field=field, message=f"{field} may have at most 2 decimal places")
        )
    return value


def _check_fee(name: str, raw: object, maximum: Decimal, problems: list[Problem]) -> Decimal:
    try:
        value = parse_money(raw)
    except ParseError as exc:
        problems.append(Problem(code=ErrorCode.VALIDATION_FAILED, field=name, message=f"{name}: {exc}"))
        return Decimal(0)
    if not Decimal(0) <= value <= maximum:
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field=name, message=f"{name} must be between 0 and {maximum}")
        )
    return value


def _freeze_json(value: object, depth: int, max_depth: int) -> object:
    """Deep read-only copy of JSON-like data; raises ValueError when not JSON-like or too deep."""
    if depth > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not _MIN_METADATA_INT <= value <= _MAX_METADATA_INT:  # no JSON reader on the wire could give it back
            raise ValueError("integers must fit in 64 bits (-2**63 to 2**63 - 1); send larger numbers as strings")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("contains NaN or Infinity")
        return value
    if isinstance(value, Mapping):
        frozen: dict[str, object] = {}
        for key, item in cast("Mapping[object, object]", value).items():
            if not isinstance(key, str) or len(key) > _MAX_METADATA_KEY_LENGTH:
                raise ValueError(f"keys must be strings of at most {_MAX_METADATA_KEY_LENGTH} characters")
            frozen[key] = _freeze_json(item, depth + 1, max_depth)
        return MappingProxyType(frozen)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_json(item, depth + 1, max_depth) for item in cast("Sequence[object]", value))
    raise ValueError(f"values must be JSON (string, number, boolean, null, list, object), got {type(value).__name__}")


def _json_default(value: object) -> object:
    if isinstance(value, MappingProxyType):
        return dict(cast("Mapping[str, object]", value))
    raise TypeError  # pragma: no cover - _freeze_json admits only JSON types


def check_metadata(raw: object, settings: SessionSettings, problems: list[Problem]) -> Mapping[str, Any]:
    """A read-only deep copy of JSON-like `raw`, within the size and depth limits.

    Appends a ``VALIDATION_FAILED`` problem (and returns an empty mapping) otherwise.
    """
    if raw is EMPTY_MAPPING or raw is None:
        return EMPTY_MAPPING
    if not isinstance(raw, Mapping):
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field="metadata", message="metadata must be an object")
        )
        return EMPTY_MAPPING
    try:
        frozen = _freeze_json(cast("Mapping[object, object]", raw), 1, settings.max_metadata_depth)
        size = len(json.dumps(frozen, default=_json_default, separators=(",", ":"), ensure_ascii=False).encode())
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        problems.append(Problem(code=ErrorCode.VALIDATION_FAILED, field="metadata", message=f"metadata {reason}"))
        return EMPTY_MAPPING
    if size > settings.max_metadata_bytes:
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field="metadata",
                message=(
                    f"metadata is {size} bytes as JSON, more than the {settings.max_metadata_bytes} allowed "
                    f"(setting session.max_metadata_bytes, environment variable {ENV_PREFIX}MAX_METADATA_BYTES)"
                ),
            )
        )
    return frozen  # pyright: ignore[reportReturnType]


def _check_text(
    name: str, raw: object, problems: list[Problem], pattern: re.Pattern[str] | None, max_length: int
) -> str | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, str)
        or not raw
        or len(raw) > max_length
        or (pattern is not None and not pattern.fullmatch(raw))
    ):
        rule = "letters, digits, '.', '_' or '-', starting with a letter or digit" if pattern else "printable text"
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field=name,
                message=f"{name} must be 1-{max_length} characters of {rule}",
            )
        )
        return None
    if pattern is None and not raw.isprintable():
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field=name, message=f"{name} contains control characters")
        )
        return None
    return raw


def _check_timeframe(raw: object, problems: list[Problem]) -> str:
    try:
        return parse_timeframe(raw).name
    except ParseError as exc:
        problems.append(Problem(code=ErrorCode.VALIDATION_FAILED, field="timeframe", message=str(exc)))
        return DAILY


def _check_warmup_bars(raw: object, problems: list[Problem]) -> int:
    try:
        return parse_warmup_bars(raw)
    except ParseError as exc:
        problems.append(Problem(code=ErrorCode.VALIDATION_FAILED, field="warmup_bars", message=f"warmup_bars {exc}"))
        return 0


def _check_choice(name: str, raw: object, choices: tuple[str, ...], problems: list[Problem]) -> str:
    if isinstance(raw, str) and raw.strip().lower() in choices:
        return raw.strip().lower()
    problems.append(
        Problem(code=ErrorCode.VALIDATION_FAILED, field=name, message=f"{name} must be one of {', '.join(choices)}")
    )
    return choices[0]


def _check_volume_pct(raw: object, problems: list[Problem]) -> Decimal | None:
    if raw is None:
        return None
    value = _check_fee("max_volume_pct", raw, MAX_VOLUME_PCT, problems)
    if value <= 0:
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field="max_volume_pct", message="max_volume_pct must be above 0")
        )
    return value


def _check_leverage(raw: object, problems: list[Problem]) -> Decimal:
    value = _check_fee("leverage", raw, MAX_LEVERAGE, problems)
    if value < 1:
        problems.append(
            Problem(code=ErrorCode.VALIDATION_FAILED, field="leverage", message="leverage must be at least 1")
        )
    return value


def check_params(
    params: SessionParams, *, settings: SessionSettings, limits: EffectiveLimits, now: datetime
) -> tuple[CheckedParams, list[Problem]]:
    """Check every field of `params`; return the normalized request and all problems found.

    The request is only meaningful when the problem list is empty; callers add
    their own problems (catalog checks) and then call `raise_problems`.
    """
    problems: list[Problem] = []
    checked = CheckedParams(
        symbols=check_symbols(params.symbols, limits, problems),
        start_date=(dates := check_dates(params.start_date, params.end_date, now, problems))[0],
        end_date=dates[1],
        initial_capital=_check_capital(params.initial_capital, settings, problems),
        commission_per_share=_check_fee(
            "commission_per_share", params.commission_per_share, MAX_COMMISSION_PER_SHARE, problems
        ),
        slippage_bps=_check_fee("slippage_bps", params.slippage_bps, MAX_SLIPPAGE_BPS, problems),
        data_provider=_check_text("data_provider", params.data_provider, problems, None, MAX_TEXT_LENGTH),
        metadata=check_metadata(params.metadata, settings, problems),
        session_id=_check_text("session_id", params.session_id, problems, _SESSION_ID, settings.max_session_id_length),
        timeframe=_check_timeframe(params.timeframe, problems),
        warmup_bars=_check_warmup_bars(params.warmup_bars, problems),
        commission_minimum=_check_fee(
            "commission_minimum", params.commission_minimum, MAX_COMMISSION_MINIMUM, problems
        ),
        commission_pct=_check_fee("commission_pct", params.commission_pct, MAX_COMMISSION_PCT, problems),
        fill_at=_check_choice("fill_at", params.fill_at, FILL_TIMINGS, problems),
        intrabar=_check_choice("intrabar", params.intrabar, INTRABAR_POLICIES, problems),
        max_volume_pct=_check_volume_pct(params.max_volume_pct, problems),
        leverage=_check_leverage(params.leverage, problems),
    )
    return checked, problems
