"""`Admission`: connection counts per address and the pending-handshake budget, driven directly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from simutrador_ws.admission import Admission, Ticket, address_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # one subscriber's /64: one key
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),  # IPv4 on a dual-stack socket
        ("unknown", "unknown"),
    ],
)
def test_address_keys(host: str, key: str) -> None:
    assert address_key(host) == key


class Shed:
    def __init__(self) -> None:
        self.order: list[str] = []

    def of(self, name: str) -> Callable[[], None]:
        return lambda: self.order.append(name)


def admitted(outcome: Ticket | str) -> Ticket:
    assert isinstance(outcome, Ticket), outcome
    return outcome


def test_per_address_caps_refuse_new_connections_and_count_until_they_leave() -> None:
    admission = Admission(max_pending=100, max_pending_per_address=2, max_per_address=3)
    shed = Shed()
    first = admitted(admission.arrive("10.0.0.1", shed.of("first")))
    second = admitted(admission.arrive("10.0.0.1", shed.of("second")))
    assert admission.arrive("10.0.0.1", shed.of("third")) == "ip_pending"
    admission.established(first)
    admission.established(second)
    admission.established(second)  # twice changes nothing
    third = admitted(admission.arrive("10.0.0.1", shed.of("third")))
    assert admission.arrive("10.0.0.1", shed.of("fourth")) == "ip_connections"
    assert (admission.connections_from("10.0.0.1"), admission.pending) == (3, 1)
    assert admitted(admission.arrive("10.0.0.2", shed.of("other"))).key == "10.0.0.2"
    for ticket in (first, second, third):
        admission.leave(ticket)
    assert (admission.connections_from("10.0.0.1"), admission.pending) == (0, 1)
    assert shed.order == []


def test_a_full_pending_budget_sheds_the_oldest_handshake_first() -> None:
    admission = Admission(max_pending=3, max_pending_per_address=10, max_per_address=10)
    shed = Shed()
    tickets = [admitted(admission.arrive(f"10.0.0.{i}", shed.of(f"t{i}"))) for i in range(3)]
    admission.established(tickets[1])  # through its handshake: never shed
    late = [admitted(admission.arrive(f"10.0.1.{i}", shed.of(f"u{i}"))) for i in range(3)]
    assert shed.order == ["t0", "t2"]  # the oldest pending first; t1 was established
    assert admission.pending == 3
    assert not tickets[0].pending and tickets[1].key == "10.0.0.1"
    admission.leave(tickets[0])  # the shed connection closes: its address is free again
    assert admission.connections_from("10.0.0.0") == 0
    assert all(t.pending for t in late)
