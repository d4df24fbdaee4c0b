"""Human-readable rendering of sessions and errors for the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from simutrador import Session, SimutradorError

__all__ = ["format_error", "format_session_table", "format_table"]


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Align `rows` under `headers` in plain-text columns."""
    body = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in body) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_session_table(sessions: Iterable[Session]) -> str:
    """One line per session: id, state, symbols, range, capital, estimated ticks, expiry."""
    return format_table(
        ("SESSION", "STATE", "SYMBOLS", "START", "END", "CAPITAL", "TICKS", "EXPIRES"),
        (
            (
                s.session_id,
                s.state.value,
                ",".join(s.symbols),
                s.start_date.date().isoformat(),
                s.end_date.date().isoformat(),
                str(s.initial_capital),
                str(s.estimated_ticks),
                s.expires_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            )
            for s in sessions
        ),
    )


def format_error(error: SimutradorError) -> str:
    """``CODE (type): message``."""
    return f"{error.code.value} ({error.code.error_type.value}): {error.message}"
