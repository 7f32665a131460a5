"""OpenAPI v3 documents (placeholder index until the per-group-version documents land)."""

from __future__ import annotations


def index() -> dict:
    return {"paths": {}}


def document(path: str) -> dict | None:
    return None
