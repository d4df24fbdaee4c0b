"""Simulations of sessions: from a `Session` to a running `Simulator`, and back to a result.

`SimulationService` is the `Engine`'s simulation half. It builds a simulator from a
session (its instruments from the catalog, its bars from the shared `FeedCache`),
fires the session's state events (START, PAUSE, RESUME, FINISH, FAIL) through the
session manager, enforces the plan's wall-clock limit, and stores results.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Sequence

from simutrador.clock import Clock
from simutrador.codec import converter
from simutrador.data.catalog import Catalog
from simutrador.data.feed import FeedCache
from simutrador.data.symbols import AssetClass
from simutrador.data.timeframes import parse_timeframe
from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import format_duration
from simutrador.sessions.manager import SessionManager
from simutrador.sessions.models import Session
from simutrador.sessions.states import SessionEvent, SessionState
from simutrador.settings import EngineSettings, Plan
from simutrador.simulation.account import CommissionModel
from simutrador.simulation.events import OrderRequest
from simutrador.simulation.matching import IntrabarPolicy
from simutrador.simulation.results import SimulationResult
from simutrador.simulation.runner import Progress, SimulationHandle, run_strategy
from simutrador.simulation.simulator import FillTiming, Instrument, SimulationConfig, Simulator
from simutrador.storage.journal import JournalEntry

__all__ = ["SimulationService"]

_CALENDARS = {
    AssetClass.STOCK: (252, 6.5),
    AssetClass.FOREX: (260, 24.0),
    AssetClass.CRYPTO: (365, 24.0),
}


class SimulationService:
    """Runs sessions' simulations for an `Engine` (thread-safe; each simulator has one owner).

    Args:
        sessions: The session rules (state events, results).
        catalog: The market data.
        settings: Limits (the plan's wall-clock limit).
        clock: For the wall-clock limit.
    """

    def __init__(self, sessions: SessionManager, catalog: Catalog, settings: EngineSettings, clock: Clock) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._settings = settings
        self._clock = clock
        self.feeds = FeedCache(catalog)

    def simulator_for(self, session: Session) -> Simulator:
        """A fresh simulator for `session` (its bars shared with other sessions reading the same)."""
        feed = self.feeds.get(
            session.symbols, session.start_date, session.end_date, session.timeframe, session.warmup_bars
        )
        instruments: dict[str, Instrument] = {}
        calendar = (252, 6.5)
        for symbol in session.symbols:
            info = self._catalog.symbol_info(symbol)
            if info is None:  # the catalog changed since the session was created
                raise SimutradorError(
                    ErrorCode.INVALID_SYMBOL,
                    f"{symbol} is no longer in the {self._catalog.name} catalog",
                    {"invalid_symbols": [symbol]},
                )
            if not instruments:
                calendar = _CALENDARS.get(info.asset_class, calendar)
            instruments[symbol] = Instrument(
                symbol=symbol, price_increment=info.price_increment, lot_size=info.lot_size, timezone=info.timezone
            )
        trading_days, hours = calendar
        config = SimulationConfig(
            session_id=session.session_id,
            initial_capital=session.initial_capital,
            instruments=instruments,
            commission=CommissionModel(
                per_share=session.commission_per_share, minimum=session.commission_minimum, pct=session.commission_pct
            ),
            slippage_bps=session.slippage_bps,
            fill_at=FillTiming(session.fill_at),
            intrabar=IntrabarPolicy(session.intrabar),
            max_volume_pct=session.max_volume_pct,
            leverage=session.leverage,
            periods_per_year=parse_timeframe(session.timeframe).periods_per_year(
                trading_days=trading_days, hours_per_day=hours
            ),
            catalog_name=self._catalog.name,
            data_fingerprint=session.data_fingerprint,
        )
        return Simulator(config, feed)

    def run(self, user_id: str, session_id: str, strategy: object, progress: Progress | None) -> SimulationResult:
        """Start the session, run `strategy` to the end, finish it; FAIL it if anything raises."""
        simulator = self._start(user_id, session_id)
        check = self._deadline(user_id, session_id)
        try:
            result = run_strategy(simulator, strategy, progress=progress, check=check)
        except BaseException as exc:
            self._fail(user_id, session_id, exc)
            raise
        self._sessions.finish(user_id, session_id, result)
        return result

    def start(self, user_id: str, session_id: str, *, deferred_finish: bool = False) -> SimulationHandle:
        """Start the session and hand back a step handle over its simulator."""
        simulator = self._start(user_id, session_id)
        return self._handle(user_id, session_id, simulator, paused=False, deferred_finish=deferred_finish)

    def finish(self, user_id: str, session_id: str, result: SimulationResult) -> None:
        """Record a completed simulation's result (the session goes COMPLETED)."""
        self._sessions.finish(user_id, session_id, result)

    def _handle(
        self, user_id: str, session_id: str, simulator: Simulator, *, paused: bool, deferred_finish: bool
    ) -> SimulationHandle:
        """A step handle whose pauses, resumes and end are the session's state events."""
        return SimulationHandle(
            simulator,
            on_done=None if deferred_finish else lambda result: self._sessions.finish(user_id, session_id, result),
            on_pause=lambda: self._sessions.apply_event(user_id, session_id, SessionEvent.PAUSE),
            on_resume=lambda: self._sessions.apply_event(user_id, session_id, SessionEvent.RESUME),
            check=self._deadline(user_id, session_id),
            paused=paused,
        )

    def restore(
        self,
        user_id: str,
        session_id: str,
        commands: Sequence[JournalEntry],
        until: int,
        *,
        deferred_finish: bool = False,
    ) -> SimulationHandle:
        """Rebuild a PAUSED session's simulation from its journal; the handle stands at tick `until`, paused.

        Each ``batch`` entry's orders are submitted, and each ``cancel`` applied, at
        its tick, in journal order, on a fresh simulator over the same data: the
        simulator is deterministic, so this is the simulation as it was.

        Raises:
            SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` unless
                the session is PAUSED; ``DATA_CHANGED`` when the catalog's data is not
                the data the session started on; ``VALIDATION_FAILED`` for a tick
                before the journal's last command or past the end.
        """
        session = self._sessions.get_session(user_id, session_id)
        if session.state is not SessionState.PAUSED:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"session {session_id} is {session.state.value}; only a paused simulation can be restored",
                {"current_state": session.state.value},
            )
        current = self._catalog.fingerprint
        if session.data_fingerprint and current != session.data_fingerprint:
            raise SimutradorError(
                ErrorCode.DATA_CHANGED,
                f"the {self._catalog.name} catalog's data changed since session {session_id} started; resuming "
                "would give other fills than the run so far. Start a new session (or serve the original data)",
                {"recorded_fingerprint": session.data_fingerprint, "current_fingerprint": current},
            )
        simulator = self.simulator_for(session)
        last = max((entry.tick for entry in commands), default=0)
        if not last <= until < simulator.total_ticks:
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"cannot restore session {session_id} at tick {until}: its journal reaches tick {last} and it has "
                f"{simulator.total_ticks} ticks",
                {"fields": ["until"], "journal_tick": last, "total_ticks": simulator.total_ticks},
            )
        for entry in commands:
            _advance_to(simulator, entry.tick)
            if entry.kind == "batch":
                for order in entry.body.get("orders", ()):
                    with contextlib.suppress(SimutradorError):  # refused then, refused again: same sequence
                        simulator.submit(converter.structure(order, OrderRequest))
            elif entry.kind == "cancel":
                with contextlib.suppress(SimutradorError):
                    simulator.cancel(str(entry.body["order_id"]))
        _advance_to(simulator, until)
        return self._handle(user_id, session_id, simulator, paused=True, deferred_finish=deferred_finish)

    def fail(self, user_id: str, session_id: str, exc: BaseException) -> None:
        """Mark a started session ERROR with `exc`'s summary (a driver outside `run` gave up on it)."""
        self._fail(user_id, session_id, exc)

    def _start(self, user_id: str, session_id: str) -> Simulator:
        session = self._sessions.get_session(user_id, session_id)
        simulator = self.simulator_for(session)  # data problems surface before the state changes
        self._sessions.apply_event(user_id, session_id, SessionEvent.START)
        return simulator

    def _deadline(self, user_id: str, session_id: str) -> Callable[[int], None] | None:
        session = self._sessions.get_session(user_id, session_id)
        if session.plan is None:
            return None
        limits = self._settings.limits_for(Plan(session.plan))
        allowed = limits.max_simulation_duration
        if allowed is None:
            return None
        deadline = self._clock() + allowed

        def check(done: int) -> None:
            if self._clock() > deadline:
                source = limits.source("max_simulation_duration")
                raise SimutradorError(
                    ErrorCode.SESSION_LIMIT_EXCEEDED,
                    f"the simulation ran longer than the {format_duration(allowed)} {limits.plan_label} allows "
                    f"(stopped after {done:,} ticks); {source.hint()}",
                    {
                        "max_simulation_duration_sec": int(allowed.total_seconds()),
                        "setting": source.setting,
                        "env": source.env,
                    },
                )

        return check

    def _fail(self, user_id: str, session_id: str, exc: BaseException) -> None:
        where = next((n for n in getattr(exc, "__notes__", ()) if n.startswith("SimuTrador: ")), "")
        summary = traceback.format_exception_only(exc)[0].strip()
        message = f"{summary} ({where.removeprefix('SimuTrador: ')})" if where else summary
        with contextlib.suppress(SimutradorError):  # deleted or expired meanwhile: nothing to mark
            self._sessions.apply_event(user_id, session_id, SessionEvent.FAIL, error_message=message[:1000])


def _advance_to(simulator: Simulator, tick: int) -> None:
    while simulator.sequence_id < tick:
        simulator.advance()
