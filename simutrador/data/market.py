"""`MarketDataValidator`: requests checked against the market data actually available.

It answers the seed's questions (`validate_symbols`, `validate_date_range`,
`get_supported_symbols`, `get_available_date_range`) and is the `Engine`'s market
check: unknown symbols (with close-match suggestions), ranges outside a symbol's
data (with each symbol's available start/end), an unknown data provider, and the
estimated number of ticks. Results are kept in a bounded LRU cache keyed on the
normalized request and the catalog's `version`; a new version clears the cache.
"""

from __future__ import annotations

import difflib
import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import attrs

from simutrador.clock import Clock, system_clock
from simutrador.data.catalog import DAILY, Catalog, SymbolInfo, normalize_timeframe, timeframe_duration
from simutrador.data.symbols import SymbolProblem, normalize_symbol
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.manager import MarketFindings
from simutrador.sessions.models import EMPTY_MAPPING, DataRange
from simutrador.sessions.validation import CheckedParams, Problem, check_dates, check_symbols, raise_problems
from simutrador.settings import EffectiveLimits, EngineSettings, Plan

__all__ = ["MarketDataValidator", "ValidationResult"]

_TICK: Final = timedelta(microseconds=1)
_MAX_COVERAGES: Final = 100_000
_DATE_FIELDS: Final = frozenset({"start_date", "end_date"})


@attrs.frozen(kw_only=True, slots=True)
class ValidationResult:
    """The outcome of one validation.

    Attributes:
        is_valid: True when no problem was found.
        problems: Every problem found (empty when valid).
        symbols: The well-formed, known symbols, normalized.
        data_ranges: Per known symbol, the data available.
        estimated_ticks: Bar times in the requested range (0 when not computed).
    """

    is_valid: bool
    problems: tuple[Problem, ...] = ()
    symbols: tuple[str, ...] = ()
    data_ranges: Mapping[str, DataRange] = EMPTY_MAPPING
    estimated_ticks: int = 0

    @property
    def error(self) -> SimutradorError | None:
        """The one error that `raise_for_errors` would raise, or None."""
        try:
            raise_problems(self.problems)
        except SimutradorError as error:
            return error
        return None

    def raise_for_errors(self) -> None:
        """Raise the `SimutradorError` describing every problem, if any."""
        raise_problems(self.problems)


@attrs.frozen(slots=True)
class _Verdict:
    problems: tuple[Problem, ...]
    findings: MarketFindings


def _coverage(info: SymbolInfo) -> tuple[str, DataRange] | None:
    """The timeframe used to judge a symbol's coverage (daily first) and its covered span."""
    if DAILY in info.ranges:
        timeframe = DAILY
    elif info.ranges:
        timeframe = max(info.ranges, key=lambda tf: info.ranges[tf].end - info.ranges[tf].start)
    else:
        return None
    available = info.ranges[timeframe]
    step = timeframe_duration(timeframe) if normalize_timeframe(timeframe) == timeframe else timedelta(0)
    return timeframe, DataRange(start=available.start, end=available.end + step - _TICK)


