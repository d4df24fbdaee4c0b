"""Engine configuration: session settings, per-plan limits, and the one settings loader.

Precedence is environment variables > TOML file > defaults, for the core and for
every adapter: `load_table` reads one settings class from one TOML table and the
environment, parsing each field with the parser its attrs field declares
(`setting`). A bad value raises ``VALIDATION_FAILED`` naming the setting (its TOML
path and its environment variable), never a silent fallback to the default.

Environment variables: ``SIMUTRADOR_<SETTING>`` for session settings (for example
``SIMUTRADOR_MAX_SESSIONS_PER_USER``), ``SIMUTRADOR_<PLAN>_<LIMIT>`` for plan limits
(``SIMUTRADOR_FREE_SESSIONS_PER_HOUR``), ``SIMUTRADOR_DEFAULT_PLAN`` and
``SIMUTRADOR_CONFIG`` (the TOML file to read when none is passed).

The embedded `Engine()` applies no plan: only `SessionSettings` hold. Plans apply when
a caller names one (the server always passes its client's plan): `limits_for`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import attrs

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.parsing import ParseError, parse_duration, parse_money, parse_names, parse_whole

__all__ = [
    "DEFAULT_PLAN_LIMITS",
    "ENV_PREFIX",
    "EffectiveLimits",
    "EngineSettings",
    "LimitSource",
    "Plan",
    "PlanLimits",
    "SessionSettings",
    "load_settings",
    "load_table",
    "read_config",
    "read_toml",
    "setting",
]

ENV_PREFIX: Final = "SIMUTRADOR_"
PARSER: Final = "simutrador.parse"
"""The attrs field metadata key holding a setting's parser."""

Parser = Callable[[object], object]
"""Turns a value from TOML or the environment into a setting's value; raises `ParseError`."""


class Plan(StrEnum):
    """A user's subscription plan; the value is the JWT ``plan`` claim."""

    FREE = "free"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, str)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    raise TypeError(f"expected a number, got {type(value).__name__}")


def whole(minimum: int) -> Parser:
    """The parser of a whole-number setting of at least `minimum`."""

    def parse(value: object) -> int:
        return parse_whole(value, minimum=minimum)

    return parse


def positive_money(value: object) -> Decimal:
    """The parser of a positive amount of money."""
    try:
        number = parse_money(value)
    except ParseError:
        raise ParseError("must be a positive number") from None
    if number <= 0:
        raise ParseError("must be a positive number")
    return number


def duration(value: object) -> timedelta:
    """The parser of a positive duration (``"24h"``, ``"1 week"``, seconds)."""
    return parse_duration(value)


def plan_name(value: object) -> Plan:
    """The parser of a plan name."""
    try:
        return Plan(value)
    except ValueError:
        raise ParseError(f"must be one of {', '.join(Plan)}") from None


def _check_with(parse: Parser) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        try:
            parse(value)
        except ParseError as exc:
            raise ValueError(f"{attribute.name} {exc}, got {value!r}") from None

    return check


def setting(default: object, parse: Parser, *, types: type | tuple[type, ...] | None = None, **kwargs: Any) -> Any:
    """An attrs field for a setting: its default, its parser (also its validator), its type.

    Args:
        default: The default value.
        parse: Parses text or TOML values; raises `ParseError` with a reason.
        types: When given, values built in code must already be of these types
            (``TypeError`` otherwise); text is only parsed when loading.
        **kwargs: Passed to `attrs.field` (``converter``, ``repr``...).
    """
    validators: list[Any] = [] if types is None else [attrs.validators.instance_of(types)]
    validators.append(_check_with(parse))
    return attrs.field(default=default, validator=validators, metadata={PARSER: parse}, **kwargs)


_COUNT: Final = whole(1)


