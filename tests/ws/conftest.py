"""anyio's pytest plugin runs every async test on every backend by default: trio only here."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "trio"
