"""The simulation messages of the dispatch table: start, acknowledge, orders, control, results.

Each call takes the envelope's ``data`` as a mapping (the checks, with their
field-naming errors, live in `simutrador_ws.simulations`), finds the connection's run
through the `simutrador_ws.simulations.SimulationDesk` in the route context, and
answers with an `Emit`: its reply, what it caused before the reply (a batch's fills,
so the reply marks their end), and what follows (ticks).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from simutrador import ErrorCode, SimutradorError
from simutrador.codec import result_to_wire, session_params_from_wire
from simutrador_ws.dispatch import Emit, Push, Route, RouteContext
from simutrador_ws.simulations import RunOptions, SimulationDesk

__all__ = ["MAX_RESULTS_PAGE", "RUN_OPTION_FIELDS", "SIMULATION_ROUTES"]

RUN_OPTION_FIELDS: Final = frozenset(
    {"flow_control", "max_pending_ticks", "include_bars", "account_update_frequency", "tick_interval_ms", "ack_start"}
)
"""``start_simulation`` fields that shape the run (the rest, in the one-step form, are session parameters)."""

_IGNORED_COMPAT_FIELDS: Final = frozenset({"adjusted"})  # the original clients send it; our data says what it is

MAX_RESULTS_PAGE: Final = 1000
"""The most items of each series (fills, trades, orders, equity curve) one ``simulation_results`` page holds."""

_SERIES: Final = ("fills", "trades", "orders", "equity_curve")


def _raw(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return data


def _desk(context: RouteContext) -> SimulationDesk:
    desk = context.desk
    if desk is None:  # pragma: no cover - every Connection has a desk
        raise SimutradorError(ErrorCode.INTERNAL_ERROR, "this connection serves no simulations")
    return desk


def _start(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    desk = _desk(context)
    one_step = "symbols" in data and "session_id" not in data
    options = RunOptions.from_wire(data, desk.limits, compat=one_step)
    if not one_step:
        run = desk.start(_session_id(data), options)
        return Emit(reply=run.started(), then=tuple(run.begin()))
    from simutrador_ws.routes import session_created  # noqa: PLC0415  # the table imports this module

    params = session_params_from_wire(
        {k: v for k, v in data.items() if k not in RUN_OPTION_FIELDS and k not in _IGNORED_COMPAT_FIELDS}
    )
    created = session_created(context, params)
    run = desk.start(str(created["session_id"]), options)
    return Emit(
        reply=created,
        reply_type="session_created",
        then=(Push(type="simulation_started", data=run.started()), *run.begin()),
    )


def _session_id(data: Mapping[str, Any]) -> str:
    session_id = data.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED, "session_id is required (a string)", {"fields": ["session_id"]}
        )
    return session_id


def _ack(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    run = _desk(context).run(_session_id(data))
    return Emit(then=tuple(run.ack(data.get("sequence_id"), data.get("orders"))))


def _batch(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    run = _desk(context).run(_session_id(data))
    batch_id = data.get("batch_id")
    if not isinstance(batch_id, str) or not 0 < len(batch_id) <= 128:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            "batch_id is required (a string of 1 to 128 characters)",
            {"fields": ["batch_id"]},
        )
    for_sequence_id = data.get("for_sequence_id", run.acked + 1)
    reply, caused = run.batch(batch_id, for_sequence_id, data.get("orders"), data.get("execution_mode", "best_effort"))
    return Emit(reply=reply, first=tuple(caused))


def _cancel(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    run = _desk(context).run(_session_id(data))
    reply, caused = run.cancel(data.get("order_id"), data.get("for_sequence_id"))
    return Emit(reply=reply, first=tuple(caused))


def _pause(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    run = _desk(context).run(_session_id(data))
    pushes = run.pause("requested by the client")
    if not pushes:
        if run.finished:
            raise SimutradorError(
                ErrorCode.INVALID_STATE_TRANSITION,
                f"the simulation of session {run.session_id} has ended",
                {"session_id": run.session_id},
            )
        return Emit(
            reply={
                "session_id": run.session_id,
                "reason": run.pause_reason,
                "sequence_id": run.position,
                "already_paused": True,
            }
        )
    return Emit(reply=pushes[0].data)


def _resume(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    desk = _desk(context)
    session_id = _session_id(data)
    taken_over = session_id not in desk.runs
    run = desk.adopt(session_id)
    pushes = run.resume(resend=taken_over)
    if not run.options.flow_control and run not in desk.streams_started:
        desk.streams_started.append(run)
    return Emit(reply=pushes[0].data, then=tuple(pushes[1:]))


def _resume_session(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    reply, pushes = _desk(context).resume_session(_session_id(data), data.get("last_processed_sequence_id"))
    return Emit(reply=reply, then=tuple(pushes))


def _positions(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    run = _desk(context).run(_session_id(data))
    return Emit(reply=run.account())


_WIRE_RESULTS: Final[OrderedDict[tuple[str, str, str], dict[str, Any]]] = OrderedDict()
_WIRE_RESULTS_KEPT: Final = 8


def _wire_result(context: RouteContext, session_id: str) -> dict[str, Any]:
    """A completed session's result as wire data, kept for its next pages (a long run is read in many).

    Kept by owner, session id and creation time (a result never changes once
    completed; a session made again under the same id is another key).

    Raises:
        SimutradorError: ``SESSION_NOT_FOUND``; ``INVALID_STATE_TRANSITION`` before completion.
    """
    user_id = context.identity.user_id
    session = context.engine.get_session(user_id, session_id)
    key = (user_id, session_id, session.created_at.isoformat())
    cached = _WIRE_RESULTS.get(key)
    if cached is not None:
        _WIRE_RESULTS.move_to_end(key)
        return cached
    wire = result_to_wire(context.engine.get_result(user_id, session_id))
    _WIRE_RESULTS[key] = wire
    while len(_WIRE_RESULTS) > _WIRE_RESULTS_KEPT:
        _WIRE_RESULTS.popitem(last=False)
    return wire


def _results(context: RouteContext, data: Mapping[str, Any]) -> Emit:
    session_id = _session_id(data)
    offset = data.get("offset", 0)
    limit = data.get("limit", MAX_RESULTS_PAGE)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "offset must be a whole number ≥ 0", {"fields": ["offset"]})
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS_PAGE:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"limit must be a whole number from 1 to {MAX_RESULTS_PAGE:,}",
            {"fields": ["limit"]},
        )
    whole = _wire_result(context, session_id)
    totals = {name: len(whole[name]) for name in _SERIES}
    wire = dict(whole)
    for name in _SERIES:
        wire[name] = whole[name][offset : offset + limit]
    more = any(total > offset + limit for total in totals.values())
    return Emit(
        reply={
            "session_id": session_id,
            "result": wire,
            "offset": offset,
            "limit": limit,
            "totals": totals,
            "next_offset": offset + limit if more else None,
        }
    )


SIMULATION_ROUTES: Final[Mapping[str, Route[Any]]] = {
    "start_simulation": Route(_raw, _start, "simulation_started"),
    "tick_ack": Route(_raw, _ack, "tick_ack"),
    "order_batch": Route(_raw, _batch, "batch_ack"),
    "cancel_order": Route(_raw, _cancel, "order_canceled"),
    "pause_simulation": Route(_raw, _pause, "simulation_paused"),
    "resume_simulation": Route(_raw, _resume, "simulation_resumed"),
    "resume_session": Route(_raw, _resume_session, "state_sync"),
    "query_positions": Route(_raw, _positions, "current_positions"),
    "get_results": Route(_raw, _results, "simulation_results"),
}
"""The simulation half of `simutrador_ws.routes.ROUTES`."""
