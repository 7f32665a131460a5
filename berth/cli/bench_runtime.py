"""`berth bench runtime`: pods' create-to-running latency on a real runtime, berth beside the bare engine
(registered on `berth bench` by berth.cli.bench; the work is berth.sim.runtimebench)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def runtime_bench(
    runtime: str = typer.Option("container", "--runtime",
                                help="The runtime to measure: container (podman) or vm (QEMU)."),
    pods: int = typer.Option(50, "--pods", "--count", min=1, max=500,
                             help="Pods (or servers) started at once on each side."),
    agents: int = typer.Option(2, min=1, max=20, help="berth's node agents."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Create-to-running latency of PODS pods: the bare engine (the podman commands berth's runtime issues,
    all at once) and berth (POSTed to the API server, scheduled onto AGENTS agents, started by them), in
    the same run; p50, p99, max, and berth's overhead at p50.  With --runtime vm: servers as QEMU guests
    (bare qemu-system-x86_64 beside the centralised plane's compute API and AGENTS compute agents),
    running once the guest's init has started the server's command."""
    from berth.model import ValidationError
    from berth.sim.runtimebench import bench_runtime

    if runtime not in ("container", "vm"):
        raise ValidationError("--runtime", f"the benchmark measures the container and vm runtimes, got {runtime!r}")
    console = Console(stderr=True)
    with console.status("starting", spinner="dots") as status:
        result = bench_runtime(runtime, pods, agents, progress=lambda step: status.update(step))
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    what = "servers" if runtime == "vm" else "pods"
    table = Table("side", what, "failed", "p50 s", "p99 s", "max s", "wall s",
                  title=f"create to running, {pods} {what} at once ({runtime} runtime, berth on {agents} agents)")
    for side in (result.bare, result.berth):
        s = side.summary()
        table.add_row(s["name"], str(s["pods"]), str(s["failed"]), f"{s['p50_s']:.2f}", f"{s['p99_s']:.2f}",
                      f"{s['max_s']:.2f}", f"{s['wall_s']:.1f}")
    Console().print(table)
    Console().print(f"berth's overhead over the bare engine at p50: {result.overhead_p50:+.0%}")
