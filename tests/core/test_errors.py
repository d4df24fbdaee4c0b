"""Tests for `simutrador.errors`: the error vocabulary, its metadata table and the one exception."""

from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from simutrador.errors import _CODE_INFO as CODE_INFO
from simutrador.errors import ErrorCode, ErrorInfo, ErrorType, Severity, SimutradorError

V, L, R = ErrorType.VALIDATION, ErrorType.LIMIT, ErrorType.RATE_LIMIT
P, A, S = ErrorType.PROTOCOL, ErrorType.AUTH, ErrorType.SYSTEM

# The classification every code must have, written out independently of the source table.
EXPECTED_INFO: dict[str, tuple[ErrorType, Severity, bool]] = {
    "INVALID_SYMBOL": (V, Severity.MEDIUM, True),
    "INVALID_DATE_RANGE": (V, Severity.MEDIUM, True),
    "INSUFFICIENT_CAPITAL": (V, Severity.MEDIUM, True),
    "SESSION_LIMIT_EXCEEDED": (L, Severity.MEDIUM, True),
    "VALIDATION_FAILED": (V, Severity.MEDIUM, True),
    "SESSION_NOT_FOUND": (V, Severity.LOW, False),
    "INVALID_STATE_TRANSITION": (V, Severity.MEDIUM, False),
    "INVALID_ORDER": (V, Severity.MEDIUM, True),
    "INSUFFICIENT_BUYING_POWER": (V, Severity.LOW, True),
    "RATE_LIMIT_EXCEEDED": (R, Severity.LOW, True),
    "INVALID_MESSAGE": (P, Severity.MEDIUM, True),
    "UNKNOWN_MESSAGE_TYPE": (P, Severity.MEDIUM, True),
    "AUTHENTICATION_FAILED": (A, Severity.HIGH, False),
    "DATA_CHANGED": (V, Severity.HIGH, False),
    "STORAGE_FAILED": (S, Severity.CRITICAL, True),
    "INTERNAL_ERROR": (S, Severity.CRITICAL, True),
}


# --- ErrorCode and its metadata table ------------------------------------------------------------


def test_the_set_of_codes_is_pinned() -> None:
    assert {code.name for code in ErrorCode} == set(EXPECTED_INFO)


def test_metadata_table_has_exactly_one_entry_per_code() -> None:
    assert set(CODE_INFO) == set(ErrorCode)
    assert len(CODE_INFO) == len(ErrorCode)


def test_metadata_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        CODE_INFO[ErrorCode.INTERNAL_ERROR] = ErrorInfo(  # type: ignore[index]
            error_type=ErrorType.SYSTEM, severity=Severity.LOW, recoverable=False
        )
    assert CODE_INFO[ErrorCode.INTERNAL_ERROR].severity is Severity.CRITICAL


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_every_code_has_complete_metadata(code: ErrorCode) -> None:
    info = code.info
    assert isinstance(info, ErrorInfo)
    assert isinstance(info.error_type, ErrorType)
    assert isinstance(info.severity, Severity)
    assert type(info.recoverable) is bool
    assert info is CODE_INFO[code]


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_every_code_is_classified_as_specified(code: ErrorCode) -> None:
    error_type, severity, recoverable = EXPECTED_INFO[code.name]
    assert code.error_type is error_type
    assert code.severity is severity
    assert code.recoverable is recoverable
    assert code.info == ErrorInfo(error_type=error_type, severity=severity, recoverable=recoverable)


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_wire_value_equals_name(code: ErrorCode) -> None:
    assert code.value == code.name
    assert str(code) == code.name
    assert f"{code}" == code.name
    assert ErrorCode(code.name) is code
    assert code == code.name


def test_unknown_wire_value_is_not_a_code() -> None:
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        ErrorCode("NOT_A_CODE")


def test_error_type_and_severity_wire_values() -> None:
    assert [t.value for t in ErrorType] == ["validation", "limit", "rate_limit", "protocol", "auth", "system"]
    assert [s.value for s in Severity] == ["low", "medium", "high", "critical"]


def test_error_info_is_frozen() -> None:
    info = ErrorCode.INVALID_SYMBOL.info
    with pytest.raises(AttributeError):
        info.recoverable = False  # type: ignore[misc]
    assert ErrorCode.INVALID_SYMBOL.recoverable is True


# --- SimutradorError ------------------------------------------------------------------------------


def test_error_keeps_its_arguments() -> None:
    details = {"symbol": "XYZ"}
    err = SimutradorError(ErrorCode.INVALID_SYMBOL, "unknown symbol", details, retry_after_ms=None)
    assert err.code is ErrorCode.INVALID_SYMBOL
    assert err.message == "unknown symbol"
    assert dict(err.details) == {"symbol": "XYZ"}
    assert err.retry_after_ms is None
    assert err.args == (ErrorCode.INVALID_SYMBOL, "unknown symbol")
    assert isinstance(err, Exception)


