"""The compute agent (nova-compute's role): reports a host to Placement, runs servers.

`inventory` computes what the host offers (VCPU, MEMORY_MB, DISK_GB with reserved amounts and
allocation ratios); `service.ComputeAgent` registers the resource provider, its inventory and
its zone aggregate in Placement, heartbeats to the compute API, and runs each server as a unit
of a `berth.runtime` runtime; `app` serves the agent's small HTTP API for the conductor.
"""
