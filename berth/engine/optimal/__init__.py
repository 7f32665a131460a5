"""Exact and near-exact placement, and proven bounds, for batches of workloads.

- `aggregate`: workloads grouped into interchangeable types, nodes into interchangeable classes.
- `bounds`: a proven upper bound on the weight (e.g. milli-GPU) any placement of a batch reaches.
- `binpacking`: volume and configuration-LP lower bounds on the nodes a batch needs.
- `layouts`: one node's possible contents as a small MIP over device layouts (no device symmetry).
- `compact`: the two-phase compact MIP over all candidate nodes (weight, then fewest new nodes).
- `columns`: column generation over node patterns: proven configuration-LP bounds.
- `fullest`: the fullest-node construction (minimum bin slack) for the fewest new nodes.
- `shrink`: neighbourhood searches that empty nodes (`shrink`) or place more weight (`fill`).
- `cpsat`: the CP-SAT model of one batch (or chunk) over workload types and candidate nodes.
- `batch`: the batch solver, `place_batch(engine, workloads)`: best heuristic, bound, compact MIP,
  CP-SAT, decomposition by node classes and rolling horizon (explained in its docstring).
- `highs`: the thin HiGHS front the bounds use.
This package builds on `Engine`'s public calls (the engine never imports it); the simulator calls
it from `berth.sim.bound` and `berth.sim.batchmode`.  Only `batch` changes a snapshot: the
engine's, when it applies the placement it returns.
"""
