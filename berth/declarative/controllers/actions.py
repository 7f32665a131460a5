"""What a reconcile function asks for: API writes as data, and helpers shared by the controllers.

A reconcile function is pure: it reads objects (dicts) and the time, and returns a list of
actions -- `Create`, `Update` (whole object, optionally a subresource such as `status`),
`Patch` (merge patch) and `Delete`.  `perform` carries them out with compare-and-swap
semantics (the object's resourceVersion travels with Update); tests just inspect them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from berth.declarative.client.rest import ApiError
from berth.model.labels import NOTHING, Selector, SelectorError, structured_selector


@dataclass(frozen=True)
class Create:
    plural: str
    body: dict
    namespace: str | None = None


@dataclass(frozen=True)
class Update:
    plural: str
    body: dict
    sub: str | None = None


@dataclass(frozen=True)
class Patch:
    plural: str
    name: str
    patch: dict
    namespace: str | None = None
    sub: str | None = None


@dataclass(frozen=True)
class Delete:
    plural: str
    name: str
    namespace: str | None = None
    uid: str | None = None
    grace: int | None = None
    propagation: str | None = None
    reason: str = field(default="", compare=False)


Action = Create | Update | Patch | Delete


def owner_ref(owner: dict, controller: bool = True) -> dict:
    meta = owner["metadata"]
    return {"apiVersion": owner.get("apiVersion", "v1"), "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": True}


def controller_uid(obj: dict) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def template_hash(template: dict) -> str:
    """A short, stable hash of a pod template (the `pod-template-hash` label value)."""
    blob = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(blob).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    value = int.from_bytes(digest[:8], "big")
    out = ""
    for _ in range(10):
        value, rem = divmod(value, len(alphabet))
        out += alphabet[rem]
    return out


def controller_selector(selector: dict | None) -> Selector:
    """What a controller's `spec.selector` adopts: NOTHING when it is null, empty or invalid.

    This is the controllers' one rule on top of the label matcher.  A list call with an empty selector
    matches everything, but a controller with one would claim every pod in its namespace, so Kubernetes'
    controllers (ReplicaSet, Deployment, adoption) select nothing instead, and so do these."""
    parsed = structured_selector(selector)
    return NOTHING if isinstance(parsed, SelectorError) or parsed.empty else parsed


def perform(client, actions: list[Action]) -> None:
    """Carry out `actions` in order with a `KubeClient`.  Updates carry the object's resourceVersion,
    so a stale one fails with 409 and the caller retries; a missing object on delete and an existing
    one on create count as done."""
    for action in actions:
        try:
            _perform_one(client, action)
        except ApiError as err:
            if (isinstance(action, Delete) and err.code == 404) or (isinstance(action, Create) and err.code == 409):
                continue
            raise


def _perform_one(client, action: Action) -> None:
    if isinstance(action, Create):
        client.create(action.plural, action.body, action.namespace)
    elif isinstance(action, Update):
        client.update(action.plural, action.body, action.sub)
    elif isinstance(action, Patch):
        client.patch(action.plural, action.name, action.patch, action.namespace, action.sub)
    elif isinstance(action, Delete):
        client.delete(action.plural, action.name, action.namespace, grace=action.grace,
                      propagation=action.propagation, uid=action.uid)
