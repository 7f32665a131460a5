"""Kubernetes protobuf request bodies of the review kinds, decoded to the dicts their JSON form gives.

kubectl sends its reviews (`kubectl auth can-i`, `auth whoami`) as `application/vnd.kubernetes.protobuf`:
the four bytes `k8s\\0`, then a runtime.Unknown message whose field 2 holds the object's own message.
`decode_review` reads the few fields the review handlers use, by the field numbers of upstream's
generated.proto (the SCHEMAS table); other fields are skipped.  Answers stay JSON, which every client
decodes by the response's Content-Type.  Caller: reviews.review, through `Call.body`.
"""

from __future__ import annotations

from berth.declarative.apiserver.codec import decode_body
from berth.declarative.apiserver.status import Problem, bad_request

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

RESOURCE_ATTRIBUTES = {1: ("namespace", None), 2: ("verb", None), 3: ("group", None), 4: ("version", None),
                       5: ("resource", None), 6: ("subresource", None), 7: ("name", None)}
SCHEMAS: dict[str, dict] = {
    "SelfSubjectAccessReview": {2: ("spec", {1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
                                             2: ("nonResourceAttributes", {1: ("path", None), 2: ("verb", None)})})},
    "SelfSubjectRulesReview": {2: ("spec", {1: ("namespace", None)})},
    "SelfSubjectReview": {},
}
"""Kind -> {field number: (JSON name, nested schema or None for a string)}."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def fields(data: bytes) -> dict[int, bytes]:
    """Each length-delimited field's last value by number (scalars and fixed-width fields are skipped)."""
    out, at = {}, 0
    while at < len(data):
        key, at = _varint(data, at)
        wire = key & 7
        if wire == 0:
            _, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated field")
            out[key >> 3], at = data[at:at + size], at + size
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _message(data: bytes, schema: dict) -> dict:
    out = {}
    for number, value in fields(data).items():
        if number in schema:
            name, nested = schema[number]
            out[name] = _message(value, nested) if nested is not None else value.decode("utf-8")
    return out


def decode_review(raw: bytes, content_type: str):
    """The body as a dict: JSON and YAML as `codec.decode_body`, protobuf for the review kinds."""
    if content_type.split(";", 1)[0].strip().lower() != PROTOBUF:
        return decode_body(raw, content_type)
    if not raw.startswith(MAGIC):
        return bad_request("the protobuf body does not start with the Kubernetes envelope")
    try:
        envelope = fields(raw[len(MAGIC):])
        meta = fields(envelope.get(1, b""))
        kind = meta.get(2, b"").decode("utf-8")
        if kind not in SCHEMAS:
            return Problem(415, "UnsupportedMediaType", "protobuf bodies are read only for the review kinds")
        body = _message(envelope.get(2, b""), SCHEMAS[kind])
    except (ValueError, UnicodeDecodeError) as err:
        return bad_request(f"the protobuf body could not be decoded: {err}")
    return {"apiVersion": meta.get(1, b"").decode("utf-8", "replace"), "kind": kind, **body}
