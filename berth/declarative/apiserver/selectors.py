"""Label and field selectors: parsing the query-string forms and matching objects.

`parse_labels('app=web,tier in (a,b),!legacy')` returns the model's `Selector` (the one label parser and
matcher live in `berth.model.labels`) and `parse_fields('spec.nodeName=n1')` a list of field requirements
read with the same tokenizer; either answers a `Problem` (400) naming what is wrong. `Filter` bundles
both plus namespace and name for the list and watch handlers. Field paths are looked up with `field_value`, restricted per kind to the
labels its `ResourceSpec.field_labels` declares (as upstream does).
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.declarative.apiserver.status import Problem, bad_request
from berth.model.labels import EQUALITY, EVERYTHING, Selector, SelectorError, parse_selector, parse_term, split_terms


def parse_labels(text: str) -> Selector | Problem:
    """The label selector `text` asks for (`berth.model.labels` parses it), or a 400 Problem saying why not."""
    selector = parse_selector(text)
    return bad_request(selector.message) if isinstance(selector, SelectorError) else selector


def parse_fields(text: str, allowed: tuple[str, ...], qualified: str):
    """Requirements (path, op, value) for a field selector, or a Problem for syntax or unsupported fields.

    Terms share the label selector's tokenizer, restricted to `=`, `==` and `!=`; empty terms are skipped."""
    reqs = []
    for part in filter(str.strip, split_terms(text)):
        term = parse_term(part)
        if term is None or term[1] not in EQUALITY:
            return bad_request(f"invalid field selector: {part.strip()!r}: expected key=value or key!=value")
        path, op, (value,) = term
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
    labels: Selector = EVERYTHING
    fields: tuple = ()

    def matches(self, obj: dict) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.labels is not EVERYTHING and not self.labels.matches(meta.get("labels")):
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
    return Filter(namespace, labels, tuple(fields))