class MarketDataValidator:
    """Validates symbols and date ranges against a `Catalog` (thread-safe).

    Args:
        catalog: The market data.
        settings: Limits (symbols per session, span per plan).
        clock: For "not in the future".
        cache_size: Entries in the LRU cache of request verdicts.

    Example:
        >>> from simutrador.data.sample import SampleCatalog
        >>> validator = MarketDataValidator(SampleCatalog())
        >>> result = validator.validate_symbols(["aapl", "APPL"])
        >>> result.is_valid, result.symbols, result.problems[0].details["suggestions"]["APPL"][0]
        (False, ('AAPL',), 'AAPL')
    """

    def __init__(
        self,
        catalog: Catalog,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = system_clock,
        cache_size: int = 4096,
    ) -> None:
        self._catalog = catalog
        self._settings = settings or EngineSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._version = catalog.version
        self._verdict = functools.lru_cache(maxsize=cache_size)(self._judge)
        self._coverages: dict[str, tuple[str, DataRange, DataRange] | None] = {}

    @property
    def catalog(self) -> Catalog:
        """The catalog validated against."""
        return self._catalog

    # -- the seed's API -----------------------------------------------------------

    def get_supported_symbols(self, market: str | None = None) -> list[str]:
        """Every symbol the catalog has data for, optionally in one market."""
        return [info.symbol for info in self._catalog.symbols(market=market)]

    def get_available_date_range(self, symbol: str) -> DataRange | None:
        """The data available for `symbol` (any spelling), or None when unknown."""
        normalized = normalize_symbol(symbol)
        if isinstance(normalized, SymbolProblem):
            return None
        info = self._catalog.symbol_info(normalized)
        coverage = _coverage(info) if info is not None else None
        return info.ranges[coverage[0]] if info is not None and coverage is not None else None

    def validate_symbols(self, symbols: Iterable[str] | str, *, plan: Plan | None = None) -> ValidationResult:
        """Normalize `symbols` and check each is well-formed, unique, allowed in number and known."""
        problems: list[Problem] = []
        raw = tuple(symbols.split(",")) if isinstance(symbols, str) else tuple(symbols)
        normalized = check_symbols(raw, self._settings.limits_for(plan), problems)
        known, ranges = self._known(normalized, problems)
        return ValidationResult(
            is_valid=not problems, problems=tuple(problems), symbols=known, data_ranges=MappingProxyType(ranges)
        )

    def validate_date_range(
        self, start: object, end: object, *, symbols: Iterable[str] | None = None, plan: Plan | None = None
    ) -> ValidationResult:
        """Check a range: order, not in the future, the plan's span and, per symbol, the data.

        With `symbols`, each must have data covering the whole range; the result
        then carries the estimated number of ticks.
        """
        problems: list[Problem] = []
        limits = self._settings.limits_for(plan)
        begin, finish = check_dates(start, end, self._clock(), problems)
        if symbols is None:
            return ValidationResult(is_valid=not problems, problems=tuple(problems))
        normalized = check_symbols(tuple(symbols), limits, problems)
        if problems:
            known, ranges = self._known(normalized, problems)
            return ValidationResult(is_valid=False, problems=tuple(problems), symbols=known, data_ranges=ranges)
        verdict = self._cached(normalized, begin, finish, None)
        return ValidationResult(
            is_valid=not verdict.problems,
            problems=verdict.problems,
            symbols=tuple(s for s in normalized if s in verdict.findings.data_ranges),
            data_ranges=verdict.findings.data_ranges,
            estimated_ticks=verdict.findings.estimated_ticks,
        )

    # -- the Engine's market check ------------------------------------------------

    def check(self, checked: CheckedParams, limits: EffectiveLimits, problems: list[Problem]) -> MarketFindings:
        """Check a format-checked request against the data; append problems; return findings."""
        del limits  # symbol count and span were checked with the request's format
        if any(p.field in _DATE_FIELDS for p in problems):
            self._known(checked.symbols, problems)
            self._check_provider(checked.data_provider, problems)
            return MarketFindings(data_provider=self._catalog.name)
        verdict = self._cached(checked.symbols, checked.start_date, checked.end_date, checked.data_provider)
        problems.extend(verdict.problems)
        return verdict.findings

    # -- internals ----------------------------------------------------------------

    def _sync(self) -> int:
        """Clear every cache when the catalog's data changed; return the current version."""
        version = self._catalog.version
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._verdict.cache_clear()
                    self._coverages = {}
                    self._version = version
        return version

    def _cached(self, symbols: tuple[str, ...], start: datetime, end: datetime, provider: str | None) -> _Verdict:
        return self._verdict(symbols, start, end, provider, self._sync())

    def _judge(
        self, symbols: tuple[str, ...], start: datetime, end: datetime, provider: str | None, _version: int
    ) -> _Verdict:
        problems: list[Problem] = []
        self._check_provider(provider, problems)
        known, ranges = self._known(symbols, problems)
        outside: dict[str, dict[str, str]] = {}
        timeframes: set[str] = set()
        for symbol in known:
            coverage = self._coverage(symbol)
            assert coverage is not None  # _known keeps only symbols with data
            timeframe, covered, _ = coverage
            timeframes.add(timeframe)
            if start < covered.start or end > covered.end:
                outside[symbol] = {
                    "available_start": ranges[symbol].start.isoformat(),
                    "available_end": ranges[symbol].end.isoformat(),
                }
        if outside:
            problems.append(
                Problem(
                    code=ErrorCode.INVALID_DATE_RANGE,
                    field="start_date" if any(start < ranges[s].start for s in outside) else "end_date",
                    message="no data for the whole range for "
                    + ", ".join(
                        f"{s} (available {v['available_start'][:10]} to {v['available_end'][:10]})"
                        for s, v in outside.items()
                    ),
                    details={"symbols": outside},
                )
            )
        ticks = 0
        if not problems and len(timeframes) == 1:
            ticks = self._catalog.count_ticks(known, start, end, timeframes.pop())
        findings = MarketFindings(
            data_provider=self._catalog.name, data_ranges=MappingProxyType(ranges), estimated_ticks=ticks
        )
        return _Verdict(problems=tuple(problems), findings=findings)

    def _known(self, symbols: Sequence[str], problems: list[Problem]) -> tuple[tuple[str, ...], dict[str, DataRange]]:
        """Split normalized symbols into known (with their ranges) and unknown (a problem)."""
        self._sync()
        known: list[str] = []
        ranges: dict[str, DataRange] = {}
        unknown: list[str] = []
        for symbol in symbols:
            coverage = self._coverage(symbol)
            if coverage is None:
                unknown.append(symbol)
            else:
                known.append(symbol)
                ranges[symbol] = coverage[2]
        if unknown:
            problems.append(self._unknown_symbols(unknown))
        return tuple(known), ranges

    def _coverage(self, symbol: str) -> tuple[str, DataRange, DataRange] | None:
        """(timeframe judged on, covered span, available range) for `symbol`, cached per catalog version."""
        try:
            return self._coverages[symbol]
        except KeyError:
            pass
        info = self._catalog.symbol_info(symbol)
        found = _coverage(info) if info is not None else None
        result = (found[0], found[1], info.ranges[found[0]]) if found is not None and info is not None else None
        if len(self._coverages) < _MAX_COVERAGES:
            self._coverages[symbol] = result
        return result

    def _unknown_symbols(self, unknown: list[str]) -> Problem:
        universe = self.get_supported_symbols()
        broken = self._catalog.problems()
        suggestions = {s: difflib.get_close_matches(s, universe, n=3, cutoff=0.5) for s in unknown}
        reasons = {s: broken.get(s, "no market data for this symbol") for s in unknown}
        details: dict[str, Any] = {
            "invalid_symbols": unknown,
            "reasons": [{"symbol": s, "reason": reasons[s]} for s in unknown],
            "suggestions": suggestions,
            "supported_markets": sorted({info.market for info in self._catalog.symbols()}),
        }
        hints = [
            f"{s} ({reasons[s]}" + (f"; did you mean {', '.join(suggestions[s])}?)" if suggestions[s] else ")")
            for s in unknown
        ]
        return Problem(
            code=ErrorCode.INVALID_SYMBOL,
            field="symbols",
            message=f"unknown symbols in the {self._catalog.name} catalog: " + ", ".join(hints),
            details=details,
        )

    def _check_provider(self, provider: str | None, problems: list[Problem]) -> None:
        if provider is not None and provider != self._catalog.name:
            problems.append(
                Problem(
                    code=ErrorCode.VALIDATION_FAILED,
                    field="data_provider",
                    message=f"data_provider {provider!r} is not available; this engine serves {self._catalog.name!r}",
                    details={"supported_providers": [self._catalog.name]},
                )
            )
