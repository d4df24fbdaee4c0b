"""The core's data: what a user asks for (`SessionParams`) and what exists (`Session`).

Models are frozen, keyword-only attrs classes with no (de)serialization logic;
the wire format lives in `simutrador.codec`. A `Session` is a snapshot: the
`SessionManager` replaces it with `attrs.evolve` and never hands out anything a
caller could mutate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final, cast

import attrs

from simutrador.sessions.states import SessionState

__all__ = ["EMPTY_MAPPING", "DataRange", "Session", "SessionParams"]

EMPTY_MAPPING: Final[Mapping[str, Any]] = MappingProxyType({})
"""The shared empty read-only mapping used as a default."""

Number = Decimal | int | float | str
"""Money as a caller may give it; validation turns it into a `Decimal`."""

Moment = date | datetime | str
"""A date or time as a caller may give it; validation turns it into an aware UTC datetime."""


def _symbols(value: Iterable[str] | str) -> tuple[str, ...]:
    """Accept ``"AAPL,MSFT"`` or any iterable of strings; keep items as given."""
    if isinstance(value, str):
        return tuple(part for part in value.split(",")) if value else ()
    if isinstance(value, Iterable) and not isinstance(value, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        return tuple(value)
    return cast("tuple[str, ...]", value)  # a mapping (not a list of symbols) or not iterable: the validator reports it


@attrs.frozen(kw_only=True, slots=True, eq=False)
class SessionParams:
    """What a user asks for when creating a session.

    Values are kept as given; `Engine.create_session` validates all of them at once
    and reports every problem in one `SimutradorError`.

    Attributes:
        symbols: Instruments to simulate (``("AAPL", "EUR/USD")``, or ``"AAPL,MSFT"``).
        start_date: First day or moment simulated (``date``, aware/naive ``datetime``
            or ISO string; naive means UTC; a date means the whole day).
        end_date: Last day or moment simulated, inclusive.
        initial_capital: Starting cash, as ``Decimal`` (``int``/``str``/``float`` accepted).
        timeframe: The bars the simulation steps through: ``1min 5min 15min 30min 1h
            2h 4h daily weekly monthly`` or an alias (``1d``, ``60min``...); one the
            catalog does not hold is resampled from a finer one.
        warmup_bars: Bars of history, at `timeframe`, delivered before the first
            tick; they must exist before `start_date`.
        data_provider: Which market data to use; None means the engine's catalog.
        commission_per_share: Commission charged per share traded.
        slippage_bps: Slippage applied to market and stop fills, in basis points.
        commission_minimum: The least commission one order pays.
        commission_pct: Commission as a percent of traded value (added to the per-share part).
        fill_at: When market orders fill: ``"next_open"`` (default) or ``"close"``.
        intrabar: How an ambiguous bar is read: ``"pessimistic"`` (default) or ``"optimistic"``.
        max_volume_pct: Percent of a bar's volume a symbol's orders may take (None: no limit).
        leverage: Gross position value allowed per unit of equity (1: cash only).
        metadata: Free-form JSON-like labels, bounded in size and depth.
        session_id: A client-chosen id (letters, digits, ``-``, ``_``, ``.``);
            None for a random one.

    Example:
        >>> from decimal import Decimal
        >>> SessionParams(symbols="AAPL,MSFT", start_date="2023-01-03",
        ...               end_date="2023-01-31", initial_capital=Decimal("100000")).symbols
        ('AAPL', 'MSFT')
    """

    symbols: tuple[str, ...] = attrs.field(converter=_symbols)
    start_date: Moment
    end_date: Moment
    initial_capital: Number
    timeframe: str = "daily"
    warmup_bars: int = 0
    data_provider: str | None = None
    commission_per_share: Number = Decimal(0)
    slippage_bps: Number = Decimal(0)
    commission_minimum: Number = Decimal(0)
    commission_pct: Number = Decimal(0)
    fill_at: str = "next_open"
    intrabar: str = "pessimistic"
    max_volume_pct: Number | None = None
    leverage: Number = Decimal(1)
    metadata: Mapping[str, Any] = EMPTY_MAPPING
    session_id: str | None = None


@attrs.frozen(kw_only=True, slots=True)
class DataRange:
    """The span of market data available for one symbol.

    Attributes:
        start: First available bar (aware UTC).
        end: Last available bar (aware UTC).
    """

    start: datetime
    end: datetime


@attrs.frozen(kw_only=True, slots=True, eq=False)
class Session:
    """A simulation session as it stands at one moment (an immutable snapshot).

    Attributes:
        session_id: The session's id, unique per user.
        user_id: The owner; only the owner can see or change it.
        symbols: Normalized symbols, in request order.
        start_date: First simulated moment (aware UTC).
        end_date: Last simulated moment, inclusive (aware UTC).
        initial_capital: Starting cash.
        timeframe: The canonical timeframe simulated (``"daily"``, ``"5min"``...).
        warmup_bars: Bars of history delivered before the first tick.
        state: Lifecycle state (see `simutrador.sessions.states`).
        created_at: When it was created.
        updated_at: When it last changed.
        expires_at: When it expires unless touched again.
        data_provider: Where its market data comes from.
        commission_per_share: Commission per share traded.
        slippage_bps: Slippage in basis points.
        commission_minimum: The least commission one order pays.
        commission_pct: Commission as a percent of traded value.
        fill_at: When market orders fill (``next_open`` or ``close``).
        intrabar: How an ambiguous bar is read (``pessimistic`` or ``optimistic``).
        max_volume_pct: Percent of a bar's volume orders may take (None: no limit).
        leverage: Gross position value allowed per unit of equity.
        plan: The plan whose limits applied at creation (None: the engine's own).
        metadata: The caller's labels (read-only).
        data_ranges: Per symbol, the market data actually available.
        estimated_ticks: How many time steps the simulation will take.
        data_fingerprint: The catalog's content fingerprint when the session was created,
            so a durable session never silently replays against changed data.
        error_message: Why the session is in ``ERROR``, if it is.
    """

    session_id: str
    user_id: str
    symbols: tuple[str, ...]
    start_date: datetime
    end_date: datetime
    initial_capital: Decimal
    state: SessionState
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    data_provider: str
    commission_per_share: Decimal = Decimal(0)
    slippage_bps: Decimal = Decimal(0)
    timeframe: str = "daily"
    warmup_bars: int = 0
    commission_minimum: Decimal = Decimal(0)
    commission_pct: Decimal = Decimal(0)
    fill_at: str = "next_open"
    intrabar: str = "pessimistic"
    max_volume_pct: Decimal | None = None
    leverage: Decimal = Decimal(1)
    plan: str | None = None
    metadata: Mapping[str, Any] = EMPTY_MAPPING
    data_ranges: Mapping[str, DataRange] = attrs.field(default=EMPTY_MAPPING)
    estimated_ticks: int = 0
    data_fingerprint: str = ""
    error_message: str | None = None

    def __eq__(self, other: object) -> bool:
        """Sessions are equal when every field is equal (metadata compared by value)."""
        if not isinstance(other, Session):
            return NotImplemented
        return all(getattr(self, a.name) == getattr(other, a.name) for a in attrs.fields(Session))

    def __hash__(self) -> int:
        """Hash by owner and id."""
        return hash((self.user_id, self.session_id))
