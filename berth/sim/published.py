"""The FGD authors' published per-seed results (`fgd-published-results/analysis_allo_discrete.csv`).

`published_curves(trace, policy)` returns the per-seed allocation curves (arrival 0..130%) that
the experiment compares against; policy names map from the authors' (`06-FGD`) to berth's (`fgd`).
Read in place from the shared data folder; never copied.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

from berth.sim.trace import find_data_dir

RESULTS = "fgd-published-results/analysis_allo_discrete.csv"
POLICY_NAMES = {
    "Random": "random",
    "DotProd": "dot-product",
    "GpuClustering": "gpu-clustering",
    "GpuPacking": "gpu-packing",
    "BestFit": "best-fit",
    "FGD": "fgd",
}
LEVELS = 131
"""Arrival levels 0..130 (% of cluster GPU capacity)."""


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[tuple[str, str], dict[int, np.ndarray]]:
    table: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            trace = row["workload"].removeprefix("openb_pod_list_")
            policy = POLICY_NAMES.get(row["sc_policy"].split("-", 1)[-1])
            if policy is None:
                continue
            curve = np.array([float(row[str(k)]) for k in range(LEVELS)])
            table.setdefault((trace, policy), {})[int(row["seed"])] = curve
    return table


def published_curves(trace: str, policy: str, data_dir: Path | None = None) -> dict[int, np.ndarray]:
    """Seed -> published allocation curve (% of GPU capacity at arrival 0..130%); {} if absent."""
    path = (data_dir or find_data_dir()) / RESULTS
    return _load(path).get((trace, policy), {})


def published_mean(trace: str, policy: str, seeds: list[int], data_dir: Path | None = None) -> np.ndarray | None:
    """Mean published curve over `seeds` (those the authors ran), or None if they ran none."""
    curves = published_curves(trace, policy, data_dir)
    chosen = [curves[s] for s in seeds if s in curves]
    return np.mean(chosen, axis=0) if chosen else None