def test_details_default_to_an_empty_read_only_mapping() -> None:
    err = SimutradorError(ErrorCode.SESSION_NOT_FOUND, "no such session")
    assert dict(err.details) == {}
    assert len(err.details) == 0
    assert isinstance(err.details, MappingProxyType)
    with pytest.raises(TypeError):
        err.details["leak"] = 1  # type: ignore[index]
    # The shared default must not have been changed for the next error.
    assert dict(SimutradorError(ErrorCode.SESSION_NOT_FOUND, "again").details) == {}


def test_explicit_none_details_is_empty() -> None:
    err = SimutradorError(ErrorCode.INTERNAL_ERROR, "boom", None)
    assert dict(err.details) == {}


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (ErrorCode.SESSION_NOT_FOUND, "no such session", "SESSION_NOT_FOUND: no such session"),
        (ErrorCode.RATE_LIMIT_EXCEEDED, "slow down", "RATE_LIMIT_EXCEEDED: slow down"),
        (ErrorCode.INTERNAL_ERROR, "", "INTERNAL_ERROR: "),
    ],
)
def test_str_is_code_colon_message(code: ErrorCode, message: str, expected: str) -> None:
    assert str(SimutradorError(code, message, {"ignored": True}, retry_after_ms=5)) == expected


def test_repr_without_details() -> None:
    err = SimutradorError(ErrorCode.SESSION_NOT_FOUND, "no such session")
    assert repr(err) == "SimutradorError('SESSION_NOT_FOUND', 'no such session', {})"


def test_repr_with_details() -> None:
    err = SimutradorError(ErrorCode.INVALID_SYMBOL, "bad 'sym'", {"symbols": ["X"], "count": 1})
    assert repr(err) == "SimutradorError('INVALID_SYMBOL', \"bad 'sym'\", {'symbols': ['X'], 'count': 1})"


def test_to_dict_without_retry_after() -> None:
    err = SimutradorError(ErrorCode.VALIDATION_FAILED, "invalid", {"field": "initial_capital"})
    assert err.to_dict() == {
        "error_code": "VALIDATION_FAILED",
        "message": "invalid",
        "details": {"field": "initial_capital"},
        "error_type": "validation",
        "severity": "medium",
        "recoverable": True,
    }
    assert "retry_after_ms" not in err.to_dict()


def test_to_dict_with_retry_after() -> None:
    err = SimutradorError(ErrorCode.RATE_LIMIT_EXCEEDED, "slow down", retry_after_ms=1500)
    assert err.to_dict() == {
        "error_code": "RATE_LIMIT_EXCEEDED",
        "message": "slow down",
        "details": {},
        "error_type": "rate_limit",
        "severity": "low",
        "recoverable": True,
        "retry_after_ms": 1500,
    }


def test_to_dict_keeps_a_zero_retry_after() -> None:
    err = SimutradorError(ErrorCode.RATE_LIMIT_EXCEEDED, "now", retry_after_ms=0)
    assert err.retry_after_ms == 0
    assert err.to_dict()["retry_after_ms"] == 0


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda code: code.name)
def test_to_dict_classification_comes_from_the_table(code: ErrorCode) -> None:
    error_type, severity, recoverable = EXPECTED_INFO[code.name]
    payload = SimutradorError(code, "m").to_dict()
    assert payload["error_code"] == code.name
    assert payload["error_type"] == error_type.value
    assert payload["severity"] == severity.value
    assert payload["recoverable"] is recoverable
    # Only plain data on the wire: the enums are rendered as their string values.
    assert type(payload["error_code"]) is str
    assert type(payload["error_type"]) is str
    assert type(payload["severity"]) is str


def test_to_dict_is_json_serializable_and_detached() -> None:
    details = {"problems": ["a", "b"]}
    err = SimutradorError(ErrorCode.VALIDATION_FAILED, "bad", details, retry_after_ms=10)
    payload = err.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    payload["details"]["extra"] = 1
    assert "extra" not in err.details
    assert err.to_dict()["details"] == {"problems": ["a", "b"]}


def test_error_can_be_raised_and_caught() -> None:
    with pytest.raises(SimutradorError) as caught:
        raise SimutradorError(ErrorCode.AUTHENTICATION_FAILED, "bad token", {"reason": "expired"})
    assert caught.value.code is ErrorCode.AUTHENTICATION_FAILED
    assert caught.value.code.recoverable is False
    assert caught.value.details["reason"] == "expired"


def test_errors_pickle_round_trip() -> None:
    import pickle

    for error in (
        SimutradorError(ErrorCode.INTERNAL_ERROR, "x"),
        SimutradorError(ErrorCode.RATE_LIMIT_EXCEEDED, "slow down", {"plan": "free"}, retry_after_ms=250),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.code, copy.message, dict(copy.details), copy.retry_after_ms) == (
            error.code,
            error.message,
            dict(error.details),
            error.retry_after_ms,
        )
