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

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar

import attrs

from simutrador import Engine, ErrorCode, SessionParams, SimutradorError
from simutrador.codec import format_datetime, session_params_from_wire, session_to_wire, structure
from simutrador_ws.auth import Identity
from simutrador_ws.metrics import Metrics

__all__ = [
    "ROUTES",
    "Answer",
    "Emit",
    "Push",
    "Route",
    "RouteContext",
    "route_for",
    "supported_types",
]

T = TypeVar("T")


@attrs.frozen(slots=True)
class RouteContext:
    """What a route's call may use: the engine, who is asking, and the server's counters."""

    engine: Engine
    identity: Identity
    metrics: Metrics


@attrs.frozen(kw_only=True, slots=True)
class Push:
    """A message nobody asked for by `request_id` (sent with ``request_id: null``): ticks, progress, notices."""

    type: str
    data: Mapping[str, Any]


def _pushes(items: Sequence[Push]) -> tuple[Push, ...]:
    return tuple(items)


@attrs.frozen(kw_only=True, slots=True)
class Emit:
    """Everything one request answers with, in order, when that is not exactly one reply.

    Attributes:
        reply: The data of the route's reply (``Route.reply_type``, echoing the
            request's ``request_id``), or None to send no reply.
        then: Messages pushed after the reply, in order.
    """

    reply: Mapping[str, Any] | None = None
    then: tuple[Push, ...] = attrs.field(default=(), converter=_pushes)


Answer = Mapping[str, Any] | Emit
"""What a route's call returns: the data of its one reply, or an `Emit`."""


@attrs.frozen(slots=True)
class Route(Generic[T]):
    """How one message type is served.

    Attributes:
        request: Turns the envelope's ``data`` into the request model (raises
            ``VALIDATION_FAILED``).
        call: ``(context, request) -> Answer``: the engine call.
        reply_type: The ``type`` of the success reply.
        session_operation: Errors are sent as ``session_error`` (else ``error``).
        admin_only: Only tokens with ``admin: true`` may call it.
        observe: Told ``(context, seconds, error or None)`` after each request is
            served (model and call), for metrics.
    """

    request: Callable[[Mapping[str, Any]], T]
    call: Callable[[RouteContext, T], Answer]
    reply_type: str
    session_operation: bool = attrs.field(default=True, kw_only=True)
    admin_only: bool = attrs.field(default=False, kw_only=True)
    observe: Callable[[RouteContext, float, SimutradorError | None], None] | None = attrs.field(
        default=None, kw_only=True
    )

    def serve(self, context: RouteContext, data: Mapping[str, Any]) -> Answer:
        """Build the request model from `data` and make the call.

        Raises:
            SimutradorError: whatever the model or the engine refuses.
        """
        if self.observe is None:
            return self.call(context, self.request(data))
        started = time.perf_counter()
        try:
            answer = self.call(context, self.request(data))
        except SimutradorError as error:
            self.observe(context, time.perf_counter() - started, error)
            raise
        self.observe(context, time.perf_counter() - started, None)
        return answer


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
        "session": wire,
    }


def _count_creation(context: RouteContext, seconds: float, error: SimutradorError | None) -> None:
    metrics = context.metrics
    if error is not None:
        metrics.sessions_failed[error.code.value] += 1
        return
    metrics.validation_seconds.append(seconds)
    metrics.sessions_created += 1


def _get(context: RouteContext, ref: _SessionRef) -> Mapping[str, Any]:
    return {"session": session_to_wire(context.engine.get_session(context.identity.user_id, ref.session_id))}


def _list(context: RouteContext, _request: _Nothing) -> Mapping[str, Any]:
    return {"sessions": [session_to_wire(s) for s in context.engine.list_sessions(context.identity.user_id)]}


def _delete(context: RouteContext, ref: _SessionRef) -> Mapping[str, Any]:
    return {"session_id": context.engine.delete_session(context.identity.user_id, ref.session_id).session_id}


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
}
"""Message type → how it is served. The one dispatch table."""


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
