"""Aggregated ClusterRoles: a ClusterRole with an `aggregationRule` gets the union of the rules of every
ClusterRole its `clusterRoleSelectors` select, kept up to date as upstream's clusterrole-aggregation
controller keeps it (selectors in order, the selected roles by name, each rule once, the role itself skipped).

The server does this itself rather than a controller of the controller manager: berth's controller manager is
a separate process that may be absent (an API server alone, or before the manager starts), and until it ran
the default `admin`, `edit` and `view` would grant nothing; and a controller would need `escalate` on
ClusterRoles, a privilege berth's controllers otherwise never need.  `Aggregator` watches the ClusterRoles'
prefix; a change schedules one reconcile on the server's event loop (a store watch callback may not write),
which writes the aggregated roles whose rules differ and flushes.  `bootstrap.ensure_defaults` starts it.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.registry import Registry
from berth.declarative.apiserver.status import Problem
from berth.model.labels import Selector, structured_selector

log = logging.getLogger(__name__)
CLUSTERROLES = BY_PLURAL["clusterroles"]
ROUNDS = 8


def aggregated_rules(role: dict, clusterroles: list[dict]) -> list[dict]:
    """The rules `role` (which has an aggregationRule) should hold, given every ClusterRole."""
    name = (role.get("metadata") or {}).get("name")
    ordered = sorted(clusterroles, key=lambda r: r["metadata"]["name"])
    rules: list[dict] = []
    for raw in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ():
        selector = structured_selector(raw)
        if not isinstance(selector, Selector):
            continue
        for other in ordered:
            if other["metadata"]["name"] != name and selector.matches(other["metadata"].get("labels")):
                rules += [r for r in other.get("rules") or () if r not in rules]
    return rules


def stale_roles(clusterroles: list[dict]) -> dict[str, list[dict]]:
    """Aggregated role name -> its new rules, for those whose stored rules differ."""
    out = {}
    for role in clusterroles:
        if role.get("aggregationRule"):
            rules = aggregated_rules(role, clusterroles)
            if rules != (role.get("rules") or []):
                out[role["metadata"]["name"]] = rules
    return out


class Aggregator:
    """Keeps the aggregated ClusterRoles of `registry`'s store up to date (see the module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._scheduled = False

    def start(self) -> "Aggregator":
        store = self.registry.store
        store.watch(CLUSTERROLES.prefix(), store.revision, self._changed)
        self.reconcile()
        return self

    def _changed(self, event) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a write outside the server's loop (start-up, tests): `reconcile` is called
            return
        self._scheduled = True
        loop.call_soon(self.reconcile)

    def reconcile(self) -> int:
        """Write every aggregated role whose rules are stale, again while a write changed what another
        selects (an aggregated role that is itself aggregated, as `edit` into `admin`), at most ROUNDS
        times; returns how many writes it made."""
        self._scheduled = False
        store, written = self.registry.store, 0
        for _ in range(ROUNDS):
            roles = [orjson.loads(r.value) for r in store.list(CLUSTERROLES.prefix()).records]
            stale = stale_roles(roles)
            for name, rules in stale.items():
                out = self.registry.guaranteed_update(CLUSTERROLES, "", name,
                                                      lambda obj, r=rules: {**obj, "rules": r})
                if isinstance(out, Problem):
                    log.warning("aggregated ClusterRole %s not updated: %s", name, out.message)
            written += len(stale)
            if not stale:
                break
        if written:
            try:
                store.flush()
            except Exception:  # I/O: the next request's commit retries it
                log.exception("flushing aggregated ClusterRoles failed")
        return written
