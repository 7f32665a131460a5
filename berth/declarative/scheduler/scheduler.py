"""`Scheduler`: the declarative plane's scheduler process -- informers, queue, cycles, binding.

Two informers (all nodes, all pods) feed `ClusterState` and the `SchedulingQueue`: pending pods
whose `schedulerName` is one of our profiles are queued; bound pods are charged to their node
(confirming assumptions); pods that finish or vanish are released, and node or pod departures
move parked pods back (cluster events).  The loop pops one pod at a time and runs `decide`.  A
`bind` decision is handed to a pool of binder threads that POST `pods/binding` while the loop
goes on (upstream's asynchronous binding cycle); a failed bind forgets the assumption and
re-queues the pod with back-off.  An unschedulable pod gets a FailedScheduling event, the
PodScheduled=False condition, and, if preemption found victims, the victims are deleted and
the pod is nominated to their node.  `berth up` runs it in-process; `berth bench declarative`
starts it as its own process (`python -m berth.declarative.scheduler`, see `__main__`).
"""

from __future__ import annotations

import logging
import queue
import threading

import httpx

from berth.declarative.client import ApiError, Credentials, Informer, KubeClient
from berth.declarative.client.events import EventRecorder, now_rfc3339
from berth.declarative.scheduler.cache import ClusterState
from berth.declarative.scheduler.config import Profile, default_profiles
from berth.declarative.scheduler.convert import ConversionError, node_from_object, workload_from_pod
from berth.declarative.scheduler.framework import BIND, Decision, decide, pod_key, scheduler_name
from berth.declarative.scheduler.queue import SchedulingQueue
from berth.runtime.clock import Clock, SystemClock

log = logging.getLogger(__name__)
TERMINAL = ("Succeeded", "Failed")


