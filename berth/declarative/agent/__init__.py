"""The node agent (the kubelet's part): registers Nodes, renews Leases, runs bound pods via `berth.runtime`.

`node.NodeAgent` is one node's logic without I/O; `podstatus` maps containers to runtime units
and unit states to pod status; `host.AgentHost` runs many agents in one process over HTTP.
"""

from berth.declarative.agent.host import AgentHost
from berth.declarative.agent.node import NodeAgent, machine_capacity

__all__ = ["AgentHost", "NodeAgent", "machine_capacity"]