@attrs.frozen(kw_only=True, slots=True)
class SessionSettings:
    """Server-wide session rules (the seed's defaults); they hold with or without a plan.

    Attributes:
        max_sessions_per_user: Live sessions one user may hold at once
            (COMPLETED and ERROR sessions do not count).
        session_timeout_minutes: A session untouched this long expires.
        max_symbols_per_session: Symbols one session may simulate.
        min_initial_capital: Smallest initial capital accepted.
        max_initial_capital: Largest initial capital accepted.
        max_metadata_bytes: Largest JSON size of a session's metadata.
        max_metadata_depth: Deepest nesting of a session's metadata.
        max_session_id_length: Longest client-chosen session id.
        result_retention_minutes: How long a completed session keeps its result.
        data_provider_aliases: Provider names a request may give for the engine's own
            catalog (the original SimuTrador clients send ``data_provider: "polygon"``);
            the session records, and replies echo, the catalog's real name.
    """

    max_sessions_per_user: int = setting(5, _COUNT, types=int)
    session_timeout_minutes: int = setting(60, _COUNT, types=int)
    max_symbols_per_session: int = setting(50, _COUNT, types=int)
    min_initial_capital: Decimal = setting(Decimal("1000.00"), positive_money, converter=_to_decimal)
    max_initial_capital: Decimal = setting(Decimal("10000000.00"), positive_money, converter=_to_decimal)
    max_metadata_bytes: int = setting(4096, _COUNT, types=int)
    max_metadata_depth: int = setting(4, _COUNT, types=int)
    max_session_id_length: int = setting(64, _COUNT, types=int)
    result_retention_minutes: int = setting(1440, _COUNT, types=int)
    data_provider_aliases: tuple[str, ...] = setting(("polygon", "alpaca", "iex"), parse_names, types=tuple)

    def __attrs_post_init__(self) -> None:
        """Check the settings are consistent with each other."""
        if self.min_initial_capital > self.max_initial_capital:
            raise ValueError("min_initial_capital must not exceed max_initial_capital")


@attrs.frozen(kw_only=True, slots=True)
class PlanLimits:
    """What one plan allows (DESIGN §6).

    None of them limits the date span of a session: ten years of daily bars are one
    session on every plan.

    Attributes:
        sessions_per_hour: Sessions a user may create in any sliding hour.
        concurrent_sessions: Live sessions a user may hold at once.
        symbols_per_session: Symbols one session may simulate.
        websocket_connections: Open WebSocket connections per user.
        orders_per_minute: Orders one user may submit per minute.
        max_simulation_duration: Wall-clock time one running simulation may take.
        max_bars_per_session: Bars (ticks x symbols) one session may simulate; 0 is unlimited.
    """

    sessions_per_hour: int = setting(attrs.NOTHING, _COUNT, types=int)
    concurrent_sessions: int = setting(attrs.NOTHING, _COUNT, types=int)
    symbols_per_session: int = setting(attrs.NOTHING, _COUNT, types=int)
    websocket_connections: int = setting(attrs.NOTHING, _COUNT, types=int)
    orders_per_minute: int = setting(attrs.NOTHING, _COUNT, types=int)
    max_simulation_duration: timedelta = setting(attrs.NOTHING, duration, types=timedelta)
    max_bars_per_session: int = setting(0, whole(0), types=int)


DEFAULT_PLAN_LIMITS: Final[Mapping[Plan, PlanLimits]] = MappingProxyType(
    {
        Plan.FREE: PlanLimits(
            sessions_per_hour=5,
            concurrent_sessions=1,
            symbols_per_session=5,
            websocket_connections=1,
            orders_per_minute=100,
            max_simulation_duration=timedelta(hours=24),
            max_bars_per_session=1_000_000,
        ),
        Plan.PROFESSIONAL: PlanLimits(
            sessions_per_hour=50,
            concurrent_sessions=10,
            symbols_per_session=50,
            websocket_connections=10,
            orders_per_minute=1_000,
            max_simulation_duration=timedelta(weeks=1),
            max_bars_per_session=50_000_000,
        ),
        Plan.ENTERPRISE: PlanLimits(
            sessions_per_hour=500,
            concurrent_sessions=100,
            symbols_per_session=500,
            websocket_connections=100,
            orders_per_minute=10_000,
            max_simulation_duration=timedelta(days=365),
            max_bars_per_session=0,
        ),
    }
)
"""The plans' limits as DESIGN §6 gives them."""


