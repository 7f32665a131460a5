"""Quantity parsing follows apimachinery's grammar, including its quirks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from berth.declarative.quantity import QuantityError, milli, parse_quantity


@pytest.mark.parametrize("text, value", [
    ("100m", Decimal("0.1")), ("1.5Gi", Decimal(1536 * 2**20)), ("2e3", Decimal(2000)), ("1E-3", Decimal("0.001")),
    ("12Mi", Decimal(12 * 2**20)), ("1k", Decimal(1000)), ("1.", Decimal(1)), (".5", Decimal("0.5")),
    ("+", Decimal(0)), ("0Gi", Decimal(0)), ("-1", Decimal(-1)), ("0.1m", Decimal("0.0001")), ("1n", Decimal("1e-9")),
    ("0.1n", Decimal("1e-9")),  # finer than nano rounds up, as upstream
    ("Gi", Decimal(0)),  # an empty numerator reads as zero in upstream's scanner
])
def test_valid(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1Kb", "1.5.5", "abc", "1e", "5Ki1", " 1", "1 ", "1k1", "1ee3", "--1", "1.5e"])
def test_invalid(text):
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_milli_rounds_up():
    assert milli("100m") == 100 and milli("1") == 1000 and milli("0.0001") == 1
