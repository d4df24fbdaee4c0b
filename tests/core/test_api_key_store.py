"""The `ApiKeyStore` protocol over both stores: memory (a server with ``--store memory``) and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from simutrador import ErrorCode, MemoryStore, Plan, SimutradorError, SqliteStore
from simutrador.storage import ApiKeyStore
from simutrador.testing import ManualClock
from tests.core.stores import STORE_KINDS, T0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[ApiKeyStore]:
    if request.param == "memory":
        yield MemoryStore(clock=clock)
        return
    with SqliteStore(tmp_path / "keys.db", clock=clock) as made:
        yield made


def test_keys_verify_list_and_revoke(store: ApiKeyStore, clock: ManualClock) -> None:
    alices = store.add_api_key("alice", Plan.PROFESSIONAL)
    clock.advance(minutes=1)
    bobs = store.add_api_key("bob", "free")
    assert alices.startswith("stk_") and alices != bobs
    assert store.verify_api_key(alices) == ("alice", Plan.PROFESSIONAL)
    assert store.verify_api_key(f"  {bobs}\n") == ("bob", Plan.FREE)
    listed = store.list_api_keys()
    assert [(k.user_id, k.plan, k.created_at, k.active) for k in listed] == [
        ("alice", Plan.PROFESSIONAL, T0, True),
        ("bob", Plan.FREE, T0 + timedelta(minutes=1), True),
    ]
    assert alices.split("_")[1] == listed[0].key_id
    assert [k.user_id for k in store.list_api_keys("bob")] == ["bob"]
    assert store.list_api_keys("carol") == []
    assert "stk_" not in repr(listed)
    clock.advance(minutes=1)
    assert store.revoke_api_key(listed[0].key_id)
    assert not store.revoke_api_key(listed[0].key_id)  # once
    assert store.verify_api_key(alices) is None
    assert store.verify_api_key(bobs) == ("bob", Plan.FREE)  # the other key still works
    assert store.list_api_keys("alice")[0].revoked_at == clock()
    assert store.revoke_api_key(bobs)  # the whole key works too
    for nonsense in ("", "nonsense", "0123456789abcdef", 42):
        assert not store.revoke_api_key(nonsense)  # type: ignore[arg-type]
    assert [k.active for k in store.list_api_keys()] == [False, False]


def test_forged_keys_are_refused(store: ApiKeyStore) -> None:
    key = store.add_api_key("alice")
    key_id, secret = key[4:20], key[21:]
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    other_id = ("0" if key_id[0] != "0" else "1") + key_id[1:]
    for forged in (f"stk_{key_id}_{flipped}", f"stk_{other_id}_{secret}", key[:-1], key.upper(), None, b"x"):
        assert store.verify_api_key(forged) is None  # type: ignore[arg-type]
    assert store.verify_api_key(key) == ("alice", Plan.FREE)


@pytest.mark.parametrize(
    ("user_id", "plan", "field"),
    [("", "free", "user_id"), ("x" * 129, "free", "user_id"), ("a\nb", "free", "user_id"), ("alice", "gold", "plan")],
)
def test_bad_owners_are_refused_and_nothing_is_kept(store: ApiKeyStore, user_id: str, plan: str, field: str) -> None:
    with pytest.raises(SimutradorError) as caught:
        store.add_api_key(user_id, plan)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert caught.value.details["fields"] == [field]
    assert store.list_api_keys() == []


def test_memory_keys_keep_no_secret() -> None:
    store = MemoryStore()
    key = store.add_api_key("alice")
    assert key[21:] not in repr(store._keys)
    assert key not in repr(store._keys)
