"""Shared helpers for the benchmark suites."""

from __future__ import annotations

import platform
import sys

import pytest


def machine() -> str:
    import os

    return f"{os.cpu_count()} cores, {platform.machine()}, CPython {sys.version.split()[0]}"


@pytest.fixture(scope="session", autouse=True)
def _print_machine() -> None:
    print(f"\nmachine: {machine()}")
