"""Row selection for GET /resource_providers, evaluated on the in-memory index.

Each query parameter becomes a boolean row mask (name, uuid, in_tree, member_of, required,
resources); the masks are ANDed.  Unknown resource classes or traits are a 400, an unknown
`in_tree` provider just selects nothing -- as upstream.
"""

from __future__ import annotations

import numpy as np

from berth.centralised.placement import qs
from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.index import View
from berth.centralised.placement.request import Req

_STR = {"type": "string"}
_SCHEMA_PROPS = [  # (minimum microversion, parameter, JSON schema)
    (0, "name", _STR), (0, "uuid", {"type": "string", "format": "uuid"}), (3, "member_of", _STR),
    (4, "resources", _STR), (14, "in_tree", {"type": "string", "format": "uuid"}), (18, "required", _STR),
]


def schema(req: Req) -> dict:
    props = {name: sch for minor, name, sch in _SCHEMA_PROPS if req.want(minor)}
    return {"type": "object", "properties": props, "additionalProperties": False}


def fits(view: View, cols: list[int], amounts: list[int]) -> np.ndarray:
    """Rows that could take `amounts` of the resource classes at `cols`, each from itself."""
    ok = np.ones(len(view), bool)
    for c, amount in zip(cols, amounts):
        col = view.column(c)
        ok &= col.has
        ok &= col.used + amount <= col.capacity
        ok &= col.min_unit <= amount
        ok &= col.max_unit >= amount
        if not col.unit_steps:
            ok &= amount % col.step == 0
    return ok


def trait_rows(view: View, required: list[set[str]], forbidden: set[str]) -> np.ndarray:
    """Rows having at least one trait of every any-of set and none of `forbidden`."""
    ok = np.ones(len(view), bool)
    for any_of in required:
        hit = np.zeros(len(view), bool)
        for name in any_of:
            hit |= view.trait_mask(name)
        ok &= hit
    for name in forbidden:
        ok &= ~view.trait_mask(name)
    return ok


def agg_rows(view: View, required: list[set[str]], forbidden: set[str]) -> np.ndarray:
    ok = np.ones(len(view), bool)
    for any_of in required:
        hit = np.zeros(len(view), bool)
        for agg in any_of:
            hit |= view.agg_mask(agg)
        ok &= hit
    for agg in forbidden:
        ok &= ~view.agg_mask(agg)
    return ok


def check_traits(view: View, required: list[set[str]], forbidden: set[str], message: str) -> None:
    """400 naming any trait that does not exist (the view carries the whole vocabulary)."""
    names = set().union(*required, forbidden) if (required or forbidden) else set()
    missing = sorted(names - view.trait_names)
    if missing:
        raise ApiError(400, f"{message}No such trait(s): {', '.join(missing)}.")


def select(req: Req, view: View) -> list[int]:
    qs.validate(req, schema(req))
    ok = np.ones(len(view), bool)
    name, uuid = req.get("name"), req.get("uuid")
    if name is not None:
        ok &= np.array([n == name for n in view.names], bool)
    if uuid is not None:
        ok &= np.array([u == uuid for u in view.uuids], bool)
    if req.get("member_of") is not None:
        ok &= agg_rows(view, *qs.member_of(req))
    if req.get("required") is not None:
        required, forbidden = qs.traits(req, "required")
        check_traits(view, required, forbidden, 'Invalid trait(s) in "required" parameter: ')
        ok &= trait_rows(view, required, forbidden)
    if req.get("in_tree") is not None:
        row = view.row_of_uuid.get(qs.in_tree(req.get("in_tree")))
        ok &= view.root == view.root[row] if row is not None else False
    if req.get("resources") is not None:
        wanted = qs.resources(req.get("resources"))
        for rc in wanted:
            if rc not in view.rc_col:
                raise ApiError(400, f"Invalid resource class in resources parameter: No such "
                                    f"resource class {rc}.")
        ok &= fits(view, [view.rc_col[rc] for rc in wanted], list(wanted.values()))
    return np.flatnonzero(ok).tolist()
