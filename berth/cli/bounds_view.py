"""Rendering of the proven upper bound beside the FGD experiment (`berth experiment fgd --bound`).

`compute` runs the bound curves for the experiment's seeds; `summary` turns them and the
experiment's runs into JSON-ready data (bound per level, each policy's mean gap in pp);
`print_table` shows the same with Rich.  The solving lives in `berth.sim.bound`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from berth.sim.bound import BoundRun, gaps, mean_bound

GAP_LEVELS = (90, 100, 110, 130)


def curves_by_policy(experiment) -> dict[str, dict[int, np.ndarray]]:
    out: dict[str, dict[int, np.ndarray]] = {}
    for run in experiment.runs:
        out.setdefault(run.policy, {})[run.seed] = run.curve
    return out


def summary(bounds: list[BoundRun], experiment, levels=GAP_LEVELS) -> dict:
    """{'bound': {level: mean %}, 'gap_pp': {policy: {level: mean pp}}, 'violations': [...]}."""
    mean = mean_bound(bounds)
    gap = gaps(bounds, curves_by_policy(experiment), levels)
    by_seed = {b.seed: b.bound for b in bounds}
    worst = [(r.policy, r.seed, float(np.max(r.curve - by_seed[r.seed])))
             for r in experiment.runs if r.seed in by_seed]
    violations = [{"policy": p, "seed": s, "excess_pp": e} for p, s, e in worst if e > 1e-9]
    return {"bound": {str(lvl): float(mean[lvl]) for lvl in levels},
            "gap_pp": {p: {str(lvl): v for lvl, v in per.items()} for p, per in gap.items()},
            "bound_seconds": float(sum(b.seconds for b in bounds)),
            "violations": violations}


def print_table(data: dict, out: Path | None = None) -> None:
    """The bound row, then each policy's gap to it, at the summary's levels."""
    levels = list(data["bound"])
    table = Table(title="Proven upper bound on GPU allocation (HiGHS LP over the arrived pods), "
                        "and each policy's gap to it",
                  caption="gap = bound - policy, in percentage points, mean over the same seeds")
    table.add_column("")
    for level in levels:
        table.add_column(f"{level}%", justify="right")
    table.add_row("upper bound %", *(f"{data['bound'][lvl]:.2f}" for lvl in levels), style="bold")
    for policy, per in data["gap_pp"].items():
        table.add_row(f"gap {policy} (pp)", *(f"{per[lvl]:.2f}" for lvl in levels))
    console = Console()
    console.print(table)
    if data["violations"]:
        console.print(f"[bold red]bound violated:[/] {data['violations']}")
