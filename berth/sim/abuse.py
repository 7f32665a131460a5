"""`berth bench abuse`: one normal client's latency while hostile clients press on a server, loopback only.

`bench_abuse(target, load)` starts the target (`start_target`: the API server alone through
`berth.launch.LocalCluster`, or Placement, the compute API or an agent through `CentralisedPlane`), or takes a
running one (`Target.from_url`), and for `load.duration` seconds runs, each kind in child processes of its
own (`berth.sim.abusers`): `load.half_open` half-open connections spread over `load.processes` children,
`load.slowloris` slowloris clients and `load.big_bodies` clients posting `load.body_mb` MB bodies in a loop.
Meanwhile one authenticated client GETs a cheap resource every `load.interval` seconds, and a sampler reads
the server's /proc/<pid>/status (VmHWM, the peak resident set) and counts its open descriptors.  The result
(`AbuseResult.to_dict()`) has the normal client's p50/p99/max latency and errors, the server's peak RSS and
fds, and what the hostile clients saw: connections opened, refused (TCP), cut in their TLS handshake
and evicted, big-body answers.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from berth.sim.abusers import Aim, Tally, attack, is_loopback, raise_nofile

CHEAP_PATHS = {"apiserver": "/api/v1/namespaces/default", "placement": "/resource_providers",
               "compute": "/os-services", "agent": "/healthz"}
"""The resource the normal client reads from each kind of server."""
PLACEMENT_HEADERS = {"openstack-api-version": "placement 1.39"}


@dataclass(frozen=True)
class Load:
    """How hard to press, and for how long."""

    duration: float = 30.0
    half_open: int = 20_000
    slowloris: int = 200
    big_bodies: int = 4
    body_mb: float = 10.0
    interval: float = 0.05
    processes: int = 5
    """Children sharing the half-open connections (each below its open-file limit)."""
    handshake: bool = False
    """With TLS, whether half-open clients do the handshake before their partial head (False: a TCP
    connection that never sends its ClientHello; a server's handshakes are far slower to open)."""
    drip: float = 3.0


@dataclass
class Target:
    """A server under test: its URL, how the normal client authenticates, its pid (for /proc figures)."""

    kind: str
    url: str
    pid: int | None = None
    verify: object = True
    headers: dict = field(default_factory=dict)
    path: str = ""
    stop: object = None

    def __post_init__(self) -> None:
        self.path = self.path or CHEAP_PATHS[self.kind]
        if not is_loopback(urlsplit(self.url).hostname or ""):
            raise ValueError(f"{self.url}: only a loopback server may be pressed")


@dataclass
class AbuseResult:
    target: str
    url: str
    duration_s: float
    requests: int
    errors: int
    error_kinds: dict
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_rss_start_mib: float | None
    server_peak_rss_mib: float | None
    server_peak_fds: int | None
    clients: dict

    def to_dict(self) -> dict:
        return asdict(self)


# ---- the normal client and the sampler ------------------------------------------------------------
def _normal(target: Target, load: Load, until: float, out: dict) -> None:
    latencies, errors = [], Counter()
    with httpx.Client(base_url=target.url, verify=target.verify, headers=target.headers, timeout=10) as client:
        while time.monotonic() < until:
            start = time.perf_counter()
            try:
                code = client.get(target.path).status_code
                if code >= 400:
                    errors[str(code)] += 1
            except httpx.HTTPError as err:
                errors[type(err).__name__] += 1
            latencies.append(time.perf_counter() - start)
            time.sleep(max(0.0, load.interval - (time.perf_counter() - start)))
    out.update(latencies=latencies, errors=errors)


def proc_figures(pid: int) -> tuple[float, float, int] | None:
    """(VmRSS MiB, VmHWM MiB, open fds) of a process, None once it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        return None
    kib = lambda name: int(fields[name].split()[0]) / 1024  # noqa: E731
    return kib("VmRSS"), kib("VmHWM"), fds


def _sample(pid: int, until: float, out: dict) -> None:
    while time.monotonic() < until:
        got = proc_figures(pid)
        if got:
            out["hwm"], out["fds"] = max(out.get("hwm", 0.0), got[1]), max(out.get("fds", 0), got[2])
        time.sleep(0.25)


# ---- the hostile clients ----------------------------------------------------------------------------
def _shares(total: int, parts: int) -> list[int]:
    parts = max(1, min(parts, total)) if total else 0
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _children(target: Target, load: Load, seconds: float):
    url = urlsplit(target.url)
    aim = Aim(url.hostname, url.port or (443 if url.scheme == "https" else 80), url.scheme == "https",
              target.path, load.handshake, load.drip, int(load.body_mb * 1_000_000))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    plan = [("half_open", n) for n in _shares(load.half_open, load.processes)]
    plan += [("slowloris", load.slowloris)] if load.slowloris else []
    plan += [("big_body", load.big_bodies)] if load.big_bodies else []
    procs = [ctx.Process(target=attack, args=(kind, n, aim, seconds, queue), daemon=True) for kind, n in plan]
    for p in procs:
        p.start()
    ready = 0
    while ready < len(procs):  # a spawned child imports for a while: the clock starts once all run
        if queue.get(timeout=120) == "ready":
            ready += 1
    return procs, queue


def _collect(procs, queue, wait: float) -> dict:
    tallies: list[Tally] = []
    end = time.monotonic() + wait
    while len(tallies) < len(procs) and time.monotonic() < end:
        try:
            tallies.append(queue.get(timeout=max(0.1, end - time.monotonic())))
        except Exception:  # noqa: BLE001 - queue.Empty: a child died; what it saw is lost
            break
    for p in procs:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
    out: dict = {}
    for t in tallies:
        row = out.setdefault(t.kind, {"opened": 0, "refused": 0, "cut": 0, "evicted": 0, "peak_open": 0,
                                      "answers": {}})
        row["opened"] += t.opened
        row["refused"] += t.refused
        row["cut"] += t.cut
        row["evicted"] += t.evicted
        row["peak_open"] += t.peak_open
        for code, n in t.answers.items():
            row["answers"][code] = row["answers"].get(code, 0) + n
    return out


# ---- the run ----------------------------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_abuse(target: Target, load: Load, progress=lambda fraction: None) -> AbuseResult:
    """Press `target` with `load`; the normal client's figures and the server's."""
    raise_nofile()
    start_figures = proc_figures(target.pid) if target.pid else None
    ramp = min(5.0, load.duration / 5)
    procs, queue = _children(target, load, ramp + load.duration + 1)
    time.sleep(ramp)  # let the children's connections pile up first
    until = time.monotonic() + load.duration
    normal, sampled = {}, {}
    threads = [threading.Thread(target=_normal, args=(target, load, until, normal), daemon=True)]
    if target.pid:
        threads.append(threading.Thread(target=_sample, args=(target.pid, until, sampled), daemon=True))
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        progress(min(1.0, 1 - (until - time.monotonic()) / load.duration))
        time.sleep(0.25)
    clients = _collect(procs, queue, wait=15)
    lat = [x * 1000 for x in normal.get("latencies", [])]
    return AbuseResult(target.kind, target.url, load.duration, len(lat), sum(normal["errors"].values()),
                       dict(normal["errors"]), round(statistics.median(lat), 2) if lat else float("nan"),
                       round(_percentile(lat, 0.99), 2), round(max(lat, default=float("nan")), 2),
                       round(start_figures[0], 1) if start_figures else None,
                       round(sampled["hwm"], 1) if "hwm" in sampled else None, sampled.get("fds"), clients)


# ---- the targets --------------------------------------------------------------------------------------
PLANE_STEPS = {"placement": 1, "compute": 2, "agent": None}
"""How many of CentralisedPlane's start-up steps each centralised target needs (None: all of them)."""


def start_target(kind: str) -> Target:
    """Start a server of `kind` on loopback with its own fresh credentials; `Target.stop()` ends it."""
    if kind == "apiserver":
        return _apiserver()
    if kind not in PLANE_STEPS:
        raise ValueError(f"unknown target {kind!r}: apiserver, placement, compute or agent")
    from berth.launch.centralised import CentralisedPlane, PlaneSpec

    plane = CentralisedPlane(PlaneSpec(agents=1, runtime="fake", port=0))
    try:
        for _label, step in plane.steps()[:PLANE_STEPS[kind]]:
            step()
    except BaseException:
        plane.stop()
        raise
    child = plane.children["cmp-000" if kind == "agent" else kind]
    return Target(kind, child.url, child.popen.pid, headers=_central_headers(plane, kind), stop=plane.stop)


def _apiserver() -> Target:
    from berth.launch.declarative import LocalCluster

    cluster = LocalCluster(nodes=0, controllers=False, start_scheduler=False, runtime="fake").start()
    admin = cluster.admin
    verify = admin.ssl_context() if cluster.url.startswith("https") and admin else True
    headers = {"authorization": admin.authorization} if admin and admin.authorization else {}
    return Target("apiserver", cluster.url, cluster.children[0].pid, verify, headers, stop=cluster.stop)


def _central_headers(plane, kind: str) -> dict:
    """The normal client's headers: the plane's admin token where the plane has credentials (the agents:
    the conductor's), else upstream's noauth2 form."""
    creds = getattr(plane, "credentials", None)
    name = "conductor" if kind == "agent" else "admin"
    token = _read(creds.token(name)) if creds is not None else "admin"
    return {"x-auth-token": token, **(PLACEMENT_HEADERS if kind == "placement" else {})}


def _read(path) -> str:
    return Path(path).read_text().strip()


def url_target(kind: str, url: str, *, token_file: str | None = None, kubeconfig: str | None = None,
               pid: int | None = None, path: str = "") -> Target:
    """A running server: bearer token (API server) or X-Auth-Token (centralised) from `token_file`, or the
    kubeconfig's CA, client certificate and token."""
    verify, headers = True, {}
    if kubeconfig:
        from berth.declarative.client.credentials import Credentials

        creds = Credentials.from_kubeconfig(kubeconfig)
        verify = creds.ssl_context() if url.startswith("https") else True
        headers = {"authorization": creds.authorization} if creds.authorization else {}
    if token_file:
        token = _read(token_file)
        headers = {"authorization": f"Bearer {token}"} if kind == "apiserver" else {"x-auth-token": token}
    if kind == "placement":
        headers.update(PLACEMENT_HEADERS)
    return Target(kind, url.rstrip("/"), pid, verify, headers, path)
