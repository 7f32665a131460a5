"""`guarded(app, hosts=...)`: ASGI middleware that every server run by `berth.web.serve` has by default.

- A request whose `Host` names none of the allowed hosts (loopback: 127.0.0.1, localhost and [::1], on
  any port, plus the names given) gets 421 Misdirected Request: a page in a browser that rebinds a DNS
  name of its own to 127.0.0.1 cannot reach the server under that name.
- A write (POST, PUT, PATCH) that carries a body must say it is JSON (`application/json` or any
  `application/*+json`: merge-patch, strategic-merge-patch, json-patch), YAML (`application/yaml`,
  `*+yaml` as server-side apply sends) or Kubernetes protobuf; otherwise 415.  A web page can send a
  body across origins without a preflight only as text/plain, a form, or with no Content-Type at all
  (a Blob), so no page can write.  A write without any Content-Type passes only with a credential no page
  can attach: an `Authorization` header or a verified client certificate (upstream kube-apiserver reads
  such a body as JSON, and the official Python client sends its creates and replaces that way).  A write
  without a body (upstream Placement's `PUT /traits/{name}`, an upgrade) has nothing to mistype and passes.

Answers are Kubernetes-style Status JSON; no text of the request is copied into them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from berth.web.peer import peer_certificate

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]],
                   Awaitable[None]]

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
WRITES = frozenset({"POST", "PUT", "PATCH"})
MEDIA_TYPES = frozenset({"application/json", "application/yaml", "application/x-yaml", "text/yaml",
                         "application/vnd.kubernetes.protobuf"})
SUFFIXES = ("+json", "+yaml")


def guarded(app: ASGIApp, *, hosts: Iterable[str] = ()) -> ASGIApp:
    """`app` behind the Host allow-list (loopback and `hosts`, any port) and the writes' Content-Type check."""
    allowed = frozenset(name.lower() for name in (*LOOPBACK, *hosts))

    async def checked(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refusal = _refusal(scope, allowed)
            if refusal is not None:
                await send({"type": "http.response.start", "status": refusal[0],
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", b"%d" % len(refusal[1]))]})
                await send({"type": "http.response.body", "body": refusal[1]})
                return
        await app(scope, receive, send)

    return checked


def _status(code: int, reason: str, message: str) -> tuple[int, bytes]:
    return code, json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                             "message": message, "reason": reason, "code": code}).encode()


MISDIRECTED = _status(421, "MisdirectedRequest", "the Host header names no host this server answers for")
UNSUPPORTED = _status(415, "UnsupportedMediaType",
                      "a request body must be JSON, YAML or protobuf, and say so in Content-Type")


def _refusal(scope: dict[str, Any], allowed: frozenset[str]) -> tuple[int, bytes] | None:
    host = content_type = b""
    has_body = authorized = False
    for name, value in scope["headers"]:
        if name == b"host":
            host = value
        elif name == b"content-type":
            content_type = value
        elif name == b"content-length":
            has_body = has_body or value.strip() not in (b"", b"0")
        elif name == b"transfer-encoding":
            has_body = True
        elif name == b"authorization":
            authorized = True
    if host_name(host) not in allowed:
        return MISDIRECTED
    if scope["method"] in WRITES and has_body and not media_type_ok(content_type):
        if content_type or not (authorized or peer_certificate(scope) is not None):
            return UNSUPPORTED
    return None


def host_name(host: bytes) -> str:
    """The name of a Host header, lower-cased and without its port ("[::1]:6443" -> "[::1]")."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[:text.find("]") + 1] if "]" in text else ""
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def media_type_ok(content_type: bytes) -> bool:
    """True for a JSON, YAML or Kubernetes protobuf media type (parameters such as charset ignored)."""
    media = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    return media in MEDIA_TYPES or (media.startswith("application/") and media.endswith(SUFFIXES))
