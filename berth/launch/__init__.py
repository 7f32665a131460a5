"""Launching local clusters of either plane as processes on this machine.

`declarative.LocalCluster` starts the Kubernetes-style plane (API server, controllers, scheduler,
node agents); `centralised.CentralisedPlane` starts the OpenStack-style one (Placement, the compute
API, schedulers, a conductor, agents); `upstream_placement` installs and runs upstream OpenStack
Placement for side-by-side runs; `ports.free_port` picks a loopback port.  Called by `berth up`
(which does the printing), the benchmarks and the tests.
"""
