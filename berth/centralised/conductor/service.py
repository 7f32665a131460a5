"""`Conductor`: leases pending servers and carries out their builds and deletes.

`poll()` takes a lease (a compare-and-swap on the server row, expiring on the clock) on each
server whose task is `scheduling` or `deleting`, and runs it on a worker thread.  A build:
clean up any earlier attempt, ask a scheduler (which claims the first host), then for that host
and each alternate in turn: claim (alternates only), record the host, late-check the group
policy, and ask the agent to spawn.  A failed attempt rolls its allocation back in Placement
and moves on; when none is left the server goes to ERROR with MaxRetriesExceeded, and when the
scheduler finds nothing, with NoValidHost and its reasons.  Builds of one server group run one
at a time per conductor; the late check keeps several conductors safe.  A delete stops the
server on its agent (best effort: the agent may be gone) and removes its allocations and row.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from berth.centralised.clients.placement import PlacementClient
from berth.centralised.compute.db import Repo, Row
from berth.centralised.conductor import plan
from berth.centralised.conductor.clients import AgentClient, SchedulerClient
from berth.centralised.scheduler.manager import Selection
from berth.centralised.scheduler.request import GroupInfo, RequestSpec
from berth.runtime.clock import Clock


LOG = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The server row changed under this build (deleted, or taken over); stop working on it."""


