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


@app.command("trace")
def trace(
    trace_name: str = typer.Option("default", "--trace", help="openb pod list variant (default, cpu050, ...)."),
    policy: str = typer.Option("fgd", help="Policy name (see `berth policies`)."),
    seeds: str = typer.Option("42,43,44", help="Comma-separated seeds; one run of the experiment's arrivals each."),
    replays: int = typer.Option(1, min=1, max=20, help="Replays of each seed; each decision counts at its fastest "
                                                     "(the raw slowest is reported too)."),
    untuned: bool = typer.Option(False, "--untuned",
                                 help="Leave the C allocator and BLAS threads at their defaults instead of "
                                      "the decision loop's settings, which the schedulers use "
                                      "(berth.engine.tuning)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Per-decision latency on the FGD experiment's cluster (1,213 GPU nodes), one core.

    Each seed replays the experiment's arrivals up to 130% of GPU capacity and times every
    decision by wall clock and by this thread's CPU clock (wall minus CPU is time the machine
    gave to other work).  Medians over the seeds are reported, and the slowest decision.  With
    --replays R each seed runs R times and each decision counts at its fastest replay, which
    removes a shared machine's noise from the slowest decision; the raw slowest is shown too.
    """
    from berth.engine import get_policy
    from berth.model import ValidationError
    from berth.sim.bench import bench_trace

    get_policy(policy)
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ValidationError("--seeds", f"must be comma-separated integers, got {seeds!r}") from None
    if not seed_list:
        raise ValidationError("--seeds", "needs at least one seed")
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{trace_name}, {policy}", total=len(seed_list))
        result = bench_trace(trace_name, policy, seed_list, tuned=not untuned, replays=replays,
                             progress=lambda done: bar.update(task, completed=done))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table("seed", "nodes", "decisions", "wall p50 µs", "wall p99 µs", "wall max µs", "CPU p50 µs",
                  "CPU p99 µs", "CPU max µs", "raw CPU max µs", "build ms",
                  title=f"decision latency, trace {trace_name}, policy {policy}, one core, "
                        f"fastest of {replays} replay(s)")
    for r in result.runs:
        table.add_row(str(r.seed), str(r.nodes), str(r.decisions), f"{r.wall_p50_us:.0f}", f"{r.wall_p99_us:.0f}",
                      f"{r.wall_max_us:.0f}", f"{r.cpu_p50_us:.0f}", f"{r.cpu_p99_us:.0f}", f"{r.cpu_max_us:.0f}",
                      f"{r.raw_cpu_max_us:.0f}", f"{r.build_ms:.0f}")
    Console().print(table)


@app.command("declarative")
def declarative(
    nodes: int = typer.Option(5000, min=1, help="Fake-runtime node agents (4 CPU, 32 GiB, 110 pods each)."),
    pods: int = typer.Option(10000, min=1, help="Measured pods of 100m CPU, 500 MiB, created over HTTP."),
    init_pods: int = typer.Option(1000, min=0, help="Pods created and bound before measuring (upstream: 1000)."),
    repeat: int = typer.Option(1, min=1, help="Runs; medians are reported."),
    creators: int = typer.Option(16, min=1, max=64, help="Concurrent client connections creating pods."),
    binders: int = typer.Option(32, min=1, max=128, help="The scheduler's concurrent pods/binding requests."),
    store: str = typer.Option("sqlite", help="API server store: sqlite (durable, in a temp dir) or memory."),
    backlog: bool = typer.Option(True, help="Also measure scheduling alone: a fresh scheduler binding PODS "
                                            "pending pods (--no-backlog skips it)."),
    coalesce: bool = typer.Option(True, help="The API server joins a connection's writes within one event-loop "
                                             "turn (--no-coalesce measures without it)."),
    insecure: bool = typer.Option(False, "--insecure", help="Plain HTTP with bearer tokens instead of TLS, to "
                                                            "measure what TLS costs (authorisation still applies)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Pods/s from creation to bound through the real HTTP path of the declarative plane.

    The API server, the scheduler and the load generator (CREATORS threads creating pods over
    HTTP) run as child processes; this process hosts the fake node agents.  Latency runs from just
    before each pod's POST until the agents' watch sees it bound.  The backlog figure is scheduling alone: PODS pods created with no
    scheduler running, then bound by a freshly started scheduler process.  Upstream's kube-scheduler threshold for 5000 nodes / 10000 pods
    is 680 pods/s (Go, no agents).
    """
    import statistics
    from dataclasses import replace

    from berth.model import ValidationError
    from berth.sim.kubebench import bench_backlog, bench_declarative

    if store not in ("sqlite", "memory"):
        raise ValidationError("--store", f"must be sqlite or memory, got {store!r}")
    runs = []
    console = Console(stderr=True)
    for i in range(repeat):
        with console.status(f"run {i + 1}/{repeat}") as status:
            say = lambda step: status.update(f"run {i + 1}/{repeat}: {step}")  # noqa: E731
            run = bench_declarative(nodes, pods, init_pods, creators=creators, binders=binders, store=store,
                                    coalesce=coalesce, insecure=insecure, progress=say)
            if backlog:
                run = replace(run, backlog_pods_per_s=bench_backlog(nodes, pods, creators=creators, binders=binders,
                                                                    store=store, coalesce=coalesce,
                                                                    insecure=insecure, progress=say))
            runs.append(run)
    med = lambda attr: float(statistics.median(getattr(r, attr) for r in runs))  # noqa: E731
    summary = {"nodes": nodes, "pods": pods, "init_pods": init_pods, "store": store, "creators": creators,
               "binders": binders, "coalesce": coalesce, "tls": not insecure,
               "pods_per_s": med("pods_per_s"), "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"),
               "backlog_pods_per_s": med("backlog_pods_per_s") if backlog else None,
               "upstream_reference_pods_per_s": runs[0].upstream_reference_pods_per_s,
               "runs": [r.to_dict() for r in runs]}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table("nodes", "pods", "pods/s create-to-bound (median)", "p50 ms", "p99 ms", "runs (pods/s)",
                  "backlog pods/s",
                  title=f"declarative plane benchmark ({store} store, scheduler process, fake agents"
                        f"{'' if coalesce else ', writes not coalesced'})")
    table.add_row(str(nodes), str(pods), f"{summary['pods_per_s']:,.0f}", f"{summary['p50_ms']:.0f}",
                  f"{summary['p99_ms']:.0f}", ", ".join(f"{r.pods_per_s:,.0f}" for r in runs),
                  f"{summary['backlog_pods_per_s']:,.0f}" if backlog else "-")
    Console().print(table)


