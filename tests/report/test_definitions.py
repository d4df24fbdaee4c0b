"""Every metric has a label, a definition for the hover and a format; the formulas are the code's."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import attrs
import pytest

from simutrador import Metrics
from simutrador.report.definitions import METRICS, MetricFormat, format_duration, format_value
from simutrador.simulation import metrics as metrics_module


def test_every_metric_is_defined_in_field_order() -> None:
    assert list(METRICS) == [field.name for field in attrs.fields(Metrics)]


@pytest.mark.parametrize("name", list(METRICS))
def test_each_formula_is_the_one_the_metrics_module_documents(name: str) -> None:
    documented = re.sub(r"\s+", " ", (metrics_module.__doc__ or "").replace("``", ""))
    info = METRICS[name]
    assert info.definition.startswith(info.meaning)
    if info.formula:
        assert info.formula in documented
        assert info.definition == f"{info.meaning}: {info.formula}"
    else:
        assert info.definition == info.meaning


def test_values_are_written_by_kind() -> None:
    assert format_value(None, MetricFormat.PERCENT) == "-"
    assert format_value(-0.001, MetricFormat.PERCENT) == "0.00 %"  # never "-0.00"
    assert format_value(-1.5, MetricFormat.RATIO) == "-1.50"
    assert format_value(1234, MetricFormat.COUNT) == "1,234"
    assert format_value(Decimal("1234567.891"), MetricFormat.MONEY) == "1,234,567.89"
    assert format_value(timedelta(days=3), MetricFormat.DURATION) == "3 days"
    assert format_value("n/a", MetricFormat.RATIO) == "n/a"
    assert format_duration(timedelta(hours=4)) == "4:00:00"
