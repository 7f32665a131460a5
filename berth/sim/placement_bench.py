"""Side-by-side benchmark: berth's Placement against upstream openstack-placement 16.0.0.

Both servers run on this machine on loopback ports, each over its own SQLite file, and get
the same data: flat compute providers (VCPU 32, MEMORY_MB 128 GiB, DISK_GB 2000), half with HW_CPU_X86_AVX2, each in one of three aggregates -- the
shape of upstream's placement-perfload gate job.
Providers are written into both SQLite files directly (`bulk_load`, the rows the REST calls
would create); claims go through the REST API.  Measured:

* GET /allocation_candidates latency (median of several warm runs, upstream's and berth's
  interleaved round by round) at each provider count, for the perfload query (member_of +
  required), the unfiltered query, and the unfiltered query with limit=50;
* concurrent claims: many threads PUT /allocations/{consumer} (consumer_generation null)
  against a few small providers; throughput of successful claims, and afterwards every
  provider's usage is checked against (total - reserved) * allocation_ratio.

Upstream runs in its own venv (`berth.launch.upstream_placement`) under a threaded wsgiref
server with its `noauth2` strategy; berth runs `python -m berth.centralised.placement`
(uvicorn) with its default token check, and every request to it carries a service token
generated for the run (`berth.centralised.tokens`), so the comparison includes that check.  Called by
`berth bench placement`.
"""

from __future__ import annotations

import concurrent.futures as cf
import sqlite3
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

from berth.centralised.tokens import Credentials, generate, read_token
from berth.launch import upstream_placement
from berth.launch.ports import free_port

HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.36"}
"""Upstream's headers: noauth2 reads the token 'admin' as an admin."""
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


def start_berth(db_path: Path, port: int, creds: Credentials) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "berth.centralised.placement", "--port", str(port),
                             "--db", f"sqlite:///{db_path}", "--token-file", str(creds.tokens)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    upstream_placement.wait_until_up(f"http://127.0.0.1:{port}", proc)
    return proc


def _provider_rows(start: int, stop: int) -> list[tuple[str, str, bool, str]]:
    """(uuid, name, has AVX2, aggregate uuid) of providers start..stop-1, identical for both servers."""
    return [(str(uuid.UUID(int=(1 << 64) + i)), f"cn{i:05d}", i % 2 == 0, AGGS[i % 3]) for i in range(start, stop)]


def _insert_providers(db: sqlite3.Connection, table_sql: dict[str, str], rows: list, rc_ids: list[int],
                      avx2: int, agg_ids: dict[str, int]) -> list[int]:
    """Insert providers plus inventory, trait and aggregate rows through one schema mapping."""
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    ids = []
    for rp, name, has_avx2, agg in rows:
        cur = db.execute(table_sql["provider"], (rp, name, 2 + has_avx2, now))
        pid = cur.lastrowid
        db.execute(table_sql["root"], (pid, pid))
        for rc, (_name, inv) in zip(rc_ids, INVENTORY.items()):
            db.execute(table_sql["inventory"], (pid, rc, inv["total"], now))
        if has_avx2:
            db.execute(table_sql["trait"], (pid, avx2))
        db.execute(table_sql["aggregate"], (pid, agg_ids[agg]))
        ids.append(pid)
    return ids


_UPSTREAM_SQL = {
    "provider": "INSERT INTO resource_providers (uuid, name, generation, created_at) VALUES (?, ?, ?, ?)",
    "root": "UPDATE resource_providers SET root_provider_id = ? WHERE id = ?",
    "inventory": "INSERT INTO inventories (resource_provider_id, resource_class_id, total, reserved, min_unit, "
                 "max_unit, step_size, allocation_ratio, created_at) VALUES (?, ?, ?, 0, 1, 2147483647, 1, 1.0, ?)",
    "trait": "INSERT INTO resource_provider_traits (resource_provider_id, trait_id) VALUES (?, ?)",
    "aggregate": "INSERT INTO resource_provider_aggregates (resource_provider_id, aggregate_id) VALUES (?, ?)",
    "agg_table": "placement_aggregates",
}
_BERTH_SQL = {
    "provider": "INSERT INTO resource_providers (uuid, name, generation, created_at) VALUES (?, ?, ?, ?)",
    "root": "UPDATE resource_providers SET root_id = ? WHERE id = ?",
    "inventory": "INSERT INTO inventories (provider_id, rc_id, total, reserved, min_unit, max_unit, step_size, "
                 "allocation_ratio, created_at) VALUES (?, ?, ?, 0, 1, 2147483647, 1, 1.0, ?)",
    "trait": "INSERT INTO provider_traits (provider_id, trait_id) VALUES (?, ?)",
    "aggregate": "INSERT INTO provider_aggregates (provider_id, aggregate_id) VALUES (?, ?)",
    "agg_table": "aggregates",
}


