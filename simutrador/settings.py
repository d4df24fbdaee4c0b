"""Engine configuration: session settings, per-plan limits, and how they are loaded.

Precedence is environment variables > TOML file > defaults. Every value is checked
when loaded; a bad value raises ``VALIDATION_FAILED`` naming the setting (its TOML
path and its environment variable), never a silent fallback to the default.

Environment variables: ``SIMUTRADOR_<SETTING>`` for session settings (for example
``SIMUTRADOR_MAX_SESSIONS_PER_USER``), ``SIMUTRADOR_<PLAN>_<LIMIT>`` for plan limits
(``SIMUTRADOR_FREE_SESSIONS_PER_HOUR``), ``SIMUTRADOR_DEFAULT_PLAN`` and
``SIMUTRADOR_CONFIG`` (the TOML file to read when none is passed).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import attrs

from simutrador.errors import ErrorCode, SimutradorError

__all__ = ["EffectiveLimits", "EngineSettings", "Plan", "PlanLimits", "SessionSettings"]

ENV_PREFIX: Final = "SIMUTRADOR_"
_MAX_DIGITS: Final = 30


class Plan(StrEnum):
    """A user's subscription plan; the value is the JWT ``plan`` claim."""

    FREE = "free"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


def _positive_decimal(_instance: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value}")


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


_POSITIVE = attrs.validators.and_(attrs.validators.instance_of(int), attrs.validators.ge(1))


@attrs.frozen(kw_only=True, slots=True)
class SessionSettings:
    """Server-wide session rules (the seed's defaults).

    Attributes:
        max_sessions_per_user: Live sessions one user may hold at once.
        session_timeout_minutes: A session untouched this long expires.
        max_symbols_per_session: Symbols one session may simulate.
        min_initial_capital: Smallest initial capital accepted.
        max_initial_capital: Largest initial capital accepted.
        max_metadata_bytes: Largest JSON size of a session's metadata.
        max_metadata_depth: Deepest nesting of a session's metadata.
        max_session_id_length: Longest client-chosen session id.
    """

    max_sessions_per_user: int = attrs.field(default=5, validator=_POSITIVE)
    session_timeout_minutes: int = attrs.field(default=60, validator=_POSITIVE)
    max_symbols_per_session: int = attrs.field(default=50, validator=_POSITIVE)
    min_initial_capital: Decimal = attrs.field(
        default=Decimal("1000.00"), converter=_to_decimal, validator=_positive_decimal
    )
    max_initial_capital: Decimal = attrs.field(
        default=Decimal("10000000.00"), converter=_to_decimal, validator=_positive_decimal
    )
    max_metadata_bytes: int = attrs.field(default=4096, validator=_POSITIVE)
    max_metadata_depth: int = attrs.field(default=4, validator=_POSITIVE)
    max_session_id_length: int = attrs.field(default=64, validator=_POSITIVE)

    def __attrs_post_init__(self) -> None:
        """Check the settings are consistent with each other."""
        if self.min_initial_capital > self.max_initial_capital:
            raise ValueError("min_initial_capital must not exceed max_initial_capital")


@attrs.frozen(kw_only=True, slots=True)
class PlanLimits:
    """What one plan allows.

    Attributes:
        sessions_per_hour: Sessions a user may create in any sliding hour.
        concurrent_sessions: Live sessions a user may hold at once.
        symbols_per_session: Symbols one session may simulate.
        websocket_connections: Open WebSocket connections per user.
        max_simulation_span_hours: Longest simulated period (end - start), in hours.
    """

    sessions_per_hour: int = attrs.field(validator=_POSITIVE)
    concurrent_sessions: int = attrs.field(validator=_POSITIVE)
    symbols_per_session: int = attrs.field(validator=_POSITIVE)
    websocket_connections: int = attrs.field(validator=_POSITIVE)
    max_simulation_span_hours: int = attrs.field(validator=_POSITIVE)


DEFAULT_PLAN_LIMITS: Final[Mapping[Plan, PlanLimits]] = MappingProxyType(
    {
        Plan.FREE: PlanLimits(
            sessions_per_hour=5,
            concurrent_sessions=1,
            symbols_per_session=5,
            websocket_connections=1,
            max_simulation_span_hours=24,
        ),
        Plan.PROFESSIONAL: PlanLimits(
            sessions_per_hour=50,
            concurrent_sessions=10,
            symbols_per_session=50,
            websocket_connections=10,
            max_simulation_span_hours=24 * 7,
        ),
        Plan.ENTERPRISE: PlanLimits(
            sessions_per_hour=500,
            concurrent_sessions=100,
            symbols_per_session=500,
            websocket_connections=100,
            max_simulation_span_hours=24 * 365,
        ),
    }
)


@attrs.frozen(kw_only=True, slots=True)
class EffectiveLimits:
    """The limits in force for one plan: the tighter of session settings and plan.

    Attributes:
        plan: The plan these limits are for.
        max_live_sessions: Live sessions per user.
        sessions_per_hour: Sessions created per sliding hour per user.
        max_symbols: Symbols per session.
        max_simulation_span_hours: Longest simulated period, in hours.
        websocket_connections: Open WebSocket connections per user.
    """

    plan: Plan
    max_live_sessions: int
    sessions_per_hour: int
    max_symbols: int
    max_simulation_span_hours: int
    websocket_connections: int


