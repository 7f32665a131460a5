"""The declarative (Kubernetes-style) control plane.

`apiserver` serves a subset of the Kubernetes API over a `berth.store.Store`; `client` (list-watch
informers, work queues, a REST client), `scheduler`, `controllers` and `agent` talk to it over HTTP only.
`berth up` (berth/cli/up.py) starts them together; the simulator reuses their pure parts.
"""
