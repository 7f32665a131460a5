"""Kubernetes resource quantities converted to berth's integer units (millicores, MiB, counts).

Parsing is `berth.declarative.quantity` (apimachinery's grammar, shared with the API server, which
a client never imports); this module only converts: `to_millicores` and `to_mib` (requests round
up, capacities round down).  Used by the scheduler's object conversion.
"""

from __future__ import annotations

import math
from decimal import Decimal

from berth.declarative.quantity import QuantityError, parse_quantity

__all__ = ["QuantityError", "parse_quantity", "to_count", "to_mib", "to_millicores"]


def to_millicores(value: str | int | float, round_up: bool = True) -> int:
    """CPU quantity in millicores."""
    return _integer(parse_quantity(str(value)) * 1000, round_up)


def to_mib(value: str | int | float, round_up: bool = True) -> int:
    """Memory quantity (bytes) in MiB."""
    return _integer(parse_quantity(str(value)) / 2**20, round_up)


def to_count(value: str | int | float, round_up: bool = True) -> int:
    """A plain count (pods, devices)."""
    return _integer(parse_quantity(str(value)), round_up)


def _integer(amount: Decimal, round_up: bool) -> int:
    return int(math.ceil(amount)) if round_up else int(math.floor(amount))
