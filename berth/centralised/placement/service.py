"""`PlacementService`: the database, its candidate index and the ASGI app, wired together.

Construct one per API worker process: `PlacementService("sqlite:///path.db", auth=...).app` is
its Starlette application (`placement.app`, which never imports this module); several workers
over the same database stay coherent through the write serial.  `auth` says who a request is
from (`berth.centralised.tokens`): a `TokenFile` by default, `NoAuth2` only when asked for;
there is no default, so no service is ever open by omission.
"""

from __future__ import annotations

from berth.centralised.placement.app import create_app
from berth.centralised.placement.db import Database
from berth.centralised.placement.index import Index
from berth.centralised.tokens import Authenticator


class PlacementService:
    """A Placement API bound to one database."""

    def __init__(self, db_url: str = "sqlite:///placement.db", *, auth: Authenticator, open_policy: bool = False,
                 legacy_policy: bool = False, cors_origins: tuple[str, ...] = ()) -> None:
        self.auth = auth
        self.open_policy = open_policy
        self.legacy_policy = legacy_policy
        self.cors_origins = tuple(cors_origins)
        self.db = Database(db_url)
        self.index = Index(self.db)
        self.app = create_app(self)
