"""`ComputeAgent`: one compute host — its Placement provider, its heartbeat and its servers.

`register()` creates the resource provider (UUID derived from the host name, so a restarted
agent is the same provider), sets its inventory and its zone's aggregate (generation-checked
writes), and reports the service to the compute API; `heartbeat()` repeats the report.
A disabled service (`PUT /os-services/{host}`) is mirrored into Placement as the
COMPUTE_STATUS_DISABLED trait on the next heartbeat, which the scheduler's
`compute_status_filter` prefilter forbids, as nova-compute does.  `spawn` starts a server as a runtime unit named by the server's UUID (restart always, as a
VM outlives its processes); `delete` stops it; `sync()` drives the runtime.  Time comes from
the runtime's clock.  Called by `agent.app` and its service loop.
"""

from __future__ import annotations

import threading

import httpx
from os_traits import COMPUTE_STATUS_DISABLED

from berth.centralised.agent.inventory import HostResources
from berth.centralised.clients.placement import PlacementClient
from berth.centralised.scheduler.request import provider_uuid, zone_aggregate
from berth.runtime import Runtime, UnitSpec, UnitStatus

IDLE_COMMAND = ("sleep", "infinity")
STOP_GRACE = 5.0


class ComputeAgent:
    def __init__(self, host: str, url: str, resources: HostResources, runtime: Runtime,
                 placement: PlacementClient, compute: httpx.Client, zone: str = "nova") -> None:
        self.host, self.url, self.zone = host, url, zone
        self.resources, self.runtime = resources, runtime
        self.placement, self.compute = placement, compute
        self.rp_uuid = provider_uuid(host)
        self.lock = threading.Lock()
        self.disabled: bool | None = None

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

    def spawn(self, server_id: str, command: list[str]) -> UnitStatus:
        """Start the server (idempotent: a known server returns its current status)."""
        with self.lock:
            known = self.runtime.status(server_id)
            if known is not None and not known.state.terminal:
                return known
            if known is not None:
                self.runtime.remove(server_id)
            return self.runtime.start(UnitSpec(server_id, tuple(command) or IDLE_COMMAND))

    def delete(self, server_id: str) -> bool:
        with self.lock:
            if self.runtime.status(server_id) is None:
                return False
            self.runtime.remove(server_id)
            return True

    def servers(self) -> list[UnitStatus]:
        with self.lock:
            return [s for n in self.runtime.names() if (s := self.runtime.status(n)) is not None]

    def sync(self) -> None:
        with self.lock:
            self.runtime.sync()

    def close(self) -> None:
        with self.lock:
            self.runtime.close()
