"""`result_from_wire`: what `simutrador run --json` printed comes back as the result it was."""

from __future__ import annotations

import json

import pytest

from simutrador import ErrorCode, SimulationResult, SimutradorError
from simutrador.codec import result_from_wire, result_to_wire


def test_a_result_survives_json_both_ways(short_run: SimulationResult) -> None:
    document = json.loads(json.dumps(result_to_wire(short_run)))
    back = result_from_wire(document)
    assert result_to_wire(back) == document
    assert back.metrics == short_run.metrics
    assert back.fills == short_run.fills
    assert back.trades == short_run.trades
    assert back.orders == short_run.orders
    assert (back.times, back.equity) == (short_run.times, short_run.equity)
    assert (back.symbols, back.catalog_name, back.data_fingerprint) == (("AAPL",), "sample", short_run.data_fingerprint)


def test_open_positions_come_back(example: SimulationResult) -> None:
    document = json.loads(json.dumps(result_to_wire(example)))
    assert result_from_wire(document).positions == dict(example.positions)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("equity_curve"), "equity_curve"),
        (lambda d: d.update(equity_curve=[{"time": "2024-01-02"}]), "equity_curve"),
        (lambda d: d.pop("fills"), "fills"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["metrics"].update(max_drawdown_duration=True), "metrics"),
        (lambda d: d["metrics"].update(max_drawdown_duration=-1), "metrics"),
    ],
)
def test_what_is_not_a_result_is_refused_with_the_field(
    short_run: SimulationResult, change: object, field: str
) -> None:
    document = json.loads(json.dumps(result_to_wire(short_run)))
    assert callable(change)
    change(document)
    with pytest.raises(SimutradorError) as caught:
        result_from_wire(document)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert field in caught.value.details["fields"]


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SimutradorError, match="result must be an object"):
        result_from_wire([1, 2])
    with pytest.raises(SimutradorError, match="equity_curve"):
        result_from_wire(result_to_wire_without_series())


def result_to_wire_without_series() -> dict[str, object]:
    return {"session_id": "s", "metrics": {}}
