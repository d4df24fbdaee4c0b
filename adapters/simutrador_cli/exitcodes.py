"""The CLI's exit codes: the adapter's one table from error type to process status."""

from __future__ import annotations

from typing import Final

from simutrador import ErrorType

__all__ = ["EXIT_CODES", "EXIT_CONNECTION", "EXIT_OK", "EXIT_STRATEGY", "exit_code_for"]

EXIT_OK: Final = 0
EXIT_INTERNAL: Final = 1
EXIT_USAGE: Final = 2
EXIT_VALIDATION: Final = 3
EXIT_AUTH: Final = 4
EXIT_CONNECTION: Final = 5
EXIT_LIMIT: Final = 6
EXIT_STRATEGY: Final = 7

EXIT_CODES: Final = {
    ErrorType.VALIDATION: EXIT_VALIDATION,
    ErrorType.AUTH: EXIT_AUTH,
    ErrorType.LIMIT: EXIT_LIMIT,
    ErrorType.RATE_LIMIT: EXIT_LIMIT,
    ErrorType.PROTOCOL: EXIT_INTERNAL,
    ErrorType.SYSTEM: EXIT_INTERNAL,
}
"""Error type → exit status (0 ok, 1 internal, 2 usage, 3 validation, 4 auth, 5 connection, 6 limit,
7 the strategy raised)."""


def exit_code_for(error_type: ErrorType) -> int:
    """The exit status for an error of `error_type`."""
    return EXIT_CODES[error_type]
