"""The conductor: drives each server build (schedule -> claim -> spawn on an agent) and delete.

`plan` holds the pure decisions (late group-policy check, faults worded like Nova's);
`clients` talks to schedulers and compute agents; `service.Conductor` leases pending servers
from the compute database and carries each build through, rescheduling on alternates up to
`max_attempts` and rolling back Placement allocations on every failed attempt.
"""