@attrs.frozen(kw_only=True, slots=True)
class LimitSource:
    """The setting that decides one limit, so an error can say how to lift it.

    Attributes:
        setting: Its TOML path (``session.max_sessions_per_user``, ``plans.free.sessions_per_hour``).
        env: Its environment variable (``SIMUTRADOR_FREE_SESSIONS_PER_HOUR``).
    """

    setting: str
    env: str

    def hint(self) -> str:
        """``"raise it with the setting X (environment variable Y)"``, for error messages."""
        return f"the setting {self.setting} (environment variable {self.env}) raises it"


def _source(table: str, name: str, env_infix: str = "") -> LimitSource:
    return LimitSource(setting=f"{table}.{name}", env=f"{ENV_PREFIX}{env_infix}{name.upper()}")


@attrs.frozen(kw_only=True, slots=True)
class EffectiveLimits:
    """The limits in force for one plan (or none): the tighter of session settings and plan.

    None means unlimited.

    Attributes:
        plan: The plan these limits are for; None for the embedded engine's own rules.
        max_live_sessions: Live sessions per user.
        sessions_per_hour: Sessions created per sliding hour per user.
        max_symbols: Symbols per session.
        websocket_connections: Open WebSocket connections per user.
        orders_per_minute: Orders per minute per user.
        max_simulation_duration: Wall-clock time of one running simulation.
        max_bars_per_session: Bars one session may simulate.
        sources: Per limit name, the setting that decides it.
    """

    plan: Plan | None
    max_live_sessions: int
    sessions_per_hour: int | None = None
    max_symbols: int
    websocket_connections: int | None = None
    orders_per_minute: int | None = None
    max_simulation_duration: timedelta | None = None
    max_bars_per_session: int | None = None
    sources: Mapping[str, LimitSource] = attrs.field(factory=lambda: MappingProxyType({}), eq=False, repr=False)

    @property
    def plan_label(self) -> str:
        """``"the free plan"``, or ``"this engine"`` when no plan applies."""
        return "this engine" if self.plan is None else f"the {self.plan.value} plan"

    def source(self, limit: str) -> LimitSource:
        """The setting that decides `limit` (a field name of this class)."""
        return self.sources[limit]


def _plans_converter(value: Mapping[Plan, PlanLimits] | None) -> Mapping[Plan, PlanLimits]:
    merged = dict(DEFAULT_PLAN_LIMITS)
    if value:
        merged.update(value)
    return MappingProxyType(merged)


def _tighter(
    session_value: int, session_source: LimitSource, plan_value: int, plan_source: LimitSource
) -> tuple[int, LimitSource]:
    return (session_value, session_source) if session_value <= plan_value else (plan_value, plan_source)


def _effective(session: SessionSettings, plan: Plan | None, limits: PlanLimits | None) -> EffectiveLimits:
    live = (session.max_sessions_per_user, _source("session", "max_sessions_per_user"))
    symbols = (session.max_symbols_per_session, _source("session", "max_symbols_per_session"))
    if plan is None or limits is None:
        return EffectiveLimits(
            plan=None,
            max_live_sessions=live[0],
            max_symbols=symbols[0],
            sources=MappingProxyType({"max_live_sessions": live[1], "max_symbols": symbols[1]}),
        )
    table, infix = f"plans.{plan.value}", f"{plan.name}_"
    live = _tighter(*live, limits.concurrent_sessions, _source(table, "concurrent_sessions", infix))
    symbols = _tighter(*symbols, limits.symbols_per_session, _source(table, "symbols_per_session", infix))
    sources = {
        "max_live_sessions": live[1],
        "max_symbols": symbols[1],
        "sessions_per_hour": _source(table, "sessions_per_hour", infix),
        "websocket_connections": _source(table, "websocket_connections", infix),
        "orders_per_minute": _source(table, "orders_per_minute", infix),
        "max_simulation_duration": _source(table, "max_simulation_duration", infix),
        "max_bars_per_session": _source(table, "max_bars_per_session", infix),
    }
    return EffectiveLimits(
        plan=plan,
        max_live_sessions=live[0],
        sessions_per_hour=limits.sessions_per_hour,
        max_symbols=symbols[0],
        websocket_connections=limits.websocket_connections,
        orders_per_minute=limits.orders_per_minute,
        max_simulation_duration=limits.max_simulation_duration,
        max_bars_per_session=limits.max_bars_per_session or None,
        sources=MappingProxyType(sources),
    )


