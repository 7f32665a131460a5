"""Placement's default policies for noauth2 identities, as data.

Every rule is one of upstream's defaults: `admin_or_service` (roles admin or service) for
almost everything, and for GET /usages also a project reader of the queried project.
`enforce(action)` builds the check, which raises 403 with upstream's message when the
identity lacks the rule; a service built with `open_policy=True` lets every caller through.
"""

from __future__ import annotations

from collections.abc import Callable

from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.request import Req


def admin_or_service(req: Req) -> bool:
    """Project-scoped admin or service role (system-scoped requests have no project)."""
    return bool(req.project_id) and bool({"admin", "service"} & set(req.roles))


def admin_or_project_reader_or_service(req: Req) -> bool:
    if admin_or_service(req):
        return True
    return "reader" in req.roles and bool(req.project_id) and req.get("project_id") == req.project_id


RULES: dict[str, Callable[[Req], bool]] = {
    "admin_or_service": admin_or_service,
    "admin_or_project_reader_or_service": admin_or_project_reader_or_service,
}


def enforce(action: str, rule: str = "admin_or_service") -> Callable[[Req], None]:
    """A policy check for `action` (e.g. 'placement:resource_providers:list')."""
    test = RULES[rule]

    def check(req: Req) -> None:
        if not (req.service.open_policy or test(req)):
            raise ApiError(403, f"Policy does not allow {action} to be performed.")
    return check
