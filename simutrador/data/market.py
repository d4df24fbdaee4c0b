"""`MarketDataValidator`: requests checked against the market data actually available.

It answers the seed's questions (`validate_symbols`, `validate_date_range`,
`get_supported_symbols`, `get_available_date_range`) and is the `Engine`'s market
check: unknown symbols (with close-match suggestions), a timeframe a symbol cannot
have, ranges outside a symbol's data (with each symbol's available start/end, by the
one rule of `simutrador.data.catalog.covers`), too little history for the warmup
bars (with the earliest start that works), a range with no bar to simulate, an
unknown data provider (the catalog's name and the `data_provider_aliases` setting are
known), and the estimated ticks and bars at the session's timeframe.
Results are kept in a bounded LRU cache keyed on the normalized request and the
catalog's `version`; a new version clears the cache.
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
from simutrador.data.catalog import Catalog, available_range, covers, session_window
from simutrador.data.symbols import SymbolProblem, normalize_symbol
from simutrador.data.timeframes import DAILY, TIMEFRAMES, parse_timeframe
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.manager import MarketFindings
from simutrador.sessions.models import EMPTY_MAPPING, DataRange
from simutrador.sessions.validation import CheckedParams, Problem, check_dates, check_symbols, raise_problems
from simutrador.settings import EffectiveLimits, EngineSettings, Plan

__all__ = ["MarketDataValidator", "ValidationResult"]

_TICK: Final = timedelta(microseconds=1)
_MAX_COVERAGES: Final = 100_000
_DATE_FIELDS: Final = frozenset({"start_date", "end_date", "timeframe", "warmup_bars"})
_WARMUP_REACH: Final = timedelta(days=31)  # a resampled bar may start this long before its first source bar


@attrs.frozen(kw_only=True, slots=True)
class ValidationResult:
    """The outcome of one validation.

    Attributes:
        is_valid: True when no problem was found.
        problems: Every problem found (empty when valid).
        symbols: The well-formed, known symbols, normalized.
        data_ranges: Per known symbol, the data available at the timeframe asked for.
        estimated_ticks: Bar times in the requested range (0 when not computed).
        estimated_bars: Bars of every symbol in the requested range (0 when not computed).
    """

    is_valid: bool
    problems: tuple[Problem, ...] = ()
    symbols: tuple[str, ...] = ()
    data_ranges: Mapping[str, DataRange] = EMPTY_MAPPING
    estimated_ticks: int = 0
    estimated_bars: int = 0

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


def _day(moment: datetime, timeframe: str) -> str:
    """A stamp as people read it: a date for daily and coarser bars, else ISO-8601."""
    return moment.date().isoformat() if not TIMEFRAMES[timeframe].intraday else moment.isoformat()


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
        self._availability: dict[tuple[str, str], tuple[bool, DataRange | None]] = {}

    @property
    def catalog(self) -> Catalog:
        """The catalog validated against."""
        return self._catalog

    # -- the seed's API -----------------------------------------------------------

    def get_supported_symbols(self, market: str | None = None) -> list[str]:
        """Every symbol the catalog has data for, optionally in one market."""
        return [info.symbol for info in self._catalog.symbols(market=market)]

    def get_available_date_range(self, symbol: str, timeframe: str = DAILY) -> DataRange | None:
        """The data a session at `timeframe` may use for `symbol` (any spelling), or None."""
        normalized = normalize_symbol(symbol)
        if isinstance(normalized, SymbolProblem):
            return None
        return self._available(normalized, parse_timeframe(timeframe).name)[1]

    def validate_symbols(
        self, symbols: Iterable[str] | str, *, plan: Plan | None = None, timeframe: str = DAILY
    ) -> ValidationResult:
        """Normalize `symbols` and check each is well-formed, unique, allowed in number and known."""
        problems: list[Problem] = []
        raw = tuple(symbols.split(",")) if isinstance(symbols, str) else tuple(symbols)
        normalized = check_symbols(raw, self._settings.limits_for(plan), problems)
        known, ranges = self._known(normalized, parse_timeframe(timeframe).name, problems)
        return ValidationResult(
            is_valid=not problems, problems=tuple(problems), symbols=known, data_ranges=MappingProxyType(ranges)
        )

    def validate_date_range(
        self,
        start: object,
        end: object,
        *,
        symbols: Iterable[str] | None = None,
        plan: Plan | None = None,
        timeframe: str = DAILY,
        warmup_bars: int = 0,
    ) -> ValidationResult:
        """Check a range: order, not in the future and, per symbol, the data at `timeframe`.

        With `symbols`, each must have data covering the whole range (and
        `warmup_bars` bars before it); the result then carries the estimated ticks.
        """
        problems: list[Problem] = []
        limits = self._settings.limits_for(plan)
        begin, finish = check_dates(start, end, self._clock(), problems)
        if symbols is None:
            return ValidationResult(is_valid=not problems, problems=tuple(problems))
        normalized = check_symbols(tuple(symbols), limits, problems)
        name = parse_timeframe(timeframe).name
        if problems:
            known, ranges = self._known(normalized, name, problems)
            return ValidationResult(is_valid=False, problems=tuple(problems), symbols=known, data_ranges=ranges)
        verdict = self._cached(normalized, begin, finish, None, name, warmup_bars)
        return ValidationResult(
            is_valid=not verdict.problems,
            problems=verdict.problems,
            symbols=tuple(s for s in normalized if s in verdict.findings.data_ranges),
            data_ranges=verdict.findings.data_ranges,
            estimated_ticks=verdict.findings.estimated_ticks,
            estimated_bars=verdict.findings.estimated_bars,
        )

    # -- the Engine's market check ------------------------------------------------

    def check(self, checked: CheckedParams, limits: EffectiveLimits, problems: list[Problem]) -> MarketFindings:
        """Check a format-checked request against the data; append problems; return findings."""
        del limits  # symbol count and span were checked with the request's format
        if any(p.field in _DATE_FIELDS for p in problems):
            self._known(checked.symbols, checked.timeframe, problems)
            self._check_provider(checked.data_provider, problems)
            return MarketFindings(data_provider=self._catalog.name)
        verdict = self._cached(
            checked.symbols,
            checked.start_date,
            checked.end_date,
            checked.data_provider,
            checked.timeframe,
            checked.warmup_bars,
        )
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
                    self._availability = {}
                    self._version = version
        return version

    def _cached(  # noqa: PLR0917 - the cache key, spelled out
        self,
        symbols: tuple[str, ...],
        start: datetime,
        end: datetime,
        provider: str | None,
        timeframe: str,
        warmup_bars: int,
    ) -> _Verdict:
        return self._verdict(symbols, start, end, provider, timeframe, warmup_bars, self._sync())

    def _judge(  # noqa: PLR0917 - the cache key, spelled out
        self,
        symbols: tuple[str, ...],
        start: datetime,
        end: datetime,
        provider: str | None,
        timeframe: str,
        warmup_bars: int,
        _version: int,
    ) -> _Verdict:
        problems: list[Problem] = []
        self._check_provider(provider, problems)
        known, ranges = self._known(symbols, timeframe, problems)
        outside = {
            symbol: {
                "available_start": ranges[symbol].start.isoformat(),
                "available_end": ranges[symbol].end.isoformat(),
            }
            for symbol in known
            if not covers(ranges[symbol], start, end)
        }
        if outside:
            which = "" if timeframe == DAILY else f"{timeframe} "
            problems.append(
                Problem(
                    code=ErrorCode.INVALID_DATE_RANGE,
                    field="start_date" if any(start.date() < ranges[s].start.date() for s in outside) else "end_date",
                    message=f"no {which}data for the whole range for "
                    + ", ".join(
                        f"{s} (available {v['available_start'][:10]} to {v['available_end'][:10]})"
                        for s, v in outside.items()
                    ),
                    details={"symbols": outside, "timeframe": timeframe},
                )
            )
        ticks = bars = 0
        if not problems and known:  # with no usable symbol, the symbols' own problems say it all
            first, last = session_window(start, end, timeframe)
            ticks = self._catalog.count_ticks(known, first, last, timeframe)
            if ticks == 0:
                problems.append(self._no_bars(known, start, end, timeframe))
            else:
                bars = sum(self._catalog.count_ticks([s], first, last, timeframe) for s in known)
                if warmup_bars:
                    self._check_warmup(known, ranges, first, timeframe, warmup_bars, problems)
        findings = MarketFindings(
            data_provider=self._catalog.name,
            data_ranges=MappingProxyType(ranges),
            estimated_ticks=ticks,
            estimated_bars=bars,
            data_fingerprint=self._catalog.fingerprint if not problems else "",
        )
        return _Verdict(problems=tuple(problems), findings=findings)

    @staticmethod
    def _no_bars(symbols: Sequence[str], start: datetime, end: datetime, timeframe: str) -> Problem:
        return Problem(
            code=ErrorCode.INVALID_DATE_RANGE,
            field="start_date",
            message=(
                f"no {timeframe} bar to simulate from {_day(start, timeframe)} to {_day(end, timeframe)} for "
                f"{', '.join(symbols)}: the market is closed then, or the range is shorter than one bar; "
                "widen the range or choose a finer timeframe"
            ),
            details={"estimated_ticks": 0, "timeframe": timeframe},
        )

    def _check_warmup(  # noqa: PLR0917
        self,
        symbols: Sequence[str],
        ranges: Mapping[str, DataRange],
        start: datetime,
        timeframe: str,
        warmup_bars: int,
        problems: list[Problem],
    ) -> None:
        """Each symbol needs `warmup_bars` bars at `timeframe` before `start`; name the earliest start that works."""
        short: dict[str, dict[str, Any]] = {}
        for symbol in symbols:
            first = ranges[symbol].start - _WARMUP_REACH
            before = self._catalog.count_ticks([symbol], first, start - _TICK, timeframe)
            if before >= warmup_bars:
                continue
            stamps = self._catalog.timestamps(symbol, first, ranges[symbol].end + _WARMUP_REACH, timeframe)
            earliest = stamps[warmup_bars] if len(stamps) > warmup_bars else None
            short[symbol] = {
                "warmup_bars_available": before,
                "earliest_start": earliest.isoformat() if earliest is not None else None,
            }
        if not short:
            return
        starts = [v["earliest_start"] for v in short.values()]
        earliest_start = max(starts) if None not in starts else None
        hint = (
            f"the earliest start_date with {warmup_bars} warmup bars is "
            f"{_day(datetime.fromisoformat(earliest_start), timeframe)}"
            if earliest_start is not None
            else f"there are not {warmup_bars + 1} {timeframe} bars in all; ask for fewer warmup bars"
        )
        problems.append(
            Problem(
                code=ErrorCode.INVALID_DATE_RANGE,
                field="start_date",
                message=(
                    f"warmup_bars={warmup_bars} needs {warmup_bars} {timeframe} bars before the start, but "
                    + ", ".join(f"{s} has {v['warmup_bars_available']}" for s, v in short.items())
                    + f"; {hint}"
                ),
                details={"symbols": short, "earliest_start": earliest_start, "warmup_bars": warmup_bars},
            )
        )

    def _known(
        self, symbols: Sequence[str], timeframe: str, problems: list[Problem]
    ) -> tuple[tuple[str, ...], dict[str, DataRange]]:
        """Split normalized symbols into those with data at `timeframe` (with their ranges) and problems."""
        self._sync()
        known: list[str] = []
        ranges: dict[str, DataRange] = {}
        unknown: list[str] = []
        lacking: list[str] = []
        for symbol in symbols:
            exists, available = self._available(symbol, timeframe)
            if not exists:
                unknown.append(symbol)
            elif available is None:
                lacking.append(symbol)
            else:
                known.append(symbol)
                ranges[symbol] = available
        if unknown:
            problems.append(self._unknown_symbols(unknown))
        if lacking:
            problems.append(self._lacking_timeframe(lacking, timeframe))
        return tuple(known), ranges

    def _available(self, symbol: str, timeframe: str) -> tuple[bool, DataRange | None]:
        """(known?, range a session at `timeframe` may use) for `symbol`, cached per catalog version."""
        key = (symbol, timeframe)
        try:
            return self._availability[key]
        except KeyError:
            pass
        info = self._catalog.symbol_info(symbol)
        result = (False, None) if info is None else (True, available_range(info, timeframe))
        if len(self._availability) < _MAX_COVERAGES:
            self._availability[key] = result
        return result

    def _lacking_timeframe(self, symbols: list[str], timeframe: str) -> Problem:
        held = {s: list(info.ranges) if (info := self._catalog.symbol_info(s)) else [] for s in symbols}
        return Problem(
            code=ErrorCode.VALIDATION_FAILED,
            field="timeframe",
            message=f"no {timeframe} bars for "
            + ", ".join(f"{s} (holds {', '.join(tfs)})" for s, tfs in held.items())
            + f": {timeframe} bars can only be made from finer data",
            details={"timeframe": timeframe, "symbols": held},
        )

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
        """A provider other than the catalog's name or one of its aliases is a problem."""
        name = self._catalog.name
        if provider is None or provider == name or provider in self._settings.session.data_provider_aliases:
            return
        aliases = self._settings.session.data_provider_aliases
        also = f" (also accepted as {', '.join(aliases)})" if aliases else ""
        problems.append(
            Problem(
                code=ErrorCode.VALIDATION_FAILED,
                field="data_provider",
                message=f"data_provider {provider!r} is not available; this engine serves {name!r}{also}",
                details={"supported_providers": [name], "data_provider_aliases": list(aliases)},
            )
        )