@attrs.frozen(kw_only=True, slots=True)
class EngineSettings:
    """Everything an `Engine` is configured with.

    Attributes:
        session: Server-wide session rules (always in force).
        plans: Limits per plan; plans left out keep their defaults.
        default_plan: The plan the server gives a client whose token names none, and
            the plan ``simutrador token`` mints by default. The embedded engine
            applies no plan unless asked.

    Example:
        >>> settings = EngineSettings(session=SessionSettings(max_sessions_per_user=3))
        >>> settings.limits_for(Plan.ENTERPRISE).max_live_sessions, settings.limits_for().plan
        (3, None)
    """

    session: SessionSettings = attrs.field(
        factory=SessionSettings, validator=attrs.validators.instance_of(SessionSettings)
    )
    plans: Mapping[Plan, PlanLimits] = attrs.field(factory=lambda: DEFAULT_PLAN_LIMITS, converter=_plans_converter)
    default_plan: Plan = attrs.field(default=Plan.FREE, validator=attrs.validators.instance_of(Plan))
    _effective: Mapping[Plan | None, EffectiveLimits] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        """Pre-compute the effective limits of every plan, and of no plan."""
        effective: dict[Plan | None, EffectiveLimits] = {
            plan: _effective(self.session, plan, limits) for plan, limits in self.plans.items()
        }
        effective[None] = _effective(self.session, None, None)
        object.__setattr__(self, "_effective", MappingProxyType(effective))

    def limits_for(self, plan: Plan | None = None) -> EffectiveLimits:
        """The limits in force for `plan`; with None, only the session settings (no plan)."""
        return self._effective[plan]

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> EngineSettings:
        """Load settings: environment > TOML file > defaults.

        Args:
            path: A TOML file with ``[session]``, ``[plans.<plan>]`` tables and a
                top-level ``default_plan``; other tables (adapters' own) are ignored.
                When None, ``SIMUTRADOR_CONFIG`` names the file, if set.
            environ: The environment to read (``os.environ`` when None).

        Raises:
            SimutradorError: ``VALIDATION_FAILED`` naming the setting at fault, or the
                file when it is missing or not valid TOML.
        """
        raw, env = read_config(path, environ)
        problems: list[str] = []
        session = load_table(SessionSettings, table(raw, "session", problems), "session", "", env, problems)
        plans_raw = table(raw, "plans", problems)
        for key in plans_raw:
            if key not in Plan.__members__.values():
                problems.append(f"plans.{key}: unknown plan (known: {', '.join(Plan)})")
        plans = {
            plan: load_table(
                PlanLimits,
                table(plans_raw, plan.value, problems, "plans."),
                f"plans.{plan.value}",
                f"{plan.name}_",
                env,
                problems,
                defaults=DEFAULT_PLAN_LIMITS[plan],
            )
            for plan in Plan
        }
        default_plan = Plan.FREE
        text: object = env.get(ENV_PREFIX + "DEFAULT_PLAN", raw.get("default_plan", Plan.FREE.value))
        try:
            default_plan = plan_name(text)
        except ParseError as exc:
            problems.append(f"default_plan ({ENV_PREFIX}DEFAULT_PLAN) {exc}, got {text!r}")
        if not problems:
            try:
                return cls(
                    session=SessionSettings(**session),
                    plans={plan: PlanLimits(**values) for plan, values in plans.items()},
                    default_plan=default_plan,
                )
            except ValueError:  # the one cross-field rule
                problems.append(
                    f"session.min_initial_capital ({ENV_PREFIX}MIN_INITIAL_CAPITAL) must not exceed "
                    f"session.max_initial_capital ({ENV_PREFIX}MAX_INITIAL_CAPITAL)"
                )
        raise invalid_configuration(problems)


