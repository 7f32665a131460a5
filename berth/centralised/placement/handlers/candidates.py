"""Handler for GET /allocation_candidates: parse, search the index, serialise per microversion.

Allocation requests use the list form below 1.12 and the dict form after (with `mappings`
from 1.34); provider summaries list requested classes only below 1.27, traits from 1.17 and
parent/root from 1.29.  Unknown resource classes or traits are a 400 naming them.
"""

from __future__ import annotations

from berth.centralised.placement import acquery, candidates
from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.handlers.provider_filter import check_traits
from berth.centralised.placement.index import View
from berth.centralised.placement.request import Req, Resp


def _validate_names(req: Req, view: View, query: acquery.Query) -> None:
    for g in query.groups.values():
        for rc in g.resources:
            if rc not in view.rc_col:
                raise ApiError(400, f"Invalid resource class in resources parameter: No such resource "
                                    f"class {rc}.")
    for g in query.groups.values():
        check_traits(req, g.required, g.forbidden, "")
    check_traits(req, [{t} for t in query.root_required], query.root_forbidden, "")


def _requests(req: Req, view: View, cands: list[candidates.Candidate]) -> list:
    uuids = view.uuids
    if not req.want(12):
        return [{"allocations": [{"resource_provider": {"uuid": uuids[r]}, "resources": res}
                                 for r, res in c.alloc.items()]} for c in cands]
    out = []
    for c in cands:
        item: dict = {"allocations": {uuids[r]: {"resources": res} for r, res in c.alloc.items()}}
        if req.want(34):
            item["mappings"] = {k: [uuids[r] for r in rows] for k, rows in c.mappings.items()}
        out.append(item)
    return out


def _summary_rows(req: Req, view: View, cands: list[candidates.Candidate]) -> list[int]:
    used = {r for c in cands for r in c.alloc}
    if not req.want(29):
        return sorted(used)
    trees = view.tree_rows()
    roots = {int(view.root[r]) for r in used}
    return sorted(r for root in roots for r in trees[root])


def _summaries(req: Req, view: View, rows: list[int], requested: set[str]) -> dict:
    out = {}
    cap = view.capacity
    cols = [(c, n) for n, c in view.rc_col.items()]
    all_rcs = req.want(27)
    for r in rows:
        res = {}
        for c, name in cols:
            if view.has[r, c] and (all_rcs or name in requested):
                res[name] = {"capacity": int(cap[r, c]), "used": int(view.used[r, c])}
        item: dict = {"resources": res}
        if req.want(17):
            item["traits"] = list(view.trait_lists[r])
        if req.want(29):
            parent = int(view.parent[r])
            item["parent_provider_uuid"] = view.uuids[parent] if parent >= 0 else None
            item["root_provider_uuid"] = view.uuids[int(view.root[r])]
        out[view.uuids[r]] = item
    return out


def listing(req: Req) -> Resp:
    query = acquery.parse(req)
    view = req.service.index.current()
    _validate_names(req, view, query)
    cands = candidates.search(view, query, nested_aware=req.want(29))
    requested = {rc for g in query.groups.values() for rc in g.resources}
    body = {"allocation_requests": _requests(req, view, cands),
            "provider_summaries": _summaries(req, view, _summary_rows(req, view, cands), requested)}
    return Resp(200, body).modified(req, None)
