"""Parsing of GET /allocation_candidates query strings into request groups and request-wide knobs.

`parse(req)` validates the query against the microversion's schema, splits `resources`,
`required`, `member_of` and `in_tree` by suffix (digits from 1.25, `[a-zA-Z0-9_-]{1,64}` from
1.33) into `Group`s and reads `limit`, `group_policy`, `root_required` and `same_subtree`.
All the 400s with upstream's wording and codes are raised here, before any search runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from berth.centralised.placement import errors, qs
from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.request import Req

_KEYS = ("resources", "required", "member_of", "in_tree")
_KEY = re.compile(r"^(resources|required|member_of|in_tree)([1-9][0-9]*)?$")
_KEY_1_33 = re.compile(r"^(resources|required|member_of|in_tree)([a-zA-Z0-9_-]{1,64})?$")
_STR = {"type": "string"}


@dataclass
class Group:
    """One request group: '' is the unsuffixed group (may span a tree), others use one provider."""

    suffix: str
    resources: dict[str, int] = field(default_factory=dict)
    required: list[set[str]] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)
    member_of: list[set[str]] = field(default_factory=list)
    forbidden_aggs: set[str] = field(default_factory=set)
    in_tree: str | None = None

    @property
    def same_provider(self) -> bool:
        return self.suffix != ""


@dataclass
class Query:
    groups: dict[str, Group]
    limit: int | None = None
    group_policy: str | None = None
    root_required: set[str] = field(default_factory=set)
    root_forbidden: set[str] = field(default_factory=set)
    same_subtrees: list[set[str]] = field(default_factory=list)


def schema(req: Req) -> dict:
    props: dict = {}
    sch: dict = {"type": "object", "properties": props, "additionalProperties": False}
    if not req.want(25):
        props["resources"] = _STR
        sch["required"] = ["resources"]
        if req.want(17):
            props["required"] = {"type": ["string"]}
        if req.want(21):
            props["member_of"] = {"type": ["string"]}
    else:
        pat = "[a-zA-Z0-9_-]{1,64}" if req.want(33) else "[1-9][0-9]*"
        keys = _KEYS if req.want(31) else _KEYS[:3]
        sch["patternProperties"] = {f"^{k}({pat})?$": _STR for k in keys}
        props["group_policy"] = {"type": "string", "enum": ["none", "isolate"]}
    if req.want(16):
        props["limit"] = {"type": ["integer", "string"], "pattern": "^[1-9][0-9]*$", "minimum": 1,
                          "minLength": 1}
    if req.want(35):
        props["root_required"] = {"type": ["string"]}
    if req.want(36):
        props["same_subtree"] = {"type": ["string"]}
    return sch


def _groups(req: Req) -> dict[str, Group]:
    pattern = _KEY_1_33 if req.want(33) else _KEY
    out: dict[str, Group] = {}
    seen: set[str] = set()
    for key, val in req.query:
        m = pattern.match(key)
        if not m or key in seen:
            continue
        seen.add(key)
        prefix, suffix = m.group(1), m.group(2) or ""
        g = out.setdefault(suffix, Group(suffix))
        if prefix == "resources":
            g.resources = qs.resources(req.getall(key)[-1])
        elif prefix == "required":
            g.required, g.forbidden = qs.traits(req, key)
        elif prefix == "member_of":
            g.member_of, g.forbidden_aggs = qs.member_of(req, key, suffix)
        else:
            g.in_tree = qs.in_tree(req.getall(key)[-1])
    return out


def _wide(req: Req) -> Query:
    q = Query({})
    limits = req.getall("limit")
    q.limit = int(limits[0]) if limits else None
    policies = req.getall("group_policy")
    q.group_policy = policies[0] if policies else None
    roots = req.getall("root_required")
    if roots:
        if len(roots) > 1:
            raise ApiError(400, "Query parameter 'root_required' may be specified only once.",
                           errors.ILLEGAL_DUPLICATE_QUERYPARAM)
        required, forbidden = qs._trait_value(roots[0], True, False)
        q.root_required = {next(iter(s)) for s in required}
        q.root_forbidden = forbidden
        conflicts = sorted(q.root_required & forbidden)
        if conflicts:
            raise ApiError(400, "Conflicting required and forbidden traits found in root_required: "
                                + ", ".join(conflicts), errors.QUERYPARAM_BAD_VALUE)
    for val in req.getall("same_subtree"):
        suffixes = {p.strip() for p in val.split(",")}
        if "" in suffixes:
            raise ApiError(400, "Empty string (unsuffixed group) can not be specified in "
                                "`same_subtree` ", errors.QUERYPARAM_BAD_VALUE)
        q.same_subtrees.append(suffixes)
    return q


def _check_groups(req: Req, q: Query) -> None:
    groups = q.groups
    if req.want(36):
        resourceless = [s for s, g in groups.items() if not g.resources]
        if len(resourceless) == len(groups):
            raise ApiError(400, "There must be at least one resources or resources[$S] parameter.",
                           errors.QUERYPARAM_MISSING_VALUE)
        in_subtree = set().union(*q.same_subtrees)
        bad = [s for s in resourceless if s not in in_subtree]
        if bad:
            raise ApiError(400, "Resourceless suffixed group request should be specified in "
                                f"`same_subtree` query param: bad group(s) - {bad}.",
                           errors.QUERYPARAM_BAD_VALUE)
        bad = [s for s in in_subtree if s not in groups]
        if bad:
            raise ApiError(400, f"Real suffixes should be specified in `same_subtree`: {bad} not found "
                                f"in {list(groups)}.", errors.QUERYPARAM_BAD_VALUE)
    else:
        _check_orphans(groups)
    if req.want(22):
        conflicts = sorted(f"required{s}: ({', '.join(sorted(any_of))})" for s, g in groups.items()
                           for any_of in g.required if all(t in g.forbidden for t in any_of))
        if conflicts:
            raise ApiError(400, "Conflicting required and forbidden traits found in the following "
                                f"traits keys: {', '.join(conflicts)}")


def _check_orphans(groups: dict[str, Group]) -> None:
    orphans = [f"required{s}" for s, g in groups.items() if g.required and not g.resources]
    if orphans:
        raise ApiError(400, "All traits parameters must be associated with resources.  Found the "
                            f"following orphaned traits keys: {', '.join(orphans)}")
    orphans = [f"member_of{s}" for s, g in groups.items()
               if not g.resources and (g.member_of or g.forbidden_aggs)]
    if orphans:
        raise ApiError(400, "All member_of parameters must be associated with resources. Found the "
                            f"following orphaned member_of keys: {', '.join(orphans)}")
    if not all(g.resources for g in groups.values()):
        raise ApiError(400, "All request groups must specify resources.")
    if not groups:
        raise ApiError(400, "At least one request group (`resources` or `resources{$S}`) is required.")


def parse(req: Req) -> Query:
    qs.validate(req, schema(req))
    q = _wide(req)
    q.groups = _groups(req)
    _check_groups(req, q)
    if not q.group_policy and sum(1 for g in q.groups.values() if g.same_provider) > 1:
        raise ApiError(400, 'The "group_policy" parameter is required when specifying more than one '
                            '"resources{N}" parameter.')
    return q
