"""Kubernetes resource quantities (`100m`, `1.5Gi`, `2e3`) parsed exactly, and converted to berth units.

`parse_quantity` returns an exact `Decimal` following apimachinery's grammar: a signed decimal
number, then a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m k M G T P E) or a
decimal exponent (e3, E-2).  `to_millicores` and `to_mib` turn cpu and memory into the model's
integer units (requests round up, capacities round down).  Used by the scheduler's and the
agents' object conversion; the API server may use it for validation.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal(10**3),
           "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
           "E": Decimal(10**18)}


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """The exact value of a quantity string (numbers pass through)."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must be strings or numbers, got {value!r}")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in BINARY:
        return number * BINARY[suffix]
    if suffix in DECIMAL:
        return number * DECIMAL[suffix]
    try:
        return number.scaleb(int(suffix[1:]))
    except (InvalidOperation, ValueError):
        raise QuantityError(f"quantity exponent out of range: {value!r}") from None


def to_millicores(value: str | int | float, round_up: bool = True) -> int:
    """CPU quantity in millicores."""
    return _integer(parse_quantity(value) * 1000, round_up)


def to_mib(value: str | int | float, round_up: bool = True) -> int:
    """Memory quantity (bytes) in MiB."""
    return _integer(parse_quantity(value) / 2**20, round_up)


def to_count(value: str | int | float, round_up: bool = True) -> int:
    """A plain count (pods, devices)."""
    return _integer(parse_quantity(value), round_up)


def _integer(amount: Decimal, round_up: bool) -> int:
    return int(math.ceil(amount)) if round_up else int(math.floor(amount))


def format_millicores(milli: int) -> str:
    """Millicores back to a quantity string (`4` or `250m`)."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def format_mib(mib: int) -> str:
    """MiB back to a quantity string (`8Gi` or `500Mi`)."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 and mib else f"{mib}Mi"
