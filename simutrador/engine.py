"""`Engine`: the one object an embedder or an adapter talks to.

It owns the settings, the clock, the session manager and (from the catalog work
on) the market-data validation; every transport is a thin translation onto these
methods.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from simutrador.clock import Clock, IdFactory, new_session_id, system_clock
from simutrador.codec import canonical_fields
from simutrador.data.catalog import Catalog
from simutrador.data.market import MarketDataValidator, ValidationResult
from simutrador.data.sample import SampleCatalog
from simutrador.data.timeframes import DAILY
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sessions.manager import SessionManager
from simutrador.sessions.models import DataRange, Session, SessionParams
from simutrador.settings import EffectiveLimits, EngineSettings, Plan
from simutrador.simulation.results import SimulationResult
from simutrador.simulation.runner import Progress, SimulationHandle
from simutrador.simulation.service import SimulationService
from simutrador.storage.base import SessionStore
from simutrador.storage.journal import JournalEntry, JournalStore
from simutrador.storage.sqlite import SqliteStore

__all__ = ["Engine", "backtest"]


class Engine:
    """The embeddable SimuTrador session engine (thread-safe).

    Args:
        settings: Limits and timeouts (defaults from `EngineSettings`).
        clock: Returns the current aware UTC time; inject a
            `simutrador.testing.ManualClock` in tests.
        id_factory: Returns new session ids (128 random bits by default).
        catalog: The market data sessions are validated against (the synthetic
            `SampleCatalog` by default).
        store: Where sessions are kept (in memory by default; `Engine.open` keeps them
            in a SQLite file).

    The embedded engine applies no plan: only `SessionSettings` limit it (5 live
    sessions per user, 50 symbols...). Pass ``plan=`` to `create_session` to apply a
    plan's limits, as the server does with each client's plan.

    Example:
        >>> from simutrador import Engine, SessionParams
        >>> from simutrador.testing import ManualClock, SequentialIds
        >>> engine = Engine(clock=ManualClock(), id_factory=SequentialIds())
        >>> session = engine.create_session(
        ...     "alice", symbols=["aapl"], start_date="2024-03-01",
        ...     end_date="2024-03-01", initial_capital="25000")
        >>> session.session_id, session.symbols, session.state.value
        ('session-1', ('AAPL',), 'ready')
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = system_clock,
        id_factory: IdFactory = new_session_id,
        catalog: Catalog | None = None,
        store: SessionStore | None = None,
    ) -> None:
        self._settings = settings or EngineSettings()
        self._clock = clock
        self._catalog: Catalog = catalog if catalog is not None else SampleCatalog()
        self._validator = MarketDataValidator(self._catalog, self._settings, clock=clock)
        self._sessions = SessionManager(
            self._settings, clock=clock, id_factory=id_factory, market_check=self._validator.check, store=store
        )
        self._store: SessionStore = self._sessions.store
        self._simulations = SimulationService(self._sessions, self._catalog, self._settings, clock)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, synchronous: str = "normal", **kwargs: Any) -> Engine:
        """An engine whose sessions, results and creation windows live in the SQLite file `path`.

        Shorthand for ``Engine(store=SqliteStore(path, synchronous=synchronous), **kwargs)``.
        A later ``Engine.open`` of the same file (after a restart, or a crash) finds
        everything committed before; sessions that were RUNNING come back PAUSED.
        The file stays open until `close` (or the end of a ``with Engine.open(path)
        as engine:`` block).

        Args:
            path: The database file (created when missing).
            synchronous: ``"normal"`` (survives a process crash) or ``"full"`` (also
                a power loss).
            **kwargs: Any other `Engine` argument (``settings``, ``catalog``, ``clock``...).

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` when the file cannot be used (see
                `SqliteStore`).

        Example:
            >>> import pathlib, tempfile
            >>> folder = tempfile.TemporaryDirectory()
            >>> path = pathlib.Path(folder.name) / "sessions.db"
            >>> with Engine.open(path) as engine:
            ...     session = engine.create_session(
            ...         "alice", symbols="AAPL", start="2024-03-04", end="2024-03-08", capital=10_000)
            >>> with Engine.open(path) as engine:  # a restart
            ...     engine.get_session("alice", session.session_id).state.value
            'ready'
            >>> folder.cleanup()
        """
        return cls(store=SqliteStore(path, synchronous=synchronous), **kwargs)

    def close(self) -> None:
        """Release the store (a `SqliteStore` closes its file); the engine must not be used after.

        An engine over a `MemoryStore` has nothing to release. ``with Engine.open(path)
        as engine:`` closes it at the end of the block.
        """
        closer: Any = getattr(self._store, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def settings(self) -> EngineSettings:
        """The settings in force."""
        return self._settings

    @property
    def clock(self) -> Clock:
        """The engine's clock."""
        return self._clock

    @property
    def catalog(self) -> Catalog:
        """The market data catalog."""
        return self._catalog

    @property
    def live_session_count(self) -> int:
        """How many sessions are held (expired ones count until cleaned up)."""
        return self._sessions.live_session_count

    def limits_for(self, plan: Plan | None = None) -> EffectiveLimits:
        """The limits in force for `plan`; with None, the engine's own (session settings only)."""
        return self._settings.limits_for(plan)

    def create_session(
        self, user_id: str, params: SessionParams | None = None, *, plan: Plan | None = None, **fields: Any
    ) -> Session:
        """Validate and create a session for `user_id`.

        Pass a `SessionParams`, or its fields as keywords (the aliases of
        `simutrador.codec.ALIASES`, such as ``start``/``end``/``capital``, too).

        Raises:
            SimutradorError: see `SessionManager.create_session`; also
                ``VALIDATION_FAILED`` for unknown or missing keyword fields.
        """
        if params is None:
            params = _params_from_fields(fields)
        elif fields:
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                "pass either a SessionParams or keyword fields, not both",
                {"fields": sorted(fields)},
            )
        return self._sessions.create_session(user_id, params, plan=plan)

    def get_session(self, user_id: str, session_id: str) -> Session:
        """The session `session_id` of `user_id` (``SESSION_NOT_FOUND`` otherwise)."""
        return self._sessions.get_session(user_id, session_id)

    def list_sessions(self, user_id: str) -> list[Session]:
        """The live sessions of `user_id`, oldest first."""
        return self._sessions.list_user_sessions(user_id)

    def update_metadata(self, user_id: str, session_id: str, metadata: Mapping[str, Any]) -> Session:
        """Replace a session's metadata (checked as at creation); renews its expiry."""
        return self._sessions.update_metadata(user_id, session_id, metadata)

    def touch_session(self, user_id: str, session_id: str) -> Session:
        """Renew a session's expiry."""
        return self._sessions.touch_session(user_id, session_id)

    def delete_session(self, user_id: str, session_id: str) -> Session:
        """Delete a session; returns its last snapshot."""
        return self._sessions.delete_session(user_id, session_id)

    def cleanup_expired_sessions(self) -> int:
        """Remove expired sessions; returns how many went."""
        return self._sessions.cleanup_expired_sessions()

    # -- simulations ----------------------------------------------------------------------

    def run_simulation(
        self, user_id: str, session_id: str, strategy: object, *, progress: Progress | None = None
    ) -> SimulationResult:
        """Simulate a READY session with `strategy` and return the result.

        The session goes RUNNING, then COMPLETED (its result kept for
        ``result_retention_minutes``, see `get_result`). A strategy is an object with
        ``on_tick(ctx, tick)`` and optional ``on_start(ctx)``, ``on_fill(ctx, fill)``,
        ``on_order_rejected(ctx, order, reason)``, ``on_finish(ctx, result)``, or a plain
        function ``(ctx, tick)``.

        Args:
            user_id: The owner.
            session_id: A READY session.
            strategy: The strategy.
            progress: Called with (ticks done, ticks total) as the run goes.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` when the
                session is not READY; ``INVALID_ORDER`` from the strategy's orders;
                ``SESSION_LIMIT_EXCEEDED`` past the plan's ``max_simulation_duration``.
            Exception: whatever the strategy raised, with a note naming the callback
                and the tick. The session is then in ERROR with that message; the
                engine and other sessions are unaffected.
        """
        return self._simulations.run(user_id, session_id, strategy, progress)

    def start_simulation(self, user_id: str, session_id: str, *, deferred_finish: bool = False) -> SimulationHandle:
        """Start a READY session's simulation and return a step handle over it.

        Iterate the handle for ticks; between them submit (``handle.buy``,
        ``handle.sell``, ``handle.ctx``), cancel and read the account; ``pause()``
        and iterate again to resume; ``handle.result`` once done (the session is then
        COMPLETED).

        Args:
            user_id: The owner.
            session_id: A READY session.
            deferred_finish: Do not record the result when the last tick is processed:
                the caller calls `finish_simulation` itself (a server does it on a
                worker thread, since a long run's result takes a while to store).
        """
        return self._simulations.start(user_id, session_id, deferred_finish=deferred_finish)

    def finish_simulation(self, user_id: str, session_id: str, result: SimulationResult) -> None:
        """Record the result of a simulation started with ``deferred_finish`` (the session goes COMPLETED).

        Thread-safe; the result is written outside the session lock.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND`` (deleted or expired meanwhile);
                ``INVALID_STATE_TRANSITION``; ``STORAGE_FAILED``.
        """
        self._simulations.finish(user_id, session_id, result)

    def restore_simulation(
        self,
        user_id: str,
        session_id: str,
        commands: Sequence[JournalEntry],
        *,
        until: int,
        deferred_finish: bool = False,
    ) -> SimulationHandle:
        """Rebuild an interrupted (PAUSED) session's simulation from its command journal, paused at tick `until`.

        After a restart, a session that was RUNNING comes back PAUSED; its journal
        (`journal_of`) holds every order and cancel with its tick. Replaying them on
        the same data gives the simulation as it was; iterate or `advance` the
        handle to go on (the session goes RUNNING again).

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` unless
                PAUSED; ``DATA_CHANGED`` when the market data changed since the session
                started; ``VALIDATION_FAILED`` for a tick before the journal's last
                command or past the end.
        """
        return self._simulations.restore(user_id, session_id, commands, until, deferred_finish=deferred_finish)

    @property
    def store(self) -> SessionStore:
        """Where sessions are kept (a `MemoryStore` unless one was given)."""
        return self._store

    def journal_of(self, session_id: str) -> list[JournalEntry]:
        """The command journal of `session_id` (empty when the store keeps none)."""
        store = self._store
        return store.journal_of(session_id) if isinstance(store, JournalStore) else []

    def fail_simulation(self, user_id: str, session_id: str, error: BaseException) -> None:
        """Mark a started simulation ERROR with `error`'s summary (its driver gave up: a limit passed...).

        For drivers of `start_simulation` handles (the WebSocket server); `run_simulation`
        does this itself when the strategy raises. A session deleted meanwhile is ignored.
        """
        self._simulations.fail(user_id, session_id, error)

    def get_result(self, user_id: str, session_id: str) -> SimulationResult:
        """The result of a COMPLETED session (kept for ``result_retention_minutes``).

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` when it
                has not completed.
        """
        return self._sessions.get_result(user_id, session_id)

    # -- the market data (the seed's validator API) -----------------------------------

    def validate_symbols(
        self, symbols: Iterable[str] | str, *, plan: Plan | None = None, timeframe: str = DAILY
    ) -> ValidationResult:
        """Normalize `symbols` and check each is well-formed, unique, allowed in number and known."""
        return self._validator.validate_symbols(symbols, plan=plan, timeframe=timeframe)

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
        """Check a range (order, not in the future) and, with `symbols`, that their data covers it."""
        return self._validator.validate_date_range(
            start, end, symbols=symbols, plan=plan, timeframe=timeframe, warmup_bars=warmup_bars
        )

    def get_supported_symbols(self, market: str | None = None) -> list[str]:
        """Every symbol the catalog has data for, optionally in one market."""
        return self._validator.get_supported_symbols(market)

    def get_available_date_range(self, symbol: str, timeframe: str = DAILY) -> DataRange | None:
        """The data a session at `timeframe` may use for `symbol` (any spelling), or None when unknown."""
        return self._validator.get_available_date_range(symbol, timeframe)


