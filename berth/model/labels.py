"""Label keys, values and selectors: the one parser and the one matcher, with Kubernetes' semantics.

A selector is a conjunction of `LabelRequirement`s (key In/NotIn values, Exists, DoesNotExist).  Two
forms convert into it:

- the string form of list calls and `kubectl -l` -- `parse_selector('app=web,tier in (a,b),!legacy')`;
  `a=b` and `a==b` mean `a in (b)`, `a!=b` means `a notin (b)`, so a `!=` or `notin` also matches
  objects without the key;
- the structured form of API objects -- `structured_selector({"matchLabels": ..., "matchExpressions": ...})`.

An empty selector matches everything (`EVERYTHING`); an absent (null) structured selector matches
nothing (`NOTHING`).  Bad input comes back as a `SelectorError` value naming the fault.  Controllers
add one rule of their own on top (an empty selector adopts nothing); see the declarative controllers.

`split_terms` and `parse_term` are the tokenizer that field selectors (`spec.nodeName=n1`) share.
Callers: the engine's node-selector filter (through `berth.model.constraints`), the declarative API
server's list/watch filters and validation, and the declarative controllers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from berth.model.errors import ValidationError

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
SUBDOMAIN_RULE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and"
                  " must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation"
                  " is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
NAME_RULE = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end"
             " with an alphanumeric character (at most 63 characters)")
VALUE_RULE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and"
              " must start and end with an alphanumeric character")


# -- keys and values: each check returns its faults, one string each (empty when valid), as upstream's
# IsDNS1123Subdomain / IsQualifiedName / IsValidLabelValue do; callers wrap them in their own errors.
def subdomain_problems(text: str) -> list[str]:
    """Why `text` is not a lowercase RFC 1123 subdomain (a label key's prefix, an object's name)."""
    if len(text) > 253:
        return ["must be no more than 253 characters"]
    return [] if _SUBDOMAIN.match(text) else [SUBDOMAIN_RULE]


def name_problems(name: str) -> list[str]:
    """Why `name` is not a valid name part of a label key (the part after the optional prefix '/')."""
    return [] if len(name) <= 63 and _NAME.match(name) else [NAME_RULE]


def key_problems(key: object) -> list[str]:
    """Why `key` is not a valid label key ([subdomain prefix '/'] name part)."""
    if not isinstance(key, str):
        return [f"label key must be a string, got {key!r}"]
    prefix, slash, name = key.rpartition("/")
    problems = [f"prefix part {p}" for p in subdomain_problems(prefix)] if slash else []
    return problems + name_problems(name)


def value_problems(value: object) -> list[str]:
    """Why `value` is not a valid label value (at most 63 characters; the empty string is valid)."""
    ok = isinstance(value, str) and len(value) <= 63 and _VALUE.match(value)
    return [] if ok else [VALUE_RULE]


def check_label_key(key: str, field_path: str) -> str:
    """Return `key` if it is a valid label key; raise `ValidationError` at `field_path` if not."""
    if key_problems(key):
        raise ValidationError(field_path, f"invalid label key {key!r}")
    return key


def check_label_value(value: str, field_path: str) -> str:
    """Return `value` if it is a valid label value; raise `ValidationError` at `field_path` if not."""
    if value_problems(value):
        raise ValidationError(field_path, f"invalid label value {value!r}")
    return value


@dataclass(frozen=True)
class LabelRequirement:
    """One requirement: `key` In/NotIn `values`, or Exists/DoesNotExist (a matchExpression)."""

    key: str
    operator: str = "In"
    values: tuple[str, ...] = ()

    OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

    def __post_init__(self) -> None:
        check_label_key(self.key, "nodeSelector.key")
        if self.operator not in self.OPERATORS:
            raise ValidationError("nodeSelector.operator", f"must be one of {', '.join(self.OPERATORS)}")
        values = tuple(self.values)
        for v in values:
            check_label_value(v, f"nodeSelector.{self.key}")
        if self.operator in ("In", "NotIn") and not values:
            raise ValidationError(f"nodeSelector.{self.key}", f"operator {self.operator} needs values")
        object.__setattr__(self, "values", values)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when `labels` satisfy this requirement (NotIn and DoesNotExist hold for a missing key)."""
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; `nothing` marks upstream's null selector, which matches no object."""

    requirements: tuple[LabelRequirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (it matches every object)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """The one label matcher: every requirement holds for `labels` (None counts as no labels)."""
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(nothing=True)


@dataclass(frozen=True)
class SelectorError:
    """A selector that could not be parsed or converted; `message` says why."""

    message: str


# -- the string form ----------------------------------------------------------------------------------------
_TOKEN = re.compile(r"!=|==|=|!|\(|\)|,|[^\s!=(),]+")
_SYMBOLS = frozenset(("!=", "==", "=", "!", "(", ")", ","))
_OPERATORS = {"=": "In", "==": "In", "in": "In", "!=": "NotIn", "notin": "NotIn",
              "exists": "Exists", "!": "DoesNotExist"}
EQUALITY = ("=", "==", "!=")


def split_terms(text: str | None) -> list[str]:
    """The comma-separated terms of `text` (commas inside parentheses stay); empty terms are kept."""
    terms, depth, start = [], 0, 0
    text = text or ""
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    return terms + [text[start:]]


def parse_term(term: str) -> tuple[str, str, tuple[str, ...]] | None:
    """`(key, op, values)` of one term, op one of = == != in notin exists !; None when malformed."""
    tokens = _TOKEN.findall(term)
    negated = tokens[:1] == ["!"]
    key, rest = (tokens[1:2], tokens[2:]) if negated else (tokens[:1], tokens[1:])
    if not key or key[0] in _SYMBOLS:
        return None
    if not rest:
        return key[0], "!" if negated else "exists", ()
    parse_values = None if negated else _VALUE_PARSERS.get(rest[0])
    values = parse_values(rest[1:]) if parse_values else None
    return None if values is None else (key[0], rest[0], values)


def _exact_value(tokens: list[str]) -> tuple[str] | None:
    if not tokens:
        return ("",)
    return (tokens[0],) if len(tokens) == 1 and tokens[0] not in _SYMBOLS else None


def _value_set(tokens: list[str]) -> tuple[str, ...] | None:
    """Values of `( v1, v2 )`; an empty slot (`()`, `(a,)`) is the empty value, as upstream parses it."""
    if len(tokens) < 2 or tokens[0] != "(" or tokens[-1] != ")":
        return None
    values, slot = [], []
    for token in tokens[1:-1] + [","]:
        if token == ",":
            if len(slot) > 1 or (slot and slot[0] in _SYMBOLS):
                return None
            values.append(slot[0] if slot else "")
            slot = []
        else:
            slot.append(token)
    return tuple(dict.fromkeys(values))


_VALUE_PARSERS = {"=": _exact_value, "==": _exact_value, "!=": _exact_value, "in": _value_set, "notin": _value_set}


def parse_selector(text: str | None) -> Selector | SelectorError:
    """The selector a `labelSelector` string asks for; an empty or blank string is `EVERYTHING`."""
    if not (text or "").strip():
        return EVERYTHING
    triples = []
    for term in split_terms(text):
        parsed = parse_term(term)
        if parsed is None:
            where = f"{term.strip()!r}" if term.strip() else f"{text!r}: empty requirement"
            return SelectorError(f"unable to parse requirement: invalid label selector: {where}")
        triples.append((parsed[0], _OPERATORS[parsed[1]], parsed[2]))
    return _conjunction(triples)


def requirement(key: object, operator: object, values: tuple) -> LabelRequirement | SelectorError:
    """A validated requirement, or the upstream-style reason it is invalid."""
    problems = key_problems(key)
    if problems:
        return SelectorError(f'unable to parse requirement: invalid label key "{key}": {"; ".join(problems)}')
    if operator not in LabelRequirement.OPERATORS:
        return SelectorError(f'"{operator}" is not a valid label selector operator')
    if operator in ("Exists", "DoesNotExist") and values:
        return SelectorError(f"values set must be empty for exists and does not exist (key {key!r})")
    if not values and operator in ("In", "NotIn"):
        return SelectorError(f"for 'in', 'notin' operators, values set can't be empty (key {key!r})")
    return _value_fault(key, values) or LabelRequirement(key, operator, tuple(values))


def _value_fault(key: object, values: tuple) -> SelectorError | None:
    """The upstream-style reason the first invalid value in `values` is invalid, or None."""
    for value in values:
        problems = value_problems(value)
        if problems:
            return SelectorError(f'unable to parse requirement: invalid label value: "{value}": at key: "{key}":'
                                 f' {"; ".join(problems)}')
    return None


# -- the structured form ------------------------------------------------------------------------------------
def structured_selector(spec: Mapping | None) -> Selector | SelectorError:
    """The selector of a LabelSelector object: null matches nothing, `{}` matches everything.

    Each `matchLabels` pair is `key In (value)`; `matchExpressions` carry In/NotIn/Exists/DoesNotExist.
    """
    if spec is None:
        return NOTHING
    if not isinstance(spec, Mapping):
        return SelectorError(f"invalid label selector: {spec!r}")
    expressions = spec.get("matchExpressions") or ()
    if not all(isinstance(e, Mapping) for e in expressions):
        return SelectorError(f"invalid label selector: matchExpressions {expressions!r}")
    return _conjunction([(k, "In", (v,)) for k, v in (spec.get("matchLabels") or {}).items()]
                        + [(e.get("key"), e.get("operator"), tuple(e.get("values") or ())) for e in expressions])


def _conjunction(triples: list[tuple]) -> Selector | SelectorError:
    """The selector of `(key, operator, values)` triples, or the first one's fault."""
    requirements = []
    for key, operator, values in triples:
        req = requirement(key, operator, values)
        if isinstance(req, SelectorError):
            return req
        requirements.append(req)
    return Selector(tuple(requirements))


# -- back to the string form ---------------------------------------------------------------------------------
_FORMATS = {"=": "{key}={values}", "In": "{key} in ({values})", "NotIn": "{key} notin ({values})",
            "Exists": "{key}", "DoesNotExist": "!{key}"}


def format_selector(spec: Mapping | None) -> str:
    """The string form of a valid structured selector, as upstream prints it (`LabelSelectorAsSelector(s).String()`).

    Requirements are sorted by key (stable: `matchLabels` before expressions of the same key), values within
    a requirement sorted; a `matchLabels` pair prints `k=v`, expressions `k in (a,b)`, `k notin (a,b)`, `k`
    and `!k`.  Null and `{}` print "".  `parse_selector` reads the result back into the same selector.
    Callers: the API server's Table `Selector` column and Scale `status.selector`, and the scheduler's
    anti-affinity group keys.
    """
    spec = spec or {}
    terms = [(key, "=", (value,)) for key, value in (spec.get("matchLabels") or {}).items()]
    terms += [(e.get("key"), e.get("operator"), e.get("values") or ()) for e in spec.get("matchExpressions") or ()]
    return ",".join(_FORMATS[op].format(key=key, values=",".join(sorted(str(v) for v in values)))
                    for key, op, values in sorted(terms, key=lambda term: term[0]))
