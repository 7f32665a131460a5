"""`ControllerManager`: runs the ReplicaSet, Deployment, node lifecycle, garbage collector and ServiceAccounts
loops.

One process, shared informers (pods, replicasets, deployments, nodes, leases, namespaces,
serviceaccounts), one `WorkQueue`
and worker thread per controller.  Informer events enqueue the keys a change can affect (a pod's
controlling ReplicaSet, a ReplicaSet's Deployment, a Lease's Node, an object's owners and
dependents); a ticker re-checks nodes every few seconds (heartbeats, evictions) and sweeps for
orphans.  Workers call the pure reconcile functions and `execute` their actions.
*Expectations* (writes made but not yet seen in the cache) are merged into what the reconcilers
read, so a lagging cache never causes duplicate pods or stale scaling.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

import httpx

from berth.declarative.client import ApiError, Credentials, Informer, KubeClient, WorkQueue
from berth.declarative.client.events import EventRecorder
from berth.declarative.client.informer import key_of
from berth.declarative.controllers.actions import Action, Create, Delete, Patch, controller_uid, perform
from berth.declarative.controllers.deployment import reconcile_deployment
from berth.declarative.controllers.garbagecollector import delete_orphan, finish_owner, orphaned
from berth.declarative.controllers.nodelifecycle import GRACE, evictions, reconcile_node
from berth.declarative.controllers.replicaset import reconcile_replicaset
from berth.declarative.controllers.serviceaccounts import ENSURED, reconcile_namespace
from berth.declarative.names import LEASE_NAMESPACE, PLURALS, RESOURCES
from berth.model.timestamps import rfc3339
from berth.runtime.clock import Clock, SystemClock

log = logging.getLogger(__name__)
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
EXPECTATION_TTL = 30.0
GC_OWNERS = ("replicasets", "deployments")  # owners the gc worker finishes once their dependents go


def random_suffix(prefix: str, rng: random.Random = random.Random()) -> str:
    return f"{prefix}-{''.join(rng.choice(ALPHABET) for _ in range(5))}"


class ControllerManager:
    """The declarative plane's controllers against one API server."""

    def __init__(self, base_url: str, clock: Clock | None = None, *, node_grace: float = GRACE,
                 tick: float = 2.0, credentials: Credentials | None = None) -> None:
        self.clock = clock or SystemClock()
        self.node_grace, self.tick = node_grace, tick
        self.client = KubeClient(base_url, credentials=credentials)
        self.events = EventRecorder(self.client, "controller-manager")
        self.queues = {name: WorkQueue(self.clock) for name in ("replicaset", "deployment", "node", "gc", "serviceaccount")}
        self.expect_pods: dict[str, dict[str, tuple[float, dict | None]]] = {}
        self.expect_scale: dict[str, dict[str, tuple[float, int]]] = {}
        self.lock = threading.RLock()
        inf = lambda plural, ns=None, **h: Informer(base_url, plural, ns, credentials=credentials, **h)  # noqa: E731
        self.pods = inf("pods", on_add=self._pod, on_update=lambda o, n: self._pod(n), on_delete=self._pod_deleted)
        self.replicasets = inf("replicasets", on_add=self._rs, on_update=lambda o, n: self._rs(n),
                               on_delete=self._rs_deleted)
        self.deployments = inf("deployments", on_add=self._dep, on_update=lambda o, n: self._dep(n),
                               on_delete=self._dep_deleted)
        self.nodes = inf("nodes", on_add=self._node, on_update=lambda o, n: self._node(n))
        self.leases = inf("leases", LEASE_NAMESPACE, on_update=lambda o, n: self._node_key(n["metadata"]["name"]))
        account_key = lambda obj: self.queues["serviceaccount"].add(obj["metadata"].get("namespace") or  # noqa: E731
                                                                     obj["metadata"]["name"])
        self.namespaces = inf("namespaces", on_add=account_key, on_update=lambda o, n: account_key(n))
        self.serviceaccounts = inf("serviceaccounts", on_delete=account_key)
        self.informers = [self.nodes, self.leases, self.deployments, self.replicasets, self.pods, self.namespaces,
                          self.serviceaccounts]
        self.workers = {"replicaset": self.sync_replicaset, "deployment": self.sync_deployment,
                        "node": self.sync_node, "gc": self.sync_gc, "serviceaccount": self.sync_serviceaccounts}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- life cycle ------------------------------------------------------------------------------
    def start(self, wait: float = 30.0) -> "ControllerManager":
        for informer in self.informers:
            informer.start()
        for informer in self.informers:
            informer.synced.wait(wait)
        for name, sync in self.workers.items():
            self._threads.append(self._spawn(f"ctrl-{name}", self._work, self.queues[name], sync))
        self._threads.append(self._spawn("ctrl-ticker", self._ticker))
        return self

    def stop(self) -> None:
        self._stop.set()
        for queue in self.queues.values():
            queue.close()
        for thread in self._threads:
            thread.join(timeout=5)
        for informer in self.informers:
            informer.stop()
        self.events.close()
        self.client.close()

    def _spawn(self, name: str, target: Callable, *args) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        return thread

    def _work(self, queue: WorkQueue, sync: Callable[[str], None]) -> None:
        while not self._stop.is_set():
            key = queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                sync(key)
                queue.forget(key)
            except (ApiError, httpx.HTTPError) as err:
                log.info("%s: %s; retrying", key, err)
                queue.retry(key)
            except Exception:
                log.exception("reconciling %s failed", key)
                queue.retry(key)
            finally:
                queue.done(key)

    def _ticker(self) -> None:
        sweeps = 0
        while not self._stop.wait(self.tick):
            for node in self.nodes.items():
                self.queues["node"].add(node["metadata"]["name"])
            sweeps += 1
            if sweeps % 10 == 0:
                for informer in (self.pods, self.replicasets):
                    for obj in informer.items():
                        if obj["metadata"].get("ownerReferences"):
                            self.queues["gc"].add(f"{informer.plural}|{key_of(obj)}")

    # ---- event handlers -----------------------------------------------------------------------------
    def _pod(self, pod: dict) -> None:
        meta = pod["metadata"]
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                self.queues["replicaset"].add(f"{meta.get('namespace')}/{ref['name']}")
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            self.queues["node"].add(node)

    def _pod_deleted(self, pod: dict) -> None:
        self._pod(pod)
        self._owners_gc(pod)

    def _owners_gc(self, obj: dict) -> None:
        """A dependent went away: its owners may be waiting for that (foreground deletion)."""
        ns = obj["metadata"].get("namespace")
        for ref in obj["metadata"].get("ownerReferences") or []:
            plural = PLURALS.get(ref.get("kind"))
            if plural in GC_OWNERS:
                self.queues["gc"].add(f"{plural}|{ns}/{ref['name']}")

    def _rs(self, rs: dict) -> None:
        meta = rs["metadata"]
        self.queues["replicaset"].add(key_of(rs))
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Deployment":
                self.queues["deployment"].add(f"{meta.get('namespace')}/{ref['name']}")
        self.queues["gc"].add(f"replicasets|{key_of(rs)}")

    def _rs_deleted(self, rs: dict) -> None:
        self._rs(rs)
        self._owners_gc(rs)
        uid = rs["metadata"].get("uid")
        for pod in self.pods.items():
            if controller_uid(pod) == uid:
                self.queues["gc"].add(f"pods|{key_of(pod)}")

    def _dep(self, dep: dict) -> None:
        self.queues["deployment"].add(key_of(dep))
        self._dep_deleting(dep)

    def _dep_deleting(self, dep: dict) -> None:
        if dep["metadata"].get("deletionTimestamp"):
            self.queues["gc"].add(f"deployments|{key_of(dep)}")

    def _dep_deleted(self, dep: dict) -> None:
        uid = dep["metadata"].get("uid")
        for rs in self.replicasets.items():
            if controller_uid(rs) == uid:
                self.queues["gc"].add(f"replicasets|{key_of(rs)}")

    def _node(self, node: dict) -> None:
        self._node_key(node["metadata"]["name"])

    def _node_key(self, name: str) -> None:
        self.queues["node"].add(name)

    # ---- reconcilers ------------------------------------------------------------------------------------
    def sync_replicaset(self, key: str) -> None:
        rs = self.replicasets.get(key)
        if rs is None:
            self.expect_pods.pop(key, None)
            return
        uid = rs["metadata"].get("uid")
        owned = [p for p in self.pods.items() if controller_uid(p) == uid]
        pods = self._with_expectations(key, owned)
        actions = reconcile_replicaset(rs, pods, self.clock.now(), random_suffix)
        for action in actions:
            if isinstance(action, Create):
                self._expect(key, action.body["metadata"]["name"], action.body)
            elif isinstance(action, Delete):
                self._expect(key, action.name, None)
        self.execute(actions, rs)

    def _expect(self, key: str, name: str, body: dict | None) -> None:
        with self.lock:
            self.expect_pods.setdefault(key, {})[name] = (self.clock.now(), body)

    def _with_expectations(self, key: str, owned: list[dict]) -> list[dict]:
        """Cached pods, plus created-but-unseen ones, minus deleted-but-still-cached ones."""
        with self.lock:
            pending = self.expect_pods.get(key, {})
            cached = {p["metadata"]["name"]: p for p in owned}
            now = self.clock.now()
            for name, (since, body) in list(pending.items()):
                seen = (name in cached) if body is not None else (name not in cached or
                                                                  cached[name]["metadata"].get("deletionTimestamp"))
                if seen or now - since > EXPECTATION_TTL:
                    del pending[name]
                elif body is not None:
                    cached[name] = body
                else:
                    cached[name] = {**cached[name], "metadata": {**cached[name]["metadata"],
                                                                 "deletionTimestamp": rfc3339(now)}}
            return list(cached.values())

    def sync_deployment(self, key: str) -> None:
        dep = self.deployments.get(key)
        if dep is None:
            return
        uid = dep["metadata"].get("uid")
        owned = [rs for rs in self.replicasets.items() if controller_uid(rs) == uid]
        if self._scaling_unseen(key, owned):
            self.queues["deployment"].add_after(key, 0.05)
            return
        actions = reconcile_deployment(dep, owned, self.clock.now())
        for action in actions:
            if isinstance(action, Patch) and action.plural == "replicasets":
                with self.lock:
                    self.expect_scale.setdefault(key, {})[action.name] = (self.clock.now(),
                                                                          action.patch["spec"]["replicas"])
        self.execute(actions, dep)

    def _scaling_unseen(self, key: str, owned: list[dict]) -> bool:
        with self.lock:
            pending = self.expect_scale.get(key, {})
            specs = {rs["metadata"]["name"]: int(rs["spec"].get("replicas", 0)) for rs in owned}
            for name, (since, want) in list(pending.items()):
                if specs.get(name) == want or self.clock.now() - since > 5.0:
                    del pending[name]
            return bool(pending)

    def sync_node(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is None:
            return
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
        now = self.clock.now()
        actions = reconcile_node(node, lease, now, self.node_grace)
        pods = [p for p in self.pods.items() if (p.get("spec") or {}).get("nodeName") == name]
        evict, later = evictions(node, pods, now)
        for action in evict:
            pod = self.pods.get(f"{action.namespace}/{action.name}")
            if pod is not None:
                self.events.record(pod, "Normal", "TaintManagerEviction", "Marking for deletion Pod "
                                   f"{action.namespace}/{action.name}")
        self.execute(actions + evict, node)
        if later is not None:
            self.queues["node"].add_after(name, max(0.05, later - now))

    def sync_serviceaccounts(self, namespace: str) -> None:
        present = {name for name in ENSURED if self.serviceaccounts.get(f"{namespace}/{name}") is not None}
        self.execute(reconcile_namespace(self.namespaces.get(namespace), present))

    def sync_gc(self, item: str) -> None:
        plural, key = item.split("|", 1)
        informer = {"pods": self.pods, "replicasets": self.replicasets, "deployments": self.deployments}[plural]
        obj = informer.get(key)
        if obj is None:
            return
        obj = {**obj, "kind": obj.get("kind") or RESOURCES[plural].kind}
        if obj["metadata"].get("deletionTimestamp"):
            uid = obj["metadata"].get("uid")
            deps = [{**d, "kind": kind} for inf, kind in ((self.replicasets, "ReplicaSet"), (self.pods, "Pod"))
                    for d in inf.items() if any(r.get("uid") == uid for r in d["metadata"].get("ownerReferences") or [])]
            self.execute(finish_owner(obj, deps), obj)
            return
        if orphaned(obj, self._owner_cached) and orphaned(obj, self._owner_live) and self._still_orphaned(plural, obj):
            self.execute([delete_orphan(obj)], obj)

    def _still_orphaned(self, plural: str, obj: dict) -> bool:
        """The dependent as the server has it now is orphaned too.  The informer's copy may predate the
        patch that orphaned it (an owner deleted with propagation Orphan loses its finalizer only after
        that patch), so, as upstream's collector does, the dependent is read again before it is deleted;
        its owners were found gone first, so this read sees any orphaning patch."""
        meta = obj["metadata"]
        try:
            live = self.client.get(plural, meta["name"], meta.get("namespace"))
        except ApiError as err:
            if err.code == 404:
                return False
            raise
        same = live["metadata"].get("uid") == meta.get("uid")
        return same and orphaned({**live, "kind": obj["kind"]}, self._owner_live)

    def _owner_cached(self, ref: dict, namespace: str | None) -> bool:
        informer = {"ReplicaSet": self.replicasets, "Deployment": self.deployments, "Node": self.nodes}.get(ref["kind"])
        if informer is None:
            return True
        owner = informer.get(f"{namespace}/{ref['name']}" if ref["kind"] != "Node" else ref["name"])
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")

    def _owner_live(self, ref: dict, namespace: str | None) -> bool:
        plural = PLURALS.get(ref["kind"])
        if plural is None:
            return True
        try:
            owner = self.client.get(plural, ref["name"], namespace if plural != "nodes" else None)
        except ApiError as err:
            if err.code == 404:
                return False
            raise
        return owner["metadata"].get("uid") == ref.get("uid")

    # ---- writing -------------------------------------------------------------------------------------------
    def execute(self, actions: list[Action], about: dict | None = None) -> None:
        """Perform actions in order (see `actions.perform`)."""
        perform(self.client, actions)
