"""`berth up`: a whole control plane on this machine in one command (declarative by default).

The declarative plane makes a CA, the API server's certificate and every part's credential in
`--state-dir` (`pki/`, files 0600), starts the Kubernetes-compatible API server on SQLite there,
serving HTTPS with client certificates and RBAC (`--insecure`: plain HTTP with bearer tokens), the
controllers, the scheduler and `--nodes` node agents on `--runtime` (`process`, the default: real
processes, nothing to install; `container`: podman containers from images of the local registry, which
it starts; `vm`: each container a QEMU guest booting the VM boot image its image names; a runtime this
machine lacks is refused in one line naming what is missing and the command that installs it, `berth
setup <runtime>`), writes the
administrator's kubeconfig (the CA and a client certificate embedded) and prints its path and how to
use it with `kubectl` (never a key or token), then runs until Ctrl-C, when it stops every part (agents
terminate their pods' processes).  Starting again with the same `--state-dir`
resumes from the store.  `--demo` applies `examples/hello-deployment.yaml` with kubectl, waits for
the rollout, shows the pods and one pod's logs, deletes the Deployment and shuts down: a
self-checking tour.  `--plane centralised` starts the OpenStack-style plane instead (Placement, the
compute API, schedulers, a conductor and agents), shows its endpoints and runs until Ctrl-C.  The
launching itself lives in `berth.launch`; this module prints.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress

from berth.model import ValidationError

if TYPE_CHECKING:
    from berth.launch.centralised import CentralisedPlane

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-deployment.yaml"
RUNTIMES = ("process", "container", "vm", "fake")
PLANES = ("declarative", "centralised")


def up(
    nodes: int = typer.Option(2, "--nodes", min=1, max=10_000, help="Node agents to start (one process hosts them all)."),
    state_dir: Path = typer.Option(Path(".berth"), "--state-dir", help="Where the SQLite store, kubeconfig and logs live."),
    port: int = typer.Option(6443, "--port", min=0, max=65535, help="API server port on 127.0.0.1 (0: any free port)."),
    runtime: str = typer.Option("process", "--runtime", help="process (real subprocesses, the default), container "
                                "(podman containers from images), vm (QEMU virtual machines) or fake (in-memory)."),
    scheduler_config: Path = typer.Option(None, "--scheduler-config", exists=True, dir_okay=False,
                                          help="KubeSchedulerConfiguration YAML (profiles, plugin weights)."),
    demo: bool = typer.Option(False, "--demo", help="Apply the example Deployment, show it working, then shut down."),
    plane: str = typer.Option("declarative", "--plane", help="declarative (Kubernetes API) or centralised (OpenStack)."),
    insecure: bool = typer.Option(False, "--insecure", help="Serve plain HTTP with bearer tokens instead of TLS "
                                  "(authentication and RBAC still apply; kubectl sends no credentials over HTTP, "
                                  "berth's and the Python client do)."),
) -> None:
    """Start the API server, controllers, scheduler and NODES local agents; Ctrl-C stops them all."""
    if plane not in PLANES:
        raise ValidationError("--plane", f"must be one of {', '.join(PLANES)}, got {plane!r}")
    if runtime not in RUNTIMES:
        raise ValidationError("--runtime", f"must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    _check_runtime(runtime)
    if plane == "centralised":
        up_centralised(agents=nodes, state_dir=str(state_dir), runtime=runtime, port=port if port != 6443 else 8770,
                       demo=demo)
        return
    from berth.declarative.scheduler import default_profiles, load_config
    from berth.launch.declarative import LocalCluster
    from berth.launch.vmimages import missing as vm_missing
    from berth.runtime import RUNTIMES as AVAILABLE

    if runtime not in AVAILABLE:
        raise ValidationError("--runtime", f"the declarative plane has no {runtime} runtime in this version")
    if problem := vm_missing(runtime):
        raise ValidationError("--runtime", problem)

    profiles = load_config(scheduler_config) if scheduler_config else default_profiles()
    if demo and shutil.which("kubectl") is None:
        raise ValidationError("--demo", "needs the kubectl binary on PATH")
    if demo and insecure:
        raise ValidationError("--insecure", "--demo drives kubectl, which sends no credentials to a plain-HTTP "
                                            "server; run the demo over TLS (without --insecure)")
    console = Console()
    cluster = LocalCluster(state_dir=state_dir, nodes=nodes, port=port, runtime=runtime, profiles=profiles,
                           insecure=insecure)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("starting", total=4)
        try:
            cluster.start(progress=lambda step: bar.update(task, advance=1, description=f"starting {step}"))
        except OSError as err:
            raise ValidationError("--port", f"{err}; choose another with --port (0 picks a free one)") from None
    try:
        _announce(console, cluster)
        if demo:
            _demo(console, cluster)
        else:
            _wait_for_ctrl_c()
    finally:
        console.print("[bold]stopping[/]: agents (their processes), scheduler, controllers, API server")
        cluster.stop()
        console.print(f"stopped; state kept in {state_dir} (run `berth up --state-dir {state_dir}` to resume)")


def _check_runtime(runtime: str) -> None:
    """Refuse, in one line, a runtime this machine is not set up for (what is missing, and the fix)."""
    from berth.launch.images import missing

    problem = missing(runtime)
    if problem:
        raise ValidationError("--runtime", problem)


def _accel(cluster) -> str:
    """`, QEMU tcg` (or kvm) on the vm runtime: which accelerator its guests run on."""
    return f", QEMU {cluster.accel}" if cluster.accel else ""


def _announce(console: Console, cluster) -> None:
    kubeconfig = cluster.kubeconfig.resolve()
    security = ("plain HTTP (--insecure): bearer tokens, RBAC" if cluster.insecure else
                "TLS, client certificates, RBAC")
    console.print(Panel.fit(
        f"API server   {cluster.url} ({security})\n"
        f"nodes        {cluster.nodes} ({cluster.runtime} runtime{_accel(cluster)})\n"
        f"kubeconfig   {kubeconfig} (administrator, system:masters; keep it private)\n"
        f"credentials  {(cluster.home / 'pki').resolve()} (CA, certificates, keys; mode 0600)\n\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl get nodes\n"
        f"  kubectl apply -f {EXAMPLE}\n"
        f"  kubectl rollout status deployment/hello && kubectl get pods -o wide\n\n"
        "Ctrl-C stops everything; state stays in the store.",
        title="berth up: declarative plane ready"))
    if cluster.runtime == "container":
        from berth.launch.images import SEEDS, has_image

        if not has_image(SEEDS[0].name, SEEDS[0].tags[0]):
            console.print("[yellow]the local registry holds no seeded images yet[/]: run `berth images seed`")


def _wait_for_ctrl_c() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(0.5):
        pass


def _demo(console: Console, cluster) -> None:
    """The README's tour, with kubectl; raises if a step fails."""
    def kubectl(*args: str, show: bool = True, check: bool = True) -> str:
        out = subprocess.run(["kubectl", *args], env=cluster.env(), capture_output=True, text=True, timeout=120)
        if show:
            console.print(f"[bold cyan]$ kubectl {' '.join(args)}[/]")
            console.out(out.stdout.rstrip() or out.stderr.rstrip(), highlight=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    kubectl("get", "nodes", "-o", "wide")
    kubectl("apply", "-f", str(EXAMPLE))
    kubectl("rollout", "status", "deployment/hello", "--timeout=90s")
    kubectl("get", "pods", "-o", "wide")
    time.sleep(2)
    first = kubectl("get", "pods", "-l", "app=hello", "-o", "name", show=False).split()[0]
    kubectl("logs", first, "--tail=3")
    kubectl("delete", "deployment", "hello")
    console.print("waiting for the garbage collector and the agents to remove the pods and stop their processes")
    deadline = time.monotonic() + 60
    while kubectl("get", "pods", "-l", "app=hello", "-o", "name", show=False).strip():
        if time.monotonic() > deadline:
            raise RuntimeError("the demo's pods were not removed within 60 s")
        time.sleep(0.5)
    console.print("[bold green]demo complete[/]: a Deployment of 3 real processes was applied, rolled out, "
                  "logged and deleted")


# ---- the centralised plane -----------------------------------------------------------------------
def up_centralised(agents: int = 3, state_dir: str | None = None, runtime: str = "process", schedulers: int = 1,
                   port: int = 8770, as_json: bool = False, demo: bool = False) -> None:
    """Start the centralised plane; run until Ctrl-C (or, with `demo`, run the tour and stop)."""
    from berth.launch.centralised import CentralisedPlane, PlaneSpec

    state_dir = str(Path(state_dir) / "centralised") if state_dir else None
    plane = CentralisedPlane(PlaneSpec(agents=agents, state_dir=state_dir, runtime=runtime,
                                       schedulers=schedulers, port=port))
    console = Console()
    steps = plane.steps()
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("starting the centralised plane", total=len(steps))
            for label, step in steps:
                bar.update(task, description=f"starting {label}")
                step()
                bar.advance(task)
        _show_centralised(console, plane, as_json)
        signal.signal(signal.SIGTERM, _interrupt)
        if demo:
            from berth.cli.centralised_demo import tour
            tour(console, plane.compute_url, plane.placement_url, admin=plane.token("admin"),
                 member=plane.token("member"))
        else:
            _watch_centralised(console, plane)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("[bold]stopping[/]: agents (their servers), conductor, schedulers, compute API, Placement")
        plane.stop()


def _show_centralised(console: Console, plane: CentralisedPlane, as_json: bool) -> None:
    urls, creds = plane.endpoints(), plane.credentials
    tokens = {name: str(creds.token(name)) for name in ("admin", "member")}
    if as_json:
        print(json.dumps({"state_dir": str(plane.dir), "endpoints": urls, "token_files": tokens,
                          "runtime": plane.runtime_note()}, indent=2),
              flush=True)
        return
    width = max(len(n) for n in urls)
    lines = [f"{name.ljust(width)}  {url}" for name, url in urls.items()]
    c, p = plane.compute_url, plane.placement_url
    admin, member = (f'-H "X-Auth-Token: $(cat {tokens[n]})"' for n in ("admin", "member"))
    lines += ["", f"agents' runtime: {plane.runtime_note()}", f"state and logs: {plane.dir}",
              f"tokens (files, 0600): admin {tokens['admin']}, member {tokens['member']}", "",
              f"  curl -s -XPOST {c}/flavors {admin} -H 'Content-Type: application/json' \\",
              "       -d '{\"flavor\": {\"id\": \"m1\", \"name\": \"m1\", \"vcpus\": 1, \"ram\": 512}}'",
              f"  curl -s -XPOST {c}/servers {member} -H 'Content-Type: application/json' \\",
              "       -d '{\"server\": {\"name\": \"vm1\", \"flavorRef\": \"m1\"}}'",
              f"  curl -s {c}/servers/detail {member}",
              f"  openstack --os-auth-type admin_token --os-endpoint {p} \\",
              f"       --os-token \"$(cat {tokens['admin']})\" resource provider list",
              "", "Ctrl-C stops everything."]
    console.print(Panel.fit("\n".join(lines), title="berth up: centralised plane ready"), highlight=False)


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def _watch_centralised(console: Console, plane: CentralisedPlane) -> None:
    """Wait for Ctrl-C, saying so when a child process dies."""
    reported: set[str] = set()
    while True:
        for name, child in plane.children.items():
            if name not in reported and child.popen.poll() is not None:
                reported.add(name)
                console.print(f"[yellow]{name} exited with {child.popen.returncode}[/] "
                              f"(log: {plane.dir / 'logs' / (name + '.log')})")
        time.sleep(1.0)
