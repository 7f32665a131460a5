"""Ranking hosts for one request: the engine's filters and weighers, then `host_subset_size`.

`Ranker(config).rank(spec, candidates, rng)` brings the scheduler's one engine up to date with
Placement's answer (`hoststate.HostState`), evaluates the candidate hosts with `NovaWeighing`
(plus the request's soft group weigher), and returns a `Ranking` (hosts best first, the first
one drawn at random among the top `host_subset_size`, as Nova does), or a `NoValidHost` whose
reasons are the engine's rejection histogram over the candidates.  A `Ranker` lives as long as
its scheduler, so the engine's score cache carries over between requests; `rank(...)` ranks one
request on a fresh one.  Pure: no sockets, no clock; the random generator is a parameter.
Called by `manager.Scheduler`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from berth.centralised.scheduler import hosts as hostmod
from berth.centralised.scheduler.hosts import Candidate
from berth.centralised.scheduler.hoststate import HostState
from berth.centralised.scheduler.request import RequestSpec
from berth.centralised.scheduler.weighing import NovaWeighing, WeigherConfig, group_weighers

NO_CANDIDATES = ("Got no allocation candidates from the Placement API. This could be due to insufficient "
                 "resources or a temporary occurrence as compute nodes start up.")


@dataclass(frozen=True)
class SchedulerConfig:
    """Nova's `[scheduler]` / `[filter_scheduler]` knobs that shape a decision."""

    max_placement_results: int = 1000
    host_subset_size: int = 1
    max_attempts: int = 3
    weighers: WeigherConfig = field(default_factory=WeigherConfig)


@dataclass(frozen=True)
class NoValidHost:
    """Nothing can take the request; `reasons` maps a reason to how many hosts gave it."""

    message: str
    reasons: dict[str, int] = field(default_factory=dict)
    hosts: int = 0

    @property
    def ok(self) -> bool:
        return False

    def to_json(self) -> dict:
        return {"type": "NoValidHost", "message": self.message, "reasons": self.reasons, "hosts": self.hosts}


@dataclass(frozen=True)
class Ranking:
    """Feasible candidates, best first, with their engine weights."""

    candidates: tuple[Candidate, ...]
    weights: tuple[float, ...]

    @property
    def ok(self) -> bool:
        return True


def no_valid_host(detail: str, reasons: dict[str, int] | None = None, hosts: int = 0) -> NoValidHost:
    return NoValidHost(f"No valid host was found. {detail}", dict(reasons or {}), hosts)


class Ranker:
    """Ranks requests on one engine kept up to date from Placement's answers; thread-safe."""

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config
        self.hosts = HostState(NovaWeighing(config.weighers))
        self.lock = threading.Lock()

    def rank(self, spec: RequestSpec, cands: list[Candidate], rng: np.random.Generator) -> Ranking | NoValidHost:
        if not cands:
            return no_valid_host(NO_CANDIDATES)
        with self.lock:
            rows = self.hosts.sync(cands)
            at = {c.host.host: row for c, row in zip(cands, rows.tolist())}
            with self.hosts.members(spec, at):
                return self._rank(spec, cands, rows, rng)

    def _rank(self, spec: RequestSpec, cands: list[Candidate], rows: np.ndarray,
              rng: np.random.Generator) -> Ranking | NoValidHost:
        engine, work = self.hosts.engine, hostmod.workload(spec)
        extra = group_weighers(self.config.weighers, spec.group)
        ok, total = engine.evaluate(work, self.hosts.within(rows), extra)
        feasible = np.flatnonzero(ok[rows])
        if not len(feasible):
            why = engine.explain(work, rows)
            reasons = {_host_words(r): n for r, n in why.reasons.items()}
            return no_valid_host(f"Filtering removed all hosts for the request: {_host_words(why.message)}",
                                 reasons, len(cands))
        weights = total[rows[feasible]]
        order = feasible[np.argsort(-weights, kind="stable")]
        top = min(max(1, self.config.host_subset_size), len(order))
        first = int(rng.integers(top)) if top > 1 else 0
        order = np.concatenate([order[first:first + 1], np.delete(order, first)])
        return Ranking(tuple(cands[i] for i in order), tuple(float(total[rows[i]]) for i in order))


def rank(spec: RequestSpec, cands: list[Candidate], config: SchedulerConfig,
         rng: np.random.Generator) -> Ranking | NoValidHost:
    """Rank one request on a fresh `Ranker` (a scheduler keeps one across requests)."""
    return Ranker(config).rank(spec, cands, rng)


def _host_words(text: str) -> str:
    """The engine speaks of nodes and pods; the compute plane of hosts and servers."""
    return text.replace("nodes are available", "hosts are available").replace("node(s)", "host(s)") \
        .replace("Pod's", "server's").replace("pod anti-affinity", "server group anti-affinity")
