"""Tests for `simutrador.settings`: defaults, effective limits, and loading from env and TOML."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.settings import (
    DEFAULT_PLAN_LIMITS,
    EffectiveLimits,
    EngineSettings,
    Plan,
    PlanLimits,
    SessionSettings,
)

# plan -> (sessions_per_hour, concurrent_sessions, symbols_per_session, websocket_connections,
#          orders_per_minute, max_simulation_duration, max_bars_per_session (0 = unlimited)), as DESIGN §6 gives them
SEED_PLAN_LIMITS: dict[Plan, tuple[int, int, int, int, int, timedelta, int]] = {
    Plan.FREE: (5, 1, 5, 1, 100, timedelta(hours=24), 1_000_000),
    Plan.PROFESSIONAL: (50, 10, 50, 10, 1_000, timedelta(weeks=1), 50_000_000),
    Plan.ENTERPRISE: (500, 100, 500, 100, 10_000, timedelta(days=365), 0),
}


def plan_limits(values: tuple[int, int, int, int, int, timedelta, int]) -> PlanLimits:
    per_hour, concurrent, symbols, websockets, orders, duration, bars = values
    return PlanLimits(
        sessions_per_hour=per_hour,
        concurrent_sessions=concurrent,
        symbols_per_session=symbols,
        websocket_connections=websockets,
        orders_per_minute=orders,
        max_simulation_duration=duration,
        max_bars_per_session=bars,
    )


def write_toml(tmp_path: Path, text: str, name: str = "simutrador.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path | str | None = None, **environ: str) -> SimutradorError:
    """Load settings expecting failure; return the error after checking its shape."""
    with pytest.raises(SimutradorError) as caught:
        EngineSettings.load(path, environ=environ)
    err = caught.value
    assert err.code is ErrorCode.VALIDATION_FAILED
    return err


def problems(err: SimutradorError) -> list[str]:
    found = err.details["problems"]
    assert isinstance(found, list)
    assert err.message == "invalid configuration: " + "; ".join(found)
    return found


# --- defaults ---------------------------------------------------------------------------------------


def test_session_defaults_are_the_seeds() -> None:
    s = SessionSettings()
    assert s.max_sessions_per_user == 5
    assert s.session_timeout_minutes == 60
    assert s.max_symbols_per_session == 50
    assert s.min_initial_capital == Decimal("1000.00")
    assert s.max_initial_capital == Decimal("10000000.00")
    assert isinstance(s.min_initial_capital, Decimal)
    assert isinstance(s.max_initial_capital, Decimal)
    assert s.max_metadata_bytes == 4096
    assert s.max_metadata_depth == 4
    assert s.max_session_id_length == 64
    assert s.data_provider_aliases == ("polygon", "alpaca", "iex")


@pytest.mark.parametrize("plan", list(Plan), ids=lambda p: p.value)
def test_plan_defaults_are_the_seeds(plan: Plan) -> None:
    expected = plan_limits(SEED_PLAN_LIMITS[plan])
    assert DEFAULT_PLAN_LIMITS[plan] == expected
    assert EngineSettings().plans[plan] == expected


def test_plan_wire_values() -> None:
    assert [p.value for p in Plan] == ["free", "professional", "enterprise"]


def test_engine_defaults() -> None:
    settings = EngineSettings()
    assert settings.session == SessionSettings()
    assert settings.default_plan is Plan.FREE
    assert set(settings.plans) == set(Plan)
    assert settings.limits_for() == settings.limits_for(None)
    assert settings.limits_for().plan is None


def test_settings_are_frozen() -> None:
    settings = EngineSettings()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.default_plan = Plan.ENTERPRISE  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.session.max_sessions_per_user = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.plans[Plan.FREE] = DEFAULT_PLAN_LIMITS[Plan.ENTERPRISE]  # type: ignore[index]
    assert settings.default_plan is Plan.FREE
    assert settings.plans[Plan.FREE] == DEFAULT_PLAN_LIMITS[Plan.FREE]


# --- effective limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        # plan: (max_live_sessions, sessions_per_hour, max_symbols, websocket_connections, orders/min, duration, bars)
        (Plan.FREE, (1, 5, 5, 1, 100, timedelta(hours=24), 1_000_000)),
        (Plan.PROFESSIONAL, (5, 50, 50, 10, 1_000, timedelta(days=7), 50_000_000)),
        (Plan.ENTERPRISE, (5, 500, 50, 100, 10_000, timedelta(days=365), None)),
    ],
    ids=lambda v: v.value if isinstance(v, Plan) else "",
)
def test_default_effective_limits(plan: Plan, expected: tuple[int, int, int, int, int, timedelta, int | None]) -> None:
    live, per_hour, symbols, websockets, orders, duration, bars = expected
    assert EngineSettings().limits_for(plan) == EffectiveLimits(
        plan=plan,
        max_live_sessions=live,
        sessions_per_hour=per_hour,
        max_symbols=symbols,
        websocket_connections=websockets,
        orders_per_minute=orders,
        max_simulation_duration=duration,
        max_bars_per_session=bars,
    )


def test_no_plan_applies_only_the_session_settings() -> None:
    limits = EngineSettings().limits_for(None)
    assert limits == EffectiveLimits(plan=None, max_live_sessions=5, max_symbols=50)
    assert limits.sessions_per_hour is None
    assert limits.max_simulation_duration is None
    assert limits.max_bars_per_session is None
    assert limits.plan_label == "this engine"
    assert limits.source("max_live_sessions").env == "SIMUTRADOR_MAX_SESSIONS_PER_USER"


def test_each_limit_names_the_setting_that_decides_it() -> None:
    settings = EngineSettings(session=SessionSettings(max_symbols_per_session=3))
    free = settings.limits_for(Plan.FREE)
    assert free.source("max_live_sessions").setting == "plans.free.concurrent_sessions"  # the plan is tighter
    assert free.source("max_live_sessions").env == "SIMUTRADOR_FREE_CONCURRENT_SESSIONS"
    assert free.source("max_symbols").setting == "session.max_symbols_per_session"  # the session setting is
    assert free.source("max_symbols").env == "SIMUTRADOR_MAX_SYMBOLS_PER_SESSION"
    assert free.source("sessions_per_hour").env == "SIMUTRADOR_FREE_SESSIONS_PER_HOUR"
    pro = settings.limits_for(Plan.PROFESSIONAL)
    assert pro.source("max_simulation_duration").env == "SIMUTRADOR_PROFESSIONAL_MAX_SIMULATION_DURATION"
    assert pro.source("max_bars_per_session").setting == "plans.professional.max_bars_per_session"


def test_limits_take_the_tighter_of_session_and_plan() -> None:
    settings = EngineSettings(session=SessionSettings(max_sessions_per_user=3, max_symbols_per_session=7))
    # Session settings tighter than the plan.
    enterprise = settings.limits_for(Plan.ENTERPRISE)
    assert enterprise.max_live_sessions == 3
    assert enterprise.max_symbols == 7
    # Plan tighter than the session settings.
    free = settings.limits_for(Plan.FREE)
    assert free.max_live_sessions == 1
    assert free.max_symbols == 5


def test_limits_use_the_plan_when_session_settings_are_looser() -> None:
    settings = EngineSettings(session=SessionSettings(max_sessions_per_user=1000, max_symbols_per_session=1000))
    professional = settings.limits_for(Plan.PROFESSIONAL)
    assert professional.max_live_sessions == 10
    assert professional.max_symbols == 50


def test_the_default_plan_is_not_applied_to_embedded_callers() -> None:
    settings = EngineSettings(default_plan=Plan.PROFESSIONAL)
    assert settings.limits_for().plan is None  # the default plan is for the server's tokens
    assert settings.limits_for(Plan.PROFESSIONAL).plan is Plan.PROFESSIONAL


def test_overriding_one_plan_keeps_the_others() -> None:
    custom = plan_limits((7, 2, 3, 4, 60, timedelta(hours=48), 10))
    settings = EngineSettings(plans={Plan.FREE: custom})
    assert settings.plans[Plan.FREE] == custom
    assert settings.plans[Plan.PROFESSIONAL] == DEFAULT_PLAN_LIMITS[Plan.PROFESSIONAL]
    assert settings.plans[Plan.ENTERPRISE] == DEFAULT_PLAN_LIMITS[Plan.ENTERPRISE]
    assert settings.limits_for(Plan.FREE) == EffectiveLimits(
        plan=Plan.FREE,
        max_live_sessions=2,
        sessions_per_hour=7,
        max_symbols=3,
        websocket_connections=4,
        orders_per_minute=60,
        max_simulation_duration=timedelta(hours=48),
        max_bars_per_session=10,
    )
    # The module-level defaults were not touched.
    assert DEFAULT_PLAN_LIMITS[Plan.FREE].sessions_per_hour == 5


# --- direct construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_sessions_per_user": 0},
        {"session_timeout_minutes": -1},
        {"max_symbols_per_session": 0},
        {"min_initial_capital": Decimal(0)},
        {"max_initial_capital": Decimal("-1")},
        {"min_initial_capital": Decimal("NaN")},
        {"max_initial_capital": Decimal("Infinity")},
        {"min_initial_capital": Decimal(5000), "max_initial_capital": Decimal(4000)},
    ],
)
def test_session_settings_refuse_bad_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"initial_capital|must be"):
        SessionSettings(**overrides)  # type: ignore[arg-type]


def test_session_settings_refuse_non_int_counts() -> None:
    with pytest.raises(TypeError):
        SessionSettings(max_sessions_per_user="5")  # type: ignore[arg-type]


def test_session_settings_convert_capital() -> None:
    s = SessionSettings(min_initial_capital="1500.50", max_initial_capital=2000000)  # pyright: ignore[reportArgumentType]
    assert s.min_initial_capital == Decimal("1500.50")
    assert s.max_initial_capital == Decimal(2000000)
    assert SessionSettings(min_initial_capital=1000.1).min_initial_capital == Decimal("1000.1")  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match="boolean"):
        SessionSettings(min_initial_capital=True)  # pyright: ignore[reportArgumentType]


def test_min_capital_equal_to_max_is_allowed() -> None:
    s = SessionSettings(min_initial_capital=Decimal(5000), max_initial_capital=Decimal(5000))
    assert s.min_initial_capital == s.max_initial_capital == Decimal(5000)


def test_plan_limits_refuse_zero() -> None:
    with pytest.raises(ValueError, match="sessions_per_hour must be a whole number >= 1"):
        plan_limits((0, 1, 1, 1, 1, timedelta(hours=1), 0))
    with pytest.raises(ValueError, match="max_simulation_duration must be a positive duration"):
        plan_limits((1, 1, 1, 1, 1, timedelta(0), 0))
    with pytest.raises(TypeError):
        plan_limits((1, 1, 1, 1, 1, 3600, 0))  # type: ignore[arg-type]


# --- load: environment ----------------------------------------------------------------------------------


def test_load_with_nothing_gives_the_defaults() -> None:
    assert EngineSettings.load(environ={}) == EngineSettings()


def test_load_ignores_unrelated_environment() -> None:
    environ = {"HOME": "/root", "SIMUTRADOR_SOMETHING_ELSE": "x", "MAX_SESSIONS_PER_USER": "0"}
    assert EngineSettings.load(environ=environ) == EngineSettings()


def test_load_session_settings_from_env() -> None:
    settings = EngineSettings.load(
        environ={
            "SIMUTRADOR_MAX_SESSIONS_PER_USER": "3",
            "SIMUTRADOR_SESSION_TIMEOUT_MINUTES": " 15 ",
            "SIMUTRADOR_MAX_SYMBOLS_PER_SESSION": "20",
            "SIMUTRADOR_MIN_INITIAL_CAPITAL": "2500.50",
            "SIMUTRADOR_MAX_INITIAL_CAPITAL": "5000000",
        }
    )
    assert settings.session == SessionSettings(
        max_sessions_per_user=3,
        session_timeout_minutes=15,
        max_symbols_per_session=20,
        min_initial_capital=Decimal("2500.50"),
        max_initial_capital=Decimal(5000000),
    )
    assert settings.plans == EngineSettings().plans
    assert settings.default_plan is Plan.FREE


def test_data_provider_aliases_load_from_env_and_toml(tmp_path: Path) -> None:
    by_env = EngineSettings.load(environ={"SIMUTRADOR_DATA_PROVIDER_ALIASES": "polygon, vendor"})
    assert by_env.session.data_provider_aliases == ("polygon", "vendor")
    assert EngineSettings.load(environ={"SIMUTRADOR_DATA_PROVIDER_ALIASES": ""}).session.data_provider_aliases == ()
    config = tmp_path / "aliases.toml"
    config.write_text('[session]\ndata_provider_aliases = ["iex"]\n')
    assert EngineSettings.load(config, environ={}).session.data_provider_aliases == ("iex",)
    config.write_text("[session]\ndata_provider_aliases = 5\n")
    with pytest.raises(SimutradorError) as caught:
        EngineSettings.load(config, environ={})
    assert "session.data_provider_aliases (SIMUTRADOR_DATA_PROVIDER_ALIASES)" in caught.value.message


def test_load_plan_limits_from_env() -> None:
    settings = EngineSettings.load(
        environ={
            "SIMUTRADOR_FREE_SESSIONS_PER_HOUR": "9",
            "SIMUTRADOR_ENTERPRISE_MAX_SIMULATION_DURATION": "100h",
            "SIMUTRADOR_PROFESSIONAL_MAX_BARS_PER_SESSION": "0",
        }
    )
    assert settings.plans[Plan.FREE] == attrs.evolve(DEFAULT_PLAN_LIMITS[Plan.FREE], sessions_per_hour=9)
    assert settings.plans[Plan.ENTERPRISE] == attrs.evolve(
        DEFAULT_PLAN_LIMITS[Plan.ENTERPRISE], max_simulation_duration=timedelta(hours=100)
    )
    assert settings.limits_for(Plan.PROFESSIONAL).max_bars_per_session is None  # 0 lifts the limit
    assert settings.limits_for(Plan.FREE).sessions_per_hour == 9
    assert settings.session == SessionSettings()


def test_load_default_plan_from_env() -> None:
    settings = EngineSettings.load(environ={"SIMUTRADOR_DEFAULT_PLAN": "enterprise"})
    assert settings.default_plan is Plan.ENTERPRISE
    assert settings.limits_for().plan is None


def test_config_env_var_names_the_toml_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmax_sessions_per_user = 4\n")
    settings = EngineSettings.load(environ={"SIMUTRADOR_CONFIG": str(path)})
    assert settings.session.max_sessions_per_user == 4


def test_explicit_path_wins_over_config_env_var(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmax_sessions_per_user = 4\n")
    missing = tmp_path / "missing.toml"
    settings = EngineSettings.load(path, environ={"SIMUTRADOR_CONFIG": str(missing)})
    assert settings.session.max_sessions_per_user == 4


def test_empty_config_env_var_is_ignored() -> None:
    assert EngineSettings.load(environ={"SIMUTRADOR_CONFIG": ""}) == EngineSettings()


# --- load: TOML -----------------------------------------------------------------------------------------

FULL_TOML = """
default_plan = "professional"

