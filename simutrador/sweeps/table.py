"""A sweep's table: rows streamed to a file as runs finish, read back to resume, ranked.

Rows go to ``.csv`` or ``.jsonl`` as each run finishes, so an interrupted sweep keeps
what it finished; rerunning with the same file skips those runs. A ``.parquet`` table
is written at the end from a ``.partial.jsonl`` file kept beside it while the sweep
runs (Parquet cannot be appended to; needs the ``parquet`` extra).
"""

from __future__ import annotations

import csv
import importlib
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from simutrador.errors import ErrorCode, SimutradorError
from simutrador.sweeps.grid import parameters_key
from simutrador.sweeps.runs import SweepRow

__all__ = ["SweepResult", "SweepWriter", "read_rows"]

_FIXED: Final = ("index", "final_equity", "digest", "error", "seconds")
_LOWER_IS_BETTER: Final = frozenset({"max_drawdown_pct", "volatility_pct", "total_commission", "turnover"})


def _flat(row: SweepRow) -> dict[str, Any]:
    flat: dict[str, Any] = {"index": row.index}
    flat.update({f"param.{k}": v for k, v in row.parameters.items()})
    flat.update(row.metrics)
    flat.update({"final_equity": row.final_equity, "digest": row.digest, "error": row.error, "seconds": row.seconds})
    return flat


def _row_from(data: Mapping[str, Any], metric_names: Sequence[str]) -> SweepRow:
    parameters = {k.removeprefix("param."): v for k, v in data.items() if k.startswith("param.")}
    metrics = {k: data[k] for k in metric_names if k in data and data[k] not in (None, "")}
    error = data.get("error") or None
    return SweepRow(
        index=int(data["index"]),
        parameters=parameters,
        metrics={} if error else metrics,
        final_equity=data.get("final_equity") or None,
        digest=data.get("digest") or None,
        error=error,
        seconds=float(data.get("seconds") or 0.0),
    )


def _journal(path: Path) -> Path:
    return path.with_name(path.name + ".partial.jsonl") if path.suffix == ".parquet" else path


def read_rows(path: Path, metric_names: Sequence[str]) -> list[SweepRow]:
    """The rows an earlier (possibly interrupted) sweep wrote to `path`; [] when there is none."""
    source = _journal(path)
    if not source.exists():
        if path.suffix == ".parquet" and path.exists():
            table = importlib.import_module("pyarrow.parquet").read_table(path)
            return [_row_from(r, metric_names) for r in table.to_pylist()]
        return []
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".csv":
        return [_row_from(_typed(r), metric_names) for r in csv.DictReader(io.StringIO(text))]
    rows: list[SweepRow] = []
    for line in text.splitlines():
        if line.strip():
            try:
                rows.append(_row_from(json.loads(line), metric_names))
            except (ValueError, KeyError):  # a line cut by an interruption
                continue
    return rows


def _typed(row: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in row.items():
        try:
            out[key] = json.loads(text) if text not in ("", None) else None
        except ValueError:
            out[key] = text
    return out


class SweepWriter:
    """Appends rows to a table file as runs finish (csv, jsonl, or parquet at the end).

    Args:
        path: The table; its suffix chooses the format.
        columns: Every column, in order (for CSV's header).
    """

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        if path.suffix not in (".csv", ".jsonl", ".parquet"):
            raise SimutradorError(
                ErrorCode.VALIDATION_FAILED,
                f"the output must end in .csv, .jsonl or .parquet, not {path.name!r}",
                {"fields": ["out"]},
            )
        self.path = path
        self._journal = _journal(path)
        self._columns = list(columns)
        fresh = not self._journal.exists() or self._journal.stat().st_size == 0
        self._file = self._journal.open("a", encoding="utf-8", newline="")
        self._csv = (
            csv.DictWriter(self._file, self._columns, extrasaction="ignore") if self._journal.suffix == ".csv" else None
        )
        if self._csv is not None and fresh:
            self._csv.writeheader()

    def write(self, row: SweepRow) -> None:
        """Append one row and flush it to disk."""
        flat = _flat(row)
        if self._csv is not None:
            self._csv.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in flat.items()})
        else:
            self._file.write(json.dumps(flat, default=str) + "\n")
        self._file.flush()

    def close(self, rows: Sequence[SweepRow] | None = None) -> None:
        """Close the file; for Parquet, write the table from `rows` and drop the journal."""
        self._file.close()
        if self.path.suffix == ".parquet" and rows is not None:
            pyarrow = importlib.import_module("pyarrow")
            parquet = importlib.import_module("pyarrow.parquet")
            parquet.write_table(pyarrow.Table.from_pylist([_flat(r) for r in rows]), self.path)
            self._journal.unlink(missing_ok=True)


