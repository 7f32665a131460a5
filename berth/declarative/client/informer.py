"""`Informer`: a local cache of one resource, fed by list-then-watch, with change handlers.

`run()` (on its own thread via `start()`) lists the resource, replaces the cache (calling the
handlers for what appeared, changed or vanished), then watches from the list's resourceVersion.
When the stream ends it re-watches from the last resourceVersion seen (bookmarks included);
when the server answers 410 Gone (compacted history), it relists.  Connection errors back off
and retry.  Handlers run on the informer's thread and must be quick (enqueue a key).  The
scheduler, the controllers and the agents each own a few informers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx

from berth.declarative.client.credentials import Credentials
from berth.declarative.client.rest import ApiError, KubeClient

log = logging.getLogger(__name__)
Handler = Callable[..., None]


def key_of(obj: dict) -> str:
    """The cache key: `namespace/name`, or `name` for cluster-scoped objects."""
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


class Gone(Exception):
    """The watch's resourceVersion was compacted away: relist."""


class Informer:
    """List-watch cache of `plural` (optionally one namespace, selectors) with add/update/delete handlers."""

    def __init__(self, base_url: str, plural: str, namespace: str | None = None, *,
                 field_selector: str | None = None, label_selector: str | None = None,
                 on_add: Handler | None = None, on_update: Handler | None = None,
                 on_delete: Handler | None = None, watch_timeout: int = 60,
                 credentials: Credentials | None = None) -> None:
        self.base_url, self.plural, self.namespace = base_url, plural, namespace
        self.credentials = credentials
        self.field_selector, self.label_selector = field_selector, label_selector
        self.on_add, self.on_update, self.on_delete = on_add, on_update, on_delete
        self.watch_timeout = watch_timeout
        self.cache: dict[str, dict] = {}
        self.resource_version = ""
        self.synced = threading.Event()
        self.lock = threading.RLock()
        self.relists = 0
        self._stop = threading.Event()
        self._client: KubeClient | None = None
        self._thread: threading.Thread | None = None

    # ---- reading the cache ---------------------------------------------------------------------
    def get(self, key: str) -> dict | None:
        with self.lock:
            return self.cache.get(key)

    def items(self) -> list[dict]:
        with self.lock:
            return list(self.cache.values())

    # ---- life cycle ------------------------------------------------------------------------------
    def start(self) -> "Informer":
        self._thread = threading.Thread(target=self.run, name=f"informer-{self.plural}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            self._client = KubeClient(self.base_url, credentials=self.credentials)
            try:
                if not self.resource_version:
                    self.relist()
                self._watch()
                delay = 0.1
            except Gone:
                self.resource_version = ""
            except ApiError as err:
                if err.code == 410:
                    self.resource_version = ""
                else:
                    log.warning("informer %s: %s", self.plural, err)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 5.0)
            except (httpx.HTTPError, RuntimeError, OSError) as err:
                if not self._stop.is_set():
                    log.info("informer %s: connection %s; retrying", self.plural, err)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 5.0)
            finally:
                self._client.close()

    # ---- list and watch ----------------------------------------------------------------------------
    def relist(self) -> None:
        """Replace the cache with a fresh list, calling handlers for the differences."""
        page = self._client.list(self.plural, self.namespace, field_selector=self.field_selector,
                                 label_selector=self.label_selector)
        fresh = {key_of(o): o for o in page["items"]}
        with self.lock:
            gone = [o for k, o in self.cache.items() if k not in fresh]
            for obj in gone:
                del self.cache[key_of(obj)]
        for obj in gone:
            self._call(self.on_delete, obj)
        for key, obj in fresh.items():
            self._store("MODIFIED" if key in self.cache else "ADDED", obj)
        self.resource_version = page["resourceVersion"]
        self.relists += 1
        self.synced.set()

    def _watch(self) -> None:
        for event in self._client.watch(self.plural, self.resource_version, self.namespace,
                                        field_selector=self.field_selector, label_selector=self.label_selector,
                                        timeout_seconds=self.watch_timeout):
            if self._stop.is_set():
                return
            self.apply(event)

    def apply(self, event: dict) -> None:
        """Apply one watch event to the cache (public so tests can feed events without a socket)."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone(obj.get("message", ""))
            raise ApiError(int(obj.get("code", 500)), str(obj.get("reason", "")), str(obj.get("message", "")))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "DELETED":
            with self.lock:
                old = self.cache.pop(key_of(obj), None)
            self._call(self.on_delete, obj if old is None else obj)
        elif kind in ("ADDED", "MODIFIED"):
            self._store(kind, obj)
        if rv:
            self.resource_version = rv

    def _store(self, kind: str, obj: dict) -> None:
        key = key_of(obj)
        with self.lock:
            old = self.cache.get(key)
            self.cache[key] = obj
        if old is None:
            self._call(self.on_add, obj)
        else:
            self._call(self.on_update, old, obj)

    def _call(self, handler: Handler | None, *args: dict) -> None:
        if handler is None:
            return
        try:
            handler(*args)
        except Exception:  # a handler bug must not kill the informer
            log.exception("informer %s: handler failed", self.plural)