class Conductor:
    def __init__(self, repo: Repo, placement: PlacementClient, scheduler: SchedulerClient, clock: Clock, *,
                 agents: AgentClient, workers: int = 4, lease: float = 60.0) -> None:
        self.repo, self.placement, self.scheduler, self.clock = repo, placement, scheduler, clock
        self.agents = agents
        self.owner = f"conductor-{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.owner)
        self.running: dict[str, Future] = {}
        self.group_locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()
        self.stats = {"builds": 0, "active": 0, "errors": 0, "failed_attempts": 0, "deletes": 0}

    def _count(self, what: str) -> None:
        with self.lock:
            self.stats[what] += 1

    # ---- leasing -------------------------------------------------------------------------
    def poll(self) -> int:
        """Lease and start every pending server not already running here; how many started."""
        started = 0
        self.running = {k: f for k, f in self.running.items() if not f.done()}
        for row in self.repo.pending(self.clock.now()):
            if row["id"] in self.running:
                continue
            leased = self.repo.update_server(row, self._lease())
            if leased is not None:
                self.running[row["id"]] = self.pool.submit(self.handle, leased)
                started += 1
        return started

    def idle(self) -> bool:
        return all(f.done() for f in self.running.values())

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def _lease(self) -> Row:
        return {"lease_owner": self.owner, "lease_until": self.clock.now() + self.lease}

    def handle(self, row: Row) -> None:
        try:
            if row["task_state"] == "deleting":
                self.delete(row)
            else:
                self.build(row)
        except LeaseLost:
            self._drop_lease(row["id"])
        except Exception:  # an outage (Placement, scheduler, database): retried when the lease expires
            LOG.exception("server %s: %s failed; retrying after the lease expires", row["id"], row["task_state"])

    def _drop_lease(self, server_id: str) -> None:
        """Hand a row that moved on (say, to deleting) back to the next poll at once."""
        self.repo.mutate_server(server_id, lambda r: {"lease_owner": None, "lease_until": 0.0}
                                if r["lease_owner"] == self.owner else None)

    def _save(self, row: Row, changes: Row) -> Row:
        """CAS `changes` onto our leased row, renewing the lease; LeaseLost if it moved on."""
        new = self.repo.update_server(row, dict(changes, updated=self.clock.now(), **self._lease()))
        if new is None:
            raise LeaseLost(row["id"])
        return new

    def _release(self, row: Row, changes: Row) -> Row:
        new = self.repo.update_server(row, dict(changes, updated=self.clock.now(), lease_owner=None,
                                                lease_until=0.0))
        if new is None:
            raise LeaseLost(row["id"])
        return new

    # ---- build ---------------------------------------------------------------------------
    def build(self, row: Row) -> None:
        self._count("builds")
        row = self._forget_previous(row)
        lock = self._group_lock(row["group_id"])
        with lock:
            spec = RequestSpec.for_server(row, self._group(row))
            result = self.scheduler.select(spec)
            if not result.ok:
                self._error(row, plan.fault(plan.NO_VALID_HOST, result.message,
                                            {"reasons": result.reasons, "hosts": result.hosts}))
                return
            self._try_hosts(row, [result.chosen, *result.alternates])

    def _try_hosts(self, row: Row, selections: list[Selection]) -> None:
        attempts = plan.Attempts()
        for i, sel in enumerate(selections):
            if i and not self._claim(row, sel, attempts):
                continue
            row, why = self._attempt(row, sel)
            if why is None:
                self._release(row, {"status": "ACTIVE", "task_state": None, "fault": None})
                self._count("active")
                return
            attempts.failed(sel.host, why)
            row = self._rollback(row, sel)
            self._count("failed_attempts")
        message, details = plan.exhausted(row["id"], attempts)
        self._error(row, plan.fault(plan.MAX_RETRIES, message, details))

    def _claim(self, row: Row, sel: Selection, attempts: plan.Attempts) -> bool:
        claim = self.placement.claim(row["id"], sel.allocation_request, row["project_id"], row["user_id"])
        if not claim.ok:
            attempts.failed(sel.host, f"claim refused: {claim.code or claim.status}")
        return claim.ok

    def _attempt(self, row: Row, sel: Selection) -> tuple[Row, str | None]:
        """Record the host, late-check the group, spawn; the failure reason or None."""
        row = self._save(row, {"host": sel.host, "node": sel.rp_uuid, "attempts": row["attempts"] + 1,
                               "tried_hosts": [*(row["tried_hosts"] or []), sel.host]})
        group = self._group(row)
        if group is not None:
            why = plan.group_violation(group.policy, sel.host, list(group.hosts))
            if why:
                return row, why
        ok, why = self.agents.spawn(sel.url, row)
        return row, None if ok else why

    def _rollback(self, row: Row, sel: Selection) -> Row:
        self.agents.delete(sel.url, row["id"])
        self.placement.delete_allocations(row["id"])
        return self._save(row, {"host": None, "node": None})

    def _error(self, row: Row, fault: dict) -> None:
        self.placement.delete_allocations(row["id"])
        self._release(row, {"status": "ERROR", "task_state": None, "fault": fault, "host": None, "node": None})
        self._count("errors")

    def _forget_previous(self, row: Row) -> Row:
        """A build resumed after a conductor died: undo whatever its last attempt left."""
        if row["host"]:
            service = self.repo.service(row["host"])
            if service:
                self.agents.delete(service["url"], row["id"])
        self.placement.delete_allocations(row["id"])
        return self._save(row, {"host": None, "node": None}) if row["host"] else row

    def _group(self, row: Row) -> GroupInfo | None:
        group = self.repo.group(row["group_id"]) if row["group_id"] else None
        if group is None:
            return None
        hosts = tuple(m["host"] for m in self.repo.group_members(group["id"]) if m["id"] != row["id"] and m["host"])
        return GroupInfo(group["id"], group["policy"], hosts)

    def _group_lock(self, group_id: str | None) -> threading.Lock:
        with self.lock:
            return self.group_locks.setdefault(group_id or "", threading.Lock()) if group_id else threading.Lock()

    # ---- delete --------------------------------------------------------------------------
    def delete(self, row: Row) -> None:
        if row["host"]:
            service = self.repo.service(row["host"])
            if service:
                self.agents.delete(service["url"], row["id"])
        self.placement.delete_allocations(row["id"])
        if not self.repo.delete_server(row):
            raise LeaseLost(row["id"])
        self._count("deletes")


def run(conductor: Conductor, stop: threading.Event, interval: float = 0.2) -> None:
    """Poll until `stop` is set (the service loop of `python -m berth.centralised.conductor`)."""
    while not stop.is_set():
        conductor.poll()
        stop.wait(interval)
