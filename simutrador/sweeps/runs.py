"""One run of a sweep, as a worker does it: build the strategy, simulate a session, keep a row.

A worker (the calling process, a pool process, a Ray actor) keeps one `Engine` per
catalog for its whole life, so the market data is loaded once per worker, not per
run: the engine's feed cache hands every run the same bars.
"""

from __future__ import annotations

import importlib.util
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from simutrador.data.catalog import Catalog
from simutrador.engine import Engine
from simutrador.simulation.results import SimulationResult

__all__ = ["FactoryRef", "SweepRow", "SweepSpec", "run_one"]

_USER = "sweep"
_NO_METRICS: Mapping[str, Any] = {}


@attrs.frozen(slots=True)
class FactoryRef:
    """A strategy factory named by file and attribute (what the CLI passes to workers).

    Attributes:
        path: The Python file.
        name: The callable in it that takes the run's parameters as keywords.
    """

    path: str
    name: str

    def load(self) -> Callable[..., object]:
        """Import the file (once per worker) and return the factory."""
        return _load_factory(self.path, self.name)


_FACTORIES: dict[tuple[str, str], Callable[..., object]] = {}


def _load_factory(path: str, name: str) -> Callable[..., object]:
    key = (path, name)
    found = _FACTORIES.get(key)
    if found is None:
        spec = importlib.util.spec_from_file_location(f"simutrador_sweep_{Path(path).stem}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found = _FACTORIES[key] = getattr(module, name)
    return found


@attrs.frozen(kw_only=True, slots=True)
class SweepSpec:
    """What every run of a sweep shares (sent to each worker once).

    Attributes:
        factory: Called with a run's parameters as keywords, returns its strategy; a
            module-level callable (pickled by reference) or a `FactoryRef`.
        session: The session fields of every run (symbols, start_date, end_date,
            initial_capital, timeframe and any setting).
        catalog: The market data (None: the sample catalog).
        keep_results: Keep each run's full `SimulationResult` (series included).
    """

    factory: Callable[..., object] | FactoryRef
    session: Mapping[str, Any]
    catalog: Catalog | None = None
    keep_results: bool = False


@attrs.frozen(kw_only=True, slots=True)
class SweepRow:
    """One run's outcome.

    Attributes:
        index: Its place in the grid (0-based).
        parameters: Its parameters.
        metrics: Every metric of its result (numbers as floats, money as strings); empty on error.
        final_equity: Its final equity (a string, exact), or None on error.
        digest: Its result's digest, or None on error.
        error: ``Type: message`` when the run failed, else None.
        seconds: How long it took in its worker.
        result: The full result, when the sweep keeps them.
    """

    index: int
    parameters: Mapping[str, Any]
    metrics: Mapping[str, Any] = attrs.field(factory=lambda: _NO_METRICS)
    final_equity: str | None = None
    digest: str | None = None
    error: str | None = None
    seconds: float = 0.0
    result: SimulationResult | None = None


_ENGINES: dict[int, Engine] = {}


def _engine(catalog: Catalog | None) -> Engine:
    key = id(catalog)
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = Engine(catalog=catalog)
    return engine


def _plain(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "total_seconds"):
        return value.total_seconds()  # type: ignore[attr-defined]
    return str(value)


def run_one(spec: SweepSpec, index: int, parameters: Mapping[str, Any]) -> SweepRow:
    """Run one combination of parameters; a failure becomes the row's `error`, never an exception."""
    started = time.perf_counter()
    engine = _engine(spec.catalog)
    session_id: str | None = None
    try:
        factory = spec.factory.load() if isinstance(spec.factory, FactoryRef) else spec.factory
        strategy = factory(**parameters)
        session_id = engine.create_session(_USER, **spec.session).session_id
        result = engine.run_simulation(_USER, session_id, strategy)
    except Exception as exc:  # any failure of one run is recorded, and the sweep goes on
        error = traceback.format_exception_only(exc)[-1].strip()
        return SweepRow(index=index, parameters=dict(parameters), error=error, seconds=time.perf_counter() - started)
    finally:
        if session_id is not None:
            engine.delete_session(_USER, session_id)
    metrics = {a.name: _plain(getattr(result.metrics, a.name)) for a in attrs.fields(type(result.metrics))}
    return SweepRow(
        index=index,
        parameters=dict(parameters),
        metrics=metrics,
        final_equity=str(result.final_equity),
        digest=result.digest,
        seconds=time.perf_counter() - started,
        result=result if spec.keep_results else None,
    )
