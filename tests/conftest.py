"""Shared fixtures."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture
def collect_leaked_socket() -> Iterator[None]:
    """Collect garbage after the test, so a socket trio-websocket leaked is reported here, not later."""
    yield
    gc.collect()
