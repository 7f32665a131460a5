"""The three patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

JSON patch is the `jsonpatch` library's, with one change: its `test` op compares with RFC 6902's
type-aware equality (`true` does not equal `1`). The handler calls these functions.

Strategic merge patch merges lists of objects by a merge key (containers by name, ports by containerPort,
conditions by type...), as kubectl's client-side apply expects. Which lists merge, and by which key, is the
MERGE_KEYS table keyed by (client model, field); the walk follows the kind's schema to know the model at
each level. Supported directives: `$patch` (replace/delete/merge), `$retainKeys`,
`$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`. Each function returns the patched object
or raises PatchError (a bad patch), which the handler answers with 400 or 422.
"""

from __future__ import annotations

import copy
import json
from types import MappingProxyType

import jsonpatch
import jsonpointer

from berth.declarative.apiserver.schema import Node

PRIMITIVE_MERGE = object()
MERGE_KEYS: dict[tuple[str, str], object] = {
    ("V1PodSpec", "containers"): "name", ("V1PodSpec", "initContainers"): "name",
    ("V1PodSpec", "ephemeralContainers"): "name", ("V1PodSpec", "volumes"): "name",
    ("V1PodSpec", "imagePullSecrets"): "name", ("V1PodSpec", "hostAliases"): "ip",
    ("V1PodSpec", "topologySpreadConstraints"): "topologyKey", ("V1PodSpec", "resourceClaims"): "name",
    ("V1Container", "env"): "name", ("V1Container", "ports"): "containerPort",
    ("V1Container", "volumeMounts"): "mountPath", ("V1Container", "volumeDevices"): "devicePath",
    ("V1ObjectMeta", "finalizers"): PRIMITIVE_MERGE, ("V1ObjectMeta", "ownerReferences"): "uid",
    ("V1PodStatus", "conditions"): "type", ("V1PodStatus", "podIPs"): "ip",
    ("V1NodeStatus", "conditions"): "type", ("V1NodeStatus", "addresses"): "type",
    ("V1NodeSpec", "podCIDRs"): PRIMITIVE_MERGE,
    ("V1DeploymentStatus", "conditions"): "type", ("V1ReplicaSetStatus", "conditions"): "type",
    ("V1NamespaceStatus", "conditions"): "type",
}

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class PatchError(ValueError):
    """The patch cannot be applied; the message says where."""


# -- JSON merge patch -------------------------------------------------------------------------------------
def merge_patch(target, patch):
    """RFC 7386. The result shares values with `patch` (a freshly decoded body, owned by the caller)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# -- JSON patch -------------------------------------------------------------------------------------------
def json_equal(a, b) -> bool:
    """RFC 6902 section 4.6 equality: like Python's `==`, except that a boolean equals only a boolean
    (Python holds `True == 1`); numbers compare by value and containers member by member."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    return a == b


class _TypedTest(jsonpatch.TestOperation):
    """The library's `test` (path lookup, errors), then the RFC's type-aware equality on top of it."""

    def apply(self, obj):
        super().apply(obj)
        found, value = self.pointer.resolve(obj), self.operation["value"]
        if not json_equal(found, value):
            raise jsonpatch.JsonPatchTestFailed(f"{json.dumps(found)} is not equal to tested value {json.dumps(value)}")
        return obj


class _Rfc6902Patch(jsonpatch.JsonPatch):
    """jsonpatch's JsonPatch with the type-aware `test`; array indexes are checked by jsonpointer, which
    rejects leading zeros (`/a/01`)."""

    operations = MappingProxyType({**jsonpatch.JsonPatch.operations, "test": _TypedTest})


JSON_PATCH_ERRORS = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError)


def json_patch(doc, ops):
    """RFC 6902 through the jsonpatch library; `doc` and `ops` stay untouched (a retry reapplies `ops`)."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    bad = [op for op in ops if not isinstance(op, dict)]
    if bad:
        raise PatchError(f"invalid JSON patch operation {bad[0]!r}")
    try:
        return _Rfc6902Patch(copy.deepcopy(ops)).apply(doc)
    except JSON_PATCH_ERRORS as err:
        raise PatchError(str(err)) from None


# -- strategic merge patch --------------------------------------------------------------------------------
def strategic_merge(original, patch, node: Node | None, *, copy_original: bool = True):
    """Merge `patch` into `original` (a deep copy of it unless the caller owns it) following the schema
    `node` (None: plain merge semantics)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    if not isinstance(original, dict):
        original = {}
    return _merge_map(copy.deepcopy(original) if copy_original else original, patch, node)


def _merge_map(orig: dict, patch: dict, node: Node | None):
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise PatchError(f"unknown $patch directive {directive!r}")
    retain = patch.get("$retainKeys")
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("$retainKeys must be a list")
        for key in list(orig):
            if key not in retain:
                orig.pop(key)
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            field_name = key.split("/", 1)[1]
            if isinstance(orig.get(field_name), list) and isinstance(value, list):
                orig[field_name] = [v for v in orig[field_name] if v not in value]
        elif value is None:
            orig.pop(key, None)
        else:
            _merge_field(orig, key, value, node)
    for key, order in orders.items():
        if isinstance(orig.get(key), list) and isinstance(order, list):
            orig[key] = _reorder(orig[key], order, _merge_key(node, key))
    return orig


def _child_node(node: Node | None, key: str) -> Node | None:
    if node is None:
        return None
    if node.type == "map":
        return node.item
    return node.fields.get(key) if node.type == "object" else None


def _merge_key(node: Node | None, key: str):
    return MERGE_KEYS.get((node.model, key)) if node is not None and node.type == "object" else None


def _merge_field(orig: dict, key: str, value, node: Node | None) -> None:
    child = _child_node(node, key)
    current = orig.get(key)
    if isinstance(value, dict):
        merged = _merge_map(current if isinstance(current, dict) else {}, value, child)
        if merged is None:
            orig.pop(key, None)
        else:
            orig[key] = merged
    elif isinstance(value, list):
        merge_key = _merge_key(node, key)
        item_node = child.item if child is not None and child.type == "list" else None
        orig[key] = _merge_list(current if isinstance(current, list) else [], value, merge_key, item_node)
    else:
        orig[key] = value


def _merge_list(orig: list, patch: list, merge_key, item_node: Node | None) -> list:
    if merge_key is None:
        return [v for v in patch if not (isinstance(v, dict) and v.get("$patch"))]
    if merge_key is PRIMITIVE_MERGE:
        return orig + [v for v in patch if v not in orig]
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [v for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    out = list(orig)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"list items merged by {merge_key!r} must be objects")
        found = next((i for i, o in enumerate(out) if isinstance(o, dict)
                      and o.get(merge_key) == item.get(merge_key)), None)
        if item.get("$patch") == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(merge_key) == item.get(merge_key))]
        elif found is None:
            out.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            out[found] = _merge_map(out[found], item, item_node)
    return out


def _reorder(items: list, order: list, merge_key) -> list:
    def ident(v):
        return v.get(merge_key) if isinstance(merge_key, str) and isinstance(v, dict) else v
    wanted = [ident(v) for v in order]
    ranked = sorted(range(len(items)), key=lambda i: (wanted.index(ident(items[i])) if ident(items[i]) in wanted
                                                      else len(wanted) + i))
    return [items[i] for i in ranked]
