"""Side-by-side benchmark: berth's Placement against upstream openstack-placement 16.0.0.

Both servers run on this machine on loopback ports, each over its own SQLite file, and get
the same data through the same REST calls: flat compute providers (VCPU 32, MEMORY_MB
128 GiB, DISK_GB 2000), half with HW_CPU_X86_AVX2, each in one of three aggregates -- the
shape of upstream's placement-perfload gate job.  Measured:

* GET /allocation_candidates latency (median of several runs) at each provider count, for
  the perfload query (member_of + required), the unfiltered query, and the unfiltered query
  with limit=50;
* concurrent claims: many threads PUT /allocations/{consumer} (consumer_generation null)
  against a few small providers; throughput of successful claims, and afterwards every
  provider's usage is checked against (total - reserved) * allocation_ratio.

Upstream runs in its own venv (`berth.sim.upstream_placement`) under a threaded wsgiref
server; berth runs `python -m berth.centralised.placement` (uvicorn).  Called by
`berth bench placement`.
"""

from __future__ import annotations

import concurrent.futures as cf
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from berth.sim import upstream_placement

HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.36"}
AGGS = [str(uuid.UUID(int=i + 1)) for i in range(3)]
INVENTORY = {"VCPU": {"total": 32}, "MEMORY_MB": {"total": 131072}, "DISK_GB": {"total": 2000}}
QUERIES = {
    "perfload (member_of + required)": f"resources=VCPU:1,DISK_GB:10,MEMORY_MB:256&member_of=in:{AGGS[0]}"
                                       "&required=HW_CPU_X86_AVX2",
    "unfiltered": "resources=VCPU:1,DISK_GB:10,MEMORY_MB:256",
    "unfiltered, limit=50": "resources=VCPU:1,DISK_GB:10,MEMORY_MB:256&limit=50",
}


@dataclass
class QueryResult:
    providers: int
    query: str
    candidates: int
    upstream_ms: float
    berth_ms: float

    @property
    def ratio(self) -> float:
        return self.upstream_ms / self.berth_ms if self.berth_ms else float("inf")


@dataclass
class ClaimResult:
    attempts: int
    threads: int
    upstream_claims_per_s: float
    berth_claims_per_s: float
    upstream_won: int
    berth_won: int
    upstream_errors: int
    berth_errors: int
    upstream_over_allocated: int
    berth_over_allocated: int

    @property
    def ratio(self) -> float:
        return self.berth_claims_per_s / self.upstream_claims_per_s if self.upstream_claims_per_s else float("inf")


