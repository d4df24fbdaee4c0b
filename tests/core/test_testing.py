"""The public test helpers in `simutrador.testing`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simutrador.testing import ManualClock, SequentialIds


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    assert clock() == clock() == datetime(2024, 1, 1, tzinfo=UTC)
    assert clock.advance(timedelta(hours=1), minutes=30) == datetime(2024, 1, 1, 1, 30, tzinfo=UTC)
    clock.set(datetime(2024, 1, 2, tzinfo=UTC))
    assert clock() == datetime(2024, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "action",
    [
        lambda: ManualClock(datetime(2024, 1, 1)),
        lambda: ManualClock().advance(seconds=-1),
        lambda: ManualClock().set(datetime(2024, 1, 1)),
        lambda: ManualClock().set(datetime(2000, 1, 1, tzinfo=UTC)),
    ],
)
def test_manual_clock_refuses_naive_times_and_going_back(action: object) -> None:
    with pytest.raises(ValueError, match=r"timezone-aware|backwards"):
        action()  # type: ignore[operator]


def test_sequential_ids() -> None:
    ids = SequentialIds("run-")
    assert [ids(), ids(), ids()] == ["run-1", "run-2", "run-3"]


def test_random_session_ids_never_start_like_an_option() -> None:
    from simutrador.clock import new_session_id

    ids = [new_session_id() for _ in range(2000)]  # about 1 in 32 draws starts with - or _
    assert all(len(i) == 22 and i[0].isalnum() for i in ids)
    assert len(set(ids)) == len(ids)
