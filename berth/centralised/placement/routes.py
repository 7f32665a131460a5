"""The Placement route table: path -> method -> (handler, microversion range, policy).

Data, not code: the app walks `ROUTES` in order; a method missing for a matched path is a
405 with `Allow`, a request below a handler's minimum microversion gets the gate's status
(404 by default, as upstream).  Handlers with behaviour that changes inside their range
branch on `req.want(minor)` themselves.  A gate's `runs` says where its handler may run:
"thread" (the default: it may wait on SQL), "loop" (pure computation) or "fresh-index"
(on the event loop while the candidate index is known current without SQL -- that view is
pinned on the request as `req.view` -- else in a thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from berth.centralised.placement.handlers import (aggregates, allocations, candidates, inventories,
                                                  providers, resource_classes, reshaper, root, traits,
                                                  usages)
from berth.centralised.placement.microversion import MAX, Version
from berth.centralised.placement.policy import enforce
from berth.centralised.placement.request import Req, Resp


def _open(_req: Req) -> None:
    return None


@dataclass(frozen=True)
class Gate:
    handler: Callable[[Req], Resp]
    policy: Callable[[Req], None] = _open
    min_version: Version = Version(1, 0)
    max_version: Version = MAX
    status: int = 404
    json_body: bool = False
    json_reply: bool = False
    runs: str = "thread"


def g(handler, action: str | None = None, since: int = 0, until: int | None = None,  # noqa: ANN001
      status: int = 404, rule: str = "admin_or_service", body: bool = False, reply: bool = False,
      runs: str = "thread") -> Gate:
    """A route entry; `body`: needs a JSON body (415 first), `reply`: honours Accept (406)."""
    return Gate(handler, enforce(f"placement:{action}", rule) if action else _open, Version(1, since),
                Version(1, until) if until is not None else MAX, status, body, reply, runs)


RP = "/resource_providers/{uuid}"
ROUTES: list[tuple[str, dict[str, Gate]]] = [  # the most requested first: Starlette tries routes in order
    ("/allocation_candidates", {"GET": g(candidates.listing, "allocation_candidates:list", 10, reply=True,
                                                  runs="fresh-index")}),
    ("/allocations/{consumer_uuid}", {"GET": g(allocations.get_for_consumer, "allocations:list", reply=True),
                                      "PUT": g(allocations.put_for_consumer, "allocations:update", body=True),
                                      "DELETE": g(allocations.delete_for_consumer, "allocations:delete")}),
    (RP, {"GET": g(providers.show, "resource_providers:show", reply=True),
          "DELETE": g(providers.delete_provider, "resource_providers:delete"),
          "PUT": g(providers.update_provider, "resource_providers:update", body=True)}),
    ("/", {"GET": g(root.home, runs="loop")}),
    ("/resource_classes", {"GET": g(resource_classes.listing, "resource_classes:list", 2, reply=True),
                           "POST": g(resource_classes.create, "resource_classes:create", 2, body=True)}),
    ("/resource_classes/{name}", {
        "GET": g(resource_classes.show, "resource_classes:show", 2, reply=True),
        "PUT": g(resource_classes.put, "resource_classes:update", 2),
        "DELETE": g(resource_classes.remove, "resource_classes:delete", 2)}),
    ("/resource_providers", {"GET": g(providers.listing, "resource_providers:list", reply=True),
                             "POST": g(providers.create, "resource_providers:create", body=True)}),
    (RP + "/inventories", {"GET": g(inventories.get_all, "resource_providers:inventories:list", reply=True),
                           "POST": g(inventories.create, "resource_providers:inventories:create", body=True),
                           "PUT": g(inventories.set_all, "resource_providers:inventories:update", body=True),
                           "DELETE": g(inventories.delete_all, "resource_providers:inventories:delete", 5,
                                       status=405)}),
    (RP + "/inventories/{resource_class}", {
        "GET": g(inventories.get_one, "resource_providers:inventories:show", reply=True),
        "PUT": g(inventories.update_one, "resource_providers:inventories:update", body=True),
        "DELETE": g(inventories.delete_one, "resource_providers:inventories:delete")}),
    (RP + "/usages", {"GET": g(usages.provider_usages, "resource_providers:usages", reply=True)}),
    (RP + "/aggregates", {"GET": g(aggregates.get, "resource_providers:aggregates:list", 1, reply=True),
                          "PUT": g(aggregates.put, "resource_providers:aggregates:update", 1, body=True)}),
    (RP + "/allocations", {"GET": g(allocations.get_for_provider, "resource_providers:allocations:list", reply=True)}),
    ("/allocations", {"POST": g(allocations.post, "allocations:manage", 13, body=True)}),
    ("/traits", {"GET": g(traits.listing, "traits:list", 6, reply=True)}),
    ("/traits/{name}", {"GET": g(traits.show, "traits:show", 6, reply=True), "PUT": g(traits.put, "traits:update", 6),
                        "DELETE": g(traits.remove, "traits:delete", 6)}),
    (RP + "/traits", {"GET": g(traits.provider_traits, "resource_providers:traits:list", 6, reply=True),
                      "PUT": g(traits.set_provider_traits, "resource_providers:traits:update", 6, body=True),
                      "DELETE": g(traits.delete_provider_traits, "resource_providers:traits:delete", 6)}),
    ("/usages", {"GET": g(usages.total_usages, "usages", 9, rule="admin_or_project_reader_or_service", reply=True)}),
    ("/reshaper", {"POST": g(reshaper.reshape, "reshaper:reshape", 30, body=True, rule="service")}),
]
