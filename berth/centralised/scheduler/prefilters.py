"""Prefilters: turn a `RequestSpec` into the `GET /allocation_candidates` query, as Nova's do.

Each prefilter is a function `(spec, query) -> None` that adds query parameters; `PREFILTERS`
names them in order and `enabled` picks which run (Nova's `compute_status_filter` is mandatory;
the others mirror `map_az_to_placement_aggregate` and the flavor's trait extra specs).
`build_query` always sends `resources` and `limit` (`max_placement_results`).  Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from os_traits import COMPUTE_STATUS_DISABLED

from berth.centralised.scheduler.request import RequestSpec, zone_aggregate

Query = dict[str, list[str]]


def resources(spec: RequestSpec, query: Query) -> None:
    query["resources"] = [",".join(f"{rc}:{n}" for rc, n in sorted(spec.resources.items()))]


def compute_status_filter(spec: RequestSpec, query: Query) -> None:
    """Keep out providers whose agent is disabled (they carry COMPUTE_STATUS_DISABLED)."""
    query.setdefault("_forbidden", []).append(COMPUTE_STATUS_DISABLED)


def flavor_traits(spec: RequestSpec, query: Query) -> None:
    query.setdefault("_required", []).extend(spec.required_traits)
    query.setdefault("_forbidden", []).extend(spec.forbidden_traits)


def map_az_to_placement_aggregate(spec: RequestSpec, query: Query) -> None:
    if spec.availability_zone:
        query["member_of"] = [zone_aggregate(spec.availability_zone)]


PREFILTERS: dict[str, Callable[[RequestSpec, Query], None]] = {
    "resources": resources,
    "compute_status_filter": compute_status_filter,
    "flavor_traits": flavor_traits,
    "map_az_to_placement_aggregate": map_az_to_placement_aggregate,
}
MANDATORY = ("resources", "compute_status_filter")


def build_query(spec: RequestSpec, limit: int, enabled: tuple[str, ...] = tuple(PREFILTERS)) -> list[tuple[str, str]]:
    """The allocation-candidates query for `spec` as (name, value) pairs, in a stable order."""
    query: Query = {}
    for name, prefilter in PREFILTERS.items():
        if name in enabled or name in MANDATORY:
            prefilter(spec, query)
    traits = sorted(set(query.pop("_required", []))) + [f"!{t}" for t in sorted(set(query.pop("_forbidden", [])))]
    if traits:
        query["required"] = [",".join(traits)]
    query["limit"] = [str(limit)]
    return [(k, v) for k in sorted(query) for v in query[k]]
