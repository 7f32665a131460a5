"""`berth place`: ask the engine where one workload would go on a cluster from a node-list CSV."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from berth.engine import Engine, PolicyContext, get_policy
from berth.model import ValidationError, Workload
from berth.sim.trace import load_nodes, load_pods, node_list_path, pod_trace_path
from berth.sim.workload import demand_mix


def parse_requests(text: str) -> dict[str, int]:
    """`cpu=100,memory=512,gpu=500` -> {'cpu': 100, ...}; errors name the offending item."""
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise ValidationError("--request", f"{item!r} is not NAME=INTEGER")
        out[name.strip()] = int(value)
    return out


def place(
    request: str = typer.Option(..., help="Requests as NAME=INTEGER pairs: cpu (millicores), memory (MiB), gpu (milli-GPU)."),
    policy: str = typer.Option("kube-default", help="Policy name (see `berth policies`)."),
    nodes: Path = typer.Option(None, help="Node list CSV; default: the openb trace's 1,213 GPU nodes."),
    mix: str = typer.Option("default", help="Pod trace whose request shapes are the workload mix (for fgd)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Where would one workload go?  Prints the node and GPU devices, or why no node fits."""
    workload = Workload("request", parse_requests(request))
    spec = get_policy(policy)
    context = PolicyContext(demand_mix(load_pods(pod_trace_path(mix)))) if spec.needs_mix else None
    engine = Engine(load_nodes(nodes or node_list_path()), spec, context=context)
    result = engine.place(workload)
    if as_json:
        body = {"ok": True, "node": result.node, "devices": list(result.devices), "score": result.score} if result.ok \
            else {"ok": False, "message": result.message, "reasons": dict(result.reasons)}
        typer.echo(json.dumps(body, indent=2))
        return
    Console().print(f"{result.node} devices={list(result.devices)}" if result.ok else result.message, highlight=False)
    if not result.ok:
        raise typer.Exit(1)