@attrs.frozen(slots=True)
class SweepResult:
    """A sweep's rows in grid order, with ranking helpers.

    Attributes:
        rows: One per run, by index.
    """

    rows: tuple[SweepRow, ...]

    def __len__(self) -> int:
        """How many runs."""
        return len(self.rows)

    def __iter__(self) -> Iterator[SweepRow]:
        """The rows in grid order."""
        return iter(self.rows)

    @property
    def errors(self) -> list[SweepRow]:
        """The runs that failed."""
        return [r for r in self.rows if r.error]

    def where(self, **limits: tuple[str, float]) -> SweepResult:
        """The runs whose metrics meet every limit, e.g. ``where(max_drawdown_pct=("<=", 20))``.

        Operators: ``<``, ``<=``, ``>``, ``>=``, ``==``. Failed runs and runs whose
        metric is None are left out.
        """
        checks: dict[str, Callable[[float, float], bool]] = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
            "==": lambda a, b: a == b,
        }

        def ok(row: SweepRow) -> bool:
            for metric, (operator, bound) in limits.items():
                value = row.metrics.get(metric)
                if value is None or operator not in checks or not checks[operator](float(value), bound):
                    return False
            return not row.error

        return SweepResult(tuple(r for r in self.rows if ok(r)))

    def best(
        self, metric: str = "sharpe_ratio", *, top: int = 1, lower_is_better: bool | None = None
    ) -> list[SweepRow]:
        """The `top` runs by `metric` (higher first; lower first for drawdown, volatility, costs)."""
        lower = metric in _LOWER_IS_BETTER if lower_is_better is None else lower_is_better
        ranked = [r for r in self.rows if not r.error and r.metrics.get(metric) is not None]
        ranked.sort(key=lambda r: float(r.metrics[metric]), reverse=not lower)
        return ranked[:top]

    def to_frame(self) -> Any:
        """A pandas DataFrame: one row per run, parameters as ``param.<name>`` columns."""
        pandas = importlib.import_module("pandas")
        return pandas.DataFrame([_flat(r) for r in self.rows])

    def heatmap(self, x: str, y: str, metric: str = "sharpe_ratio", path: str | Path | None = None) -> Any:
        """A plotly heatmap of `metric` over parameters `x` and `y` (needs the ``report`` extra).

        Returns the figure; with `path`, also writes it as a self-contained HTML file.
        """
        go = importlib.import_module("plotly.graph_objects")
        xs = sorted({r.parameters[x] for r in self.rows})
        ys = sorted({r.parameters[y] for r in self.rows})
        grid: list[list[float | None]] = [[None] * len(xs) for _ in ys]
        for row in self.rows:
            value = row.metrics.get(metric)
            if value is not None and not row.error:
                grid[ys.index(row.parameters[y])][xs.index(row.parameters[x])] = float(value)
        figure = go.Figure(go.Heatmap(z=grid, x=xs, y=ys, colorbar={"title": metric}))
        figure.update_layout(title=f"{metric} by {x} and {y}", xaxis_title=x, yaxis_title=y)
        if path is not None:
            figure.write_html(str(path), include_plotlyjs=True, full_html=True)
        return figure


def columns_for(parameter_names: Iterable[str], metric_names: Sequence[str]) -> list[str]:
    """The table's columns: index, parameters, metrics, then the run's facts."""
    return ["index", *(f"param.{n}" for n in parameter_names), *metric_names, *_FIXED[1:]]


def finished_keys(rows: Iterable[SweepRow]) -> set[str]:
    """Keys of the runs that finished without error (failed runs are retried on resume)."""
    return {parameters_key(r.parameters) for r in rows if not r.error}
