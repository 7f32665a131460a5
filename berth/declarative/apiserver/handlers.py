"""Handlers for resource collections and items: list, watch, create, get, replace, patch, delete.

Each handler takes the server (`Api`: registry, hub, options) and a parsed `Call`, and returns a Starlette
response. Validation problems come back from the registry as `Problem`s and leave as Status bodies.
The ROUTES table in app.py maps (target, method) to these functions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii

import orjson
from starlette.responses import StreamingResponse

from berth.declarative.apiserver import patch as patches
from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.codec import from_record
from berth.declarative.apiserver.gate import USER
from berth.declarative.apiserver.http import Call, int_param, problem_response, respond
from berth.declarative.apiserver.noderestriction import admit_create
from berth.declarative.apiserver.schema import node_for
from berth.declarative.apiserver.selectors import Filter, make_filter
from berth.declarative.apiserver.status import Problem
from berth.declarative.apiserver.tables import table_event, to_table
from berth.store import TooOld

BOOKMARK_SECONDS = 5.0
WATCH_GATHER_SECONDS = 0.002
"""After an event, a watch stream waits this long for more before it writes: at thousands of events a
second, one send (and one wake-up of the client) per few milliseconds instead of per event."""


# -- list and watch ---------------------------------------------------------------------------------------
def _filter(call: Call) -> Filter | Problem:
    return make_filter(call.spec, call.namespace, call.param("labelSelector"), call.param("fieldSelector"))


def _decode_continue(token: str) -> str | Problem:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=="))
        return str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return st.bad_request("continue key is not valid: the token could not be decoded")


def list_objects(api, call: Call, flt: Filter) -> dict | Problem:
    limit = int_param(call, "limit", 0)
    if isinstance(limit, Problem):
        return limit
    after = _decode_continue(call.param("continue")) if call.param("continue") else ""
    if isinstance(after, Problem):
        return after
    items, more, last = [], False, after
    listing = api.store.list(call.spec.prefix(flt.namespace), after=after)
    for rec in listing.records:
        obj = from_record(rec)
        if flt.matches(obj):
            if limit and len(items) == limit:
                more = True
                break
            items.append(obj)
            last = rec.key
    meta = {"resourceVersion": str(listing.revision)}
    if more:
        meta["continue"] = base64.urlsafe_b64encode(orjson.dumps({"start": last})).decode().rstrip("=")
    return {"kind": call.spec.list_kind, "apiVersion": call.spec.group_version, "metadata": meta, "items": items}


async def list_or_watch(api, call: Call):
    flt = _filter(call)
    if isinstance(flt, Problem):
        return problem_response(flt)
    if call.flag("watch"):
        return await watch(api, call, flt)
    result = list_objects(api, call, flt)
    if isinstance(result, Problem) or not call.wants_table():
        return respond(result)
    return respond(to_table(call.spec, result["items"], result["metadata"], call.param("includeObject")))


async def watch(api, call: Call, flt: Filter):
    timeout = int_param(call, "timeoutSeconds", api.max_watch_seconds)
    if isinstance(timeout, Problem):
        return problem_response(timeout)
    rv = call.param("resourceVersion")
    if rv not in ("", "0") and not rv.isdigit():
        return problem_response(st.bad_request(f"invalid resourceVersion {rv!r}"))
    initial: list[bytes] = []
    if rv in ("", "0"):
        listing = api.store.list(call.spec.prefix(flt.namespace))
        for rec in listing.records:
            obj = from_record(rec)
            if flt.matches(obj):
                initial.append(orjson.dumps({"type": "ADDED", "object": obj}) + b"\n")
        since = listing.revision
    else:
        since = int(rv)
    w = api.hub.open(call.spec, flt, since)
    if isinstance(w, TooOld):
        gone = st.gone(f"too old resource version: {w.requested} ({w.compacted})").body()
        return StreamingResponse(iter([orjson.dumps({"type": "ERROR", "object": gone}) + b"\n"]),
                                 media_type="application/json")
    table = call.wants_table()
    stream = _stream(api, call, w, initial, min(timeout or api.max_watch_seconds, api.max_watch_seconds), table)
    return StreamingResponse(stream, media_type="application/json")


async def _stream(api, call: Call, w, initial: list[bytes], timeout: float, table: bool):
    spec = call.spec
    bookmarks = call.flag("allowWatchBookmarks")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    convert = (lambda line: table_event(spec, line)) if table else (lambda line: line)
    try:
        if initial:
            await api.durable()
            yield b"".join(convert(line) for line in initial)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                line = await asyncio.wait_for(w.queue.get(), min(remaining, BOOKMARK_SECONDS))
            except asyncio.TimeoutError:
                if bookmarks:
                    yield _bookmark(spec, api.store.revision)
                continue
            if w.queue.empty():
                await asyncio.sleep(WATCH_GATHER_SECONDS)
            lines = [convert(line)]
            while not w.queue.empty() and len(lines) < 1000:
                lines.append(convert(w.queue.get_nowait()))
            await api.durable()
            yield b"".join(lines)
    finally:
        api.hub.close(spec, w)


def _bookmark(spec, revision: int) -> bytes:
    obj = {"kind": spec.kind, "apiVersion": spec.group_version, "metadata": {"resourceVersion": str(revision)}}
    return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


# -- create, read, replace --------------------------------------------------------------------------------
async def _body_and_validation(call: Call):
    """(decoded body, field-validation mode) of a write, or the Problem with either."""
    body = await call.body()
    if isinstance(body, Problem):
        return body
    mode = call.validation()
    return mode if isinstance(mode, Problem) else (body, mode)


async def create(api, call: Call):
    got = await _body_and_validation(call)
    if isinstance(got, Problem):
        return problem_response(got)
    body, mode = got
    refused = admit_create(call.request.scope.get(USER), call.spec.plural, body)  # a node names only its own
    if refused is not None:
        return problem_response(refused)
    result = api.registry.create(call.spec, call.namespace, body, validation=mode, dry_run=call.dry_run)
    if isinstance(result, Problem):
        return problem_response(result)
    obj, warnings = result
    return respond(obj, 201, warnings)


async def get(api, call: Call):
    result = api.registry.get(call.spec, call.namespace, call.name)
    if isinstance(result, Problem) or not call.wants_table():
        return respond(result)
    return respond(to_table(call.spec, [result], {"resourceVersion": result["metadata"]["resourceVersion"]},
                            call.param("includeObject")))


async def replace(api, call: Call):
    got = await _body_and_validation(call)
    if isinstance(got, Problem):
        return problem_response(got)
    body, mode = got
    result = api.registry.update(call.spec, call.namespace, call.name, body, sub=call.sub, validation=mode,
                                 dry_run=call.dry_run)
    if isinstance(result, Problem):
        return problem_response(result)
    return respond(result[0], 200, result[1])


# -- patch -------------------------------------------------------------------------------------------------
def apply_patch(spec, current: dict, kind: str, body):
    """The patched object, or a Problem for an unsupported type or a patch that does not apply."""
    try:
        if kind == patches.JSON_PATCH:
            return patches.json_patch(current, body)
        if kind == patches.MERGE_PATCH:
            return patches.merge_patch(current, body)
        if kind == patches.STRATEGIC:
            return patches.strategic_merge(current, body, node_for(spec.model), copy_original=False)
    except (patches.PatchError, RecursionError, TypeError) as err:
        return Problem(422, "Invalid", f"the patch could not be applied: {err}")
    return Problem(415, "UnsupportedMediaType", f"the patch type {kind!r} is not supported; use one of"
                   f" {patches.JSON_PATCH}, {patches.MERGE_PATCH}, {patches.STRATEGIC}")


async def patch(api, call: Call):
    kind = call.header("content-type").split(";", 1)[0].strip()
    got = await _body_and_validation(call)
    if isinstance(got, Problem):
        return problem_response(got)
    body, mode = got
    if kind == patches.APPLY_PATCH:
        return problem_response(Problem(415, "UnsupportedMediaType", "server-side apply is not supported by this"
                                        " server; use client-side apply (kubectl apply without --server-side)"))
    return respond(*patch_object(api, call, kind, body, mode))


def patch_object(api, call: Call, kind: str, body, mode: str):
    """Patch with bounded retries on conflict; returns (result, status, warnings)."""
    spec, reg = call.spec, api.registry
    for _ in range(8):
        rec = api.store.get(spec.key(call.namespace, call.name))
        if rec is None:
            return st.not_found(spec, call.name), 404, ()
        current = from_record(rec)
        current_rv = current["metadata"]["resourceVersion"]
        new = apply_patch(spec, current, kind, body)  # may reuse `current` (strategic merge patches it in place)
        if isinstance(new, Problem):
            return new, new.code, ()
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            return st.bad_request("the patched object is not a valid object"), 400, ()
        new["metadata"]["name"] = call.name
        rv = new["metadata"].get("resourceVersion")
        if rv not in (None, "", current_rv):
            return st.conflict(spec, call.name), 409, ()
        warnings = reg.admit(spec, new, mode, call.sub)
        if isinstance(warnings, Problem):
            return warnings, warnings.code, ()
        # A status write takes everything else from `current`; nothing mutated it, so one decode is enough.
        base = current if call.sub == "status" and kind == patches.MERGE_PATCH else from_record(rec)
        out = reg.commit(spec, base, new, rec.mod_revision, sub=call.sub, dry_run=call.dry_run)
        if not (isinstance(out, Problem) and out.reason == "Conflict"):
            return out, 200, warnings
    return st.conflict(spec, call.name), 409, ()


# -- delete ------------------------------------------------------------------------------------------------
async def delete_options(call: Call) -> dict | Problem:
    options: dict = {}
    if call.header("content-length", "0") not in ("", "0"):
        body = await call.body()
        if isinstance(body, Problem):
            return body
        if body is not None and not isinstance(body, dict):
            return st.bad_request("DeleteOptions must be a JSON object")
        options = dict(body or {})
    grace = int_param(call, "gracePeriodSeconds")
    if isinstance(grace, Problem):
        return grace
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    if call.param("propagationPolicy"):
        options["propagationPolicy"] = call.param("propagationPolicy")
    if options.get("propagationPolicy") not in (None, "", "Foreground", "Background", "Orphan"):
        return st.bad_request(f"propagationPolicy {options['propagationPolicy']!r} is not one of Foreground,"
                              " Background, Orphan")
    return options


async def delete(api, call: Call):
    options = await delete_options(call)
    if isinstance(options, Problem):
        return problem_response(options)
    return respond(api.registry.delete(call.spec, call.namespace, call.name, options, dry_run=call.dry_run))


async def delete_collection(api, call: Call):
    flt = _filter(call)
    if isinstance(flt, Problem):
        return problem_response(flt)
    options = await delete_options(call)
    if isinstance(options, Problem):
        return problem_response(options)
    listing = list_objects(api, call, flt)
    if isinstance(listing, Problem):
        return problem_response(listing)
    for obj in listing["items"]:
        meta = obj["metadata"]
        api.registry.delete(call.spec, meta.get("namespace", ""), meta["name"], options, dry_run=call.dry_run)
    return respond(st.success())