def _params_from_fields(given: Mapping[str, Any]) -> SessionParams:
    fields, problems, at_fault = canonical_fields(given)
    if problems:
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "; ".join(problems), {"fields": at_fault})
    return SessionParams(**fields)  # pyright: ignore[reportArgumentType]


def backtest(
    strategy: object,
    *,
    symbols: Iterable[str] | str,
    start: object,
    end: object,
    initial_capital: object,
    timeframe: str = DAILY,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> SimulationResult:
    """One call from nothing to a result: a session on an embedded engine, simulated with `strategy`.

    Args:
        strategy: An object with ``on_tick(ctx, tick)`` (and optional hooks) or a function ``(ctx, tick)``.
        symbols: The instruments (``["AAPL", "MSFT"]`` or ``"AAPL,MSFT"``).
        start: First day (``"2023-01-01"``, a date or datetime).
        end: Last day, inclusive.
        initial_capital: Starting cash.
        timeframe: Bar size (``daily`` by default; ``1min``... ``monthly``).
        catalog: The market data (the synthetic sample by default).
        progress: Called with (ticks done, ticks total).
        **settings: Any other session field: ``commission_per_share``, ``slippage_bps``,
            ``fill_at``, ``intrabar``, ``max_volume_pct``, ``leverage``, ``warmup_bars``...

    Example:
        >>> def buy_and_hold(ctx, tick):
        ...     if not ctx.position("SPY").quantity:
        ...         ctx.buy("SPY", 10)
        >>> result = backtest(buy_and_hold, symbols="SPY", start="2024-01-02", end="2024-03-28",
        ...                   initial_capital=10_000)
        >>> result.fills[0].quantity, len(result.fills), result.final_equity > 0
        (Decimal('10'), 1, True)
    """
    engine = Engine(catalog=catalog)
    session = engine.create_session(
        "backtest",
        symbols=symbols,
        start_date=start,
        end_date=end,
        initial_capital=initial_capital,
        timeframe=timeframe,
        **settings,
    )
    return engine.run_simulation("backtest", session.session_id, strategy, progress=progress)
