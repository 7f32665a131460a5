"""Placement API handlers, one module per resource; each function maps a `Req` to a `Resp`.

The route table (`berth.centralised.placement.routes`) names them; none of them parse
headers, negotiate versions or check policy -- the app does that first.
"""
