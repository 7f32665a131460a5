"""Placement's default policies for authenticated identities (`berth.centralised.tokens`), as data.

Every rule is one of upstream's defaults: `admin_or_service` (roles admin or service) for
almost everything, `service` for the reshaper, and for GET /usages also a project reader of
the queried project.
`enforce(action)` builds the check, which raises 403 with upstream's message when the
identity lacks the rule; a service built with `open_policy=True` lets every caller through,
and `legacy_policy=True` (oslo.policy's enforce_new_defaults=False) also accepts the
deprecated rule, a project admin, everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.request import Req


def admin_or_service(req: Req) -> bool:
    """Project-scoped admin or service role (system-scoped requests have no project)."""
    return bool(req.project_id) and bool({"admin", "service"} & set(req.roles))


def service(req: Req) -> bool:
    """Service role only (the reshaper)."""
    return bool(req.project_id) and "service" in req.roles


def admin_or_project_reader_or_service(req: Req) -> bool:
    if admin_or_service(req):
        return True
    return "reader" in req.roles and bool(req.project_id) and req.get("project_id") == req.project_id


RULES: dict[str, Callable[[Req], bool]] = {
    "admin_or_service": admin_or_service,
    "service": service,
    "admin_or_project_reader_or_service": admin_or_project_reader_or_service,
}


def enforce(action: str, rule: str = "admin_or_service") -> Callable[[Req], None]:
    """A policy check for `action` (e.g. 'placement:resource_providers:list')."""
    test = RULES[rule]

    def check(req: Req) -> None:
        if req.service.open_policy or test(req):
            return
        if req.service.legacy_policy and bool(req.project_id) and "admin" in req.roles:
            return
        raise ApiError(403, f"Policy does not allow {action} to be performed.")
    return check