class Scheduler:
    """Schedules pending pods of the configured profiles against one API server."""

    def __init__(self, base_url: str, profiles: list[Profile] | None = None, *, clock: Clock | None = None,
                 binders: int = 8, normal_events: bool = True, seed: int = 0,
                 credentials: Credentials | None = None) -> None:
        self.base_url = base_url
        self.clock = clock or SystemClock()
        self.profiles = profiles or default_profiles()
        self.names = {p.scheduler_name for p in self.profiles}
        self.state = ClusterState(self.profiles, seed=seed)
        self.queue = SchedulingQueue(self.clock)
        self.client = KubeClient(base_url, credentials=credentials)
        self.events = EventRecorder(self.client, "default-scheduler")
        self.normal_events = normal_events
        self.binds: queue.SimpleQueue = queue.SimpleQueue()
        self._binders = [threading.Thread(target=self._binder, name=f"binder-{i}", daemon=True)
                         for i in range(binders)]
        self.nodes = Informer(base_url, "nodes", on_add=self._node_changed, on_update=lambda o, n: self._node_changed(n),
                              on_delete=self._node_deleted, credentials=credentials)
        self.pods = Informer(base_url, "pods", on_add=self._pod_changed, on_update=lambda o, n: self._pod_changed(n),
                             on_delete=self._pod_deleted, credentials=credentials)
        self.bound = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- life cycle ------------------------------------------------------------------------------
    def start(self, wait: float = 30.0) -> "Scheduler":
        self.nodes.start()
        self.nodes.synced.wait(wait)
        self.pods.start()
        self.pods.synced.wait(wait)
        for thread in self._binders:
            thread.start()
        self._thread = threading.Thread(target=self.run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for thread in self._binders:
            self.binds.put(None)
        for thread in self._binders:
            if thread.is_alive():
                thread.join(timeout=5)
        self.pods.stop()
        self.nodes.stop()
        self.events.close()
        self.client.close()

    def run(self) -> None:
        last_flush = self.clock.now()
        while not self._stop.is_set():
            item = self.queue.pop(timeout=0.5)
            if self.clock.now() - last_flush > 30:
                self.queue.flush()
                last_flush = self.clock.now()
            if item is not None:
                try:
                    self.schedule_one(*item)
                except Exception:  # a bug with one pod must not stop scheduling
                    log.exception("scheduling %s failed", item[0])
                    self.queue.requeue(item[0], item[1], unschedulable=False)

    # ---- one cycle --------------------------------------------------------------------------------
    def schedule_one(self, key: str, cycle: int) -> None:
        pod = self.pods.get(key)
        if pod is None or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            self.queue.done(key)
            return
        decision = decide(self.state, pod)
        if decision.outcome == BIND:
            self.binds.put((pod, decision.node, cycle))
            return
        self._unschedulable(pod, decision)
        self.queue.requeue(key, cycle, unschedulable=True)

    def _binder(self) -> None:
        """A binding worker: POSTs `pods/binding` for decided pods until stopped (pending binds are dropped)."""
        while (item := self.binds.get()) is not None:
            if not self._stop.is_set():
                self._bind(*item)

    def _bind(self, pod: dict, node: str, cycle: int) -> None:
        key, meta = pod_key(pod), pod["metadata"]
        try:
            self.client.bind(meta.get("namespace", "default"), meta["name"], node, meta.get("uid"))
        except (ApiError, httpx.HTTPError) as err:
            self.state.forget(key)
            if isinstance(err, ApiError) and err.code == 404:
                self.queue.delete(key)
            else:
                log.info("binding %s to %s failed: %s", key, node, err)
                self.queue.requeue(key, cycle, unschedulable=False)
            return
        self.queue.done(key)
        self.bound += 1
        if self.normal_events:
            self.events.record(pod, "Normal", "Scheduled",
                               f"Successfully assigned {meta.get('namespace', 'default')}/{meta['name']} to {node}")

    def _unschedulable(self, pod: dict, decision: Decision) -> None:
        self.events.record(pod, "Warning", "FailedScheduling", decision.message)
        meta = pod["metadata"]
        status: dict = {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                        "message": decision.message, "lastTransitionTime": now_rfc3339()}]}
        if decision.preemption is not None:
            status["nominatedNodeName"] = decision.preemption.node
            for victim in decision.preemption.victims:
                self._evict(victim, pod, decision.preemption.node)
        try:
            self.client.patch("pods", meta["name"], {"status": status}, meta.get("namespace"), sub="status",
                              kind="strategic")
        except (ApiError, httpx.HTTPError) as err:
            log.info("pod %s status not updated: %s", meta["name"], err)

    def _evict(self, victim_key: str, preemptor: dict, node: str) -> None:
        victim = self.pods.get(victim_key)
        namespace, name = victim_key.split("/", 1)
        if victim is not None:
            self.events.record(victim, "Normal", "Preempted",
                               f"Preempted by pod {preemptor['metadata'].get('uid', '')} on node {node}")
        try:
            self.client.delete("pods", name, namespace)
        except (ApiError, httpx.HTTPError) as err:
            log.info("victim %s not deleted: %s", victim_key, err)

    # ---- informer handlers (cluster events) -----------------------------------------------------------
    def _node_changed(self, obj: dict) -> None:
        try:
            node = node_from_object(obj)
        except ConversionError as err:
            log.warning("%s", err)
            return
        if self.state.set_node(node):
            self.queue.move_all()

    def _node_deleted(self, obj: dict) -> None:
        self.state.remove_node(obj["metadata"]["name"])

    def _pod_changed(self, pod: dict) -> None:
        key, spec = pod_key(pod), pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        if phase in TERMINAL:
            self._pod_deleted(pod)
        elif spec.get("nodeName"):
            self.queue.delete(key)
            held = self.state.ledger.get(key)
            if held is not None and held.node == spec["nodeName"]:
                if held.assumed:
                    self.state.add_pod(key, held.workload, held.node)  # confirms the assumption
                return
            try:
                self.state.add_pod(key, workload_from_pod(pod), spec["nodeName"])
            except ConversionError as err:
                log.warning("%s", err)
        elif scheduler_name(pod) in self.names and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(key, int(spec.get("priority") or 0))

    def _pod_deleted(self, pod: dict) -> None:
        key = pod_key(pod)
        self.queue.delete(key)
        if self.state.remove_pod(key):
            self.queue.move_all()
