"""How the conductor reaches schedulers and compute agents.

`SchedulerClient` is the contract: `select(spec)` returns `Selections` or `NoValidHost` (a
failed scheduler is an exception).  `LocalScheduler` calls a `Scheduler` in this process;
`HttpScheduler` spreads calls over several scheduler services round-robin, moving to the next
on a connection failure.  `AgentClient.spawn` / `delete` call an agent's HTTP API and return
`(ok, message)` — an unreachable agent is an expected failure here, since it triggers a
reschedule.  Schedulers get the service token, agents the conductor's own token (the only one
they accept).  Used by `service.Conductor`.
"""

from __future__ import annotations

import itertools
import threading
from typing import Protocol

import httpx

from berth.centralised.scheduler.manager import Scheduler, Selections
from berth.centralised.scheduler.request import RequestSpec
from berth.centralised.scheduler.select import NoValidHost


class SchedulerClient(Protocol):
    """Asks a scheduler for destinations.  The chosen host is already claimed in Placement."""

    def select(self, spec: RequestSpec) -> Selections | NoValidHost: ...


class LocalScheduler:
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.lock = threading.Lock()

    def select(self, spec: RequestSpec) -> Selections | NoValidHost:
        with self.lock:
            return self.scheduler.select_destinations(spec)


class HttpScheduler:
    def __init__(self, urls: list[str], token: str, timeout: float = 60.0) -> None:
        self.clients = [httpx.Client(base_url=u, timeout=timeout, headers={"X-Auth-Token": token}) for u in urls]
        self.turn = itertools.cycle(range(len(urls)))

    def select(self, spec: RequestSpec) -> Selections | NoValidHost:
        last: Exception | None = None
        for _ in self.clients:
            client = self.clients[next(self.turn)]
            try:
                resp = client.post("/select_destinations", json={"request_spec": spec.to_json()})
                resp.raise_for_status()
            except httpx.HTTPError as err:
                last = err
                continue
            body = resp.json()
            if "error" in body:
                err = body["error"]
                return NoValidHost(err.get("message", ""), err.get("reasons", {}), err.get("hosts", 0))
            return Selections.from_json(body["selections"])
        raise ConnectionError(f"no scheduler answered: {last!r}")


class AgentClient:
    def __init__(self, token: str, timeout: float = 15.0) -> None:
        self.http = httpx.Client(timeout=httpx.Timeout(timeout, connect=3.0), headers={"X-Auth-Token": token})

    def spawn(self, url: str, server: dict) -> tuple[bool, str]:
        body = {"id": server["id"], "name": server["name"], "command": list(server["command"] or []),
                "vcpus": server["flavor"]["vcpus"], "ram": server["flavor"]["ram"]}
        try:
            resp = self.http.post(f"{url}/servers", json=body)
        except httpx.HTTPError as err:
            return False, f"compute agent at {url} unreachable: {type(err).__name__}"
        if resp.status_code in (200, 201, 202):
            return True, ""
        return False, f"compute agent refused the build: {resp.status_code} {resp.text[:200]}"

    def delete(self, url: str, server_id: str) -> tuple[bool, str]:
        try:
            resp = self.http.delete(f"{url}/servers/{server_id}")
        except httpx.HTTPError as err:
            return False, f"compute agent at {url} unreachable: {type(err).__name__}"
        return resp.status_code in (200, 202, 204, 404), resp.text[:200]
