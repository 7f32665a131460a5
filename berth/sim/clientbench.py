"""`bench_client`: the declarative plane's unary calls through `client.wire` beside one `httpx.Client`.

`KubeClient` makes its unary calls over `wire.Connection` (one `sendall` per request, httptools
parsing) rather than through httpx, berth's HTTP client everywhere else; this is the measurement that
decides whether that fast path stays.  A `LocalCluster` runs the API server alone as a child process on
loopback (memory store; no scheduler, controllers or node agents), and this process makes the same
three calls through each client from one thread: GET one pod, POST a new pod, and a merge PATCH of one
pod's status.  Both clients encode and decode as `KubeClient.request` does (orjson; a failure status
raises `ApiError`): `wire` is a `KubeClient` itself, `httpx` a keep-alive `httpx.Client` (TCP_NODELAY,
httpcore's default) behind the same encoding, so only the transport differs.  Rounds interleave the
clients (wire, httpx, wire, httpx, ...), so a shared machine's drift falls on both; in each round every
client makes `calls` calls of each kind, timed by wall clock and by this thread's CPU clock, after one
untimed warm-up round.  Figures are medians over rounds of microseconds per call; every answer is
checked, and so are the pods each client created, listed by label at the end.  Called by
`berth bench client`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx
import orjson

from berth.declarative.client import ApiError, Credentials, KubeClient
from berth.declarative.client.rest import HEADER_FIELDS
from berth.launch.declarative import LocalCluster
from berth.sim.kubebench import pod_body

KINDS = ("get", "create", "patch_status")
CLIENTS = ("wire", "httpx")
LABEL = "berth-bench-client"
TARGET = "bench-target"
NAMESPACE = "default"
MERGE_PATCH = "application/merge-patch+json"
WARM_UP_CALLS = 50


@dataclass(frozen=True)
class ClientBench:
    calls: int
    rounds: int
    wall_us: dict
    """Client -> call kind (and "all") -> median wall microseconds per call."""
    cpu_us: dict
    """Client -> call kind (and "all") -> median CPU microseconds per call of the calling thread."""
    ratio: dict
    """"wall" and "cpu" -> call kind (and "all") -> httpx / wire."""
    checks: dict
    """Client -> answers (made), correct (answers as expected), created (pods POSTed in the timed rounds)
    and listed (those the server lists under the client's label)."""
    samples: dict
    """Client -> one entry per round: call kind -> [wall µs, CPU µs] per call."""

    def to_dict(self) -> dict:
        return asdict(self)


class HttpxCaller:
    """Unary calls through one keep-alive `httpx.Client`, encoded and decoded as `KubeClient.request` does."""

    def __init__(self, base_url: str, credentials: Credentials, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        auth = {"Authorization": credentials.authorization} if credentials.token else {}
        verify = credentials.ssl_context() if self.base_url.startswith("https") else True  # KubeClient's TLS
        self.http = httpx.Client(headers=HEADER_FIELDS | auth, timeout=timeout, trust_env=False, verify=verify)

    def request(self, method: str, path: str, body: dict | None = None,
                content_type: str = "application/json") -> dict:
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else None
        response = self.http.request(method, self.base_url + path, content=content, headers=headers)
        data = orjson.loads(response.content) if response.content else {}
        if response.status_code >= 400:
            raise ApiError(response.status_code, str(data.get("reason", "")), str(data.get("message", "")))
        return data

    def close(self) -> None:
        self.http.close()


def _requests(kind: str, label: str, prefix: str, calls: int) -> list[tuple]:
    """`calls` requests of one kind, each (method, path, body, content type, the answer's expected value);
    created pods are named `prefix-i` and labelled `label`."""
    def create(i: int) -> tuple:
        body = pod_body(f"{prefix}-{i}")
        body["metadata"]["labels"] = {LABEL: label}
        return "POST", KubeClient.path("pods", NAMESPACE), body, "application/json", f"{prefix}-{i}"

    build = {"get": lambda i: ("GET", KubeClient.path("pods", NAMESPACE, TARGET), None, "application/json", TARGET),
             "create": create,
             "patch_status": lambda i: ("PATCH", KubeClient.path("pods", NAMESPACE, TARGET, "status"),
                                        {"status": {"message": f"{prefix}-{i}"}}, MERGE_PATCH, f"{prefix}-{i}")}[kind]
    return [build(i) for i in range(calls)]


ANSWER = {"get": lambda a: a["metadata"]["name"], "create": lambda a: a["metadata"]["name"],
          "patch_status": lambda a: a["status"].get("message")}
"""Per call kind: the value of an answer that must equal the request's expected value."""


def _timed(caller, requests: list[tuple]) -> tuple[float, float, list[dict]]:
    """Make the requests in order: (wall seconds, this thread's CPU seconds, the answers)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    answers = [caller.request(method, path, body, content_type=ctype) for method, path, body, ctype, _ in requests]
    return time.perf_counter() - wall, time.thread_time() - cpu, answers


def _round(caller, label: str, prefix: str, calls: int) -> tuple[dict, int]:
    """Every call kind `calls` times: (kind -> [wall µs, CPU µs] per call, correct answers)."""
    figures, correct = {}, 0
    for kind in KINDS:
        requests = _requests(kind, label, prefix, calls)
        wall, cpu, answers = _timed(caller, requests)
        figures[kind] = [1e6 * wall / calls, 1e6 * cpu / calls]
        correct += sum(ANSWER[kind](a) == r[4] for a, r in zip(answers, requests))
    return figures, correct


def bench_client(calls: int = 2000, rounds: int = 5, *,
                 progress: Callable[[int], None] = lambda done: None) -> ClientBench:
    """Run the interleaved rounds against a fresh API server; `progress` gets the client-rounds done."""
    cluster = LocalCluster(nodes=0, runtime="fake", controllers=False, start_scheduler=False).start()
    try:
        callers = {"wire": KubeClient(cluster.url, credentials=cluster.admin),
                   "httpx": HttpxCaller(cluster.url, cluster.admin)}
        try:
            callers["wire"].create("pods", pod_body(TARGET), NAMESPACE)
            for client, caller in callers.items():
                _round(caller, "warm-up", f"warm-{client}", min(calls, WARM_UP_CALLS))
            samples, correct = _rounds(callers, calls, rounds, progress)
            listed = {c: len(callers["wire"].list("pods", NAMESPACE, label_selector=f"{LABEL}={c}")["items"])
                      for c in callers}
        finally:
            for caller in callers.values():
                caller.close()
    finally:
        cluster.stop()
    checks = {c: {"answers": 3 * calls * rounds, "correct": correct[c], "created": calls * rounds,
                  "listed": listed[c]} for c in CLIENTS}
    return _summary(calls, rounds, samples, checks)


def _rounds(callers: dict, calls: int, rounds: int, progress: Callable[[int], None]) -> tuple[dict, dict]:
    """The timed rounds, clients interleaved: (client -> per-round figures, client -> correct answers)."""
    samples: dict[str, list] = {c: [] for c in callers}
    correct = dict.fromkeys(callers, 0)
    for r in range(rounds):
        for client, caller in callers.items():
            figures, ok = _round(caller, client, f"{client}-{r}", calls)
            samples[client].append(figures)
            correct[client] += ok
            progress(len(callers) * r + CLIENTS.index(client) + 1)
    return samples, correct


def _summary(calls: int, rounds: int, samples: dict, checks: dict) -> ClientBench:
    """Medians over rounds, the mix of all kinds ("all": the round's time over all its calls), and ratios."""
    def median(client: str, kind: str, at: int) -> float:
        per_round = [sum(f[k][at] for k in KINDS) / len(KINDS) if kind == "all" else f[kind][at]
                     for f in samples[client]]
        return float(statistics.median(per_round))

    kinds = (*KINDS, "all")
    wall = {c: {k: median(c, k, 0) for k in kinds} for c in CLIENTS}
    cpu = {c: {k: median(c, k, 1) for k in kinds} for c in CLIENTS}
    ratio = {name: {k: fig["httpx"][k] / fig["wire"][k] for k in kinds} for name, fig in (("wall", wall),
                                                                                         ("cpu", cpu))}
    return ClientBench(calls, rounds, wall, cpu, ratio, checks, samples)
