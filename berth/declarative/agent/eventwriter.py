"""`EventWriter`: the node agents' Events, written by the host's write workers through each node's client.

The host's writers call `send(client, node, pod, type, reason, message)`: the first time a pod's
(reason, message) is seen it POSTs a core/v1 Event named `<pod>.<hex>` (source `kubelet` on the node),
later repeats PATCH its `count` and `lastTimestamp` (`kubectl describe pod` then shows `x3 over 20s`).
Safe to call from several threads.  Errors are the caller's (the host logs and drops them: Events are
best-effort, as upstream).
"""

from __future__ import annotations

import threading
import uuid

from berth.declarative.client import KubeClient
from berth.declarative.client.events import involved, now_rfc3339

SOURCE = "kubelet"
MAX_PODS = 50_000


class EventWriter:
    """Aggregating Event writes for the pods of many nodes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, dict[tuple, tuple[str, int]]] = {}
        """Per pod uid: (namespace, reason, message) -> (Event name, count)."""
        self.sent = 0

    def send(self, client: KubeClient, node: str, pod: dict, type_: str, reason: str, message: str) -> None:
        ref = involved({"kind": "Pod", "apiVersion": "v1", **pod})
        ns, stamp = ref.get("namespace") or "default", now_rfc3339()
        uid, key = ref.get("uid") or ref["name"], (ns, reason, message)
        with self._lock:
            seen = self._seen.get(uid, {}).get(key)
            if seen is not None:
                self._seen[uid][key] = (seen[0], seen[1] + 1)
        if seen is not None:
            client.patch("events", seen[0], {"count": seen[1] + 1, "lastTimestamp": stamp}, ns)
        else:
            name = f"{ref['name']}.{uuid.uuid4().hex[:16]}"
            client.create("events", {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                "source": {"component": SOURCE, "host": node}, "firstTimestamp": stamp, "lastTimestamp": stamp,
                "count": 1, "reportingComponent": SOURCE, "reportingInstance": node}, ns)
            with self._lock:
                if len(self._seen) > MAX_PODS:
                    self._seen.clear()
                self._seen.setdefault(uid, {})[key] = (name, 1)
        self.sent += 1

    def forget(self, pod: dict) -> None:
        """Drop the pod's aggregation keys (it is gone)."""
        uid = pod["metadata"].get("uid") or pod["metadata"]["name"]
        with self._lock:
            self._seen.pop(uid, None)
