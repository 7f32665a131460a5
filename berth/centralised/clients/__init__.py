"""Clients of the centralised plane's services that more than one service uses.

`placement.PlacementClient` is how the scheduler (candidates, claims), the conductor (claims of
alternates, releases) and the compute agents (their provider's inventory, aggregates and traits)
call the Placement API.
"""
