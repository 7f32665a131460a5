"""Label keys, values and the printed form of selectors, each rule held once in `berth.model.labels`.

`format_selector` prints a structured selector as kube-apiserver does (Table `Selector` column, Scale
`status.selector`: `metav1.LabelSelectorAsSelector(s).String()`) and reads back through `parse_selector`;
the key and value checks return their faults as lists that the API server's 422 causes and the
selector errors wrap, each in its own words.
"""

from __future__ import annotations

import pytest

from berth.declarative.apiserver import validation
from berth.declarative.apiserver.subresources import scale_of
from berth.declarative.apiserver.tables import COLUMNS
from berth.model.labels import (
    NAME_RULE,
    SUBDOMAIN_RULE,
    VALUE_RULE,
    SelectorError,
    format_selector,
    key_problems,
    parse_selector,
    structured_selector,
    subdomain_problems,
    value_problems,
)

# (structured selector, the string upstream prints)
FORMATS = [
    (None, ""),
    ({}, ""),
    ({"matchLabels": {"app": "web"}}, "app=web"),
    ({"matchLabels": {"tier": "front", "app": "web"}}, "app=web,tier=front"),  # sorted by key
    ({"matchLabels": {"app": ""}}, "app="),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, "env in (prod)"),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, "env in (dev,prod)"),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["b", "a"]}]}, "env notin (a,b)"),
    ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, "gpu"),
    ({"matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}]}, "!legacy"),
    ({"matchLabels": {"z": "1", "app": "web"},
      "matchExpressions": [{"key": "m", "operator": "Exists"}, {"key": "b", "operator": "In", "values": ["x"]}]},
     "app=web,b in (x),m,z=1"),
    ({"matchLabels": {"example.com/app": "web"}}, "example.com/app=web"),
]


@pytest.mark.parametrize("spec,text", FORMATS)
def test_format_selector_prints_upstreams_string(spec, text):
    assert format_selector(spec) == text


def _normal(selector):
    return {(r.key, r.operator, frozenset(r.values)) for r in selector.requirements}


@pytest.mark.parametrize("spec,text", FORMATS)
def test_format_selector_round_trips_through_the_parser(spec, text):
    structured, parsed = structured_selector(spec), parse_selector(format_selector(spec))
    if spec is None:  # null matches nothing; its printed form, like upstream's, is the empty string
        assert structured.nothing and parsed.empty
    else:
        assert _normal(parsed) == _normal(structured)


def test_table_and_scale_print_the_selector_as_upstream():
    rs = {"metadata": {"name": "web-1"}, "spec": {"replicas": 2, "selector": {
        "matchLabels": {"tier": "front", "app": "web"},
        "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}}}
    assert COLUMNS["ReplicaSet"][1](rs)[-1] == "app=web,env notin (dev),tier=front"
    assert COLUMNS["Deployment"][1]({"metadata": {"name": "d"}, "spec": {}})[-1] == "<none>"
    assert scale_of(rs)["status"]["selector"] == "app=web,env notin (dev),tier=front"


def test_key_and_value_faults_come_as_lists():
    assert key_problems("example.com/app") == [] and value_problems("") == []
    assert key_problems("Bad_Prefix/-a") == [f"prefix part {SUBDOMAIN_RULE}", NAME_RULE]
    assert key_problems("p" * 254 + "/a") == ["prefix part must be no more than 253 characters"]
    assert key_problems("a" * 64) == [NAME_RULE]
    assert subdomain_problems("example.com") == []
    assert value_problems("v" * 64) == value_problems(None) == value_problems("-a") == [VALUE_RULE]


def test_selector_errors_join_the_faults():
    err = parse_selector("Bad_Prefix/-a=b")
    assert isinstance(err, SelectorError)
    assert err.message == ('unable to parse requirement: invalid label key "Bad_Prefix/-a": '
                           f"prefix part {SUBDOMAIN_RULE}; {NAME_RULE}")


def test_a_null_label_value_is_a_selector_error():
    err = structured_selector({"matchLabels": {"k": None}})
    assert isinstance(err, SelectorError) and 'invalid label value: "None"' in err.message


def test_api_server_causes_keep_their_wording():
    causes = validation.labels({"Bad_Prefix/-a": "-v", "/x": "ok", "ok": "v" * 64}, "metadata.labels")
    invalid = "FieldValueInvalid"
    assert causes == [
        {"type": invalid, "field": "metadata.labels", "message": f'Invalid value: "Bad_Prefix": {SUBDOMAIN_RULE}'},
        {"type": invalid, "field": "metadata.labels", "message": f'Invalid value: "Bad_Prefix/-a": {NAME_RULE}'},
        {"type": invalid, "field": "metadata.labels.Bad_Prefix/-a", "message": f'Invalid value: "-v": {VALUE_RULE}'},
        {"type": "FieldValueRequired", "field": "metadata.labels", "message": "Required value"},
        {"type": invalid, "field": "metadata.labels.ok", "message": f'Invalid value: "{"v" * 64}": {VALUE_RULE}'},
    ]
    assert VALUE_RULE.endswith("must start and end with an alphanumeric character")
    assert SUBDOMAIN_RULE.startswith("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric")