def bulk_load(db_path: Path, kind: str, start: int, stop: int) -> None:
    """Write providers start..stop-1 straight into a server's SQLite file (REST loading of
    thousands of providers into upstream takes the better part of an hour on a busy 2-core box).

    The rows are exactly what the REST calls in `load` would create (same UUIDs, names,
    inventories, traits, aggregates and generations); berth is then told through its change
    serial, as any committed write would, so its index reloads.
    """
    sql = _UPSTREAM_SQL if kind == "upstream" else _BERTH_SQL
    db = sqlite3.connect(str(db_path), timeout=60)
    try:
        with db:
            rc_ids = [db.execute("SELECT id FROM resource_classes WHERE name = ?", (n,)).fetchone()[0]
                      for n in INVENTORY]
            avx2 = db.execute("SELECT id FROM traits WHERE name = 'HW_CPU_X86_AVX2'").fetchone()[0]
            agg_ids = {}
            for agg in AGGS:
                db.execute(f"INSERT OR IGNORE INTO {sql['agg_table']} (uuid) VALUES (?)", (agg,))
                agg_ids[agg] = db.execute(f"SELECT id FROM {sql['agg_table']} WHERE uuid = ?", (agg,)).fetchone()[0]
            ids = _insert_providers(db, sql, _provider_rows(start, stop), rc_ids, avx2, agg_ids)
            if kind == "berth":
                serial = db.execute("UPDATE placement_state SET serial = serial + 1 WHERE id = 1 "
                                    "RETURNING serial").fetchone()[0]
                db.executemany("INSERT INTO placement_changes (serial, provider_id, kind) VALUES (?, ?, 'tree')",
                               [(serial, pid) for pid in ids])
    finally:
        db.close()


def _timed_get(http: httpx.Client, path: str) -> tuple[float, int]:
    """(milliseconds, candidate count) of one GET /allocation_candidates."""
    t0 = time.perf_counter()
    resp = http.get(path)
    elapsed = (time.perf_counter() - t0) * 1000
    resp.raise_for_status()
    return elapsed, len(resp.json()["allocation_requests"])


def time_queries(urls: dict[str, str], query: str, repeat: int, berth_per_round: int = 4,
                 headers: dict[str, dict[str, str]] | None = None) -> dict[str, tuple[float, int]]:
    """Median milliseconds and candidate count of GET /allocation_candidates?query per server.

    Interleaved: each of `repeat` rounds times upstream once, then berth `berth_per_round`
    times, so both medians are taken across the same stretch of time (and the same bursts of
    load from whatever else runs on the machine), instead of berth's short run landing in one.
    Within a round each server first gets one untimed request, so both are timed warm, as
    back-to-back requests (a process woken after idling meanwhile pays cold caches and
    wake-up latency, a fixed cost that would weigh on berth's milliseconds alone).
    `headers` are each server's request headers (default `HEADERS`).
    """
    path = f"/allocation_candidates?{query}"
    headers = headers or {}
    clients = {name: httpx.Client(base_url=url, headers=headers.get(name, HEADERS), timeout=300)
               for name, url in urls.items()}
    try:
        for http in clients.values():
            http.get(path)  # warm-up (index build, caches)
        samples: dict[str, list[float]] = {name: [] for name in urls}
        counts: dict[str, int] = {}
        for _ in range(repeat):
            for name, http in clients.items():
                http.get(path)
                for _ in range(berth_per_round if name == "berth" else 1):
                    ms, counts[name] = _timed_get(http, path)
                    samples[name].append(ms)
    finally:
        for http in clients.values():
            http.close()
    return {name: (statistics.median(times), counts[name]) for name, times in samples.items()}


def _claim_targets(url: str, count: int, headers: dict[str, str]) -> list[str]:
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        rps = []
        for i in range(count):
            rp = str(uuid.UUID(int=(2 << 64) + i))
            http.post("/resource_providers", json={"name": f"claim{i:03d}", "uuid": rp}).raise_for_status()
            http.put(f"/resource_providers/{rp}/inventories", json={
                "resource_provider_generation": 0,
                "inventories": {"VCPU": {"total": 8, "reserved": 1, "allocation_ratio": 2.0}}}).raise_for_status()
            rps.append(rp)
    return rps


def run_claims(url: str, attempts: int, threads: int,
               headers: dict[str, str] = HEADERS) -> tuple[float, int, int, int]:
    """(successful claims per second, wins, 5xx errors, over-allocated providers)."""
    rps = _claim_targets(url, 10, headers)
    clients = [httpx.Client(base_url=url, headers=headers, timeout=120) for _ in range(threads)]

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
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
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
    up_port, b_port = free_port(), free_port()
    up = upstream_placement.start_server(venv, work / "upstream.db", up_port)
    creds = generate(work / "secrets")
    berth = start_berth(work / "berth.db", b_port, creds)
    urls = {"upstream": f"http://127.0.0.1:{up_port}", "berth": f"http://127.0.0.1:{b_port}"}
    headers = {"upstream": HEADERS, "berth": {**HEADERS, "x-auth-token": read_token(creds.token("service"))}}
    out = PlacementBench()
    try:
        loaded = 0
        for size in sorted(sizes):
            for name in urls:
                say(f"loading providers {loaded}..{size} into {name}")
                bulk_load(work / f"{name}.db", name, loaded, size)
            loaded = size
            for label, query in QUERIES.items():
                say(f"{size} providers: timing '{label}'")
                timed = time_queries(urls, query, repeat, headers=headers)
                (up_ms, n), (b_ms, n_b) = timed["upstream"], timed["berth"]
                if n != n_b:
                    raise RuntimeError(f"candidate counts differ for {label!r}: upstream {n}, berth {n_b}")
                out.queries.append(QueryResult(size, label, n, round(up_ms, 2), round(b_ms, 2)))
        say(f"concurrent claims: {claims} attempts, {threads} threads")
        up_c = run_claims(urls["upstream"], claims, threads)
        b_c = run_claims(urls["berth"], claims, threads, headers["berth"])
        out.claims = ClaimResult(claims, threads, round(up_c[0], 1), round(b_c[0], 1), up_c[1], b_c[1],
                                 up_c[2], b_c[2], up_c[3], b_c[3])
    finally:
        for proc in (up, berth):
            proc.terminate()
            proc.wait(timeout=30)
    return out
