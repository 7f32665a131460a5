"""A benchmark of the API server alone: create + bind pods over HTTP, with one watcher, and measure it.

    python -m berth.declarative.apiserver.bench --pods 3000 --clients 6 --store sqlite [--json]

It starts `python -m berth.declarative.apiserver` as a child process (a fresh SQLite file in a temporary
directory, or memory), runs `clients` client processes (keep-alive `http.client`, one request in flight
each) that create pods and bind each one, plus watchers that must each see every ADDED and MODIFIED event,
and reports throughput, per-request latency percentiles and the server's CPU time per pod (from /proc),
the figure that matters on a shared machine. Called by hand and by the reports; prints only its result.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time

HEADERS = {"content-type": "application/json"}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _post(conn: http.client.HTTPConnection, path: str, body: bytes) -> float:
    start = time.perf_counter()
    conn.request("POST", path, body, HEADERS)
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"POST {path}: {response.status}")
    return time.perf_counter() - start


def client(port: int, wid: int, count: int, out) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    creates, binds = [], []
    for i in range(count):
        name = f"b{wid}-{i}"
        pod = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "pause", "resources": {
            "requests": {"cpu": "100m", "memory": "500Mi"}}}]}}
        creates.append(_post(conn, "/api/v1/namespaces/default/pods", json.dumps(pod).encode()))
        binds.append(_post(conn, f"/api/v1/namespaces/default/pods/{name}/binding", b'{"target":{"name":"n1"}}'))
    out.put((creates, binds))


def watcher(port: int, events: int, ready) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=600")
    response = conn.getresponse()
    ready.set()
    seen = 0
    while seen < events:
        line = response.fp.readline()
        if not line:
            raise RuntimeError(f"watch ended after {seen} of {events} events")
        seen += line.startswith(b'{"type"')


def start_server(store: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "berth.declarative.apiserver", "--store", store,
                             "--port", str(port)], stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/api/v1/nodes", b'{"metadata":{"name":"n1"}}', HEADERS)
            if conn.getresponse().status == 201:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the API server did not start")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def run(pods: int, clients: int, store: str, port: int, watchers: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db" if store == "sqlite" else "memory://"
        proc = start_server(url, port)
        try:
            per = pods // clients
            out = mp.Queue()
            readies = [mp.Event() for _ in range(watchers)]
            watches = [mp.Process(target=watcher, args=(port, 2 * per * clients, r)) for r in readies]
            for w, r in zip(watches, readies):
                w.start()
                r.wait(30)
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            workers = [mp.Process(target=client, args=(port, w, per, out)) for w in range(clients)]
            for w in workers:
                w.start()
            results = [out.get(timeout=600) for _ in workers]
            for w in watches:
                w.join(600)
            wall, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - cpu0
        finally:
            proc.terminate()
            proc.wait(10)
    creates = [x for c, _ in results for x in c]
    binds = [x for _, b in results for x in b]
    n = per * clients
    return {"store": store, "pods": n, "clients": clients, "watchers": watchers, "wall_s": round(wall, 3),
            "pods_per_s": round(n / wall, 1), "server_cpu_ms_per_pod": round(cpu / n * 1000, 3),
            "server_pods_per_cpu_s": round(n / cpu, 1),
            "create_ms": {"p50": round(percentile(creates, 0.5), 2), "p99": round(percentile(creates, 0.99), 2)},
            "bind_ms": {"p50": round(percentile(binds, 0.5), 2), "p99": round(percentile(binds, 0.99), 2)}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="benchmark the API server's create+bind+watch path")
    parser.add_argument("--pods", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--watchers", type=int, default=1, help="watch streams that must see every event")
    parser.add_argument("--port", type=int, default=18099)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.pods, args.clients, args.store, args.port, args.watchers)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['pods']} pods ({args.store}, {args.clients} clients, {args.watchers} watchers): {result['pods_per_s']} pods/s wall,"
              f" server {result['server_cpu_ms_per_pod']} ms CPU per pod ({result['server_pods_per_cpu_s']} pods"
              f" per CPU-second); create p50/p99 {result['create_ms']['p50']}/{result['create_ms']['p99']} ms,"
              f" bind p50/p99 {result['bind_ms']['p50']}/{result['bind_ms']['p99']} ms")


if __name__ == "__main__":
    main()
