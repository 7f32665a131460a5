"""Exact and near-exact placement, and proven bounds, for batches of workloads.

- `aggregate`: workloads grouped into interchangeable types, nodes into interchangeable classes.
- `bounds`: a proven upper bound on the weight (e.g. milli-GPU) any placement of a batch reaches.
- `binpacking`: volume and configuration-LP lower bounds on the nodes a batch needs.
- `highs`: the thin HiGHS front the bounds use.
The engine calls this package from `Engine.place_batch`; the simulator from `berth.sim.bound`.
Nothing here changes a snapshot it is given unless it says so.
"""
