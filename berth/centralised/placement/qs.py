"""Query-string grammar shared by the provider list and allocation-candidate handlers.

Parses `resources=VCPU:2,MEMORY_MB:1024`, `required=T1,!T2` / `required=in:T3,T4`,
`member_of=in:A,B` / `!A` / `!in:A,B`, and `in_tree=UUID` into plain values, answering 400
with upstream's wording for malformed input.  Called by handlers before any SQL runs.
`validate` checks the query against a JSON schema: a compiled quick check (the few keywords
query schemas use, on string values) accepts the usual valid query in microseconds, and
anything it does not accept goes to jsonschema, whose first error becomes the 400.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Callable

import jsonschema
import orjson

from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.request import CHECKER, Req, check, describe

MAX_AMOUNT = 1 << 53
"""The largest amount a query may ask for: no capacity is larger (`handlers.inventories.MAX_CAPACITY`),
and larger numbers overflow the candidate index's 64-bit arithmetic."""
_RES_FORM = ("Badly formed resources parameter. Expected resources query string parameter "
             "in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: ")


def is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def validate(req: Req, schema: dict) -> None:
    """Check the query against a JSON schema of single-valued string properties."""
    params = dict(req.query)
    if _quick(schema)(params):
        return
    try:
        check(params, schema)
    except jsonschema.ValidationError as exc:
        raise ApiError(400, f"Invalid query string parameters: {describe(exc)}") from None


Quick = Callable[[dict[str, str]], bool]
_QUICK: dict[bytes, Quick] = {}
_OBJECT_KEYS = {"type", "properties", "patternProperties", "additionalProperties", "required"}
_VALUE_KEYS = {"type", "pattern", "enum", "minLength", "maxLength", "format", "minimum"}


def _quick(schema: dict) -> Quick:
    """A check that is True only when jsonschema would accept the query (False: ask jsonschema)."""
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    found = _QUICK.get(key)
    if found is None:
        found = _QUICK[key] = _compile(schema)
    return found


def _never(_params: dict[str, str]) -> bool:
    return False


def _compile(schema: dict) -> Quick:
    if set(schema) - _OBJECT_KEYS or schema.get("type") != "object":
        return _never
    props = {k: _value_check(s) for k, s in schema.get("properties", {}).items()}
    patterns = [(re.compile(p), _value_check(s)) for p, s in schema.get("patternProperties", {}).items()]
    closed = schema.get("additionalProperties", True) is False
    required = list(schema.get("required", []))

    def quick(params: dict[str, str]) -> bool:
        for name, value in params.items():
            checks = [c for rx, c in patterns if rx.search(name)]
            if name in props:
                checks.append(props[name])
            elif closed and not checks:
                return False
            if not all(c(value) for c in checks):
                return False
        return all(r in params for r in required)
    return quick


def _value_check(sch: dict) -> Callable[[str], bool]:
    """A check of one string value; always False for keywords it does not know."""
    kinds = sch.get("type", "string")
    if set(sch) - _VALUE_KEYS or "string" not in ([kinds] if isinstance(kinds, str) else kinds):
        return lambda _value: False
    pattern = re.compile(sch["pattern"]) if "pattern" in sch else None
    enum, fmt = sch.get("enum"), sch.get("format")
    low, high = sch.get("minLength", 0), sch.get("maxLength")

    def ok(value: str) -> bool:  # `minimum` constrains numbers only: a string passes it
        return ((pattern is None or pattern.search(value) is not None)
                and (enum is None or value in enum) and low <= len(value)
                and (high is None or len(value) <= high)
                and (fmt is None or CHECKER.conforms(value, fmt)))
    return ok


def resources(text: str) -> dict[str, int]:
    """'VCPU:2,MEMORY_MB:1024' -> {'VCPU': 2, 'MEMORY_MB': 1024}."""
    if text.strip() == "":
        raise ApiError(400, _RES_FORM + "empty string.")
    result: dict[str, int] = {}
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 2:
            raise ApiError(400, _RES_FORM + f"{item}.")
        name, amount = parts
        try:
            value = int(amount)
        except ValueError:
            raise ApiError(400, f"Requested resource {name} expected positive integer amount. "
                                f"Got: {amount}.") from None
        if value < 1:
            raise ApiError(400, f"Requested resource {name} requires amount >= 1. Got: {value}.")
        if value > MAX_AMOUNT:
            raise ApiError(400, f"Requested resource {name} expected an amount of at most {MAX_AMOUNT}. "
                                f"Got: {value}.")
        result[name] = value
    return result


