"""`Scheduler.select_destinations`: prefilters -> candidates -> rank -> claim, with alternates.

The flow of Nova's scheduler manager for one server: build the Placement query, fetch
allocation candidates, rank them with the scheduler's one engine (`select.Ranker`), then claim
the best host's allocation request in Placement (a generation-checked `PUT
/allocations/{consumer}`); a lost claim (409: another scheduler took the room first) moves on
to the next host.  On success it
returns `Selections`: the claimed host plus up to `max_attempts - 1` unclaimed alternates, each
carrying its allocation request for the conductor to claim if the build fails.  Several
schedulers may run at once: Placement's claims decide every race.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from berth.centralised.clients.placement import PlacementClient
from berth.centralised.scheduler import hosts as hostmod
from berth.centralised.scheduler.hosts import Candidate, HostInfo
from berth.centralised.scheduler.prefilters import PREFILTERS, build_query
from berth.centralised.scheduler.request import RequestSpec
from berth.centralised.scheduler.select import NoValidHost, Ranker, SchedulerConfig, no_valid_host
from berth.runtime.clock import Clock

HostSource = Callable[[], dict[str, HostInfo]]
"""Returns the registered compute agents keyed by resource provider UUID."""


@dataclass(frozen=True)
class Selection:
    """A host for one build: where, its agent, and the allocation request (claimed or not)."""

    host: str
    rp_uuid: str
    url: str
    allocation_request: dict
    weight: float = 0.0

    def to_json(self) -> dict:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Selections:
    chosen: Selection
    alternates: tuple[Selection, ...]

    @property
    def ok(self) -> bool:
        return True

    def to_json(self) -> dict:
        return {"chosen": self.chosen.to_json(), "alternates": [a.to_json() for a in self.alternates]}

    @classmethod
    def from_json(cls, data: dict) -> "Selections":
        return cls(Selection(**data["chosen"]), tuple(Selection(**a) for a in data["alternates"]))


def repo_hosts(repo, clock: Clock, down_after: float) -> HostSource:
    """A HostSource reading the compute services table (Nova's HostManager reads the DB too)."""
    def read() -> dict[str, HostInfo]:
        now = clock.now()
        return {r["rp_uuid"]: HostInfo(r["host"], r["rp_uuid"], r["url"], r["availability_zone"],
                                       now - r["last_seen"] <= down_after, bool(r["disabled"]))
                for r in repo.services()}
    return read


class Scheduler:
    def __init__(self, placement: PlacementClient, hosts: HostSource, config: SchedulerConfig | None = None,
                 seed: int | None = None, prefilters: tuple[str, ...] = tuple(PREFILTERS)) -> None:
        self.placement, self.hosts = placement, hosts
        self.config = config or SchedulerConfig()
        self.rng = np.random.default_rng(seed)
        self.prefilters = prefilters
        self.lost_claims = 0
        self.ranker = Ranker(self.config)
        """One engine for every request, kept up to date from Placement's answers."""

    def select_destinations(self, spec: RequestSpec) -> Selections | NoValidHost:
        query = build_query(spec, self.config.max_placement_results, self.prefilters)
        cands = hostmod.candidates(self.placement.allocation_candidates(query), self.hosts())
        ranking = self.ranker.rank(spec, cands, self.rng)
        if not ranking.ok:
            return ranking
        return self._claim_first(spec, ranking.candidates, ranking.weights)

    def _claim_first(self, spec: RequestSpec, cands: tuple[Candidate, ...],
                     weights: tuple[float, ...]) -> Selections | NoValidHost:
        lost: dict[str, int] = {}
        for i, cand in enumerate(cands):
            claim = self.placement.claim(spec.instance_uuid, cand.allocation_request, spec.project_id, spec.user_id)
            if claim.ok:
                alts = cands[i + 1:i + self.config.max_attempts]
                return Selections(_selection(cand, weights[i]),
                                  tuple(_selection(a, w) for a, w in zip(alts, weights[i + 1:])))
            self.lost_claims += 1
            reason = f"claim refused ({claim.code or claim.status})"
            lost[reason] = lost.get(reason, 0) + 1
        return no_valid_host(f"Unable to claim resources on any of the {len(cands)} hosts.", lost, len(cands))


def _selection(cand: Candidate, weight: float) -> Selection:
    return Selection(cand.host.host, cand.host.rp_uuid, cand.host.url, cand.allocation_request, weight)
