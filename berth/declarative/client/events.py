"""`EventRecorder`: core/v1 Events about objects, sent from a background thread, repeats aggregated.

Components call `record(obj, type, reason, message)` and return at once; a worker thread POSTs
the Event (named `<object>.<hex>` in the object's namespace, as upstream names them) or, when the
same object, reason and message repeat, PATCHes its `count` and `lastTimestamp` -- what
`kubectl describe` shows as `x3 over 10s`.  Errors are logged and dropped: events are best-effort
upstream too.  Used by the scheduler, the controllers and the node agents.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid

from berth.declarative.client.rest import ApiError, KubeClient
from berth.model.timestamps import rfc3339

log = logging.getLogger(__name__)
MAX_BACKLOG = 10_000


def now_rfc3339() -> str:
    return rfc3339(time.time())


def involved(obj: dict) -> dict:
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind", "Pod"), "apiVersion": obj.get("apiVersion", "v1"), "name": meta["name"],
           "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


class EventRecorder:
    """Asynchronous, aggregating Event writer for one component (`source`, e.g. default-scheduler)."""

    def __init__(self, client: KubeClient, source: str, host: str = "") -> None:
        self.client, self.source, self.host = client, source, host
        self._queue: queue.Queue = queue.Queue(MAX_BACKLOG)
        self._seen: dict[tuple, tuple[str, str, int]] = {}
        self._thread = threading.Thread(target=self._run, name=f"events-{source}", daemon=True)
        self._thread.start()
        self.sent = 0

    def record(self, obj: dict, type_: str, reason: str, message: str) -> None:
        try:
            self._queue.put_nowait((involved(obj), type_, reason, message))
        except queue.Full:
            log.warning("event backlog full; dropping %s %s", reason, message)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every recorded event was sent (or `timeout`)."""
        done = threading.Event()
        self._queue.put((None, done))
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item[0] is None:
                item[1].set()
                continue
            try:
                self._send(*item)
                self.sent += 1
            except (ApiError, OSError, Exception) as err:  # best-effort, like upstream
                log.info("event %s not recorded: %s", item[2], err)

    def _send(self, ref: dict, type_: str, reason: str, message: str) -> None:
        ns = ref.get("namespace") or "default"
        key = (ref.get("uid") or ref["name"], ns, reason, message)
        stamp = now_rfc3339()
        seen = self._seen.get(key)
        if seen is not None:
            name, first, count = seen
            self.client.patch("events", name, {"count": count + 1, "lastTimestamp": stamp}, ns)
            self._seen[key] = (name, first, count + 1)
            return
        name = f"{ref['name']}.{uuid.uuid4().hex[:16]}"
        body = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                "source": {"component": self.source, **({"host": self.host} if self.host else {})},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": self.source, "reportingInstance": self.host or self.source}
        self.client.create("events", body, ns)
        if len(self._seen) > 50_000:
            self._seen.clear()
        self._seen[key] = (name, stamp, 1)
