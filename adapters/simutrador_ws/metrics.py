"""`Metrics`: the server's counters and latency samples, as ``server_stats`` reports them.

One instance per server, shared by its connections (trio runs them on one thread, so
plain counters suffice). The server counts connections, refused and pending handshakes,
and the waits of connections whose address had spent its read budget; each
`simutrador_ws.connection.Connection` counts requests, errors and their latency; the
``create_session`` route counts sessions created and failed.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from typing import Any

__all__ = ["Metrics"]


class Metrics:
    """Counters and latency samples for operators (``server_stats``).

    Args:
        window: How many latency samples each series keeps (the most recent).
    """

    def __init__(self, window: int = 2048) -> None:
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.sessions_created = 0
        self.sessions_failed: Counter[str] = Counter()
        self.connections_opened = 0
        self.connections_open = 0
        self.handshakes_refused: Counter[str] = Counter()
        self.handshakes_pending = 0
        self.receive_waits = 0
        self.receive_wait_seconds = 0.0
        self.request_seconds: deque[float] = deque(maxlen=window)
        self.validation_seconds: deque[float] = deque(maxlen=window)

    def count_receive_wait(self, seconds: float) -> None:
        """A connection waited `seconds` for its address's read budget before reading."""
        self.receive_waits += 1
        self.receive_wait_seconds += seconds

    @staticmethod
    def _summary(samples: deque[float]) -> dict[str, float | int]:
        if not samples:
            return {"count": 0}
        ordered = sorted(samples)
        quantiles = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else [ordered[0]] * 99
        return {
            "count": len(ordered),
            "p50_ms": round(quantiles[49] * 1000, 3),
            "p99_ms": round(quantiles[98] * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3),
        }

    def snapshot(self, live_sessions: int) -> dict[str, Any]:
        """Everything as JSON-ready data, with the engine's `live_sessions` count."""
        return {
            "requests": dict(self.requests),
            "errors": dict(self.errors),
            "sessions_created": self.sessions_created,
            "sessions_failed": dict(self.sessions_failed),
            "live_sessions": live_sessions,
            "connections_open": self.connections_open,
            "connections_opened": self.connections_opened,
            "handshakes_refused": dict(self.handshakes_refused),
            "handshakes_pending": self.handshakes_pending,
            "receive_waits": self.receive_waits,
            "receive_wait_seconds": round(self.receive_wait_seconds, 3),
            "request_latency": self._summary(self.request_seconds),
            "create_session_latency": self._summary(self.validation_seconds),
        }
