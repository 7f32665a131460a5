"""Handler for GET /: the version document clients use for discovery (no auth needed)."""

from __future__ import annotations

from berth.centralised.placement import microversion as mv
from berth.centralised.placement.request import Req, Resp


def home(req: Req) -> Resp:
    version = {"id": "v1.0", "max_version": str(mv.MAX), "min_version": str(mv.MIN), "status": "CURRENT",
               "links": [{"rel": "self", "href": ""}]}
    return Resp(200, {"versions": [version]}).modified(req, None)
