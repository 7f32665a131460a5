"""The centralised scheduler: prefilters, Placement candidates, the engine's filters and weighers,
`host_subset_size`, a claim in Placement, and alternates for the conductor.

`request` builds the `RequestSpec`; `prefilters` turn it into a Placement query; `hosts` turns
the candidates into an engine `Snapshot`; `weighing` assembles the engine policy; `select`
ranks hosts (pure, no sockets); `manager.Scheduler` runs the whole flow against a
`berth.centralised.clients.placement.PlacementClient`; `app` serves it over HTTP so several
schedulers can run at once.
"""
