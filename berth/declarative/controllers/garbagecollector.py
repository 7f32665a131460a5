"""Garbage collection by ownerReferences: background, foreground and orphan propagation.

Pure functions over objects.  `orphaned(obj, owner_exists)` is True when every owner an object
names is gone (its uid no longer exists), so the dependent must be deleted (background
propagation; the controller re-checks owners with a live GET first, as upstream does).
`finish_owner(owner, dependents)` handles an owner being deleted with a finalizer: for
`foregroundDeletion`, delete the dependents and drop the finalizer once none are left; for
`orphan`, remove the owner's reference from each dependent, then drop the finalizer.
"""

from __future__ import annotations

from collections.abc import Callable

from berth.declarative.controllers.actions import Action, Delete, Patch
from berth.declarative.names import PLURALS

FOREGROUND, ORPHAN = "foregroundDeletion", "orphan"


def orphaned(obj: dict, owner_exists: Callable[[dict, str | None], bool]) -> bool:
    """True when `obj` has owners and none of them exists any more."""
    refs = obj["metadata"].get("ownerReferences") or []
    if not refs or obj["metadata"].get("deletionTimestamp"):
        return False
    return not any(owner_exists(ref, obj["metadata"].get("namespace")) for ref in refs)


def delete_orphan(obj: dict) -> Delete:
    meta = obj["metadata"]
    return Delete(PLURALS[obj["kind"]], meta["name"], meta.get("namespace"), uid=meta.get("uid"),
                  propagation="Background", reason="owner gone")


def finish_owner(owner: dict, dependents: list[dict]) -> list[Action]:
    """Actions for an owner being deleted with the foreground or orphan finalizer."""
    meta = owner["metadata"]
    finalizers = meta.get("finalizers") or []
    if not meta.get("deletionTimestamp"):
        return []
    uid, plural = meta.get("uid"), PLURALS[owner["kind"]]
    if FOREGROUND in finalizers:
        live = [d for d in dependents if not d["metadata"].get("deletionTimestamp")]
        if dependents:
            return [Delete(PLURALS[d["kind"]], d["metadata"]["name"], d["metadata"].get("namespace"),
                           uid=d["metadata"].get("uid"), propagation="Foreground", reason="foreground deletion")
                    for d in live]
        return [_drop(plural, meta, FOREGROUND)]
    if ORPHAN in finalizers:
        actions: list[Action] = []
        for d in dependents:
            refs = [r for r in d["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            actions.append(Patch(PLURALS[d["kind"]], d["metadata"]["name"], {"metadata": {"ownerReferences": refs}},
                                 d["metadata"].get("namespace")))
        return actions + [_drop(plural, meta, ORPHAN)]
    return []


def _drop(plural: str, meta: dict, finalizer: str) -> Patch:
    rest = [f for f in meta.get("finalizers") or [] if f != finalizer]
    return Patch(plural, meta["name"], {"metadata": {"finalizers": rest}}, meta.get("namespace"))
