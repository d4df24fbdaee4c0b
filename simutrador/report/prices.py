"""Where a report's prices come from: the bars given, the catalog given, or the sample catalog.

A result does not carry its bars (a year of minute bars for 50 symbols has no place
in a JSON document); it records the catalog it read (`SimulationResult.catalog_name`
and `data_fingerprint`), its symbols, timeframe and first and last tick. The report
reads the same bars again from the catalog it is given, or from a fresh
`SampleCatalog` when the run used the sample (its data are generated
deterministically, so they are the same bars). A catalog whose fingerprint differs
from the run's still draws, under a visible warning: its prices may not be those the
run filled at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from simutrador.data.catalog import Bar, Catalog
from simutrador.data.sample import SampleCatalog
from simutrador.errors import SimutradorError
from simutrador.simulation.results import SimulationResult

__all__ = ["Prices", "prices_for", "report_symbols"]


@attrs.frozen(kw_only=True, slots=True)
class Prices:
    """The bars a report draws and what it says about them.

    Attributes:
        bars: Per symbol, its bars over the run (empty when unknown).
        source: Where they came from, for the page (``"sample catalog (SYNTHETIC)"``...).
        notes: Warnings and gaps to show (no prices, a different catalog...).
        synthetic: Whether the prices are generated, not real.
    """

    bars: Mapping[str, Sequence[Bar]]
    source: str
    notes: tuple[str, ...] = ()
    synthetic: bool = False


def report_symbols(result: SimulationResult) -> tuple[str, ...]:
    """The run's symbols; for a result that did not record them, those of its fills."""
    return result.symbols or tuple(dict.fromkeys(f.symbol for f in result.fills))


def prices_for(
    result: SimulationResult, catalog: Catalog | None = None, bars: Mapping[str, Sequence[Bar]] | None = None
) -> Prices:
    """The prices to draw for `result`: `bars` if given, else read from `catalog` (or the sample)."""
    recorded = f"the {result.catalog_name} catalog" if result.catalog_name else "a catalog it did not record"
    if bars is not None:
        return Prices(bars={s: tuple(b) for s, b in bars.items()}, source=f"bars given (the run read {recorded})")
    if catalog is None and result.catalog_name == "sample":
        catalog = SampleCatalog()
    if catalog is None:
        note = (
            f"No prices, so no candles and no buy-and-hold: the run read {recorded}; "
            "pass catalog= (simutrador report --data-dir DIR) to draw them."
        )
        return Prices(bars={}, source=recorded, notes=(note,))
    notes: list[str] = []
    if result.data_fingerprint and catalog.fingerprint != result.data_fingerprint:
        notes.append(
            f"Warning: the {catalog.name} catalog's data differ from those the run read (fingerprints differ); "
            "the prices drawn may not be those it filled at."
        )
    found: dict[str, Sequence[Bar]] = {}
    synthetic = False
    for symbol in report_symbols(result):
        info = catalog.symbol_info(symbol)
        try:
            found[symbol] = (
                () if info is None else catalog.bars(symbol, result.started_at, result.ended_at, result.timeframe)
            )
        except SimutradorError as error:
            found[symbol] = ()
            notes.append(f"No prices for {symbol}: {error.message}")
        else:
            if info is None:
                notes.append(f"No prices for {symbol}: the {catalog.name} catalog does not have it.")
            synthetic = synthetic or (info is not None and info.synthetic)
    label = f"{catalog.name} catalog" + (" (SYNTHETIC data)" if synthetic else "")
    return Prices(bars=found, source=label, notes=tuple(notes), synthetic=synthetic)
