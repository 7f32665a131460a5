"""JSON patch (RFC 6902): the patch function and PATCH with application/json-patch+json, in process.

The RFC cases the server once got wrong: an array index with a leading zero (`/a/01`) is not an index
(section 4 via RFC 6901, section 4), and `test` compares JSON values by type, so `true` is not `1`
(section 4.6)."""

from __future__ import annotations

import json

import pytest

from berth.declarative.apiserver.patch import PatchError, json_equal, json_patch
from tests.apiserver.conftest import pod

PODS = "/api/v1/namespaces/default/pods"
JSON_PATCH = {"content-type": "application/json-patch+json"}
DOC = {"a": [10, 20, 30], "flag": True, "n": 1, "m": {"k": "v"}}

APPLIED = [
    ([{"op": "add", "path": "/a/1", "value": 15}], {**DOC, "a": [10, 15, 20, 30]}),
    ([{"op": "add", "path": "/a/-", "value": 40}], {**DOC, "a": [10, 20, 30, 40]}),
    ([{"op": "remove", "path": "/m/k"}], {**DOC, "m": {}}),
    ([{"op": "replace", "path": "/n", "value": 2}], {**DOC, "n": 2}),
    ([{"op": "move", "from": "/n", "path": "/m/n"}], {"a": [10, 20, 30], "flag": True, "m": {"k": "v", "n": 1}}),
    ([{"op": "copy", "from": "/m/k", "path": "/k"}], {**DOC, "k": "v"}),
    ([{"op": "test", "path": "/flag", "value": True}, {"op": "test", "path": "/n", "value": 1.0}], DOC),
    ([{"op": "add", "path": "/m/a~1b", "value": 0}], {**DOC, "m": {"k": "v", "a/b": 0}}),
]

REJECTED = [
    [{"op": "replace", "path": "/a/01", "value": 0}],      # leading zero: not an array index
    [{"op": "add", "path": "/a/01", "value": 0}],
    [{"op": "remove", "path": "/a/01"}],
    [{"op": "test", "path": "/flag", "value": 1}],         # true is not 1
    [{"op": "test", "path": "/n", "value": True}],         # and 1 is not true
    [{"op": "test", "path": "/a", "value": [10, 20, True]}],
    [{"op": "remove", "path": "/missing"}],
    [{"op": "add", "path": "/a/9", "value": 0}],
    [{"op": "explode", "path": "/a"}],
    [{"op": "add", "path": "/x"}],
    {"op": "add", "path": "/x", "value": 1},
    [3],
]


@pytest.mark.parametrize("ops, expected", APPLIED)
def test_operations_apply_and_leave_the_input_alone(ops, expected):
    before, ops_before = json.dumps(DOC), json.dumps(ops)
    assert json_patch(DOC, ops) == expected
    assert json.dumps(DOC) == before and json.dumps(ops) == ops_before


@pytest.mark.parametrize("ops", REJECTED)
def test_bad_patches_raise_patch_error(ops):
    with pytest.raises(PatchError):
        json_patch(DOC, ops)


@pytest.mark.parametrize("a, b, equal", [
    (True, 1, False), (False, 0, False), (1, 1.0, True), ([True], [1], False), ({"x": True}, {"x": True}, True),
    ({"x": 1}, {"x": 1, "y": 2}, False), ("1", 1, False), (None, None, True),
])
def test_json_equality_is_type_aware(a, b, equal):
    assert json_equal(a, b) is equal and json_equal(b, a) is equal


@pytest.mark.anyio
async def test_rfc_cases_over_http(client):
    await client.post(PODS, json=pod("p"))
    ops = [{"op": "add", "path": "/metadata/labels/tier", "value": "web"},
           {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.37"},
           {"op": "test", "path": "/metadata/labels/tier", "value": "web"}]
    r = await client.patch(f"{PODS}/p", content=json.dumps(ops), headers=JSON_PATCH)
    assert r.status_code == 200, r.text
    assert r.json()["metadata"]["labels"]["tier"] == "web"
    assert r.json()["spec"]["containers"][0]["image"] == "busybox:1.37"
    for bad in ([{"op": "replace", "path": "/spec/containers/00/image", "value": "x"}],
                [{"op": "test", "path": "/spec/enableServiceLinks", "value": 1}]):
        r = await client.patch(f"{PODS}/p", content=json.dumps(bad), headers=JSON_PATCH)
        body = r.json()
        assert r.status_code == 422 and body["kind"] == "Status" and body["reason"] == "Invalid", r.text
        assert body["message"].startswith("the patch could not be applied: ")
    assert (await client.get(f"{PODS}/p")).json()["spec"]["containers"][0]["image"] == "busybox:1.37"