def load_settings(
    tables: Mapping[str, type[Any]],
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    env_infixes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Load settings classes from their TOML tables and ``SIMUTRADOR_<FIELD>`` variables.

    Adapters declare their settings with `setting` fields and load them with this,
    exactly as the core loads its own (env > TOML > defaults).

    Args:
        tables: TOML table name → settings class (``{"server": ServerSettings}``).
        path: The TOML file; None reads ``SIMUTRADOR_CONFIG`` if set.
        environ: The environment (``os.environ`` when None).
        env_infixes: Table name → text between ``SIMUTRADOR_`` and the field name in
            its variables (``{"http": "HTTP_"}``: ``[http] port`` is
            ``SIMUTRADOR_HTTP_PORT``); none by default.

    Returns:
        Table name → an instance of its class.

    Raises:
        SimutradorError: ``VALIDATION_FAILED`` naming every bad setting.
    """
    raw, env = read_config(path, environ)
    problems: list[str] = []
    infixes = env_infixes or {}
    values = {
        name: load_table(cls, table(raw, name, problems), name, infixes.get(name, ""), env, problems)
        for name, cls in tables.items()
    }
    if problems:
        raise invalid_configuration(problems)
    return {name: cls(**values[name]) for name, cls in tables.items()}


def invalid_configuration(problems: list[str]) -> SimutradorError:
    """The one error for bad configuration: ``VALIDATION_FAILED`` listing every problem."""
    return SimutradorError(
        ErrorCode.VALIDATION_FAILED, "invalid configuration: " + "; ".join(problems), {"problems": problems}
    )


def read_config(
    path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None
) -> tuple[Mapping[str, Any], Mapping[str, str]]:
    """The TOML document (``{}`` without a file) and the environment to load settings from.

    With no `path`, ``SIMUTRADOR_CONFIG`` names the file, if set and not empty.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = env[ENV_PREFIX + "CONFIG"]
    return (read_toml(path) if path is not None else {}), env


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file, raising ``VALIDATION_FAILED`` naming the file on any failure."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"cannot read configuration file {file}: {exc.strerror}",
            {"file": str(file)},
        ) from None
    except UnicodeDecodeError:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"configuration file {file} is not UTF-8 text",
            {"file": str(file)},
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            f"configuration file {file} is not valid TOML: {exc}",
            {"file": str(file)},
        ) from None


def table(raw: Mapping[str, Any], key: str, problems: list[str], prefix: str = "") -> Mapping[str, Any]:
    """The TOML table `key` of `raw` (``{}`` when absent); a problem when it is not a table."""
    value = raw.get(key, {})
    if isinstance(value, Mapping):
        return value  # pyright: ignore[reportUnknownVariableType]
    problems.append(f"{prefix}{key} must be a table")
    return {}


def load_table(  # noqa: PLR0917 - mirrors the TOML/env naming scheme
    cls: type[Any],
    raw: Mapping[str, Any],
    where: str,
    env_infix: str,
    environ: Mapping[str, str],
    problems: list[str],
    *,
    defaults: object = None,
) -> dict[str, Any]:
    """Read one settings class's values from a TOML table and the environment (env first).

    Each field is parsed by the parser its `setting` declares; one problem is
    appended per bad value, naming the TOML path and the environment variable.

    Args:
        cls: An attrs settings class whose fields were made with `setting`.
        raw: The TOML table.
        where: The table's TOML path, for messages (``session``, ``plans.free``).
        env_infix: Between ``SIMUTRADOR_`` and the field name (``FREE_`` for plans).
        environ: The environment.
        problems: Where problems are appended.
        defaults: An instance whose values fill the fields neither source sets.

    Returns:
        Keyword arguments for `cls`: only the fields set (plus `defaults`' values).
    """
    fields = {a.name: a for a in attrs.fields(cls)}
    for key in raw:
        if key not in fields:
            problems.append(f"{where}.{key}: unknown setting (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        env_name = f"{ENV_PREFIX}{env_infix}{name.upper()}"
        if env_name in environ:
            text: object = environ[env_name]
        elif name in raw:
            text = raw[name]
        else:
            if defaults is not None:
                values[name] = getattr(defaults, name)
            continue
        parse: Parser = field.metadata[PARSER]
        try:
            values[name] = parse(text)
        except ParseError as exc:
            shown = "<hidden>" if "secret" in name else repr(text)
            problems.append(f"{where}.{name} ({env_name}) {exc}, got {shown}")
    return values
