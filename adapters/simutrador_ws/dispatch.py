"""What a route is: its context, its answer (`Emit`, `Push`) and `Route` itself.

Kept apart from the table (`simutrador_ws.routes`) so the modules that serve
messages (sessions there, simulations in `simutrador_ws.simulation_routes`) share
these without importing each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from simutrador import Engine, SimutradorError
from simutrador_ws.auth import Identity
from simutrador_ws.metrics import Metrics

if TYPE_CHECKING:
    from simutrador_ws.simulations import SimulationDesk

__all__ = ["Answer", "Emit", "Push", "Route", "RouteContext"]

T = TypeVar("T")


@attrs.frozen(slots=True)
class RouteContext:
    """What a route's call may use: the engine, who is asking, the server's counters, the connection's runs."""

    engine: Engine
    identity: Identity
    metrics: Metrics
    desk: SimulationDesk | None = None


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
        first: Messages pushed before the reply, in order (what a batch caused,
            so the reply marks the end of it).
        reply_type: The reply's ``type`` when not the route's (``start_simulation``
            carrying session parameters answers ``session_created``).
    """

    reply: Mapping[str, Any] | None = None
    then: tuple[Push, ...] = attrs.field(default=(), converter=_pushes)
    first: tuple[Push, ...] = attrs.field(default=(), converter=_pushes)
    reply_type: str | None = None


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