def _trait_value(val: str, allow_forbidden: bool, allow_any: bool) -> tuple[list[set[str]], set[str]]:
    if val.startswith("in:"):
        if not allow_any:
            raise ApiError(400, "Invalid query string parameters: The format "
                                "'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion "
                                f"1.39. Got: {val}")
        any_traits = {t.strip() for t in val[3:].split(",")}
        if not all(any_traits):
            raise ApiError(400, "Invalid query string parameters: Expected 'required' parameter "
                                "value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty "
                                f"trait in: {val}")
        if any(t.startswith("!") for t in any_traits):
            raise ApiError(400, "Invalid query string parameters: The format "
                                "'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does not support forbidden "
                                f"traits. Got: {val}")
        return [any_traits], set()
    items = [t.strip() for t in val.split(",")]
    forbidden = {t.lstrip("!") for t in items if t.startswith("!")}
    if not all(items) or not all(forbidden):
        form = "HW_CPU_X86_VMX,!CUSTOM_MAGIC" if allow_forbidden else "HW_CPU_X86_VMX,CUSTOM_MAGIC"
        raise ApiError(400, "Invalid query string parameters: Expected 'required' parameter value "
                            f"of the form: {form}. Got an empty trait in: {val}")
    if forbidden and not allow_forbidden:
        raise ApiError(400, "Invalid query string parameters: Expected 'required' parameter value "
                            f"of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {val}")
    return [{t} for t in items if not t.startswith("!")], forbidden


def traits(req: Req, key: str) -> tuple[list[set[str]], set[str]]:
    """All `key` values: (list of any-of sets, all ANDed; forbidden set)."""
    values = req.getall(key)
    if not req.want(39):
        values = values[-1:]
    required: list[set[str]] = []
    forbidden: set[str] = set()
    for value in values:
        r, f = _trait_value(value, req.want(22), req.want(39))
        required += r
        forbidden |= f
    return required, forbidden


def _member_of_value(value: str) -> tuple[set[str], set[str]]:
    if "," in value and not (value.startswith("in:") or value.startswith("!in:")):
        raise ApiError(400, "Multiple values for 'member_of' must be prefixed with the 'in:' or "
                            f"'!in:' keyword using the valid microversion. Got: {value}")
    required: set[str] = set()
    forbidden: set[str] = set()
    if value.startswith("!in:"):
        forbidden = set(value[4:].split(","))
    elif value.startswith("!"):
        forbidden = {value[1:]}
    elif value.startswith("in:"):
        required = set(value[3:].split(","))
    else:
        required = {value}
    for agg in required | forbidden:
        if not is_uuid(agg):
            raise ApiError(400, "Invalid query string parameters: Expected 'member_of' parameter "
                                f"to contain valid UUID(s). Got: {agg}")
    return required, forbidden


def member_of(req: Req, key: str = "member_of", suffix: str = "") -> tuple[list[set[str]], set[str]]:
    """(list of any-of aggregate sets, ANDed; forbidden aggregates)."""
    values = req.getall(key)
    if not req.want(24) and len(values) > 1:
        raise ApiError(400, f"Multiple member_of{suffix} parameters are not supported")
    required: list[set[str]] = []
    forbidden: set[str] = set()
    for value in values:
        r, f = _member_of_value(value)
        if r:
            required.append(r)
        if f:
            if not req.want(32):
                raise ApiError(400, f"Forbidden member_of{suffix} parameters are not supported in "
                                    "the specified microversion")
            forbidden |= f
    return required, forbidden


def in_tree(value: str) -> str:
    ret = value.strip()
    if not is_uuid(ret):
        raise ApiError(400, "Invalid query string parameters: Expected 'in_tree' parameter to be "
                            f"a format of uuid. Got: {value}")
    return ret
