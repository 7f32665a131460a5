"""`berth bench ...`: benchmarks with a Rich summary, or `--json` for scripts."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from berth.sim.bench import bench_engine

app = typer.Typer(help="Benchmarks.  Figures are medians over several runs; machines are noisy.",
                  no_args_is_help=True)


@app.command("engine")
def engine(
    nodes: int = typer.Option(5000, min=1, help="Nodes of 4 CPU, 32 GiB, 110 pods."),
    pods: int = typer.Option(10000, min=1, help="Measured pods of 100m CPU, 500 MiB."),
    init_pods: int = typer.Option(1000, min=0, help="Pods placed before measuring (upstream: 1000)."),
    repeat: int = typer.Option(3, min=1, help="Runs; the median is reported."),
    policy: str = typer.Option("kube-default", help="Policy name (see `berth policies`)."),
    cache: bool = typer.Option(True, help="Re-score only changed rows (same answers); --no-cache re-scores all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Decisions per second and per-decision latency of the placement engine, on one core.

    The shape is kube-scheduler's scheduler_perf SchedulingBasic; every node is considered for
    every pod.  Upstream's Go threshold for 5000 nodes / 10000 pods is 680 pods/s end to end.
    """
    from berth.engine import get_policy

    get_policy(policy)
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{nodes} nodes, {pods} pods", total=repeat)
        result = bench_engine(nodes, pods, init_pods, repeat, policy, cache,
                              progress=lambda done: bar.update(task, completed=done))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table("nodes", "pods", "decisions/s (median)", "p50 µs", "p99 µs", "peak RSS MiB", "runs",
                  title=f"engine benchmark, policy {policy}, one core")
    table.add_row(str(nodes), str(pods), f"{result.decisions_per_s:,.0f}", f"{result.p50_us:.1f}",
                  f"{result.p99_us:.1f}", f"{result.peak_rss_mib:.0f}",
                  ", ".join(f"{r.decisions_per_s:,.0f}" for r in result.runs))
    Console().print(table)
