"""Who may hold a connection, counted from accept, before any byte is read (sans I/O).

Every TCP connection is counted against its client address from the moment it is
accepted until it closes, whether its handshake is still pending or it is established:

- at most ``max_connections_per_ip`` per address; more are closed at once;
- at most ``max_pending_handshakes_per_ip`` of them still in their handshake; more are
  closed at once;
- at most ``max_pending_handshakes`` handshakes pending server-wide, a budget of their
  own apart from the established connections (``max_connections``): when it is full, the
  **oldest** pending handshake is shed to make room. A client that opens connections and
  says nothing only ever pushes out its own, older, idle connections; a client that
  completes its handshake in milliseconds is never the oldest for long.

An address is an IPv4 address, or an IPv6 /64 (one subscriber's prefix: one host can
use a whole /64), or the text given when it is neither (tests' memory streams).
Each address also carries one `simutrador_ws.ratelimit.DebtBucket` shared by all its
connections: the budget of what the server reads from that address
(`simutrador_ws.transport.MeteredStream`), so opening more connections buys no more.

`Admission` decides; the server acts (closes, cancels). It holds no sockets and no
clock of its own, so tests drive it directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import attrs

from simutrador_ws.ratelimit import DebtBucket

__all__ = ["Admission", "Ticket", "address_key"]


def address_key(host: str) -> str:
    """The key connections from `host` are counted under.

    Example:
        >>> address_key("192.0.2.7"), address_key("2001:db8::1:2"), address_key("::ffff:192.0.2.7")
        ('192.0.2.7', '2001:db8::/64', '192.0.2.7')
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _unlimited() -> DebtBucket:
    return DebtBucket(float("inf"), float("inf"), lambda: 0.0)


@attrs.define(eq=False, slots=True)
class _Address:
    budget: DebtBucket
    connections: int = 0
    pending: int = 0


@attrs.define(eq=False, slots=True)
class Ticket:
    """One admitted connection.

    Attributes:
        key: Its address key (`address_key`).
        budget: The read budget its address shares.
        shed: Called when the connection is shed while still in its handshake.
        pending: Still in its handshake.
    """

    key: str
    budget: DebtBucket
    shed: Callable[[], None]
    pending: bool = True


class Admission:
    """Connection counts per address and the pending-handshake budget.

    Args:
        max_pending: Handshakes pending server-wide before the oldest is shed.
        max_pending_per_address: Handshakes pending from one address.
        max_per_address: Connections (pending and established) from one address.
        budget: Makes the read budget of an address not seen yet (a bucket that
            never empties when None).
    """

    def __init__(
        self,
        *,
        max_pending: int,
        max_pending_per_address: int,
        max_per_address: int,
        budget: Callable[[], DebtBucket] | None = None,
    ) -> None:
        self._max_pending = max(max_pending, 1)
        self._max_pending_per_address = max_pending_per_address
        self._max_per_address = max_per_address
        self._budget = budget or _unlimited
        self._addresses: dict[str, _Address] = {}
        self._pending: dict[Ticket, None] = {}  # in arrival order: the first is the oldest

    @property
    def pending(self) -> int:
        """Handshakes pending now."""
        return len(self._pending)

    def connections_from(self, key: str) -> int:
        """Connections (pending and established) from the address `key`."""
        found = self._addresses.get(key)
        return 0 if found is None else found.connections

    def arrive(self, host: str, shed: Callable[[], None]) -> Ticket | str:
        """Admit a connection just accepted from `host`, or say why not.

        Sheds the oldest pending handshakes (calling their `Ticket.shed`) while the
        server-wide budget is full.

        Returns:
            Its `Ticket`, or the refusal's reason code: ``ip_connections`` or
            ``ip_pending`` (the caller closes the connection).
        """
        key = address_key(host)
        address = self._addresses.get(key)
        if address is not None:
            if address.connections >= self._max_per_address:
                return "ip_connections"
            if address.pending >= self._max_pending_per_address:
                return "ip_pending"
        while len(self._pending) >= self._max_pending:
            oldest = next(iter(self._pending))
            self._end_pending(oldest)
            oldest.shed()
        if address is None:
            address = self._addresses[key] = _Address(self._budget())
        address.connections += 1
        address.pending += 1
        ticket = Ticket(key=key, budget=address.budget, shed=shed)
        self._pending[ticket] = None
        return ticket

    def established(self, ticket: Ticket) -> None:
        """`ticket`'s handshake completed: it no longer counts as pending (it still counts for its address)."""
        if ticket.pending:
            self._end_pending(ticket)

    def leave(self, ticket: Ticket) -> None:
        """`ticket`'s connection closed."""
        if ticket.pending:
            self._end_pending(ticket)
        address = self._addresses[ticket.key]
        address.connections -= 1
        if address.connections <= 0:
            del self._addresses[ticket.key]

    def _end_pending(self, ticket: Ticket) -> None:
        del self._pending[ticket]
        ticket.pending = False
        self._addresses[ticket.key].pending -= 1
