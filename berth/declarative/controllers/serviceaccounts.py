"""The ServiceAccounts controller: a `default` ServiceAccount in every namespace, as upstream's.

`reconcile_namespace(namespace, has_default)` is pure: a live namespace (not being deleted) without a
`default` ServiceAccount gets one created; the ControllerManager calls it whenever a namespace appears or
changes and whenever a ServiceAccount named `default` goes, so a deleted one comes back.
"""

from __future__ import annotations

from berth.declarative.controllers.actions import Action, Create

DEFAULT = "default"
ENSURED = (DEFAULT,)
"""The ServiceAccounts every namespace has (upstream's --service-account-names, whose default is this)."""


def reconcile_namespace(namespace: dict | None, present: set[str]) -> list[Action]:
    """The ServiceAccounts to create in `namespace`, given the names of those it has."""
    if namespace is None:
        return []
    meta = namespace["metadata"]
    if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
        return []
    return [Create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
                   meta["name"]) for name in ENSURED if name not in present]
