"""The one cattrs converter: core models ⇄ JSON-ready data.

Money (`Decimal`) goes out as a string and comes in as a string or number (never a
boolean, never NaN/Infinity); datetimes go out as ISO-8601 UTC with a ``Z`` and come
in as ISO-8601 (naive means UTC). Request payloads are structured with
``forbid_extra_keys``; the aliases ``start``, ``end`` and ``initial_cash`` are
renamed before structuring; every structural problem (unknown or missing field, not
an object) becomes one ``VALIDATION_FAILED`` whose details name the fields, with
cattrs' paths. Value checks (symbols, dates, money) stay in the core validator, so
each rule lives in one place.

The value parsers of `simutrador.parsing` (`parse_money`, `parse_moment`,
`parse_duration`, `parse_whole`, `parse_number`, `parse_names`, `loads_json` and
their `ParseError`) are re-exported here for the
adapters, which import only the public API and this module.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import (
    ParseError,
    loads_json,
    parse_duration,
    parse_moment,
    parse_money,
    parse_names,
    parse_number,
    parse_whole,
)
from simutrador.sessions.models import DataRange, Session, SessionParams
from simutrador.sessions.states import SessionState
from simutrador.simulation.results import SimulationResult

__all__ = [
    "ALIASES",
    "ParseError",
    "canonical_fields",
    "converter",
    "format_datetime",
    "loads_json",
    "parse_duration",
    "parse_moment",
    "parse_money",
    "parse_names",
    "parse_number",
    "parse_whole",
    "result_from_wire",
    "result_to_wire",
    "session_from_wire",
    "session_params_from_wire",
    "session_to_wire",
    "structure",
]

T = TypeVar("T")

ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {"start": "start_date", "end": "end_date", "initial_cash": "initial_capital", "capital": "initial_capital"}
)
"""Accepted alternative names of session fields → the canonical field (engine keywords, wire, CLI, config)."""


def canonical_fields(payload: Mapping[str, object]) -> tuple[dict[str, object], list[str], list[str]]:
    """Rename aliases to canonical session field names.

    Returns:
        ``(fields, problems, at_fault)``: the renamed fields; one problem per alias
        given together with its canonical name, per unknown field and per missing
        required field; and the names at fault.
    """
    problems: list[str] = []
    clashes = sorted(alias for alias, name in ALIASES.items() if alias in payload and name in payload)
    problems += [f"give {alias} or {ALIASES[alias]}, not both" for alias in clashes]
    fields = {ALIASES.get(key, key): value for key, value in payload.items()}
    unknown = sorted(set(fields) - _NAMES)
    missing = [a.name for a in _PARAM_FIELDS if a.default is attrs.NOTHING and a.name not in fields]
    problems += [f"unknown field {name}" for name in unknown] + [f"missing field {name}" for name in missing]
    return fields, problems, clashes + unknown + missing


def format_datetime(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat()[:-6] + "Z"  # an aware UTC isoformat always ends with +00:00


@functools.lru_cache(maxsize=4096)
def _range_texts(data_range: DataRange) -> tuple[str, str]:
    # sessions share their data ranges (the validator caches them), so replies do too
    return format_datetime(data_range.start), format_datetime(data_range.end)


def _unstructure_range(data_range: DataRange) -> dict[str, str]:
    start, end = _range_texts(data_range)
    return {"start": start, "end": end}


def _thaw(value: object) -> object:
    """Read-only metadata (mapping proxies, tuples) → plain JSON data."""
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in cast("Mapping[object, object]", value).items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in cast("tuple[object, ...]", value)]
    return value


def _structure_decimal(value: object, _type: type) -> Decimal:
    return parse_money(value)


def _structure_datetime(value: object, _type: type) -> datetime:
    return parse_moment(value)


def _structure_seconds(value: object, _type: type) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a duration in seconds must be a number, not {value!r}")
    return timedelta(seconds=parse_number(value))


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_unstructure_hook(MappingProxyType, _thaw)
    conv.register_unstructure_hook(DataRange, _unstructure_range)
    conv.register_unstructure_hook(timedelta, lambda d: d.total_seconds())
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(SessionState, lambda v, _: SessionState(v))
    conv.register_structure_hook(timedelta, _structure_seconds)
    conv.register_structure_hook_func(
        lambda t: t == Mapping[str, Any], lambda v, _: MappingProxyType(dict(cast("Mapping[str, Any]", v)))
    )
    conv.register_structure_hook_func(
        lambda t: t == Mapping[str, DataRange],
        lambda v, _: MappingProxyType(
            {k: conv.structure(r, DataRange) for k, r in cast("Mapping[str, Any]", v).items()}
        ),
    )
    return conv


converter: Final = _make_converter()
"""The converter every adapter uses."""


def structure(data: object, model: type[T], *, what: str = "data") -> T:
    """Structure `data` into `model`, turning any failure into ``VALIDATION_FAILED``.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` with ``details.fields`` (the fields at
            fault) and ``details.problems`` (cattrs' messages with paths).
    """
    if not isinstance(data, Mapping):
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED, f"{what} must be an object", {"fields": [what], "problems": []}
        )
    try:
        return converter.structure(data, model)
    except Exception as exc:  # cattrs wraps every field failure in its own groups
        problems = cattrs.transform_error(exc, path=what)
        named = {_field_of(p, what) for p in problems} | _extra_keys(exc)
        fields = sorted(named - {what} or named)
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"invalid {what}: " + "; ".join(problems),
            {"fields": fields, "problems": problems},
        ) from None


def _field_of(problem: str, root: str) -> str:
    path = problem.rsplit(" @ ", 1)[-1]
    return path.removeprefix(root).lstrip(".").split(".")[0].split("[")[0] or root


def _extra_keys(exc: BaseException) -> set[str]:
    found: set[str] = set()
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        found |= set(exc.extra_fields)
    if isinstance(exc, BaseExceptionGroup):
        for inner in cast("BaseExceptionGroup[BaseException]", exc).exceptions:
            found |= _extra_keys(inner)
    return found


_PARAM_FIELDS: Final = tuple(attrs.fields(SessionParams))
_REQUIRED: Final = frozenset(a.name for a in _PARAM_FIELDS if a.default is attrs.NOTHING)
_NAMES: Final = frozenset(a.name for a in _PARAM_FIELDS)


def session_params_from_wire(data: object) -> SessionParams:
    """A `create_session` payload → `SessionParams` (aliases renamed, unknown keys refused).

    Values are kept as sent: the core validator judges them all at once.
    """
    if not isinstance(data, Mapping):
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "data must be an object", {"fields": ["data"]})
    if type(data) is dict:  # pyright: ignore[reportUnknownArgumentType] - the common case: decoded JSON
        mapping = cast("dict[str, object]", data)  # with canonical names needs no renaming and no checks
        if _REQUIRED <= mapping.keys() <= _NAMES and None not in mapping.values() and type(mapping["symbols"]) is list:
            return SessionParams(**mapping)  # pyright: ignore[reportArgumentType]
    payload = {str(k): v for k, v in cast("Mapping[object, object]", data).items()}
    fields, problems, at_fault = canonical_fields(payload)
    if isinstance(fields.get("symbols"), str):
        problems.append("symbols must be a list of strings, not one string")
        at_fault.append("symbols")
    if problems:
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "invalid data: " + "; ".join(problems), {"fields": at_fault})
    given: dict[str, Any] = {k: v for k, v in fields.items() if v is not None or k in _REQUIRED}  # null = default
    return SessionParams(**given)


def session_to_wire(session: Session) -> dict[str, Any]:
    """A `Session` as JSON-ready data (money as strings, times as ISO-8601 UTC)."""
    data = cast("dict[str, Any]", converter.unstructure(session))
    data["metadata"] = _thaw(session.metadata)
    return data


def session_from_wire(data: object) -> Session:
    """JSON data produced by `session_to_wire` → a `Session` (used by clients).

    A ``status`` equal to ``state`` is dropped: the server adds it to the sessions it
    lists, for the original SimuTrador clients, which read a session's state by that
    name. Any other extra key is refused.
    """
    if isinstance(data, Mapping):
        data = dict(cast("Mapping[str, Any]", data))
        if "status" in data and data["status"] == data.get("state"):
            del data["status"]
        metadata: object = data.get("metadata")
        if isinstance(metadata, Mapping):
            data["metadata"] = _freeze(cast("Mapping[str, object]", metadata))
    return structure(data, Session, what="session")


def _freeze(value: object) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in cast("Mapping[object, object]", value).items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in cast("list[object]", value))
    return value


_SERIES: Final = ("fills", "trades", "orders", "equity_curve")
_CURVE: Final = ("times", "equity")


def result_to_wire(result: SimulationResult, *, series: bool = True) -> dict[str, Any]:
    """A `SimulationResult` as JSON-ready data (money as strings, durations in seconds).

    Args:
        result: The result.
        series: Include fills, trades, orders and the equity curve (else metrics only).
    """
    data = cast("dict[str, Any]", converter.unstructure(result))
    for key in _CURVE:
        data.pop(key, None)
    data["equity_curve"] = [
        {"time": format_datetime(t), "equity": e} for t, e in zip(result.times, result.equity, strict=True)
    ]
    if not series:
        for key in _SERIES:
            data.pop(key, None)
    return data


def result_from_wire(data: object) -> SimulationResult:
    """JSON data produced by `result_to_wire` (with its series) → a `SimulationResult`.

    What ``simutrador run --json`` printed comes back as the result it was, for
    ``simutrador report RESULT.json``: every field, the equity curve split back into
    `SimulationResult.times` and `SimulationResult.equity`.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming the fields at fault (a document
            without series, an unknown or missing field, a value of the wrong type).
    """
    if not isinstance(data, Mapping):
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "result must be an object", {"fields": ["result"]})
    payload = dict(cast("Mapping[str, Any]", data))
    curve: object = payload.pop("equity_curve", None)
    if not isinstance(curve, list) or not all(
        isinstance(p, Mapping) and {"time", "equity"} <= p.keys() for p in cast("list[object]", curve)
    ):
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            "result needs its equity_curve: a list of {time, equity} (write it with its series)",
            {"fields": ["equity_curve"]},
        )
    points = cast("list[Mapping[str, object]]", curve)
    payload["times"] = [p["time"] for p in points]
    payload["equity"] = [p["equity"] for p in points]
    return structure(payload, SimulationResult, what="result")
