"""Reports of the FGD experiment: a summary table as data, a CSV of every curve, and a PNG plot.

`summarize` compares berth's mean curve per policy with the authors' published mean over the same
seeds at the chosen arrival levels; `write_csv` and `plot` write files for people and scripts.
The CLI renders `summarize`'s rows with Rich; nothing here prints.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from berth.sim.fgd import Experiment
from berth.sim.published import LEVELS, published_mean

REPORT_LEVELS = (50, 90, 100, 130)


@dataclass(frozen=True)
class SummaryRow:
    policy: str
    level: int
    ours: float
    ours_std: float
    published: float | None

    @property
    def delta(self) -> float | None:
        return None if self.published is None else self.ours - self.published

    def to_dict(self) -> dict:
        return {**asdict(self), "delta": self.delta}


def summarize(experiment: Experiment, levels=REPORT_LEVELS, data_dir: Path | None = None) -> list[SummaryRow]:
    """Mean and spread of allocation % per policy and level, beside the published mean."""
    rows = []
    for policy in experiment.policies:
        curves = np.array([r.curve for r in experiment.runs if r.policy == policy])
        published = published_mean(experiment.trace, policy, experiment.seeds, data_dir)
        for level in levels:
            pub = None if published is None else float(published[level])
            rows.append(SummaryRow(policy, level, float(curves[:, level].mean()), float(curves[:, level].std()), pub))
    return rows


def write_csv(experiment: Experiment, path: Path) -> Path:
    """One row per run: trace, policy, seed, placed, failed, moves (placed pods a repair moved),
    seconds, then allocation % at 0..130."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["trace", "policy", "seed", "placed", "failed", "moves", "seconds", *range(LEVELS)])
        for r in experiment.runs:
            out.writerow([r.trace, r.policy, r.seed, r.placed, r.failed, r.moves, f"{r.seconds:.2f}",
                          *(f"{v:.3f}" for v in r.curve)])
    return path


def plot(experiment: Experiment, path: Path, data_dir: Path | None = None,
         extra: dict[str, np.ndarray] | None = None) -> Path:
    """Allocation % against arrived demand, one solid line per policy, published means dashed;
    `extra` curves (such as the proven upper bound) in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (full, zoom) = plt.subplots(1, 2, figsize=(12, 5))
    x = np.arange(LEVELS)
    for i, policy in enumerate(experiment.policies):
        colour = f"C{i}"
        mean = experiment.mean_curve(policy)
        published = published_mean(experiment.trace, policy, experiment.seeds, data_dir)
        for ax in (full, zoom):
            ax.plot(x, mean, color=colour, label=f"{policy} (berth)")
            if published is not None:
                ax.plot(x, published, color=colour, linestyle="--", alpha=0.6, label=f"{policy} (published)")
    for style, (label, curve) in zip(("-.", ":", "--"), (extra or {}).items()):
        for ax in (full, zoom):
            ax.plot(x, curve, color="black", linestyle=style, linewidth=1.2, label=label)
    full.plot(x, x, color="grey", linewidth=0.8, linestyle=":", label="demand")
    zoom.set_xlim(80, 130)
    zoom.set_ylim(80, 100)
    for ax in (full, zoom):
        ax.set_xlabel("arrived GPU demand (% of cluster GPU capacity)")
        ax.set_ylabel("GPU allocation (% of capacity)")
        ax.grid(alpha=0.3)
    zoom.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"GPU allocation, trace {experiment.trace}, {len(experiment.seeds)} seed(s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
