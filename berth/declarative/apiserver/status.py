"""Kubernetes `Status` values: the one shape every expected failure (and some successes) take on the wire.

Handlers and the registry return a `Problem` instead of raising; the app turns it into a `meta/v1 Status`
response with the matching HTTP code. Messages follow apimachinery's wording so that kubectl and client
libraries print what users expect ('pods "x" not found', 'the object has been modified; ...').
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Problem:
    """A failed request: HTTP code, machine-readable reason, human message and optional details."""

    code: int
    reason: str
    message: str
    details: dict = field(default_factory=dict)

    def body(self) -> dict:
        out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out


def success(details: dict | None = None, code: int = 200) -> dict:
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}
    if details:
        out["details"] = details
    return out


def _details(spec, name: str) -> dict:
    return {"name": name, "group": spec.group, "kind": spec.plural}


def not_found(spec, name: str) -> Problem:
    return Problem(404, "NotFound", f'{spec.qualified} "{name}" not found', _details(spec, name))


def already_exists(spec, name: str) -> Problem:
    return Problem(409, "AlreadyExists", f'{spec.qualified} "{name}" already exists', _details(spec, name))


def conflict(spec, name: str, why: str = "") -> Problem:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return Problem(409, "Conflict", f'Operation cannot be fulfilled on {spec.qualified} "{name}": {why}',
                   _details(spec, name))


def invalid(spec, name: str, causes: list[dict]) -> Problem:
    text = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
    details = dict(_details(spec, name), kind=spec.kind, causes=causes)
    return Problem(422, "Invalid", f'{spec.kind} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> Problem:
    return Problem(400, "BadRequest", message)


def gone(message: str) -> Problem:
    return Problem(410, "Expired", message)


def cause(field_path: str, message: str, kind: str = "FieldValueInvalid") -> dict:
    """One per-field cause of a 422 (kind: FieldValueRequired, FieldValueInvalid, FieldValueNotSupported...)."""
    return {"type": kind, "message": message, "field": field_path}


def not_found_path(path: str) -> Problem:
    return Problem(404, "NotFound", f"the server could not find the requested resource ({path})",
                   {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def method_not_allowed(method: str, what: str) -> Problem:
    return Problem(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource"
                   f" ({method} {what})")