@dataclass
class PlacementBench:
    queries: list[QueryResult] = field(default_factory=list)
    claims: ClaimResult | None = None

    def to_dict(self) -> dict:
        return {"queries": [dict(asdict(q), ratio=round(q.ratio, 1)) for q in self.queries],
                "claims": dict(asdict(self.claims), ratio=round(self.claims.ratio, 1)) if self.claims else None}


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_berth(db_path: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "berth.centralised.placement", "--port", str(port),
                             "--db", f"sqlite:///{db_path}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    upstream_placement.wait_until_up(f"http://127.0.0.1:{port}", proc)
    return proc


def _retrying(call: Callable[[], httpx.Response], tries: int = 20) -> httpx.Response:
    """Loading calls retry 5xx (upstream on SQLite answers 'database is locked' under load)."""
    for attempt in range(tries):
        resp = call()
        if resp.status_code < 500:
            return resp
        time.sleep(0.05 * (attempt + 1))
    resp.raise_for_status()
    return resp


def _load_one(http: httpx.Client, i: int) -> None:
    rp = str(uuid.UUID(int=(1 << 64) + i))
    _retrying(lambda: http.post("/resource_providers", json={"name": f"cn{i:05d}", "uuid": rp}))
    _retrying(lambda: http.put(f"/resource_providers/{rp}/inventories",
                               json={"resource_provider_generation": 0, "inventories": INVENTORY}))
    gen = 1
    if i % 2 == 0:
        _retrying(lambda: http.put(f"/resource_providers/{rp}/traits",
                                   json={"traits": ["HW_CPU_X86_AVX2"], "resource_provider_generation": gen}))
        gen += 1
    _retrying(lambda: http.put(f"/resource_providers/{rp}/aggregates",
                               json={"aggregates": [AGGS[i % 3]], "resource_provider_generation": gen}))


def load(url: str, start: int, stop: int, threads: int = 4) -> None:
    """Create providers start..stop-1 (idempotent in shape: same UUIDs and names on both servers)."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=120) as http:
        with cf.ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda i: _load_one(http, i), range(start, stop)))


def time_query(url: str, query: str, repeat: int) -> tuple[float, int]:
    """Median milliseconds of GET /allocation_candidates?query, and the candidate count."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=300) as http:
        http.get(f"/allocation_candidates?{query}")  # warm-up (index build, caches)
        times, count = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            resp = http.get(f"/allocation_candidates?{query}")
            times.append((time.perf_counter() - t0) * 1000)
            resp.raise_for_status()
            count = len(resp.json()["allocation_requests"])
    return statistics.median(times), count


def _claim_targets(url: str, count: int) -> list[str]:
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        rps = []
        for i in range(count):
            rp = str(uuid.UUID(int=(2 << 64) + i))
            http.post("/resource_providers", json={"name": f"claim{i:03d}", "uuid": rp}).raise_for_status()
            http.put(f"/resource_providers/{rp}/inventories", json={
                "resource_provider_generation": 0,
                "inventories": {"VCPU": {"total": 8, "reserved": 1, "allocation_ratio": 2.0}}}).raise_for_status()
            rps.append(rp)
    return rps


def run_claims(url: str, attempts: int, threads: int) -> tuple[float, int, int, int]:
    """(successful claims per second, wins, 5xx errors, over-allocated providers)."""
    rps = _claim_targets(url, 10)
    clients = [httpx.Client(base_url=url, headers=HEADERS, timeout=120) for _ in range(threads)]

    def claim(i: int) -> int:
        http = clients[i % threads]
        return http.put(f"/allocations/{uuid.uuid4()}", json={
            "allocations": {rps[i % len(rps)]: {"resources": {"VCPU": 1}}}, "project_id": "p",
            "user_id": "u", "consumer_generation": None}).status_code

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as pool:
        codes = list(pool.map(claim, range(attempts)))
    elapsed = time.perf_counter() - t0
    over = 0
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        for rp in rps:
            used = http.get(f"/resource_providers/{rp}/usages").json()["usages"].get("VCPU", 0)
            over += used > (8 - 1) * 2.0
    for c in clients:
        c.close()
    won = codes.count(204)
    return won / elapsed, won, sum(c >= 500 for c in codes), over


def bench_placement(sizes: list[int], repeat: int = 5, claims: int = 200, threads: int = 8,
                    progress: Callable[[str], None] | None = None) -> PlacementBench:
    say = progress or (lambda _msg: None)
    say("installing upstream openstack-placement 16.0.0 into its venv (first run only)")
    venv = upstream_placement.ensure_venv()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-placement-"))
    up_port, b_port = _free_port(), _free_port()
    up = upstream_placement.start_server(venv, work / "upstream.db", up_port)
    berth = start_berth(work / "berth.db", b_port)
    urls = {"upstream": f"http://127.0.0.1:{up_port}", "berth": f"http://127.0.0.1:{b_port}"}
    out = PlacementBench()
    try:
        loaded = 0
        for size in sorted(sizes):
            for name, url in urls.items():
                say(f"loading providers {loaded}..{size} into {name}")
                load(url, loaded, size)
            loaded = size
            for label, query in QUERIES.items():
                say(f"{size} providers: timing '{label}'")
                up_ms, n = time_query(urls["upstream"], query, repeat)
                b_ms, n_b = time_query(urls["berth"], query, repeat * 4)
                if n != n_b:
                    raise RuntimeError(f"candidate counts differ for {label!r}: upstream {n}, berth {n_b}")
                out.queries.append(QueryResult(size, label, n, round(up_ms, 2), round(b_ms, 2)))
        say(f"concurrent claims: {claims} attempts, {threads} threads")
        up_c = run_claims(urls["upstream"], claims, threads)
        b_c = run_claims(urls["berth"], claims, threads)
        out.claims = ClaimResult(claims, threads, round(up_c[0], 1), round(b_c[0], 1), up_c[1], b_c[1],
                                 up_c[2], b_c[2], up_c[3], b_c[3])
    finally:
        for proc in (up, berth):
            proc.terminate()
            proc.wait(timeout=30)
    return out
