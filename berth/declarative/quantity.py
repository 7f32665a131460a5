"""Kubernetes resource quantities ('100m', '1.5Gi', '2e3'), parsed by the same grammar as apimachinery.

    <quantity>        ::= <signedNumber><suffix>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

The scanner mirrors upstream's quirks: leading zeros are skipped, a bare sign or '1.' are accepted, and a
numerator may be empty ('.5'). Values keep nano precision, rounded up as upstream does. Shared by both sides
of the plane and free of their dependencies: the API server's validation (resource requests and limits, node
capacity) and the client's conversions to berth's units (`berth.declarative.client.quantity`).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from functools import lru_cache

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
SUFFIX_CHARS = set("eEinumkKMGTP")
DIGITS = set("0123456789")
FORMAT_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
NANO = Decimal("1e-9")


class QuantityError(ValueError):
    """The text is not a quantity; the message is upstream's."""


def _scan(text: str) -> tuple[str, str]:
    """Split into (number, suffix) as upstream's parseQuantityString does, or raise QuantityError."""
    end, pos = len(text), 0
    if pos < end and text[0] in "+-":
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return "0", ""
    while pos < end and text[pos] in DIGITS:
        pos += 1
    if pos < end and text[pos] == ".":
        pos += 1
        while pos < end and text[pos] in DIGITS:
            pos += 1
    number, start = text[:pos], pos
    while pos < end and text[pos] in SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(FORMAT_MESSAGE)
    return number, text[start:]


def _multiplier(suffix: str) -> Decimal:
    if suffix in BINARY:
        return Decimal(BINARY[suffix])
    if suffix in DECIMAL:
        return Decimal(10) ** DECIMAL[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent = suffix[1:]
        body = exponent[1:] if exponent[0] in "+-" else exponent
        if body and set(body) <= DIGITS and abs(int(exponent)) < 2**31:
            return Decimal(10) ** int(exponent)
    raise QuantityError("unable to parse quantity's suffix")


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity string (e.g. Decimal('0.1') for '100m'), or raise QuantityError."""
    if not isinstance(text, str) or not text:
        raise QuantityError(FORMAT_MESSAGE)
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Decimal:
    number, suffix = _scan(text)
    multiplier = _multiplier(suffix)
    digits = number.lstrip("+-")
    if digits in ("", "."):
        digits = "0"
    try:
        value = Decimal(digits.rstrip(".") if digits.endswith(".") else digits) * multiplier
    except InvalidOperation as err:
        raise QuantityError("unable to parse quantity's numeric part") from err
    value = value.quantize(NANO, rounding=ROUND_CEILING) if value != value.to_integral_value() else value
    return -value if number.startswith("-") else value


def milli(text: str) -> int:
    """The value in thousandths, rounded up (CPU millicores; memory bytes are `int(parse_quantity(...))`)."""
    return int((parse_quantity(text) * 1000).to_integral_value(rounding=ROUND_CEILING))