def _plans_converter(value: Mapping[Plan, PlanLimits] | None) -> Mapping[Plan, PlanLimits]:
    merged = dict(DEFAULT_PLAN_LIMITS)
    if value:
        merged.update(value)
    return MappingProxyType(merged)


@attrs.frozen(kw_only=True, slots=True)
class EngineSettings:
    """Everything an `Engine` is configured with.

    Attributes:
        session: Server-wide session rules.
        plans: Limits per plan; plans left out keep their defaults.
        default_plan: The plan used when a caller names none.

    Example:
        >>> settings = EngineSettings(session=SessionSettings(max_sessions_per_user=3))
        >>> settings.limits_for(Plan.ENTERPRISE).max_live_sessions
        3
    """

    session: SessionSettings = attrs.field(factory=SessionSettings)
    plans: Mapping[Plan, PlanLimits] = attrs.field(factory=lambda: DEFAULT_PLAN_LIMITS, converter=_plans_converter)
    default_plan: Plan = Plan.FREE
    _effective: Mapping[Plan, EffectiveLimits] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        """Pre-compute the effective limits of every plan."""
        s = self.session
        effective = {
            plan: EffectiveLimits(
                plan=plan,
                max_live_sessions=min(s.max_sessions_per_user, p.concurrent_sessions),
                sessions_per_hour=p.sessions_per_hour,
                max_symbols=min(s.max_symbols_per_session, p.symbols_per_session),
                max_simulation_span_hours=p.max_simulation_span_hours,
                websocket_connections=p.websocket_connections,
            )
            for plan, p in self.plans.items()
        }
        object.__setattr__(self, "_effective", MappingProxyType(effective))

    def limits_for(self, plan: Plan | None = None) -> EffectiveLimits:
        """The limits in force for `plan` (the default plan when None)."""
        return self._effective[self.default_plan if plan is None else plan]

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
        env = os.environ if environ is None else environ
        if path is None and env.get(ENV_PREFIX + "CONFIG"):
            path = env[ENV_PREFIX + "CONFIG"]
        raw = read_toml(path) if path is not None else {}
        problems: list[str] = []
        session = _parse_table(SessionSettings, _table(raw, "session", problems), "session", "", problems, env)
        plans_raw = _table(raw, "plans", problems)
        for key in plans_raw:
            if key not in Plan.__members__.values():
                problems.append(f"plans.{key}: unknown plan (known: {', '.join(Plan)})")
        plans = {
            plan: _parse_table(
                PlanLimits,
                {**attrs.asdict(DEFAULT_PLAN_LIMITS[plan]), **_table(plans_raw, plan.value, problems, "plans.")},
                f"plans.{plan.value}",
                f"{plan.name}_",
                problems,
                env,
            )
            for plan in Plan
        }
        default_plan = _parse_plan(raw, env, problems)
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
        raise SimutradorError(
            ErrorCode.VALIDATION_FAILED,
            "invalid configuration: " + "; ".join(problems),
            {"problems": problems},
        )


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


def _table(raw: Mapping[str, Any], key: str, problems: list[str], prefix: str = "") -> Mapping[str, Any]:
    value = raw.get(key, {})
    if isinstance(value, Mapping):
        return value  # pyright: ignore[reportUnknownVariableType]
    problems.append(f"{prefix}{key} must be a table")
    return {}


def _parse_plan(raw: Mapping[str, Any], env: Mapping[str, str], problems: list[str]) -> Plan:
    value: object = env.get(ENV_PREFIX + "DEFAULT_PLAN", raw.get("default_plan", Plan.FREE.value))
    try:
        return Plan(value)
    except ValueError:
        problems.append(f"default_plan ({ENV_PREFIX}DEFAULT_PLAN) must be one of {', '.join(Plan)}, got {value!r}")
        return Plan.FREE


def _parse_table(  # noqa: PLR0917 - a private helper called from one place
    cls: type[Any],
    raw: Mapping[str, Any],
    where: str,
    env_infix: str,
    problems: list[str],
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """Parse one settings table, environment first; append one problem per bad value."""
    fields = {a.name: a for a in attrs.fields(cls)}
    for key in raw:
        if key not in fields:
            problems.append(f"{where}.{key}: unknown setting (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        env_name = f"{ENV_PREFIX}{env_infix}{name.upper()}"
        if env_name in environ:
            value: object = environ[env_name]
        elif name in raw:
            value = raw[name]
        else:
            continue
        parser = _parse_decimal if field.type in (Decimal, "Decimal") else _parse_int
        try:
            values[name] = parser(value)
        except (TypeError, ValueError, ArithmeticError) as exc:
            problems.append(f"{where}.{name} ({env_name}) {exc}, got {value!r}")
    return values


def _parse_int(value: object) -> int:
    if isinstance(value, str):
        value = value.strip()
        digits = value.removeprefix("+")
        if not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_DIGITS:
            raise ValueError("must be a whole number >= 1")
        value = int(digits)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _parse_decimal(value: object) -> Decimal:
    try:
        if isinstance(value, str):
            value = value.strip()
            if "_" in value or not value.isascii() or len(value) > _MAX_DIGITS:
                raise ValueError("must be a positive number")
        number = _to_decimal(value)
    except (TypeError, ArithmeticError):
        raise ValueError("must be a positive number") from None
    if not number.is_finite() or number <= 0:
        raise ValueError("must be a positive number")
    return number
