"""Over a real server on 127.0.0.1: ordinary backtests fit every plan, and plan limits name their settings."""

from __future__ import annotations

import pytest
import trio

from simutrador import Plan
from tests.ws.harness import running_server

pytestmark = pytest.mark.anyio

SEED = {"symbols": ["AAPL", "GOOGL"], "start_date": "2023-01-01", "end_date": "2023-12-31", "initial_capital": 100_000}


@pytest.mark.parametrize("plan", list(Plan))
async def test_the_seeds_example_a_leap_year_and_a_decade_fit_every_plan(plan: Plan) -> None:
    with trio.fail_after(20):
        async with running_server() as harness, harness.connect("ann", plan) as client:
            seed = await client.request("create_session", SEED)
            assert seed["type"] == "session_created", seed
            assert seed["data"]["estimated_ticks"] > 240
            await client.request("delete_session", {"session_id": seed["data"]["session_id"]})
            leap = await client.request(
                "create_session", {**SEED, "symbols": ["SPY"], "start_date": "2024-01-01", "end_date": "2024-12-31"}
            )
            assert leap["type"] == "session_created", leap
            await client.request("delete_session", {"session_id": leap["data"]["session_id"]})
            decade = await client.request(
                "create_session",
                {
                    **SEED,
                    "symbols": ["SPY"],
                    "start_date": "2016-01-04",
                    "end_date": "2024-12-31",
                    "timeframe": "daily",
                },
            )
            assert decade["type"] == "session_created", decade
            assert decade["data"]["session"]["timeframe"] == "daily"
            assert decade["data"]["estimated_ticks"] > 2200


async def test_the_free_plans_limits_hold_and_name_their_settings() -> None:
    with trio.fail_after(20):
        async with running_server() as harness, harness.connect("bob", Plan.FREE) as client:
            assert client.ready["data"]["limits"]["max_live_sessions"] == 1
            first = await client.request("create_session", SEED)
            assert first["type"] == "session_created"
            second = await client.request("create_session", SEED)
            assert second["type"] == "session_error"
            error = second["data"]
            assert error["error_code"] == "SESSION_LIMIT_EXCEEDED"
            assert error["details"]["env"] == "SIMUTRADOR_FREE_CONCURRENT_SESSIONS"
            assert "1 live session, the most the free plan allows" in error["message"]
            many = await client.request("create_session", {**SEED, "symbols": ["A", "B", "C", "D", "E", "F"]})
            assert "while the free plan allows 5 per session" in many["data"]["message"]
