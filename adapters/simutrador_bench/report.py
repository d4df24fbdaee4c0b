"""Results, their table, their JSON (pytest-benchmark's format) and run-to-run comparison."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs
from simutrador_cli.render import format_table as render_table

from simutrador_bench.targets import SPECS, Spec

__all__ = [
    "Report",
    "Result",
    "compare",
    "format_compare",
    "load_json",
    "machine_info",
    "percentile",
    "timing_stats",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`, linearly interpolated."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timing_stats(samples: Sequence[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` block for `samples` (seconds per round)."""
    if not samples:
        return {}
    ordered = sorted(samples)
    q1, median, q3 = percentile(ordered, 25), percentile(ordered, 50), percentile(ordered, 75)
    iqr = q3 - q1
    mean = statistics.fmean(ordered)
    stddev = statistics.stdev(ordered) if len(ordered) > 1 else 0.0
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = [v for v in ordered if low_fence <= v <= high_fence]
    iqr_outliers = len(ordered) - len(inside)
    stddev_outliers = sum(1 for v in ordered if abs(v - mean) > stddev) if stddev else 0
    return {
        "min": ordered[0],
        "max": ordered[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": len(ordered),
        "median": median,
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": inside[0] if inside else ordered[0],
        "hd15iqr": inside[-1] if inside else ordered[-1],
        "ops": 1 / mean if mean else 0.0,
        "total": sum(ordered),
        "iterations": 1,
    }


@attrs.define(kw_only=True)
class Result:
    """One measured figure.

    Attributes:
        key: The figure's `Spec` key.
        value: The headline, in the spec's unit (the median for timings).
        p95: 95th percentile, for timings.
        p99: 99th percentile, for timings.
        errors: Errors seen while measuring (refused connections, wrong replies).
        samples: Seconds per round, when the figure is a timing (for the JSON stats).
        extra: Context worth keeping (throughput, CPU, counts, limits hit).
        note: One line shown under the table (for example why a run stopped early).
    """

    key: str
    value: float
    p95: float | None = None
    p99: float | None = None
    errors: int = 0
    samples: list[float] = attrs.Factory(list)
    extra: dict[str, Any] = attrs.Factory(dict)
    note: str = ""

    @property
    def spec(self) -> Spec:
        """The figure's definition."""
        return SPECS[self.key]

    @property
    def verdict(self) -> str:
        """``pass``, ``short`` or ``""``."""
        return self.spec.verdict(self.value, self.p99, self.errors)

    @classmethod
    def from_timings(cls, key: str, samples: Sequence[float], *, scale: float, **kwargs: Any) -> Result:
        """A timing figure: median/p95/p99 of `samples` (seconds) times `scale` (1e6 for µs)."""
        return cls(
            key=key,
            value=percentile(samples, 50) * scale,
            p95=percentile(samples, 95) * scale,
            p99=percentile(samples, 99) * scale,
            samples=list(samples),
            **kwargs,
        )

    def measured(self) -> str:
        """The value as shown in the table: ``median / p99 unit`` for timings."""
        unit = self.spec.unit
        if self.p99 is not None:
            return f"{_number(self.value)} / {_number(self.p99)} {unit}"
        return f"{_number(self.value)} {unit}"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def machine_info() -> dict[str, Any]:
    """The machine a run was measured on (pytest-benchmark's ``machine_info`` keys)."""
    uname = platform.uname()
    return {
        "node": uname.node,
        "processor": uname.processor or uname.machine,
        "machine": uname.machine,
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": uname.release,
        "system": uname.system,
        "cpu": {"count": os.cpu_count() or 0, "arch": uname.machine},
    }


def _describe(info: Mapping[str, Any]) -> str:
    cpu = info.get("cpu", {})
    return (
        f"{cpu.get('count', '?')} cores, {info.get('machine', '?')}, "
        f"{info.get('python_implementation', 'Python')} {info.get('python_version', '?')}"
    )


def _package_version() -> str:
    try:
        return version("simutrador")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


@attrs.define(kw_only=True)
class Report:
    """A whole run: its results, the profile, the machine and how long it took."""

    profile: str
    results: list[Result] = attrs.Factory(list)
    machine: dict[str, Any] = attrs.Factory(machine_info)
    started: datetime = attrs.Factory(lambda: datetime.now(UTC))
    seconds: float = 0.0

    def by_key(self) -> dict[str, Result]:
        """Results by figure key."""
        return {r.key: r for r in self.results}

    def to_json(self) -> dict[str, Any]:
        """pytest-benchmark's JSON layout; each figure's value, target and verdict in ``extra_info``."""
        benchmarks: list[dict[str, Any]] = []
        for result in self.results:
            spec = result.spec
            extra = {
                "figure": spec.key,
                "title": spec.title,
                "unit": spec.unit,
                "value": result.value,
                "p95": result.p95,
                "p99": result.p99,
                "errors": result.errors,
                "target": spec.target,
                "seed_target": spec.seed,
                "higher_is_better": spec.higher_is_better,
                "verdict": result.verdict,
                "note": result.note,
                **result.extra,
            }
            benchmarks.append(
                {
                    "group": spec.key.split(".")[0],
                    "name": spec.key,
                    "fullname": f"simutrador bench::{spec.key}",
                    "params": None,
                    "param": None,
                    "extra_info": extra,
                    "options": {"profile": self.profile, "timer": "time.perf_counter"},
                    "stats": timing_stats(result.samples),
                }
            )
        return {
            "machine_info": self.machine,
            "commit_info": {},
            "benchmarks": benchmarks,
            "datetime": self.started.isoformat(),
            "version": f"simutrador {_package_version()}",
            "duration_seconds": self.seconds,
        }

    def write_json(self, path: Path) -> None:
        """Save `to_json` at `path`."""
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n", encoding="utf-8")

    def format_table(self) -> str:
        """The human table: figure, measured (median / p99), target, seed target, verdict."""
        rows = [(r.spec.title, r.measured(), r.spec.target, r.spec.seed, r.verdict) for r in self.results]
        table = render_table(("FIGURE", "MEASURED (MEDIAN / P99)", "TARGET", "SEED", "VERDICT"), rows)
        notes = [f"  {r.key}: {r.note}" for r in self.results if r.note]
        errors = [f"  {r.key}: {r.errors} errors" for r in self.results if r.errors]
        lines = [
            f"simutrador bench ({self.profile}) on {_describe(self.machine)}, {self.seconds:.0f} s",
            "",
            table,
        ]
        if errors or notes:
            lines += ["", *errors, *notes]
        verdicts = [r.verdict for r in self.results if r.verdict]
        lines += ["", f"{verdicts.count('pass')} of {len(verdicts)} targets met."]
        return "\n".join(lines)


def _values(document: Mapping[str, Any]) -> dict[str, tuple[float, str, bool]]:
    """Figure → (value, unit, higher_is_better) from a report or a pytest-benchmark JSON file."""
    values: dict[str, tuple[float, str, bool]] = {}
    for bench in document.get("benchmarks", []):
        extra = bench.get("extra_info") or {}
        if "figure" in extra and "value" in extra:
            values[extra["figure"]] = (
                float(extra["value"]),
                extra.get("unit", ""),
                bool(extra.get("higher_is_better")),
            )
        elif bench.get("stats", {}).get("median") is not None:
            values[bench.get("fullname") or bench["name"]] = (bench["stats"]["median"] * 1e6, "µs", False)
    return values


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, float, float, str, str]]:
    """Figures in both runs: (figure, before, after, unit, change) where change reads ``+12% better``."""
    old, new = _values(before), _values(after)
    rows: list[tuple[str, float, float, str, str]] = []
    for key, (value, unit, higher) in new.items():
        if key not in old:
            continue
        previous = old[key][0]
        if previous == 0:
            change = "n/a"
        else:
            delta = (value - previous) / previous * 100
            better = delta > 0 if higher else delta < 0
            change = "same" if abs(delta) < 0.5 else f"{delta:+.0f}% {'better' if better else 'worse'}"
        rows.append((key, previous, value, unit, change))
    return rows


def format_compare(rows: Iterable[tuple[str, float, float, str, str]], *, before: str, after: str) -> str:
    """`compare` rows as a table."""
    table = [(key, f"{_number(old)} {unit}", f"{_number(new)} {unit}", change) for key, old, new, unit, change in rows]
    if not table:
        return f"no figure in common between {before} and {after}"
    return f"before: {before}\nafter:  {after}\n\n" + render_table(("FIGURE", "BEFORE", "AFTER", "CHANGE"), table)


def load_json(path: Path) -> dict[str, Any]:
    """Read a report (or any pytest-benchmark JSON file)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
        raise ValueError(f"{path} is not a benchmark JSON file (no 'benchmarks' list)")
    return document  # pyright: ignore[reportUnknownVariableType]
