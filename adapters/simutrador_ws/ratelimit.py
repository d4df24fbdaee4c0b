"""Token buckets: per connection (messages), per client IP (handshakes), and debt buckets (bytes read).

No maintained rate-limiting library fits trio without background threads or async
storage backends, so this is one small module with an injected clock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DebtBucket", "KeyedLimiter", "TokenBucket"]


class TokenBucket:
    """`rate` tokens per second, up to `burst`; each `take` spends one.

    Args:
        rate: Tokens added per second.
        burst: Bucket size (and initial fill).
        clock: Seconds from a monotonic clock.
    """

    __slots__ = ("_burst", "_clock", "_granted", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._tokens = self._burst
        self._stamp = clock()
        self._granted = 0

    def grant(self, tokens: int, *, most: int) -> None:
        """Add `tokens` spent before the refilling ones (earned by simulation ticks sent), keeping at most `most`."""
        self._granted = min(self._granted + tokens, most)

    def take(self) -> float:
        """Spend a token: 0.0 when allowed, else the seconds until one is available."""
        if self._granted:
            self._granted -= 1
            return 0.0
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        if self._rate <= 0:
            return float("inf")
        return (1.0 - self._tokens) / self._rate


class KeyedLimiter:
    """One `TokenBucket` per key (client IP), remembering at most `max_keys` keys."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float], max_keys: int = 100_000) -> None:
        self._rate, self._burst, self._clock, self._max = rate, burst, clock, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend a token of `key`'s bucket (see `TokenBucket.take`)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._clock)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take()


class DebtBucket:
    """`rate` units per second, up to `burst`; spending always succeeds but may go into debt.

    For work that has already happened (bytes read, frames parsed): `spend` records it,
    and `delay` says how long to wait before doing more, until the debt is repaid.

    Args:
        rate: Units added per second.
        burst: Bucket size (and initial fill).
        clock: Seconds from a monotonic clock.
    """

    __slots__ = ("_burst", "_clock", "_rate", "_stamp", "_units")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._clock = clock
        self._units = self._burst
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._units = min(self._burst, self._units + (now - self._stamp) * self._rate)
        self._stamp = now

    def spend(self, amount: float) -> None:
        """Record `amount` units used (the balance may go below zero)."""
        self._refill()
        self._units -= amount

    def delay(self) -> float:
        """Seconds until the balance is back to zero: 0.0 when not in debt."""
        self._refill()
        if self._units >= 0:
            return 0.0
        if self._rate <= 0:
            return float("inf")
        return -self._units / self._rate
