"""Label and field selectors: parsing the query-string forms and matching objects.

`parse_labels('app=web,tier in (a,b),!legacy')` and `parse_fields('spec.nodeName=n1')` return lists of
requirements or a `Problem` (400) naming what is wrong. `Filter` bundles both plus namespace and name
for the list and watch handlers. Field paths are looked up with `field_value`, restricted per kind to the
labels its `ResourceSpec.field_labels` declares (as upstream does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.declarative.apiserver.status import Problem, bad_request

_SET = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_OP = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def parse_labels(text: str):
    """Requirements (key, op, values) with op in '=', '!=', 'in', 'notin', 'exists', '!'; or a Problem."""
    reqs = []
    for part in _split(text or ""):
        m = _OP.match(part)
        if m:
            key, op, value = m.groups()
            reqs.append((key, "!=" if op == "!=" else "=", (value,)))
            continue
        m = _SET.match(part)
        if not m or (m.group(1) and m.group(3)):
            return bad_request(f"unable to parse requirement: invalid label selector: {part.strip()!r}")
        neg, key, op, values = m.groups()
        if op:
            reqs.append((key, op, tuple(v.strip() for v in values.split(",") if v.strip())))
        else:
            reqs.append((key, "!" if neg else "exists", ()))
    return reqs


def labels_match(reqs, labels: dict | None) -> bool:
    labels = labels or {}
    for key, op, values in reqs:
        have = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and have and value == values[0]:
            return False
        if (op == "in" and value not in values) or (op == "notin" and have and value in values):
            return False
        if (op == "exists" and not have) or (op == "!" and have):
            return False
    return True


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Match a LabelSelector object ({matchLabels, matchExpressions}); an empty selector matches everything."""
    selector = selector or {}
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    reqs = [(e.get("key"), ops.get(e.get("operator"), "in"), tuple(e.get("values") or ()))
            for e in selector.get("matchExpressions") or []]
    return labels_match(reqs, labels)


def parse_fields(text: str, allowed: tuple[str, ...], qualified: str):
    """Requirements (path, op, value) for a field selector, or a Problem for syntax or unsupported fields."""
    reqs = []
    for part in _split(text or ""):
        m = _OP.match(part)
        if not m:
            return bad_request(f"invalid field selector: {part.strip()!r}: expected key=value or key!=value")
        path, op, value = m.groups()
        if path not in allowed:
            return bad_request(f'field label not supported: {path}')
        reqs.append((path, "!=" if op == "!=" else "=", value))
    return reqs


def field_value(obj: dict, path: str) -> str:
    node = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def fields_match(reqs, obj: dict) -> bool:
    for path, op, value in reqs:
        if (field_value(obj, path) == value) != (op == "="):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Filter:
    """What a list or watch wants: a namespace ('' = all), label and field requirements."""

    namespace: str = ""
    labels: tuple = ()
    fields: tuple = ()

    def matches(self, obj: dict) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.labels and not labels_match(self.labels, meta.get("labels")):
            return False
        return not self.fields or fields_match(self.fields, obj)

    def exact(self, path: str) -> str | None:
        """The value this filter requires for `path` with '=', if any (used to index watchers)."""
        for p, op, value in self.fields:
            if p == path and op == "=":
                return value
        return None


def make_filter(spec, namespace: str, label_text: str, field_text: str) -> Filter | Problem:
    labels = parse_labels(label_text)
    if isinstance(labels, Problem):
        return labels
    fields = parse_fields(field_text, spec.field_labels, spec.qualified)
    if isinstance(fields, Problem):
        return fields
    return Filter(namespace, tuple(labels), tuple(fields))
