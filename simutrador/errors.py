"""The one error vocabulary of SimuTrador: `ErrorCode` and `SimutradorError`.

Every failure that crosses a boundary (core → embedder, core → adapter, adapter →
wire) is a `SimutradorError` carrying one `ErrorCode`. Each code's classification
(error type, severity, recoverability) lives in one table, `_CODE_INFO`, so adapters
render errors without inventing codes or re-classifying them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import attrs

__all__ = ["ErrorCode", "ErrorInfo", "ErrorType", "Severity", "SimutradorError"]


class ErrorType(StrEnum):
    """The family an error belongs to; adapters map families to transport replies."""

    VALIDATION = "validation"
    LIMIT = "limit"
    RATE_LIMIT = "rate_limit"
    PROTOCOL = "protocol"
    AUTH = "auth"
    SYSTEM = "system"


class Severity(StrEnum):
    """How bad an error is for the caller."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@attrs.frozen(slots=True)
class ErrorInfo:
    """Classification of one `ErrorCode`.

    Attributes:
        error_type: The family of the error.
        severity: How bad it is.
        recoverable: Whether retrying (possibly later, or with other input) can succeed.
    """

    error_type: ErrorType
    severity: Severity
    recoverable: bool


class ErrorCode(StrEnum):
    """Every error SimuTrador can report; the value is the wire string."""

    INVALID_SYMBOL = "INVALID_SYMBOL"
    INVALID_DATE_RANGE = "INVALID_DATE_RANGE"
    INSUFFICIENT_CAPITAL = "INSUFFICIENT_CAPITAL"
    SESSION_LIMIT_EXCEEDED = "SESSION_LIMIT_EXCEEDED"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    INVALID_STATE_TRANSITION = "INVALID_STATE_TRANSITION"
    INVALID_ORDER = "INVALID_ORDER"
    INSUFFICIENT_BUYING_POWER = "INSUFFICIENT_BUYING_POWER"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    DATA_CHANGED = "DATA_CHANGED"
    STORAGE_FAILED = "STORAGE_FAILED"
    INTERNAL_ERROR = "INTERNAL_ERROR"

    @property
    def info(self) -> ErrorInfo:
        """The classification of this code."""
        return _CODE_INFO[self]

    @property
    def error_type(self) -> ErrorType:
        """The family of this code."""
        return _CODE_INFO[self].error_type

    @property
    def severity(self) -> Severity:
        """How bad an error with this code is."""
        return _CODE_INFO[self].severity

    @property
    def recoverable(self) -> bool:
        """Whether a caller can succeed by retrying later or with other input."""
        return _CODE_INFO[self].recoverable


_V, _L, _R = ErrorType.VALIDATION, ErrorType.LIMIT, ErrorType.RATE_LIMIT
_P, _A, _S = ErrorType.PROTOCOL, ErrorType.AUTH, ErrorType.SYSTEM

_CODE_INFO: Final[Mapping[ErrorCode, ErrorInfo]] = MappingProxyType(
    {
        ErrorCode.INVALID_SYMBOL: ErrorInfo(error_type=_V, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.INVALID_DATE_RANGE: ErrorInfo(error_type=_V, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.INSUFFICIENT_CAPITAL: ErrorInfo(error_type=_V, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.SESSION_LIMIT_EXCEEDED: ErrorInfo(error_type=_L, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.VALIDATION_FAILED: ErrorInfo(error_type=_V, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.SESSION_NOT_FOUND: ErrorInfo(error_type=_V, severity=Severity.LOW, recoverable=False),
        ErrorCode.INVALID_STATE_TRANSITION: ErrorInfo(error_type=_V, severity=Severity.MEDIUM, recoverable=False),
        ErrorCode.INVALID_ORDER: ErrorInfo(error_type=_V, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.INSUFFICIENT_BUYING_POWER: ErrorInfo(error_type=_V, severity=Severity.LOW, recoverable=True),
        ErrorCode.RATE_LIMIT_EXCEEDED: ErrorInfo(error_type=_R, severity=Severity.LOW, recoverable=True),
        ErrorCode.INVALID_MESSAGE: ErrorInfo(error_type=_P, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.UNKNOWN_MESSAGE_TYPE: ErrorInfo(error_type=_P, severity=Severity.MEDIUM, recoverable=True),
        ErrorCode.AUTHENTICATION_FAILED: ErrorInfo(error_type=_A, severity=Severity.HIGH, recoverable=False),
        ErrorCode.DATA_CHANGED: ErrorInfo(error_type=_V, severity=Severity.HIGH, recoverable=False),
        ErrorCode.STORAGE_FAILED: ErrorInfo(error_type=_S, severity=Severity.CRITICAL, recoverable=True),
        ErrorCode.INTERNAL_ERROR: ErrorInfo(error_type=_S, severity=Severity.CRITICAL, recoverable=True),
    }
)

_NO_DETAILS: Final[Mapping[str, Any]] = MappingProxyType({})


class SimutradorError(Exception):
    """The one exception SimuTrador raises across a boundary.

    Args:
        code: What went wrong, as an `ErrorCode`.
        message: A short human explanation; never contains secrets.
        details: Machine-readable specifics (offending fields, per-symbol ranges...).
        retry_after_ms: For rate limits, how long to wait before retrying.

    Example:
        >>> err = SimutradorError(ErrorCode.SESSION_NOT_FOUND, "no such session")
        >>> err.code.error_type
        <ErrorType.VALIDATION: 'validation'>
    """

    code: ErrorCode
    message: str
    details: Mapping[str, Any]
    retry_after_ms: int | None

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.details = _NO_DETAILS if details is None else details
        self.retry_after_ms = retry_after_ms

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as plain data (errors cross process boundaries in embedders' pools)."""
        return (_rebuild_error, (self.code.value, self.message, dict(self.details), self.retry_after_ms))

    def __str__(self) -> str:
        """Render as ``CODE: message``."""
        return f"{self.code.value}: {self.message}"

    def __repr__(self) -> str:
        """Show code, message and details."""
        return f"SimutradorError({self.code.value!r}, {self.message!r}, {dict(self.details)!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error as plain data, in the shape of the wire's error payload."""
        info = self.code.info
        payload: dict[str, Any] = {
            "error_code": self.code.value,
            "message": self.message,
            "details": dict(self.details),
            "error_type": info.error_type.value,
            "severity": info.severity.value,
            "recoverable": info.recoverable,
        }
        if self.retry_after_ms is not None:
            payload["retry_after_ms"] = self.retry_after_ms
        return payload


def _rebuild_error(code: str, message: str, details: dict[str, Any], retry_after_ms: int | None) -> SimutradorError:
    return SimutradorError(ErrorCode(code), message, details, retry_after_ms=retry_after_ms)
