"""JSON schemas of allocation bodies, per microversion range (list form < 1.12, dict form after).

`consumer_schema(version)` is the body of PUT /allocations/{consumer}; `post_schema(version)`
the body of POST /allocations (1.13+), keyed by consumer UUID.
"""

from __future__ import annotations

import copy

from berth.centralised.placement.microversion import Version

RC_PATTERN = "^[A-Z0-9_]+$"
UUID_PATTERN = "^[0-9a-fA-F-]{36}$"
_AMOUNTS = {"type": "object", "minProperties": 1,
            "patternProperties": {RC_PATTERN: {"type": "integer", "minimum": 1}},
            "additionalProperties": False}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}

LIST_FORM = {
    "type": "object",
    "properties": {"allocations": {"type": "array", "minItems": 1, "items": {
        "type": "object",
        "properties": {"resource_provider": {
            "type": "object", "properties": {"uuid": {"type": "string", "format": "uuid"}},
            "additionalProperties": False, "required": ["uuid"]}, "resources": _AMOUNTS},
        "required": ["resource_provider", "resources"], "additionalProperties": False}}},
    "required": ["allocations"], "additionalProperties": False,
}
LIST_FORM_1_8 = copy.deepcopy(LIST_FORM)
LIST_FORM_1_8["properties"].update(project_id=_ID, user_id=_ID)
LIST_FORM_1_8["required"] += ["project_id", "user_id"]

DICT_FORM = {
    "type": "object",
    "properties": {
        "allocations": {"type": "object", "minProperties": 1, "patternProperties": {UUID_PATTERN: {
            "type": "object", "properties": {"generation": {"type": "integer"}, "resources": _AMOUNTS},
            "required": ["resources"], "additionalProperties": False}}, "additionalProperties": False},
        "project_id": _ID, "user_id": _ID},
    "additionalProperties": False, "required": ["allocations", "project_id", "user_id"],
}
DELETABLE = copy.deepcopy(DICT_FORM)
DELETABLE["properties"]["allocations"]["minProperties"] = 0
WITH_GEN = copy.deepcopy(DELETABLE)
WITH_GEN["properties"]["consumer_generation"] = {"type": ["integer", "null"], "additionalProperties": False}
WITH_GEN["required"].append("consumer_generation")
MAPPINGS = {"type": "object", "minProperties": 1, "patternProperties": {"[a-zA-Z0-9_-]{1,64}": {
    "type": "array", "minItems": 1, "items": {"type": "string", "format": "uuid"}}}}
WITH_MAPPINGS = copy.deepcopy(WITH_GEN)
WITH_MAPPINGS["properties"]["mappings"] = MAPPINGS
WITH_TYPE = copy.deepcopy(WITH_MAPPINGS)
WITH_TYPE["properties"]["consumer_type"] = {"type": "string", "pattern": RC_PATTERN,
                                            "minLength": 1, "maxLength": 255}
WITH_TYPE["required"].append("consumer_type")

_PUT = [((1, 38), WITH_TYPE), ((1, 34), WITH_MAPPINGS), ((1, 28), WITH_GEN), ((1, 12), DICT_FORM),
        ((1, 8), LIST_FORM_1_8), ((1, 0), LIST_FORM)]
_POST_ITEM = [((1, 38), WITH_TYPE), ((1, 34), WITH_MAPPINGS), ((1, 28), WITH_GEN), ((1, 13), DELETABLE)]


def consumer_schema(version: Version) -> dict:
    return next(sch for low, sch in _PUT if version >= low)


def post_schema(version: Version) -> dict:
    item = next(sch for low, sch in _POST_ITEM if version >= low)
    return {"type": "object", "minProperties": 1, "additionalProperties": False,
            "patternProperties": {UUID_PATTERN: item}}
