"""The one dispatch table: message type → (request model, engine call, reply type).

`ROUTES` is all the server knows how to answer. A `Route` turns the envelope's
``data`` into its request model (through the core's codec: refusals are
``VALIDATION_FAILED`` naming the fields), calls the `Engine`, and says what the
answer is called. `route_for` looks a type up: an unknown one is
``UNKNOWN_MESSAGE_TYPE``, an admin route without an admin token
``AUTHENTICATION_FAILED``.

A call answers with the data of its one reply (a mapping), or with an `Emit`: a
reply (or none) followed by any number of `Push` messages — so one request can
produce zero, one or several messages (a simulation's start: ``simulation_started``,
then ``history_snapshot`` and ticks). Calls never see the wire or the connection:
`simutrador_ws.connection.Connection` encodes what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from simutrador import ErrorCode, SessionParams, SimutradorError
from simutrador.codec import format_datetime, session_params_from_wire, session_to_wire, structure
from simutrador_ws.auth import Identity
from simutrador_ws.dispatch import Answer, Emit, Push, Route, RouteContext
from simutrador_ws.simulation_routes import SIMULATION_ROUTES

__all__ = [
    "ROUTES",
    "Answer",
    "Emit",
    "Push",
    "Route",
    "RouteContext",
    "route_for",
    "session_created",
    "supported_types",
]

T = TypeVar("T")

# -- request models --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _SessionRef:
    session_id: Any


@attrs.frozen(kw_only=True)
class _Nothing:
    pass


@attrs.frozen(kw_only=True)
class _SymbolQuery:
    market: Any = None


def _model(model: type[T]) -> Callable[[Mapping[str, Any]], T]:
    def build(data: Mapping[str, Any]) -> T:
        return structure(data, model)

    return build


# -- engine calls ----------------------------------------------------------------------


def _create(context: RouteContext, params: SessionParams) -> Mapping[str, Any]:
    identity = context.identity
    session = context.engine.create_session(identity.user_id, params, plan=identity.plan)
    wire = session_to_wire(session)
    return {
        "session_id": session.session_id,
        "status": "created",
        "state": wire["state"],
        "symbols": wire["symbols"],
        "start_date": wire["start_date"],
        "end_date": wire["end_date"],
        "initial_capital": wire["initial_capital"],
        "estimated_ticks": session.estimated_ticks,
        "data_range_actual": wire["data_ranges"],
        "expires_at": wire["expires_at"],
        "created_at": wire["created_at"],
        "data_provider": wire["data_provider"],  # the catalog's real name, whatever alias was asked for
        "commission_per_share": wire["commission_per_share"],
        "slippage_bps": round(session.slippage_bps),  # whole bps for the original clients; exact in session
        "symbols_loaded": wire["symbols"],
        "session": wire,
    }


def _count_creation(context: RouteContext, seconds: float, error: SimutradorError | None) -> None:
    metrics = context.metrics
    if error is not None:
        metrics.sessions_failed[error.code.value] += 1
        return
    metrics.validation_seconds.append(seconds)
    metrics.sessions_created += 1


def _with_status(wire: dict[str, Any]) -> dict[str, Any]:
    """A session's wire fields plus ``status`` (its state), the name the original clients read."""
    wire["status"] = wire["state"]
    return wire


def _get(context: RouteContext, ref: _SessionRef) -> Mapping[str, Any]:
    wire = session_to_wire(context.engine.get_session(context.identity.user_id, ref.session_id))
    return {**wire, "status": wire["state"], "session": wire}  # flat too: the original clients read it so


def _list(context: RouteContext, _request: _Nothing) -> Mapping[str, Any]:
    sessions = context.engine.list_sessions(context.identity.user_id)
    return {"sessions": [_with_status(session_to_wire(s)) for s in sessions]}


def _delete(context: RouteContext, ref: _SessionRef) -> Mapping[str, Any]:
    session_id = context.engine.delete_session(context.identity.user_id, ref.session_id).session_id
    return {"session_id": session_id, "message": f"session {session_id} deleted"}


def _ping(context: RouteContext, _request: _Nothing) -> Mapping[str, Any]:
    return {"server_time": format_datetime(context.engine.clock())}


def _symbols(context: RouteContext, query: _SymbolQuery) -> Mapping[str, Any]:
    if query.market is not None and not isinstance(query.market, str):
        raise SimutradorError(ErrorCode.VALIDATION_FAILED, "market must be a string", {"fields": ["market"]})
    catalog = context.engine.catalog
    return {
        "data_provider": catalog.name,
        "symbols": [
            {
                "symbol": info.symbol,
                "asset_class": info.asset_class.value,
                "market": info.market,
                "name": info.name,
                "synthetic": info.synthetic,
                "ranges": {
                    tf: {"start": format_datetime(r.start), "end": format_datetime(r.end)}
                    for tf, r in info.ranges.items()
                },
            }
            for info in catalog.symbols(market=query.market)
        ],
    }


def _stats(context: RouteContext, _request: _Nothing) -> Mapping[str, Any]:
    return context.metrics.snapshot(context.engine.live_session_count)


ROUTES: Final[Mapping[str, Route[Any]]] = {
    "create_session": Route(session_params_from_wire, _create, "session_created", observe=_count_creation),
    "get_session": Route(_model(_SessionRef), _get, "session_status"),
    "list_sessions": Route(_model(_Nothing), _list, "session_list"),
    "delete_session": Route(_model(_SessionRef), _delete, "session_deleted"),
    "list_symbols": Route(_model(_SymbolQuery), _symbols, "symbol_list", session_operation=False),
    "ping": Route(_model(_Nothing), _ping, "pong", session_operation=False),
    "server_stats": Route(_model(_Nothing), _stats, "server_stats", session_operation=False, admin_only=True),
    **SIMULATION_ROUTES,
}
"""Message type → how it is served. The one dispatch table."""


def session_created(context: RouteContext, params: SessionParams) -> Mapping[str, Any]:
    """Create a session for the caller and return the ``session_created`` data (also for ``start_simulation``)."""
    return _create(context, params)


def supported_types(routes: Mapping[str, Route[Any]], identity: Identity) -> list[str]:
    """The message types `identity` may send, sorted (admin routes only for admin tokens)."""
    return sorted(kind for kind, route in routes.items() if identity.admin or not route.admin_only)


def route_for(routes: Mapping[str, Route[Any]], kind: str, identity: Identity) -> Route[Any]:
    """The route serving `kind` for `identity`.

    Raises:
        SimutradorError: ``UNKNOWN_MESSAGE_TYPE`` (with ``details.supported_types``)
            for a type not in `routes`; ``AUTHENTICATION_FAILED`` for an admin route
            without an admin token.
    """
    route = routes.get(kind)
    if route is None:
        raise SimutradorError(
            ErrorCode.UNKNOWN_MESSAGE_TYPE,
            f"unknown message type {kind[:64]!r}",
            {"supported_types": supported_types(routes, identity)},
        )
    if route.admin_only and not identity.admin:
        raise SimutradorError(ErrorCode.AUTHENTICATION_FAILED, f"{kind} needs an admin token")
    return route
