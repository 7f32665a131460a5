"""Structural schemas of the built-in kinds, derived from the official `kubernetes` client's models.

The client's generated model classes carry, for every API type, its JSON field names (`attribute_map`),
field types (`openapi_types`) and required fields. `node_for("V1Pod")` turns them into a small tree of
`Node`s that the server uses to prune or reject unknown fields (strict field validation), to check JSON
types, to find strategic-merge list keys, and to write the OpenAPI document. Callers: codec, patch, openapi.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubernetes.client import models as client_models

from berth.declarative.apiserver.formats import INT32, INT32_RANGE, INT64_RANGE
from berth.model.timestamps import parse_rfc3339

SCALARS = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "date-time",
           "date": "date", "object": "any", "bytearray": "string"}

# Maps whose string values are resource quantities: JSON numbers are accepted there, as upstream does.
QUANTITY_MAPS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
                 ("V1NodeStatus", "capacity"), ("V1NodeStatus", "allocatable")}

SCALAR_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "datetime": (str,),
                "date": (str,), "bytearray": (str,)}
"""Scalar schema types -> the Python types JSON decoding gives for them (type(v) is checked: a bool is no int)."""

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
"""The shape of an RFC 3339 time as upstream's metav1.Time and MicroTime decode it (a 'T', a zone)."""


def _in_range(bounds: tuple[int, int], width: str):
    low, high = bounds

    def check(value, path: str) -> str:
        return "" if low <= value <= high else f"cannot unmarshal number {value} into field {path} of type {width}"
    return check


def _date_time(value, path: str) -> str:
    """'' when `value` is an RFC 3339 time that names a real instant (fractions past microseconds dropped)."""
    if RFC3339.match(value):
        try:
            parse_rfc3339(re.sub(r"(\.\d{6})\d+", r"\1", value))
            return ""
        except ValueError:
            pass
    shown = value if len(value) <= 64 else value[:64] + "..."
    return f"cannot parse {shown!r} as an RFC 3339 time in field {path}"


CHECKS = {"int32": _in_range(INT32_RANGE, "int32"), "int64": _in_range(INT64_RANGE, "int64"),
          "datetime": _date_time}
"""Value checks past the JSON type, by integer format or scalar type: `check(value, path)` returns '' or the
message of the decoding error."""

_LIST = re.compile(r"^(?:List|list)\[(.+)\]$")
_MAP = re.compile(r"^(?:Dict|dict)\[str, ?(.+)\]$|^dict\(str, ?(.+)\)$")


@dataclass(slots=True)
class Node:
    """A schema node: `type` is a scalar name, 'list', 'map' or 'object' (a model with `fields`)."""

    type: str
    model: str = ""
    item: "Node | None" = None
    fields: dict[str, "Node"] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    quantity: bool = False
    format: str = ""
    """An integer's width as upstream's OpenAPI document gives it: 'int32' or 'int64'."""
    ok: tuple | None = field(init=False, default=None)
    """For a scalar type, the Python types a valid JSON value has without a further check (None for objects,
    lists, maps, any, and for scalars whose values `check` must see)."""
    check: object = field(init=False, default=None)
    """For integers and times, the CHECKS entry that a value of the right JSON type must also pass."""

    def __post_init__(self) -> None:
        if self.type == "int" and not self.format:
            self.format = "int64"
        self.check = CHECKS.get(self.format or self.type)
        self.ok = None if self.check else SCALAR_TYPES.get(self.type)


_CACHE: dict[str, Node] = {}


def node_for(type_name: str) -> Node:
    """The schema node for a client type string such as 'V1Pod', 'List[V1Container]' or 'Dict[str, str]'."""
    type_name = type_name.strip()
    if type_name in _CACHE:
        return _CACHE[type_name]
    if type_name in SCALARS:
        return Node("any" if type_name == "object" else type_name)
    m = _LIST.match(type_name)
    if m:
        return Node("list", item=node_for(m.group(1)))
    m = _MAP.match(type_name)
    if m:
        return Node("map", item=node_for(m.group(1) or m.group(2)))
    cls = getattr(client_models, type_name, None)
    if cls is None:
        return Node("object" if type_name else "any")
    node = _CACHE[type_name] = Node("object", model=type_name)
    _fill(node, cls)
    return node


def _fill(node: Node, cls) -> None:
    """Fill a model node's fields after caching it, so that recursive types terminate."""
    required = []
    fields_info = getattr(cls, "model_fields", {})
    int32 = INT32.get(node.model, ())
    for attr, json_name in cls.attribute_map.items():
        child = node_for(cls.openapi_types[attr])
        if (node.model, json_name) in QUANTITY_MAPS:
            child = Node("map", item=Node("str", quantity=True))
        elif json_name in int32:
            child = _int32(child)
        node.fields[json_name] = child
        info = fields_info.get(attr)
        if info is not None and info.is_required():
            required.append(json_name)
    node.required = tuple(required)


def _int32(node: Node) -> Node:
    """An integer node (or a list of them) narrowed to int32."""
    if node.type == "list" and node.item is not None:
        return Node("list", item=_int32(node.item))
    return Node("int", format="int32") if node.type == "int" else node


def model_nodes(root: str) -> dict[str, Node]:
    """Every model node reachable from `root`, by model name (for the OpenAPI components section)."""
    seen: dict[str, Node] = {}
    stack = [node_for(root)]
    while stack:
        node = stack.pop()
        if node.type == "object" and node.model and node.model not in seen:
            seen[node.model] = node
            stack.extend(node.fields.values())
        elif node.item is not None:
            stack.append(node.item)
    return seen
