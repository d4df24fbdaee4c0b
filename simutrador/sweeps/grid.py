"""Parameter grids: expanding them into runs, and reading ``--grid`` specifications.

A grid maps parameter names to the values to try; the runs are the cartesian product,
in a fixed order (names in the order given, values in the order given), each run
numbered from 0. ``--grid`` on the command line takes ``name=start:stop:step``
(inclusive, integers or decimals) or ``name=v1,v2,...`` (numbers or words).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["MAX_RUNS", "expand_grid", "parameters_key", "parse_grid_spec"]

MAX_RUNS: Final = 1_000_000
"""The most runs one sweep may have."""

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT: Final = re.compile(r"[+-]?\d+")
_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_MAX_RANGE: Final = 100_000


def _invalid(message: str, spec: str) -> SimutradorError:
    return SimutradorError(ErrorCode.VALIDATION_FAILED, message, {"fields": ["grid"], "grid": spec})


def _value(text: str) -> int | float | str:
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    return text


def _range(name: str, spec: str, parts: Sequence[str]) -> list[int | float]:
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise _invalid(f"{spec!r}: a range is name=start:stop:step with numbers", spec) from None
    if not all(x.is_finite() for x in (start, stop, step)) or step <= 0 or stop < start:
        raise _invalid(f"{spec!r}: a range needs start <= stop and a step above 0", spec)
    count = int((stop - start) / step) + 1
    if count > _MAX_RANGE:
        raise _invalid(f"{spec!r}: {count:,} values; at most {_MAX_RANGE:,} per parameter", spec)
    values = [start + i * step for i in range(count)]
    whole = all(v == v.to_integral_value() for v in (start, step))
    return [int(v) if whole else float(v) for v in values]


def parse_grid_spec(spec: str) -> tuple[str, list[Any]]:
    """One ``--grid`` option: ``fast=5:20:5`` → ``("fast", [5, 10, 15, 20])``; ``slow=30,50`` → ``("slow", [30, 50])``.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` saying what is wrong with `spec`.

    Example:
        >>> parse_grid_spec("fast=5:20:5"), parse_grid_spec("mode=long, short")
        (('fast', [5, 10, 15, 20]), ('mode', ['long', 'short']))
    """
    name, equals, body = spec.partition("=")
    name = name.strip()
    if not equals or not _NAME.fullmatch(name):
        raise _invalid(f"{spec!r}: write name=start:stop:step or name=v1,v2,... (name a Python identifier)", spec)
    if not body.strip():
        raise _invalid(f"{spec!r}: no values after {name}=", spec)
    parts = body.split(":")
    if len(parts) == 3:
        return name, list(_range(name, spec, parts))
    if len(parts) != 1:
        raise _invalid(f"{spec!r}: a range has three parts, start:stop:step", spec)
    values = [_value(v) for v in body.split(",")]
    if any(v == "" for v in values):
        raise _invalid(f"{spec!r}: an empty value in the list", spec)
    return name, values


def expand_grid(grid: Mapping[str, Iterable[Any]]) -> Iterator[dict[str, Any]]:
    """Every combination of `grid`'s values, in order (the first name varies slowest).

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` for an empty grid, a parameter with no
            values, or more than `MAX_RUNS` runs.
    """
    names = list(grid)
    values = [list(grid[name]) for name in names]
    if not names:
        raise _invalid("the grid is empty: give at least one parameter with values", "")
    empty = [name for name, vs in zip(names, values, strict=True) if not vs]
    if empty:
        raise _invalid(f"no values for {', '.join(empty)}", ",".join(empty))
    total = 1
    for vs in values:
        total *= len(vs)
    if total > MAX_RUNS:
        raise _invalid(f"{total:,} runs; at most {MAX_RUNS:,} in one sweep", "")
    for combination in itertools.product(*values):
        yield dict(zip(names, combination, strict=True))


def parameters_key(parameters: Mapping[str, Any]) -> str:
    """A stable text key of one run's parameters (to find finished runs when resuming)."""
    return json.dumps(parameters, sort_keys=True, default=str)
