"""`AgentHost`: runs one or many `NodeAgent`s in this process against an API server.

It registers each agent's Node (create, or update after a restart) and Lease, renews the Leases
every `lease_interval` seconds (re-posting the Ready node status every `status_interval` seconds,
or at once after a late renewal, as the kubelet does), keeps ONE pod informer for all its agents (field selector
`spec.nodeName=<node>` for a single agent, all bound pods otherwise), and every `sync_interval`
calls `sync` on the agents whose pods changed (every agent once per `relist_interval`, when
units' own transitions are picked up, as the kubelet's PLEG relist) and sends the resulting
writes through a small pool of threads.  It
also serves the agents' logs at the kubelet's path `/containerLogs/{ns}/{pod}/{container}` on
one loopback port (`logserver.LogServer`), published in each Node's `daemonEndpoints`, which the API
server's `pods/log` proxies to (`follow=true` streams new output until the container stops).
`berth up` runs one host of process-runtime agents; the benchmark runs thousands of fake-runtime
agents in one host.  Its shared reads (the pod informer) carry `credentials`; each node's writes (its
Node, its Lease, its pods' status and deletion) carry that node's own bearer token from `node_tokens`,
so the API server's node authorisation sees every agent as itself.  The log endpoint answers only requests
that carry the token derived from `log_token` (the API server's secret for it) for the node that runs the
requested pod (`logtoken`); without a `log_token` it refuses every request.
With `token_dir`, each agent projects its pods' ServiceAccount tokens there (`satoken.TokenProjector`
over the node's own client); the TokenRequests run in a small pool of their own, never under `lock`.
The Events the agents record (`NodeAgent.take_events`) are written by the same workers, each through its
node's client (`eventwriter.EventWriter`).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from berth.declarative.agent.eventwriter import EventWriter
from berth.declarative.agent.logserver import LogServer
from berth.declarative.agent.node import LEASE_NAMESPACE, NodeAgent
from berth.declarative.agent.satoken import TokenProjector, token_requester
from berth.declarative.client import ApiError, Credentials, Informer, KubeClient
from berth.runtime import UnitState
from berth.runtime.clock import Clock, SystemClock

log = logging.getLogger(__name__)


class AgentHost:
    """Hosts node agents: registration, leases, pod sync, and the log endpoint."""

    def __init__(self, base_url: str, agents: list[NodeAgent], clock: Clock | None = None, *,
                 lease_interval: float = 10.0, sync_interval: float = 0.2, writers: int = 4,
                 serve_logs: bool = True, status_interval: float = 60.0, relist_interval: float = 1.0,
                 credentials: Credentials | None = None, node_tokens: dict[str, str] | None = None,
                 log_token: str | None = None, token_dir: str | Path | None = None) -> None:
        self.base_url, self.clock = base_url, clock or SystemClock()
        self.agents = {a.name: a for a in agents}
        self.lease_interval, self.sync_interval = lease_interval, sync_interval
        self.relist_interval = relist_interval
        self.status_interval = status_interval
        self.client = KubeClient(base_url, credentials=credentials)
        tokens = node_tokens or {}  # each node writes through a view of `client` with its own token
        self.node_clients = {name: self.client.for_token(tokens[name]) for name in self.agents if name in tokens}
        self.token_pool = ThreadPoolExecutor(2, thread_name_prefix="agent-tokens") if token_dir else None
        if token_dir:
            self._project_tokens(Path(token_dir))
        self.writes_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writers = [threading.Thread(target=self._writer, name=f"agent-writer-{i}", daemon=True)
                         for i in range(writers)]
        self.lock = threading.RLock()
        self.dirty: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.log_server = LogServer(self, token=log_token, nodes=self.agents) if serve_logs else None
        for agent in agents:
            agent.log_port = self.log_server.port if self.log_server else 0
        selector = f"spec.nodeName={agents[0].name}" if len(agents) == 1 else "spec.nodeName!="
        self.pods = Informer(base_url, "pods", field_selector=selector, on_add=self._pod,
                             on_update=lambda o, n: self._pod(n), on_delete=self._pod_gone, credentials=credentials)
        self.writes = 0
        self.events = EventWriter()

    # ---- life cycle ----------------------------------------------------------------------------
    def start(self, wait: float = 60.0) -> "AgentHost":
        if self.log_server is not None:
            self.log_server.start()
        for thread in self._writers:
            thread.start()
        self.register()
        self.pods.start()
        self.pods.synced.wait(wait)
        self._spawn("agent-leases", self._lease_loop)
        self._spawn("agent-sync", self._sync_loop)
        return self

    def stop(self) -> None:
        """Stop syncing, terminate every unit, and close connections (Node objects stay)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.pods.stop()
        for _ in self._writers:
            self.writes_queue.put(None)  # after every queued write: those are made first
        for thread in self._writers:
            if thread.is_alive():
                thread.join()
        with self.lock:
            for agent in self.agents.values():
                agent.runtime.close()
        if self.token_pool is not None:
            self.token_pool.shutdown(cancel_futures=True)
        if self.log_server is not None:
            self.log_server.stop()
        self.client.close()

    def _spawn(self, name: str, target) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _project_tokens(self, root: Path) -> None:
        """Give every agent without one a token projector writing as its own node, in the token pool."""
        where = urlsplit(self.base_url)
        server = (where.hostname or "127.0.0.1", where.port or (443 if where.scheme == "https" else 80))
        for name, agent in self.agents.items():
            if agent.tokens is None:
                agent.tokens = TokenProjector(token_requester(self.client_of(name)), root, server,
                                              run=self.token_pool.submit,
                                              wake=lambda pod, agent=agent: self._wake(agent, pod))

    def _wake(self, agent: NodeAgent, pod: dict) -> None:
        with self.lock:
            agent.touch(pod)
            self.dirty.add(agent.name)

    # ---- registration and leases -----------------------------------------------------------------
    def register(self) -> None:
        """Create (or refresh) every agent's Node with a Ready status, and its Lease."""
        pool = ThreadPoolExecutor(8)
        list(pool.map(self._register_one, self.agents.values()))
        pool.shutdown()

    def client_of(self, node: str) -> KubeClient:
        """The client that writes as `node` (its own token), or the shared one when it has none."""
        return self.node_clients.get(node, self.client)

    def _register_one(self, agent: NodeAgent) -> None:
        client = self.client_of(agent.name)
        try:
            node = client.create("nodes", agent.node_object())
        except ApiError as err:
            if err.code != 409:
                raise
            node = client.patch("nodes", agent.name, {"metadata": {"labels": agent.labels}})
        client.patch("nodes", agent.name, {"status": agent.node_status(self.clock.now())}, sub="status")
        self._renew(agent, node["metadata"].get("uid"))

    def _renew(self, agent: NodeAgent, node_uid: str | None = None) -> None:
        lease = agent.lease_object(self.clock.now(), node_uid)
        client = self.client_of(agent.name)
        try:
            client.update("leases", lease)
        except ApiError as err:
            if err.code != 404:
                raise
            client.create("leases", lease, LEASE_NAMESPACE)

    def _lease_loop(self) -> None:
        last = posted = self.clock.now()
        while not self._stop.wait(self.lease_interval):
            late = self.clock.now() - last > 2 * self.lease_interval
            repost = late or self.clock.now() - posted >= self.status_interval
            if repost:
                posted = self.clock.now()
            for agent in list(self.agents.values()):
                if self._stop.is_set():
                    return
                try:
                    self._renew(agent)
                    if repost:
                        self.client_of(agent.name).patch("nodes", agent.name,
                                                         {"status": agent.node_status(self.clock.now())}, sub="status")
                except (ApiError, httpx.HTTPError) as err:
                    log.info("lease of %s not renewed: %s", agent.name, err)
            last = self.clock.now()

    # ---- pods --------------------------------------------------------------------------------------
    def _pod(self, pod: dict) -> None:
        agent = self.agents.get((pod.get("spec") or {}).get("nodeName", ""))
        if agent is not None:
            with self.lock:
                agent.observe(pod, self.clock.now())
                self.dirty.add(agent.name)

    def _pod_gone(self, pod: dict) -> None:
        agent = self.agents.get((pod.get("spec") or {}).get("nodeName", ""))
        if agent is not None:
            with self.lock:
                agent.forget(pod)
            self.events.forget(pod)

    def _sync_loop(self) -> None:
        """Sync the agents whose pods changed every `sync_interval`, and every agent every `relist_interval`
        (the kubelet's PLEG relist period), which is when units' own transitions (exits, restarts, stops)
        are picked up; thousands of idle agents then cost nothing between relists."""
        relisted = float("-inf")
        while not self._stop.wait(self.sync_interval):
            writes = []
            with self.lock:
                now = self.clock.now()
                if now - relisted >= self.relist_interval:
                    names, relisted = list(self.agents), now
                else:
                    names = self.dirty
                self.dirty = set()
                for name in names:
                    agent = self.agents.get(name)
                    if agent is not None and (agent.pods or agent.dirty):
                        writes.extend(agent.sync(now))
                        writes.extend(("event", pod, event) for pod, *event in agent.take_events())
                        if agent.stopping():
                            self.dirty.add(name)  # terminating pods: look again at the next tick
            for write in writes:
                self.writes_queue.put(write)

    def _writer(self) -> None:
        """A write worker: makes queued writes in order until it takes the stop marker."""
        while (write := self.writes_queue.get()) is not None:
            try:
                self._write(*write)
            except Exception:  # a bug with one write must not stop the worker
                log.exception("agent write %s of %s failed", write[0], write[1]["metadata"].get("name"))

    def _write(self, kind: str, pod: dict, status) -> None:
        """One write: ("status", pod, status), ("delete", pod, None) or ("event", pod, (type, reason, message))."""
        meta = pod["metadata"]
        client = self.client_of((pod.get("spec") or {}).get("nodeName", ""))
        try:
            if kind == "status":
                client.patch("pods", meta["name"], {"status": status}, meta.get("namespace"), sub="status")
            elif kind == "event":
                self.events.send(client, (pod.get("spec") or {}).get("nodeName", ""), pod, *status)
                return  # not counted in `writes` (the pods' own writes)
            else:
                client.delete("pods", meta["name"], meta.get("namespace"), grace=0, uid=meta.get("uid"))
            self.writes += 1
        except (ApiError, httpx.HTTPError) as err:
            if not (isinstance(err, ApiError) and err.code in (404, 409)):
                log.info("pod %s: %s not written: %s", meta["name"], kind, err)

    def stopping(self) -> bool:
        return self._stop.is_set()

    def container_done(self, namespace: str, pod: str, container: str | None) -> bool:
        """True when the container is not running (exited, restarting, stopped or unknown)."""
        with self.lock:
            for agent in self.agents.values():
                record = agent.pods.get(f"{namespace}/{pod}")
                if record is not None:
                    names = [u for u in record.units if container is None or u.endswith(f"/{container}")]
                    states = [agent.runtime.status(u) for u in names[:1]]
                    return not states or states[0] is None or states[0].state not in (UnitState.RUNNING,
                                                                                      UnitState.STOPPING)
        return True

    def node_of(self, namespace: str, pod: str) -> str | None:
        """The agent that runs the pod, or None when none here does."""
        key = f"{namespace}/{pod}"
        with self.lock:
            return next((name for name, agent in self.agents.items() if key in agent.pods), None)

    def logs(self, namespace: str, pod: str, container: str | None, tail: int | None, previous: bool) -> bytes | None:
        with self.lock:
            for agent in self.agents.values():
                data = agent.logs(namespace, pod, container, tail, previous)
                if data is not None:
                    return data
        return None

