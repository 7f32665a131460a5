"""`ComputeAgent`: one compute host — its Placement provider, its heartbeat and its servers.

`register()` creates the resource provider (UUID derived from the host name, so a restarted
agent is the same provider), sets its inventory and its zone's aggregate (generation-checked
writes), and reports the service to the compute API; `heartbeat()` repeats the report.
A disabled service (`PUT /os-services/{host}`) is mirrored into Placement as the
COMPUTE_STATUS_DISABLED trait on the next heartbeat, which the scheduler's
`compute_status_filter` prefilter forbids, as nova-compute does.  `spawn` starts a server as a
runtime unit named by the server's UUID (restart always, as a VM outlives its processes; on a
guest runtime (`GUESTS`: vm) the flavor's vCPUs and RAM size the guest and a guest that powers
off stays off); `delete` stops it; `sync()` drives the runtime and reports each server's power
state (`POWER`) to the compute API until it has settled it (a server that stopped shows
SHUTOFF); `console` is its console log.  Time comes from the runtime's clock.  Called by `agent.app` and its service loop.
"""

from __future__ import annotations

import threading

import httpx
from os_traits import COMPUTE_STATUS_DISABLED

from berth.centralised.agent.inventory import HostResources
from berth.centralised.clients.placement import PlacementClient
from berth.centralised.scheduler.request import provider_uuid, zone_aggregate
from berth.runtime import RestartPolicy, Runtime, UnitResources, UnitSpec, UnitState, UnitStatus

IDLE_COMMAND = ("sleep", "infinity")
STOP_GRACE = 5.0
GUESTS = {"vm": RestartPolicy.NEVER}
"""Runtimes whose units are guests sized by the flavor, and their restart policy: a guest that powers
itself off stays off (SHUTOFF), as Nova's.  Other runtimes restart always, as a VM outlives its processes."""
POWER = {UnitState.RUNNING: "running", UnitState.STOPPING: "running", UnitState.WAITING: "running",
         UnitState.SUCCEEDED: "shutdown", UnitState.STOPPED: "shutdown", UnitState.FAILED: "crashed"}
"""A unit's state as the server's power state reported to the compute API."""


class ComputeAgent:
    def __init__(self, host: str, url: str, resources: HostResources, runtime: Runtime,
                 placement: PlacementClient, compute: httpx.Client, zone: str = "nova") -> None:
        self.host, self.url, self.zone = host, url, zone
        self.resources, self.runtime = resources, runtime
        self.placement, self.compute = placement, compute
        self.rp_uuid = provider_uuid(host)
        self.lock = threading.Lock()
        self.disabled: bool | None = None
        self.power: dict[str, str] = {}
        """The power state the compute API has settled for each server."""

    def register(self) -> None:
        self.placement.ensure_provider(self.rp_uuid, self.host)
        self.placement.put_inventories(self.rp_uuid, self.resources.inventories())
        self.placement.put_aggregates(self.rp_uuid, [zone_aggregate(self.zone)])
        self.heartbeat()

    def heartbeat(self) -> None:
        resp = self.compute.post("/os-services", json={"host": self.host, "url": self.url,
                                                       "rp_uuid": self.rp_uuid, "availability_zone": self.zone})
        resp.raise_for_status()
        self._mirror_disabled(resp.json()["service"]["status"] == "disabled")

    def _mirror_disabled(self, disabled: bool) -> None:
        if disabled == self.disabled:
            return
        traits = set(self.placement.traits(self.rp_uuid))
        wanted = traits | {COMPUTE_STATUS_DISABLED} if disabled else traits - {COMPUTE_STATUS_DISABLED}
        if wanted != traits:
            self.placement.put_traits(self.rp_uuid, sorted(wanted))
        self.disabled = disabled

    def spawn(self, server_id: str, command: list[str], vcpus: int | None = None,
              ram_mb: int | None = None) -> UnitStatus:
        """Start the server (idempotent: a known server returns its current status); a guest runtime
        gets the flavor's vCPUs and RAM as the unit's CPU and memory limits."""
        with self.lock:
            known = self.runtime.status(server_id)
            if known is not None and not known.state.terminal:
                return known
            if known is not None:
                self.runtime.remove(server_id)
            self.power.pop(server_id, None)
            return self.runtime.start(self._spec(server_id, command, vcpus, ram_mb))

    def _spec(self, server_id: str, command: list[str], vcpus: int | None, ram_mb: int | None) -> UnitSpec:
        restart = GUESTS.get(self.runtime.name)
        if restart is None:
            return UnitSpec(server_id, tuple(command) or IDLE_COMMAND)
        cpu, memory = (vcpus or 1) * 1000, (ram_mb * 2**20 if ram_mb else None)
        return UnitSpec(server_id, tuple(command) or IDLE_COMMAND, restart=restart,
                        resources=UnitResources(cpu, cpu, memory, memory))

    def delete(self, server_id: str) -> bool:
        with self.lock:
            if self.runtime.status(server_id) is None:
                return False
            self.runtime.remove(server_id)
            self.power.pop(server_id, None)
            return True

    def servers(self) -> list[UnitStatus]:
        with self.lock:
            return [s for n in self.runtime.names() if (s := self.runtime.status(n)) is not None]

    def sync(self) -> None:
        """Drive the runtime, then report the power states that changed (and those the compute API has
        not settled yet: a server still building takes its report on a later sync)."""
        with self.lock:
            self.runtime.sync()
            now = {n: POWER[s.state] for n in self.runtime.names() if (s := self.runtime.status(n)) is not None}
        changed = {n: p for n, p in now.items() if self.power.get(n) != p}
        if not changed:
            return
        try:
            resp = self.compute.post(f"/os-services/{self.host}/power-states", json={"servers": changed})
            resp.raise_for_status()
        except httpx.HTTPError:
            return
        for name in resp.json().get("settled", []):
            if name in changed:
                self.power[name] = changed[name]

    def console(self, server_id: str, length: int | None = None) -> bytes | None:
        """The server's console log (its last `length` lines): the guest's serial console where the runtime
        has one, else the unit's output; None for an unknown server."""
        with self.lock:
            reader = getattr(self.runtime, "console", self.runtime.logs)
            return reader(server_id, length)

    def close(self) -> None:
        with self.lock:
            self.runtime.close()