[server]
host = "0.0.0.0"
port = 8765

[session]
max_sessions_per_user = 8
session_timeout_minutes = 30
min_initial_capital = "1500.25"
max_initial_capital = 2000000

[plans.professional]
sessions_per_hour = 60
websocket_connections = 3

[auth]
secret = "ignored"
"""


def test_load_from_toml(tmp_path: Path) -> None:
    settings = EngineSettings.load(write_toml(tmp_path, FULL_TOML), environ={})
    assert settings.default_plan is Plan.PROFESSIONAL
    assert settings.session == SessionSettings(
        max_sessions_per_user=8,
        session_timeout_minutes=30,
        min_initial_capital=Decimal("1500.25"),
        max_initial_capital=Decimal(2000000),
    )
    assert settings.plans[Plan.PROFESSIONAL] == PlanLimits(
        sessions_per_hour=60,
        concurrent_sessions=10,
        symbols_per_session=50,
        websocket_connections=3,
        orders_per_minute=1_000,
        max_simulation_duration=timedelta(weeks=1),
        max_bars_per_session=50_000_000,
    )
    assert settings.plans[Plan.FREE] == DEFAULT_PLAN_LIMITS[Plan.FREE]
    assert settings.plans[Plan.ENTERPRISE] == DEFAULT_PLAN_LIMITS[Plan.ENTERPRISE]
    assert settings.limits_for(Plan.PROFESSIONAL) == EffectiveLimits(
        plan=Plan.PROFESSIONAL,
        max_live_sessions=8,
        sessions_per_hour=60,
        max_symbols=50,
        websocket_connections=3,
        orders_per_minute=1_000,
        max_simulation_duration=timedelta(weeks=1),
        max_bars_per_session=50_000_000,
    )


def test_load_accepts_a_string_path(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmax_symbols_per_session = 12\n")
    assert EngineSettings.load(str(path), environ={}).session.max_symbols_per_session == 12


def test_empty_toml_gives_the_defaults(tmp_path: Path) -> None:
    assert EngineSettings.load(write_toml(tmp_path, ""), environ={}) == EngineSettings()


def test_toml_float_capital_is_read_exactly(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmin_initial_capital = 2500.1\n")
    assert EngineSettings.load(path, environ={}).session.min_initial_capital == Decimal("2500.1")


def test_env_beats_toml_beats_defaults(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'default_plan = "professional"\n'
        "[session]\nmax_sessions_per_user = 8\nsession_timeout_minutes = 30\n"
        "[plans.free]\nsessions_per_hour = 6\nconcurrent_sessions = 2\n",
    )
    settings = EngineSettings.load(
        path,
        environ={
            "SIMUTRADOR_MAX_SESSIONS_PER_USER": "2",
            "SIMUTRADOR_FREE_SESSIONS_PER_HOUR": "11",
            "SIMUTRADOR_DEFAULT_PLAN": "enterprise",
        },
    )
    # env over TOML
    assert settings.session.max_sessions_per_user == 2
    assert settings.plans[Plan.FREE].sessions_per_hour == 11
    assert settings.default_plan is Plan.ENTERPRISE
    # TOML over defaults
    assert settings.session.session_timeout_minutes == 30
    assert settings.plans[Plan.FREE].concurrent_sessions == 2
    # defaults where neither says anything
    assert settings.session.max_symbols_per_session == 50
    assert settings.plans[Plan.FREE].symbols_per_session == 5
    assert settings.plans[Plan.PROFESSIONAL] == DEFAULT_PLAN_LIMITS[Plan.PROFESSIONAL]


# --- load: bad values -----------------------------------------------------------------------------------

INT_SETTING = ("session.max_sessions_per_user", "SIMUTRADOR_MAX_SESSIONS_PER_USER")
PLAN_SETTING = ("plans.free.sessions_per_hour", "SIMUTRADOR_FREE_SESSIONS_PER_HOUR")
DURATION = ("plans.free.max_simulation_duration", "SIMUTRADOR_FREE_MAX_SIMULATION_DURATION")
MIN_CAPITAL = ("session.min_initial_capital", "SIMUTRADOR_MIN_INITIAL_CAPITAL")
MAX_CAPITAL = ("session.max_initial_capital", "SIMUTRADOR_MAX_INITIAL_CAPITAL")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (INT_SETTING, "abc"),
        (INT_SETTING, ""),
        (INT_SETTING, "0"),
        (INT_SETTING, "-1"),
        (INT_SETTING, "1.5"),
        (INT_SETTING, "5.0"),
        (INT_SETTING, "1e3"),
        (INT_SETTING, "true"),
        (INT_SETTING, "NaN"),
        (INT_SETTING, "\uff11\uff12"),
        (INT_SETTING, "\xb2"),
        (INT_SETTING, "1_000"),
        (INT_SETTING, "0x10"),
        (PLAN_SETTING, "many"),
        (PLAN_SETTING, "0"),
        (PLAN_SETTING, "-5"),
        (DURATION, "forever"),
        (DURATION, "0h"),
        (DURATION, "-1d"),
        (DURATION, "1 fortnight"),
        (MIN_CAPITAL, "abc"),
        (MIN_CAPITAL, "0"),
        (MIN_CAPITAL, "-5"),
        (MIN_CAPITAL, "NaN"),
        (MIN_CAPITAL, "sNaN"),
        (MIN_CAPITAL, "Infinity"),
        (MAX_CAPITAL, "-Infinity"),
        (MAX_CAPITAL, "inf"),
        (MAX_CAPITAL, "true"),
        (MAX_CAPITAL, ""),
    ],
)
def test_bad_env_value_names_setting_and_env_var(setting: tuple[str, str], value: str) -> None:
    where, env_name = setting
    err = load_error(**{env_name: value})
    [problem] = problems(err)
    assert problem.startswith(f"{where} ({env_name}) must be ")
    assert problem.endswith(f"got {value!r}")
    assert where in err.message
    assert env_name in err.message


@pytest.mark.parametrize(
    ("setting", "toml_value"),
    [
        (INT_SETTING, "0"),
        (INT_SETTING, "-3"),
        (INT_SETTING, "5.0"),
        (INT_SETTING, "true"),
        (INT_SETTING, '"five"'),
        (INT_SETTING, "[5]"),
        (PLAN_SETTING, "0"),
        (PLAN_SETTING, "2.5"),
        (PLAN_SETTING, "false"),
        (MIN_CAPITAL, "nan"),
        (MIN_CAPITAL, "inf"),
        (MIN_CAPITAL, "-inf"),
        (MIN_CAPITAL, "true"),
        (MIN_CAPITAL, "0"),
        (MIN_CAPITAL, "-1.5"),
        (MIN_CAPITAL, '"abc"'),
        (MAX_CAPITAL, '"NaN"'),
        (MAX_CAPITAL, "[1]"),
    ],
)
def test_bad_toml_value_names_setting_and_env_var(tmp_path: Path, setting: tuple[str, str], toml_value: str) -> None:
    where, env_name = setting
    table, key = where.rsplit(".", 1)
    path = write_toml(tmp_path, f"[{table}]\n{key} = {toml_value}\n")
    err = load_error(path)
    [problem] = problems(err)
    assert problem.startswith(f"{where} ({env_name}) must be ")
    assert env_name in err.message


def test_repeated_plus_sign_gets_the_uniform_message() -> None:
    [problem] = problems(load_error(SIMUTRADOR_MAX_SESSIONS_PER_USER="++5"))
    assert problem == (
        "session.max_sessions_per_user (SIMUTRADOR_MAX_SESSIONS_PER_USER) must be a whole number >= 1, got '++5'"
    )


def test_leading_plus_and_surrounding_whitespace_are_accepted() -> None:
    settings = EngineSettings.load(environ={"SIMUTRADOR_MAX_SESSIONS_PER_USER": " +7\t"})
    assert settings.session.max_sessions_per_user == 7


def test_env_override_does_not_hide_a_bad_env_value_behind_a_good_toml_value(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmax_sessions_per_user = 4\n")
    err = load_error(path, SIMUTRADOR_MAX_SESSIONS_PER_USER="zero")
    assert problems(err) == [
        "session.max_sessions_per_user (SIMUTRADOR_MAX_SESSIONS_PER_USER) must be a whole number >= 1, got 'zero'"
    ]


def test_good_env_value_overrides_a_bad_toml_value(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmax_sessions_per_user = 0\n")
    settings = EngineSettings.load(path, environ={"SIMUTRADOR_MAX_SESSIONS_PER_USER": "4"})
    assert settings.session.max_sessions_per_user == 4


def test_unknown_key_in_session(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmax_sesions_per_user = 3\n")
    [problem] = problems(load_error(path))
    assert problem.startswith("session.max_sesions_per_user: unknown setting (known: max_sessions_per_user, ")


def test_unknown_key_in_a_plan(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[plans.free]\nsessions_per_day = 3\n")
    [problem] = problems(load_error(path))
    assert problem.startswith("plans.free.sessions_per_day: unknown setting (known: sessions_per_hour, ")


def test_unknown_plan(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[plans.gold]\nsessions_per_hour = 3\n")
    assert problems(load_error(path)) == ["plans.gold: unknown plan (known: free, professional, enterprise)"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("session = 5\n", "session must be a table"),
        ('session = "max_sessions_per_user=3"\n', "session must be a table"),
        ("plans = [1, 2]\n", "plans must be a table"),
        ("[plans]\nfree = 3\n", "plans.free must be a table"),
    ],
)
def test_non_table_is_refused(tmp_path: Path, toml: str, expected: str) -> None:
    assert problems(load_error(write_toml(tmp_path, toml))) == [expected]


BAD_DEFAULT_PLAN = "default_plan (SIMUTRADOR_DEFAULT_PLAN) must be one of free, professional, enterprise"


@pytest.mark.parametrize("value", ["gold", "FREE", "", " free"])
def test_bad_default_plan_from_env(value: str) -> None:
    [problem] = problems(load_error(SIMUTRADOR_DEFAULT_PLAN=value))
    assert problem == f"{BAD_DEFAULT_PLAN}, got {value!r}"


@pytest.mark.parametrize(("toml_value", "shown"), [('"gold"', "'gold'"), ("3", "3"), ("true", "True")])
def test_bad_default_plan_from_toml(tmp_path: Path, toml_value: str, shown: str) -> None:
    path = write_toml(tmp_path, f"default_plan = {toml_value}\n")
    [problem] = problems(load_error(path))
    assert problem == f"{BAD_DEFAULT_PLAN}, got {shown}"


def test_min_capital_above_max_from_env() -> None:
    err = load_error(SIMUTRADOR_MIN_INITIAL_CAPITAL="20000000")
    [problem] = problems(err)
    assert "min_initial_capital" in problem
    assert "max_initial_capital" in problem


def test_min_capital_above_max_from_toml(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[session]\nmin_initial_capital = 5000\nmax_initial_capital = 4000\n")
    [problem] = problems(load_error(path))
    assert "min_initial_capital" in problem
    assert "max_initial_capital" in problem


def test_min_capital_above_max_names_env_vars() -> None:
    err = load_error(SIMUTRADOR_MIN_INITIAL_CAPITAL="20000000")
    assert "session.min_initial_capital" in err.message
    assert "SIMUTRADOR_MIN_INITIAL_CAPITAL" in err.message
    assert "SIMUTRADOR_MAX_INITIAL_CAPITAL" in err.message


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    err = load_error(missing)
    assert str(missing) in err.message
    assert err.message.startswith(f"cannot read configuration file {missing}: ")
    assert dict(err.details) == {"file": str(missing)}


def test_missing_file_named_by_config_env_var(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    err = load_error(SIMUTRADOR_CONFIG=str(missing))
    assert dict(err.details) == {"file": str(missing)}


def test_directory_instead_of_file(tmp_path: Path) -> None:
    err = load_error(tmp_path)
    assert dict(err.details) == {"file": str(tmp_path)}


@pytest.mark.parametrize("text", ["[session\n", "max = \n", "a = 1\na = 2\n", "[session]\nx = 'unterminated\n"])
def test_invalid_toml(tmp_path: Path, text: str) -> None:
    path = write_toml(tmp_path, text)
    err = load_error(path)
    assert err.message.startswith(f"configuration file {path} is not valid TOML: ")
    assert dict(err.details) == {"file": str(path)}


def test_non_utf8_toml_is_a_validation_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'default_plan = "fr\xe9e"\n')
    err = load_error(path)
    assert dict(err.details) == {"file": str(path)}


def test_several_bad_values_are_reported_at_once(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        "[session]\nbogus = 1\nsession_timeout_minutes = 0\n[plans.gold]\nx = 1\n",
    )
    err = load_error(
        path,
        SIMUTRADOR_MAX_SESSIONS_PER_USER="0",
        SIMUTRADOR_FREE_SESSIONS_PER_HOUR="x",
        SIMUTRADOR_MIN_INITIAL_CAPITAL="NaN",
        SIMUTRADOR_DEFAULT_PLAN="gold",
    )
    found = problems(err)
    assert len(found) == 7
    expected_fragments = [
        "session.bogus: unknown setting",
        "session.max_sessions_per_user (SIMUTRADOR_MAX_SESSIONS_PER_USER)",
        "session.session_timeout_minutes (SIMUTRADOR_SESSION_TIMEOUT_MINUTES)",
        "session.min_initial_capital (SIMUTRADOR_MIN_INITIAL_CAPITAL)",
        "plans.gold: unknown plan",
        "plans.free.sessions_per_hour (SIMUTRADOR_FREE_SESSIONS_PER_HOUR)",
        "default_plan (SIMUTRADOR_DEFAULT_PLAN)",
    ]
    for fragment in expected_fragments:
        assert sum(problem.startswith(fragment) for problem in found) == 1, fragment


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIMUTRADOR_MIN_INITIAL_CAPITAL", "1_000"),
        ("SIMUTRADOR_MAX_SESSIONS_PER_USER", "1_000"),
        ("SIMUTRADOR_MAX_SESSIONS_PER_USER", "9" * 5000),
        ("SIMUTRADOR_MAX_INITIAL_CAPITAL", "9" * 5000),
    ],
)
def test_underscores_and_absurd_lengths_get_the_uniform_message(name: str, value: str) -> None:
    [problem] = problems(load_error(**{name: value}))
    assert f"({name}) must be a " in problem