@app.command("client")
def client(
    calls: int = typer.Option(2000, min=1, help="Calls of each kind per client per round."),
    rounds: int = typer.Option(5, min=1, help="Rounds, the clients interleaved; medians are reported."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The declarative client's unary calls over its hand-written connection (`client.wire`) beside httpx.

    The API server runs alone as a child process on loopback (memory store).  From one thread,
    each client makes CALLS of each kind per round (GET one pod, POST a new pod, PATCH one pod's
    status), the two interleaved round by round; reported are medians of wall and of this
    thread's CPU microseconds per call, and httpx / wire.  Every answer is checked.
    """
    from berth.sim.clientbench import CLIENTS, KINDS, bench_client

    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{rounds} rounds of {calls} calls of each kind per client", total=2 * rounds)
        result = bench_client(calls, rounds, progress=lambda done: bar.update(task, completed=done))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    names = {"get": "GET pod", "create": "POST pod", "patch_status": "PATCH status", "all": "all"}
    table = Table("µs per call", *CLIENTS, "httpx/wire", *(f"{c} CPU" for c in CLIENTS), "CPU httpx/wire",
                  title=f"declarative client, unary calls (medians of {rounds} rounds of {calls} per kind)")
    for kind in (*KINDS, "all"):
        table.add_row(names[kind], *(f"{result.wall_us[c][kind]:.0f}" for c in CLIENTS),
                      f"{result.ratio['wall'][kind]:.2f}", *(f"{result.cpu_us[c][kind]:.0f}" for c in CLIENTS),
                      f"{result.ratio['cpu'][kind]:.2f}")
    Console().print(table)


@app.command("optimal")
def optimal(
    sizes: str = typer.Option("50,100,200", help="Batch sizes of the small scenario (pods)."),
    nodes: int = typer.Option(20, min=1, help="Nodes drawn from the 1,213-node openb cluster for small batches."),
    seeds: int = typer.Option(3, min=1, help="Seeds per small batch size (1..seeds)."),
    time_limit: float = typer.Option(10.0, help="Seconds per small batch."),
    large: int = typer.Option(5000, min=0, help="Pods of the large batch (0: skip)."),
    large_nodes: int = typer.Option(600, min=1, help="Nodes of the large scenario."),
    large_limit: float = typer.Option(60.0, help="Seconds for the large batch."),
    secondary: str = typer.Option("nodes", help="Second objective after weight: nodes, fragmentation or none."),
    saturated: bool = typer.Option(True, help="Also the saturated scenario (FGD cluster at 100% arrived, seeds 42..)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The batch solver (`berth.engine.optimal.batch.place_batch`): proofs of optimality, gaps and wall time.

    Small: each batch of openb pods on a sample of openb nodes, within --time-limit; large: one
    batch of --large pods on --large-nodes nodes within --large-limit, against the best heuristic.
    """
    from berth.model import ValidationError
    from berth.sim.optbench import run_case, saturated_cases, warm_up

    if secondary not in ("nodes", "fragmentation", "none"):
        raise ValidationError("--secondary", f"must be nodes, fragmentation or none, got {secondary!r}")
    warm_up()
    cases = [("small", int(k), nodes, s, time_limit) for k in sizes.split(",") if k.strip() for s in range(1, seeds + 1)]
    if large:
        cases.append(("large", large, large_nodes, 1, large_limit))

    results = []
    ks = [int(k) for k in sizes.split(",") if k.strip()]
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task("batches", total=len(cases) + (seeds if saturated else 0))
        if saturated:
            for seed in range(42, 42 + seeds):
                results += saturated_cases(ks, seed, time_limit, secondary=secondary)
                bar.advance(task)
        for case in cases:
            results.append(run_case(*case, secondary=secondary))
            bar.advance(task)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    table = Table("scenario", "pods", "nodes", "seed", "status", "method", "weight", "heuristic", "bound", "gap %",
                  "new nodes (bound)", "seconds (cpu)",
                  title="batch solver (HiGHS / CP-SAT, warm-started; weight = pods placed, 1 + priority each)")
    for r in results:
        nodes_bound = "-" if r.secondary_bound is None else f"{r.secondary_bound:.0f}"
        table.add_row(r.scenario, str(r.pods), str(r.nodes), str(r.seed), f"{r.status} ({r.solver_status})", r.method,
                      str(r.weight), f"{r.heuristic_weight} ({r.heuristic})", str(r.bound), f"{100 * r.gap:.2f}",
                      f"{r.secondary} ({nodes_bound})", f"{r.seconds:.1f} ({r.cpu_seconds:.1f})")
    Console().print(table)


@app.command("placement")
def placement(
    providers: str = typer.Option("1000,6000", help="Comma-separated provider counts (loaded incrementally)."),
    repeat: int = typer.Option(5, min=1, help="Timed runs per query on upstream (berth gets 4x as many); medians."),
    claims: int = typer.Option(200, min=1, help="Concurrent claim attempts (PUT /allocations) per server."),
    threads: int = typer.Option(8, min=1, help="Client threads racing the claims."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """berth's Placement against upstream openstack-placement 16.0.0, same machine, same data.

    Installs upstream from PyPI into its own venv (cached under ~/.cache/berth), runs both
    servers on loopback over SQLite, loads the same flat providers into both, then times
    GET /allocation_candidates and races concurrent claims, checking no provider ends over
    (total - reserved) * allocation_ratio.  Loading 6000 providers takes several minutes.
    """
    from berth.model import ValidationError
    from berth.sim.placement_bench import bench_placement

    try:
        sizes = [int(p) for p in providers.split(",") if p.strip()]
    except ValueError:
        raise ValidationError("--providers", f"expected comma-separated integers, got {providers!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValidationError("--providers", "needs at least one positive provider count")
    console = Console(stderr=True)
    with console.status("starting", spinner="dots") as status:
        result = bench_placement(sizes, repeat, claims, threads,
                                 progress=None if as_json else lambda msg: status.update(msg))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    table = Table("providers", "query", "candidates", "upstream ms (median)", "berth ms (median)", "speed-up",
                  title="GET /allocation_candidates, upstream placement 16.0.0 vs berth")
    for q in result.queries:
        table.add_row(str(q.providers), q.query, str(q.candidates), f"{q.upstream_ms:.1f}", f"{q.berth_ms:.2f}",
                      f"{q.ratio:.1f}x")
    Console().print(table)
    c = result.claims
    claims_table = Table("server", "claims/s", "won", "5xx", "over-allocated providers",
                         title=f"concurrent claims: {c.attempts} attempts, {c.threads} threads, 10 providers x 14 VCPU")
    claims_table.add_row("upstream", f"{c.upstream_claims_per_s:.1f}", str(c.upstream_won), str(c.upstream_errors),
                         str(c.upstream_over_allocated))
    claims_table.add_row("berth", f"{c.berth_claims_per_s:.1f}", str(c.berth_won), str(c.berth_errors),
                         str(c.berth_over_allocated))
    Console().print(claims_table)
    Console().print(f"claims throughput ratio: {c.ratio:.1f}x")


from berth.cli.bench_abuse import abuse  # noqa: E402 - registered last, beside the other benchmarks

app.command("abuse")(abuse)

from berth.cli.bench_runtime import runtime_bench  # noqa: E402

app.command("runtime")(runtime_bench)
