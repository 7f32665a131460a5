"""Handler for GET /allocation_candidates: parse, search the index, serialise per microversion.

Allocation requests use the list form below 1.12 and the dict form after (with `mappings`
from 1.34); provider summaries list requested classes only below 1.27, traits from 1.17 and
parent/root from 1.29.  Unknown resource classes or traits are a 400 naming them.
"""

from __future__ import annotations

import itertools

import numpy as np
import orjson

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
        check_traits(view, g.required, g.forbidden, "")
    check_traits(view, [{t} for t in query.root_required], query.root_forbidden, "")


def _requests(req: Req, view: View, cands: list) -> list[bytes]:
    """The allocation requests as JSON pieces to join with commas (a `Singles` block is one
    piece holding all of its requests, built from one byte template)."""
    out: list[bytes] = []
    for c in cands:
        if type(c) is candidates.Singles:
            out.append(_single_requests(req, view, c))
        else:
            out.append(orjson.dumps(_request_doc(req, view, c)))
    return out


def _request_doc(req: Req, view: View, c: candidates.Candidate) -> dict:
    uuids = view.uuids
    if not req.want(12):
        return {"allocations": [{"resource_provider": {"uuid": uuids[r]}, "resources": res}
                                for r, res in c.alloc.items()]}
    item: dict = {"allocations": {uuids[r]: {"resources": res} for r, res in c.alloc.items()}}
    if req.want(34):
        item["mappings"] = {k: [uuids[r] for r in rows] for k, rows in c.mappings.items()}
    return item


def _single_requests(req: Req, view: View, block: candidates.Singles) -> bytes:
    """Comma-joined requests of a block: the byte template filled by C-level joins."""
    if not req.want(12):
        return b",".join(orjson.dumps(_request_doc(req, view, c)) for c in block.expand())
    picked = _quoted_array(view)[block.rows].tolist()
    head, res = b'{"allocations":{', b':{"resources":' + orjson.dumps(block.resources)
    if not req.want(34):  # {"allocations":{U:{"resources":R}}}
        return head + (res + b"}}}," + head).join(picked) + res + b"}}}"
    mid, sep = res + b'}},"mappings":{"":[', b']}},' + head  # ...U:{"resources":R}},"mappings":{"":[U]}}
    body = b"".join(itertools.chain.from_iterable(zip(picked, itertools.repeat(mid), picked,
                                                      itertools.repeat(sep))))
    return head + body[:-len(sep)] + b"]}}"


def _quoted_array(view: View) -> np.ndarray:
    """'"uuid"' bytes per row as an object array (so a block's are one fancy index away)."""
    found = view._masks.get("quoted_array")
    if found is None:
        found = np.empty(len(view), dtype=object)
        found[:] = _quoted_uuids(view)
        view._masks["quoted_array"] = found
    return found


def _quoted_uuids(view: View) -> list[bytes]:
    quoted = view._masks.get("quoted_uuids")
    if quoted is None:
        quoted = view._masks["quoted_uuids"] = [b'"' + u.encode() + b'"' for u in view.uuids]
    return quoted


def _summary_rows(req: Req, view: View, cands: list) -> np.ndarray:
    """Sorted rows to summarise: the providers used, or from 1.29 every row of their trees."""
    if len(cands) == 1 and type(cands[0]) is candidates.Singles:
        used = cands[0].rows  # already sorted and distinct
    else:
        parts = [c.rows for c in cands if type(c) is candidates.Singles]
        parts.append(np.fromiter((r for c in cands if type(c) is not candidates.Singles for r in c.alloc),
                                 np.int64))
        used = np.unique(np.concatenate(parts))
    if not req.want(29) or not len(used) or view.is_flat():
        return used
    hit = np.zeros(len(view), bool)
    hit[view.root[used]] = True
    return np.flatnonzero(hit[view.root])


def _summaries(req: Req, view: View, rows: np.ndarray, requested: set[str]) -> bytes:
    """Provider summaries as JSON bytes; each row's entry is built once per view and shape."""
    flags = (req.want(17), req.want(27), req.want(29), frozenset() if req.want(27) else frozenset(requested))
    cache = view._masks.setdefault(("summaries", flags), {})
    wanted = rows.tolist()
    missing = [r for r in wanted if r not in cache]
    if missing:
        built = _build_summaries(view, missing, flags)
        quoted = _quoted_uuids(view)
        cache.update({r: quoted[r] + b":" + orjson.dumps(item) for r, item in built.items()})
    return b"{" + b",".join([cache[r] for r in wanted]) + b"}"


def _build_summaries(view: View, rows: list[int], flags: tuple) -> dict[int, dict]:
    traits, all_rcs, nested, requested = flags
    sub = np.asarray(rows)
    rr, cc = np.nonzero(view.has[sub])
    caps = view.capacity[sub[rr], cc].astype(np.int64).tolist()
    used = view.used[sub[rr], cc].tolist()
    out: dict[int, dict] = {r: {"resources": {}} for r in rows}
    names = view.rc_names
    for i, c, cap, u in zip(rr.tolist(), cc.tolist(), caps, used):
        if all_rcs or names[c] in requested:
            out[rows[i]]["resources"][names[c]] = {"capacity": cap, "used": u}
    for r in rows:
        item = out[r]
        if traits:
            item["traits"] = list(view.trait_lists[r])
        if nested:
            parent = int(view.parent[r])
            item["parent_provider_uuid"] = view.uuids[parent] if parent >= 0 else None
            item["root_provider_uuid"] = view.uuids[int(view.root[r])]
    return out


def listing(req: Req) -> Resp:
    query = acquery.parse(req)
    view = req.view if req.view is not None else req.service.index.current()
    _validate_names(req, view, query)
    cands = candidates.search(view, query, nested_aware=req.want(29))
    requested = {rc for g in query.groups.values() for rc in g.resources}
    body = (b'{"allocation_requests":[' + b",".join(_requests(req, view, cands)) + b'],"provider_summaries":'
            + _summaries(req, view, _summary_rows(req, view, cands), requested) + b"}")
    return Resp(200, None, raw=body).modified(req, None)
