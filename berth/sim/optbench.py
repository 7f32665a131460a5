"""`berth bench optimal`: how fast and how well the batch solver does on the openb trace.

Scenario `saturated`: the FGD experiment's 1,213-node cluster filled by `fgd` to 100% arrived
demand, then the next K arrivals as one batch (most no longer fit: the interesting case).
Scenario `small`: for each batch size K and seed, K pods drawn from the default pod list are
placed jointly on N nodes drawn from the 1,213-node cluster (empty), within `time_limit`; the
result records whether optimality was proven (the whole lexicographic objective, or at least
the weight), the gap to the proven bound and the wall time.  Scenario `large`: one batch of
`large` pods on `large_nodes` nodes with a longer limit, solved by the rolling horizon, compared
with the best heuristic.  Wall times include everything `place_batch` does (heuristics,
bound, model building, solving, applying) but not interpreter start-up or imports.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from berth.engine import Engine
from berth.engine.optimal.batch import clone, place_batch
from berth.sim.trace import load_nodes, load_pods, node_list_path, pod_trace_path


@dataclass(frozen=True)
class BatchCase:
    scenario: str
    pods: int
    nodes: int
    seed: int
    time_limit: float
    status: str
    solver_status: str
    method: str
    weight: int
    heuristic_weight: int
    heuristic: str
    bound: int
    gap: float
    placed: int
    seconds: float
    cpu_seconds: float
    """CPU time of this process over the batch (HiGHS and CP-SAT threads included): on a shared
    machine, wall time grows with the load and this does not."""
    secondary: int = 0
    secondary_bound: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def run_case(scenario: str, pods: int, nodes: int, seed: int, time_limit: float,
             data_dir: Path | None = None, secondary: str = "nodes") -> BatchCase:
    """One batch: sample nodes and pods with `seed`, place them jointly, time it."""
    rng = random.Random(seed)
    cluster = rng.sample(load_nodes(node_list_path(data_dir)), nodes)
    trace = load_pods(pod_trace_path("default", data_dir))
    batch = [p.workload for p in rng.sample(trace, pods)] if pods <= len(trace) else \
        [_renamed(trace[rng.randrange(len(trace))].workload, i) for i in range(pods)]
    engine = Engine(cluster, "best-fit")
    started, cpu = time.perf_counter(), time.process_time()
    result = place_batch(engine, batch, time_limit=time_limit, secondary=secondary)
    return _case(scenario, pods, nodes, seed, time_limit, result, started, cpu)


def _case(scenario: str, pods: int, nodes: int, seed: int, time_limit: float, result, started: float,
          cpu: float) -> BatchCase:
    return BatchCase(scenario, pods, nodes, seed, time_limit, result.status, result.solver_status, result.method,
                     result.weight, result.heuristic_weight, result.heuristic, result.bound, result.gap,
                     len(result.placements), time.perf_counter() - started, time.process_time() - cpu,
                     result.secondary, result.secondary_bound)


def saturated_cases(sizes: list[int], seed: int, time_limit: float, level: float = 1.0,
                    data_dir: Path | None = None, secondary: str = "nodes") -> list[BatchCase]:
    """The FGD experiment's cluster filled by `fgd` until `level` of its GPU capacity has
    arrived (seeded arrivals), then each batch size K: the next K arrivals placed jointly."""
    from berth.engine import PolicyContext
    from berth.model import GPU
    from berth.sim.workload import demand_mix, prefix_node_names, prepare_arrivals

    cluster = prefix_node_names(load_nodes(node_list_path(data_dir)), seed)
    trace = load_pods(pod_trace_path("default", data_dir))
    capacity = sum(n.gpus for n in cluster) * 1000
    arrivals = prepare_arrivals(trace, seed, 1.3, capacity)
    context = PolicyContext(mix=demand_mix(trace))
    filler = Engine(cluster, "fgd", seed=seed, context=context)
    arrived, at = 0, 0
    while at < len(arrivals) and arrived < level * capacity:
        arrived += arrivals[at].requests[GPU]
        filler.place(arrivals[at])
        at += 1
    out = []
    for k in sizes:
        engine = Engine(clone(filler.snapshot), "fgd", seed=seed, context=context)
        started, cpu = time.perf_counter(), time.process_time()
        result = place_batch(engine, arrivals[at: at + k], time_limit=time_limit, context=context,
                             secondary=secondary)
        out.append(_case("saturated", k, len(cluster), seed, time_limit, result, started, cpu))
    return out


def _renamed(workload, i: int):
    import dataclasses

    return dataclasses.replace(workload, name=f"{workload.name}-b{i}")


def warm_up() -> None:
    """Import the solvers before timing (OR-Tools' import alone takes seconds)."""
    from ortools.sat.python import cp_model  # noqa: F401

    from berth.engine.optimal import batch  # noqa: F401
