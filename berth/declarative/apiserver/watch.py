"""Watch fan-out: one store subscription per resource, dispatched to many HTTP watchers.

A `Hub` subscribes once per resource prefix and hands each store event to the watchers whose filter it
passes, converting it to the watcher's view (ADDED when an object starts matching, DELETED when it stops).
Watchers that require one value of an indexed field (pods by `spec.nodeName`, as every node agent does) are
kept in a dictionary by that value, so a pod event reaches its node's watchers without scanning all of them.
Each event's object is decoded at most once (not at all for the write this server encoded last: the fan-out
takes the writer's object) and encoded once; each (event, type) line is that encoding inside its envelope,
whatever the number of watchers.
The hub runs in the server's event loop thread: the store must only be written from that thread.
Events reach watchers once committed; a watcher skips those at or below the revision it started from (a list
answered from writes still being committed already showed them). A watcher whose client stops reading is
cut off once its queue holds `MAX_QUEUED_BYTES`: it gets a final 410 ERROR line (the client lists again) and
nothing more, so one stuck client cannot hold an unbounded run of encoded events in memory.
"""

from __future__ import annotations

import asyncio

import orjson

from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.codec import fresh_object, from_record
from berth.declarative.apiserver.kinds import ResourceSpec
from berth.declarative.apiserver.selectors import Filter, field_value
from berth.store import DELETE, Event, Store, TooOld

INDEXED = {"pods": "spec.nodeName"}
MAX_QUEUED_BYTES = 32 << 20  # what one watcher's unread lines may hold before it is cut off
TOO_SLOW = orjson.dumps({"type": "ERROR", "object": st.gone("the watch fell too far behind its events; list"
                                                           " again").body()}) + b"\n"


def event_object(event: Event, which: str = "new") -> dict:
    """The decoded object of an event (shared; callers must not mutate it), cached on the event."""
    key = "obj" if which == "new" else "prev"
    obj = event.cache.get(key)
    if obj is None:
        rec = event.record if which == "new" else event.prev
        obj = event.cache[key] = from_record(rec) if rec is not None else None
    return obj


TYPES = {kind: b'{"type":"%s","object":' % kind.encode() for kind in ("ADDED", "MODIFIED", "DELETED")}


def event_line(event: Event, kind: str) -> bytes:
    """`{"type": kind, "object": ...}` and a newline, as orjson writes it; the object is encoded once per event."""
    cache = event.cache
    line = cache.get(kind)
    if line is None:
        encoded = cache.get("json")
        if encoded is None:
            encoded = cache["json"] = orjson.dumps(event_object(event))
        line = cache[kind] = TYPES[kind] + encoded + b"}\n"
    return line


def view(event: Event, flt: Filter) -> str | None:
    """The event type this watcher sees, or None if the change is invisible through its filter."""
    now = event_object(event)
    if event.kind == DELETE:
        return "DELETED" if flt.matches(now) else None
    matched_now = flt.matches(now)
    if event.prev is None:
        return "ADDED" if matched_now else None
    matched_before = flt.matches(event_object(event, "prev"))
    if matched_now:
        return "MODIFIED" if matched_before else "ADDED"
    return "DELETED" if matched_before else None


class Lines(asyncio.Queue):
    """A watcher's unread lines, with the bytes they hold (asyncio.Queue's _put/_get hooks)."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.bytes = 0

    def _put(self, item: bytes) -> None:
        super()._put(item)
        self.bytes += len(item)

    def _get(self) -> bytes:
        item = super()._get()
        self.bytes -= len(item)
        return item


class Watcher:
    """One HTTP watch: its filter, the revision it starts after, and a queue of lines for the response stream."""

    __slots__ = ("filter", "queue", "index_value", "since")

    def __init__(self, flt: Filter, index_value: str | None, since: int = 0) -> None:
        self.filter = flt
        self.queue: Lines = Lines()
        self.index_value = index_value
        self.since = since

    def offer(self, event: Event) -> None:
        if event.record.mod_revision <= self.since:
            return
        kind = view(event, self.filter)
        if kind is None:
            return
        if self.queue.bytes > MAX_QUEUED_BYTES:
            self.queue.put_nowait(TOO_SLOW)
            self.since = 1 << 62  # nothing more: the client lists again
            return
        self.queue.put_nowait(event_line(event, kind))


class Channel:
    """All watchers of one resource, fed by one store subscription."""

    def __init__(self, store: Store, spec: ResourceSpec) -> None:
        self.index_path = INDEXED.get(spec.plural)
        self.indexed: dict[str, set[Watcher]] = {}
        self.others: set[Watcher] = set()
        store.watch(spec.prefix(), store.revision, self.dispatch)

    def dispatch(self, event: Event) -> None:
        if not self.others and not self.indexed:
            return
        event.cache["obj"] = fresh_object(event.record)  # the writer's object if this is the last write encoded
        for w in list(self.others):
            w.offer(event)
        if self.indexed:
            for value in self._index_values(event):
                for w in list(self.indexed.get(value, ())):
                    w.offer(event)
        # The store keeps events for watch-resume: keep their encoded lines (bytes, invisible to the garbage
        # collector) but not the decoded dictionaries, which would make every collection slower.
        event.cache.pop("obj", None)
        event.cache.pop("prev", None)
        event.cache.pop("json", None)

    def _index_values(self, event: Event) -> set[str]:
        values = {field_value(event_object(event), self.index_path)}
        if event.prev is not None:
            values.add(field_value(event_object(event, "prev"), self.index_path))
        return values

    def add(self, w: Watcher) -> None:
        (self.indexed.setdefault(w.index_value, set()) if w.index_value is not None else self.others).add(w)

    def remove(self, w: Watcher) -> None:
        group = self.indexed.get(w.index_value, set()) if w.index_value is not None else self.others
        group.discard(w)


class Hub:
    """Opens watchers: replays history since a revision into the queue, then registers for live events."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.channels: dict[str, Channel] = {}

    def open(self, spec: ResourceSpec, flt: Filter, since: int) -> Watcher | TooOld:
        channel = self.channels.get(spec.plural)
        if channel is None:
            channel = self.channels[spec.plural] = Channel(self.store, spec)
        index_value = flt.exact(channel.index_path) if channel.index_path else None
        w = Watcher(flt, index_value, since)
        replay = self.store.watch(spec.prefix(flt.namespace), since, w.offer)
        if isinstance(replay, TooOld):
            return replay
        replay.cancel()
        channel.add(w)
        return w

    def close(self, spec: ResourceSpec, w: Watcher) -> None:
        channel = self.channels.get(spec.plural)
        if channel is not None:
            channel.remove(w)
