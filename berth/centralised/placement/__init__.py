"""berth's OpenStack Placement API (microversions 1.0-1.39) over SQL, with an in-memory candidate index.

Entry points: `PlacementService(db_url, auth=...).app` (ASGI), `python -m berth.centralised.placement`
(uvicorn server; see `server`).  The compute plane talks to it over HTTP like Nova does.
"""

from berth.centralised.placement.service import PlacementService

__all__ = ["PlacementService"]
