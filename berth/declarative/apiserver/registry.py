"""The generic registry: create, read, list, update and delete of any kind in `KINDS`, over a `Store`.

No HTTP here: each operation takes plain values and returns an object (dict) or a `Problem`, so it can be
tested without sockets. The admission pipeline is conform (schema) -> defaults -> validate; updates are
compare-and-swap on the stored revision (409 on a stale resourceVersion), and `guaranteed_update` retries a
mutation a bounded number of times. Deletion is graceful: finalizers or a pod's grace period keep the
object with a deletionTimestamp until the last finalizer goes and the grace period is zero.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable

from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.codec import conform, from_record, to_stored
from berth.declarative.apiserver.defaults import apply_defaults
from berth.declarative.apiserver.kinds import BY_PLURAL, KINDS, ResourceSpec
from berth.declarative.apiserver.schema import node_for
from berth.declarative.apiserver.status import Problem
from berth.declarative.apiserver.validation import validate, validate_status, validate_update
from berth.declarative.names import SYSTEM_NAMESPACES
from berth.model.timestamps import rfc3339
from berth.store import CONFLICT, EXISTS, NOT_FOUND, Store

RETRIES = 8
ALL = "*"  # a server-internal write that owns the whole object (spec and status)
GENERATION_KINDS = ("Deployment", "ReplicaSet")  # metadata.generation counts their spec changes
SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")
NAMESPACES = BY_PLURAL["namespaces"]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


_STAMPS: dict[int, str] = {}


def stamp(clock: Callable[[], datetime]) -> str:
    """RFC 3339 time in whole seconds, as the API writes it (memoised per second: it is on the create path)."""
    second = int(clock().timestamp())
    text = _STAMPS.get(second)
    if text is None:
        if len(_STAMPS) > 64:
            _STAMPS.clear()
        text = _STAMPS[second] = rfc3339(second)
    return text


class Registry:
    """CRUD over the store for every served kind; `clock` gives timestamps (a virtual one in simulations)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.clock = clock
        for name in SYSTEM_NAMESPACES:
            if store.get(NAMESPACES.key("", name)) is None:
                self.create(NAMESPACES, "", {"metadata": {"name": name}})

    # -- reads -------------------------------------------------------------------------------------
    def get(self, spec: ResourceSpec, ns: str, name: str) -> dict | Problem:
        rec = self.store.get(spec.key(ns, name))
        return from_record(rec) if rec is not None else st.not_found(spec, name)

    # -- admission ---------------------------------------------------------------------------------
    def admit(self, spec: ResourceSpec, obj, validation: str, sub: str = "") -> list[str] | Problem:
        """Check kind and schema, apply defaults, validate; returns warnings (unknown fields) or a Problem.

        A status write (`sub='status'`) only keeps the status half, so only that half is checked."""
        if not isinstance(obj, dict):
            return st.bad_request(f"the body must be a JSON object describing a {spec.kind}")
        kind, version = obj.get("kind"), obj.get("apiVersion")
        if kind not in (None, spec.kind) or version not in (None, spec.group_version):
            return st.bad_request(f"the object's apiVersion/kind ({version}, {kind}) does not match the"
                                  f" endpoint ({spec.group_version}, {spec.kind})")
        unknown: list[str] = []
        errors: list[str] = []
        root = node_for(spec.model)
        if sub == "status":
            for part in ("metadata", "status"):
                if part in obj:
                    obj[part] = conform(obj[part], root.fields[part], part, unknown, errors)
        else:
            conform(obj, root, "", unknown, errors)
        if errors:
            return st.bad_request(f'{spec.kind} in version "{spec.version}" cannot be handled as a {spec.kind}: '
                                  + "; ".join(errors[:5]))
        if unknown and validation == "Strict":
            return st.bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
        obj["kind"], obj["apiVersion"] = spec.kind, spec.group_version
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        if sub == "status":
            causes = validate_status(spec, obj)
        else:
            apply_defaults(spec, obj)
            causes = validate(spec, obj)
        if causes:
            return st.invalid(spec, obj["metadata"].get("name") or "", causes)
        return [] if validation == "Ignore" else [f'unknown field "{u}"' for u in unknown]

    # -- create ------------------------------------------------------------------------------------
    def create(self, spec: ResourceSpec, ns: str, obj, *, validation: str = "Warn", dry_run: bool = False):
        """Create `obj`; returns (object, warnings) or a Problem (400, 404 namespace, 409, 422)."""
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if isinstance(meta, dict):
            problem = self._place(spec, ns, meta)
            if problem:
                return problem
        warnings = self.admit(spec, obj, validation)
        if isinstance(warnings, Problem):
            return warnings
        meta = obj["metadata"]
        if spec.namespaced and self.store.get(NAMESPACES.key("", ns)) is None:
            return st.not_found(NAMESPACES, ns)
        for key in SYSTEM_META + ("resourceVersion", "managedFields", "selfLink"):
            meta.pop(key, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=stamp(self.clock), generation=1)
        if dry_run:
            return obj, warnings
        out = self.store.create(spec.key(ns, meta["name"]), to_stored(obj))
        if out.reason == EXISTS:
            return st.already_exists(spec, meta["name"])
        meta["resourceVersion"] = str(out.record.mod_revision)
        return obj, warnings

    def _place(self, spec: ResourceSpec, ns: str, meta: dict) -> Problem | None:
        """Fill namespace and a generated name; reject a body namespace that contradicts the URL."""
        if spec.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                return st.bad_request("the namespace of the provided object does not match the namespace sent"
                                      " on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and isinstance(meta.get("generateName"), str) and meta["generateName"]:
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        return None

    # -- update ------------------------------------------------------------------------------------
    def update(self, spec: ResourceSpec, ns: str, name: str, obj, *, sub: str = "", validation: str = "Warn",
               dry_run: bool = False):
        """Replace an object (or its status); CAS on the body's resourceVersion when it has one."""
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            return st.bad_request(f"the body must be a {spec.kind} object with metadata")
        meta = obj["metadata"]
        if meta.get("name") not in (None, name):
            return st.bad_request(f'the name of the object ({meta.get("name")}) does not match the name on the URL'
                                  f" ({name})")
        meta["name"] = name
        problem = self._place(spec, ns, meta)
        if problem:
            return problem
        rv = meta.get("resourceVersion")
        expect = 0
        if rv not in (None, ""):
            if not str(rv).isdigit():
                return st.bad_request(f"invalid resourceVersion {rv!r}")
            expect = int(rv)
        rec = self.store.get(spec.key(ns, name))
        if rec is None:
            return st.not_found(spec, name)
        warnings = self.admit(spec, obj, validation, sub)
        if isinstance(warnings, Problem):
            return warnings
        out = self.commit(spec, from_record(rec), obj, expect or rec.mod_revision, sub=sub, dry_run=dry_run)
        return out if isinstance(out, Problem) else (out, warnings)

    def commit(self, spec: ResourceSpec, current: dict, new: dict, expect: int, *, sub: str = "",
               dry_run: bool = False) -> dict | Problem:
        """Write `new` over `current` if the store still holds revision `expect`; finalize a finished delete."""
        merge_system_fields(spec, current, new, sub)
        cur_meta = current["metadata"]
        name = new["metadata"]["name"] = cur_meta["name"]
        if spec.namespaced:
            new["metadata"]["namespace"] = cur_meta.get("namespace", "")
        key = spec.key(cur_meta.get("namespace", ""), name)
        causes = validate_update(spec, current, new)
        if causes:
            return st.invalid(spec, name, causes)
        if dry_run:
            return new
        if finished_deleting(new):
            out = self.store.delete(key, expect=expect)
        else:
            out = self.store.update(key, to_stored(new), expect=expect)
        if out.reason == CONFLICT:
            return st.conflict(spec, name)
        if out.reason == NOT_FOUND:
            return st.not_found(spec, name)
        new["metadata"]["resourceVersion"] = str(out.record.mod_revision)
        return new

    def guaranteed_update(self, spec: ResourceSpec, ns: str, name: str, mutate, *, sub: str = ALL) -> dict | Problem:
        """Read, apply `mutate(obj) -> obj | Problem`, and CAS-write; retries on conflicts up to RETRIES times.

        `sub` says which part the mutation owns: ALL (server-internal writes such as binding), '' (the main
        resource, status kept) or 'status'.
        """
        for _ in range(RETRIES):
            rec = self.store.get(spec.key(ns, name))
            if rec is None:
                return st.not_found(spec, name)
            obj = from_record(rec)
            current = from_record(rec) if spec.kind in GENERATION_KINDS else snapshot(obj)
            new = mutate(obj)
            if isinstance(new, Problem):
                return new
            out = self.commit(spec, current, new, rec.mod_revision, sub=sub)
            if not (isinstance(out, Problem) and out.reason == "Conflict"):
                return out
        return st.conflict(spec, name, "too many concurrent updates; try again")

    # -- delete ------------------------------------------------------------------------------------
    def delete(self, spec: ResourceSpec, ns: str, name: str, options: dict | None = None,
               *, dry_run: bool = False) -> dict | Problem:
        """Delete gracefully; returns the object (pods, or one that lingers) or a Success Status."""
        options = options or {}
        if spec.kind == "Namespace" and name in SYSTEM_NAMESPACES[:3]:
            return Problem(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted')
        rec = self.store.get(spec.key(ns, name))
        if rec is None:
            return st.not_found(spec, name)
        obj = from_record(rec)
        problem = check_preconditions(spec, obj, options.get("preconditions") or {})
        if problem:
            return problem
        grace = deletion_grace(spec, obj, options.get("gracePeriodSeconds"))
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        policy = options.get("propagationPolicy") or ""
        extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy)
        if extra and extra not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(extra)
        if dry_run:
            return obj
        if grace == 0 and not finalizers:
            return self._remove(spec, ns, name, obj, rec.mod_revision)
        meta["finalizers"] = finalizers or None
        if not meta.get("finalizers"):
            meta.pop("finalizers")
        meta.setdefault("deletionTimestamp", stamp(self.clock))
        meta["deletionGracePeriodSeconds"] = min(grace, meta.get("deletionGracePeriodSeconds", grace))
        out = self.store.update(spec.key(ns, name), to_stored(obj), expect=rec.mod_revision)
        if not out.ok:
            return st.conflict(spec, name)
        meta["resourceVersion"] = str(out.record.mod_revision)
        return obj

    def _remove(self, spec, ns, name, obj, expect) -> dict | Problem:
        if spec.kind == "Namespace":
            self._empty_namespace(name)
        out = self.store.delete(spec.key(ns, name), expect=expect)
        if not out.ok:
            return st.conflict(spec, name) if out.reason == CONFLICT else st.not_found(spec, name)
        obj["metadata"]["resourceVersion"] = str(out.record.mod_revision)
        if spec.return_deleted:
            return obj
        return st.success({"name": name, "group": spec.group, "kind": spec.plural,
                           "uid": obj["metadata"].get("uid", "")})

    def _empty_namespace(self, ns: str) -> None:
        for spec in KINDS:
            if spec.namespaced:
                for rec in self.store.list(spec.prefix(ns)).records:
                    self.store.delete(rec.key)


def merge_system_fields(spec: ResourceSpec, current: dict, new: dict, sub: str) -> None:
    """Keep what clients may not change: identity, timestamps, and the half of the object the call does not own."""
    cur_meta, meta = current["metadata"], new["metadata"]
    for key in SYSTEM_META:
        if key in cur_meta:
            meta[key] = cur_meta[key]
        else:
            meta.pop(key, None)
    if "status" in spec.subresources and sub != ALL:
        if sub == "status":
            for key in list(new):
                if key not in ("status", "metadata", "kind", "apiVersion"):
                    new.pop(key)
            new.update({k: v for k, v in current.items() if k not in ("status", "metadata")})
        elif "status" in current:
            new["status"] = current["status"]
        else:
            new.pop("status", None)
    if spec.kind in GENERATION_KINDS and new.get("spec") != current.get("spec"):
        meta["generation"] = cur_meta.get("generation", 1) + 1


def snapshot(obj: dict) -> dict:
    """What `commit` reads of the current object for a server-internal write of a kind without generation."""
    meta = obj["metadata"]
    return {"metadata": {k: meta[k] for k in SYSTEM_META + ("name", "namespace") if k in meta}}


def finished_deleting(obj: dict) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") and \
        not meta.get("deletionGracePeriodSeconds")


def deletion_grace(spec: ResourceSpec, obj: dict, requested) -> int:
    if spec.kind != "Pod":
        return 0
    if not (obj.get("spec") or {}).get("nodeName"):
        return 0
    if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if isinstance(requested, int) and not isinstance(requested, bool) and requested >= 0:
        return requested
    return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)


def check_preconditions(spec: ResourceSpec, obj: dict, pre: dict) -> Problem | None:
    meta = obj["metadata"]
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        return st.conflict(spec, meta["name"], f"Precondition failed: UID in precondition: {pre['uid']}, UID in"
                                               f" object meta: {meta.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        return st.conflict(spec, meta["name"], "Precondition failed: ResourceVersion in precondition:"
                                               f" {pre['resourceVersion']}, ResourceVersion in object meta:"
                                               f" {meta.get('resourceVersion')}")
    return None
