"""The centralised (OpenStack-style) control plane.

`placement` serves the Placement API (resource providers, allocation candidates, claims);
`compute` is the compute API (flavors, servers, server groups) over the plane's own SQL state;
`scheduler` ranks Placement's candidates with the engine and claims one; `conductor` carries
each build through scheduling, the claim and the spawn; `agent` reports a host to Placement and
runs servers through `berth.runtime`; `clients.placement` is the Placement client the last three
share.  Each runs as its own process: the conductor and the schedulers share the compute
database, everything else goes over HTTP.  `berth up --plane centralised` starts them together.
Never imports `berth.declarative`.
"""
