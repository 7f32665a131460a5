"""`berth experiment fgd`: the FGD paper's GPU-sharing experiment on a real trace.

Runs every (policy, seed) in parallel over the machine's cores with a progress bar, then prints a
Rich table comparing berth's mean allocation with the authors' published mean, and writes a CSV
of every curve and a PNG plot to `--out`.  `--json` prints the summary for scripts instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from berth.engine import get_policy
from berth.model import ValidationError
from berth.sim import report
from berth.cli import bounds_view
from berth.sim.batchmode import batch_runs
from berth.sim.bound import bound_curves, mean_bound
from berth.sim.fgd import FGD_POLICIES, run_experiment
from berth.sim.trace import find_data_dir, load_nodes, load_pods, node_list_path, pod_trace_path

app = typer.Typer(help="Experiments on real traces.", no_args_is_help=True)
TABLE_LEVELS = (100, 130)
"""Arrival levels in the printed table (the JSON and CSV carry more)."""


def _policies(spec: str) -> list[str]:
    names = list(FGD_POLICIES) if spec == "all" else [p.strip() for p in spec.split(",") if p.strip()]
    for name in names:
        get_policy(name)
    if not names:
        raise ValidationError("--policy", "name at least one policy, or 'all'")
    return names


def _seeds(first: int, count: int) -> list[int]:
    if count < 1:
        raise ValidationError("--seeds", f"must be at least 1, got {count}")
    return list(range(first, first + count))


@app.command("fgd")
def fgd(
    trace: str = typer.Option("default", help="Pod list variant (default, cpu050, gpushare40, ...) or a CSV path."),
    nodes: Path = typer.Option(None, help="Node list CSV (sn,cpu_milli,memory_mib,gpu,model); default: the 1,213 GPU nodes."),
    policy: str = typer.Option("all", help="Comma-separated policies, or 'all' for the paper's six."),
    seeds: int = typer.Option(10, help="How many seeds, starting at --first-seed."),
    first_seed: int = typer.Option(42, help="First seed (the paper used 42-51)."),
    workers: int = typer.Option(0, help="Processes to run in parallel (0: one per core)."),
    out: Path = typer.Option(Path("results"), help="Folder for the CSV and PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON for scripts."),
    bound: bool = typer.Option(False, "--bound", help="Add the proven upper bound (LP relaxation over the "
                               "arrived pods, per seed) and each policy's gap to it in pp."),
    batch: int = typer.Option(0, "--batch", min=0, help="Also run batch mode: place every K arrivals jointly "
                              "(sorted most-GPU-first, fgd-repair incumbent, CP-SAT for strictly more GPU, "
                              "2 s per batch); shown as policy batch-K."),
) -> None:
    """GPU allocation against arrived demand (0-130%), per policy, as in Weng et al. (ATC'23).

    Protocol: the 1,213 GPU nodes of the openb trace; pods shuffled by seed, resampled to 130% of
    GPU capacity, placed one at a time, never leaving.  Compared with the published per-seed means.
    """
    names, seed_list = _policies(policy), _seeds(first_seed, seeds)
    data_dir = find_data_dir()
    load_nodes(nodes or node_list_path(data_dir))
    load_pods(pod_trace_path(trace, data_dir))
    label = Path(trace).stem.removeprefix("openb_pod_list_")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{label}: {len(names)} policies x {len(seed_list)} seeds", total=len(names) * len(seed_list))
        experiment = run_experiment(trace, names, seed_list, data_dir, workers or None,
                                    progress=lambda run: bar.advance(task), nodes=nodes)
    experiment.trace = label
    if batch:
        experiment.runs += batch_runs(trace, seed_list, batch, data_dir, workers or None, nodes)
        experiment.policies.append(f"batch-{batch}")
    rows = report.summarize(experiment, data_dir=data_dir)
    extra, bound_data = {}, None
    if bound:
        runs = bound_curves(trace, seed_list, data_dir, workers or None, nodes)
        bound_data, extra = bounds_view.summary(runs, experiment), {"upper bound": mean_bound(runs)}
    csv_path = report.write_csv(experiment, out / f"fgd-{label}.csv")
    png_path = report.plot(experiment, out / f"fgd-{label}.png", data_dir, extra=extra)
    if as_json:
        typer.echo(json.dumps({"trace": label, "seeds": seed_list, "policies": experiment.policies,
                               "summary": [r.to_dict() for r in rows], "csv": str(csv_path), "plot": str(png_path),
                               "seconds": sum(r.seconds for r in experiment.runs),
                               "moves": {p: sum(r.moves for r in experiment.runs if r.policy == p)
                                         for p in experiment.policies},
                               **({"bound": bound_data} if bound_data else {})}, indent=2))
        return
    _print_table(label, seed_list, rows)
    if bound_data:
        bounds_view.print_table(bound_data)
    Console().print(f"wrote {csv_path} and {png_path}")


def _print_table(trace: str, seeds: list[int], rows: list[report.SummaryRow]) -> None:
    table = Table(title=f"GPU allocation % at arrived demand, trace {trace}, seeds {seeds[0]}-{seeds[-1]}",
                  caption="berth's mean beside the authors' published mean (paper) over the same seeds")
    table.add_column("policy")
    levels = TABLE_LEVELS
    for level in levels:
        table.add_column(f"{level}%", justify="right")
        table.add_column("paper", justify="right")
        table.add_column("Δpp", justify="right")
    for policy in dict.fromkeys(r.policy for r in rows):
        cells = [policy]
        for level in levels:
            row = next(r for r in rows if r.policy == policy and r.level == level)
            cells += [f"{row.ours:.2f}", "-" if row.published is None else f"{row.published:.2f}",
                      "-" if row.delta is None else f"{row.delta:+.2f}"]
        table.add_row(*cells)
    Console().print(table)
