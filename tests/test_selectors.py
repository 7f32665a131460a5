"""Label selectors against the cases Kubernetes documents (the "Labels and Selectors" page, the
LabelSelector reference and the behaviour of apimachinery's `labels` package): one table per rule,
run through the one parser and matcher in `berth.model.labels`, the API server's field selectors
that share its tokenizer, and the controllers' rule that an empty selector adopts nothing."""

from __future__ import annotations

import pytest

from berth.declarative.apiserver.selectors import parse_fields
from berth.declarative.apiserver.status import Problem
from berth.declarative.controllers.actions import controller_selector
from berth.model.labels import (
    EVERYTHING,
    NOTHING,
    LabelRequirement,
    Selector,
    SelectorError,
    parse_selector,
    structured_selector,
)

WEB = {"app": "web", "tier": "front", "env": "prod"}
DB = {"app": "db", "env": "dev"}
BARE: dict[str, str] = {}

# (selector string, labels, matches?)
MATCHES = [
    # equality: '=' and '==' are the same; every term must hold
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=web", DB, False),
    ("app=web", BARE, False),
    ("app=web,env=prod", WEB, True),
    ("app=web,env=dev", WEB, False),
    ("tier=", WEB, False),
    ("tier=", {"tier": ""}, True),
    # inequality matches objects without the key
    ("env!=prod", WEB, False),
    ("env!=prod", DB, True),
    ("tier!=front", DB, True),
    ("tier!=front", BARE, True),
    ("app=web,tier!=back", WEB, True),
    # set-based: in needs the key, notin also matches a missing key
    ("env in (prod, qa)", WEB, True),
    ("env in (prod,qa)", DB, False),
    ("tier in (front)", DB, False),
    ("env notin (prod)", WEB, False),
    ("env notin (prod)", DB, True),
    ("tier notin (front,back)", DB, True),
    ("x in ()", {"x": ""}, True),
    ("x in ()", {"x": "a"}, False),
    ("x in (a,)", {"x": ""}, True),
    ("a in (x,y,notin,in)", {"a": "in"}, True),
    ("notin=in", {"notin": "in"}, True),
    # existence
    ("tier", WEB, True),
    ("tier", DB, False),
    ("!tier", WEB, False),
    ("!tier", DB, True),
    ("app,!tier", DB, True),
    ("  app ,  env  ", WEB, True),
    ("\tapp\n", WEB, True),
    # qualified keys and dotted values
    ("example.com/role in (10.0.0.1, a.b)", {"example.com/role": "a.b"}, True),
    ("example.com/role", {"role": "x"}, False),
    # the empty selector matches everything
    ("", WEB, True),
    ("", BARE, True),
    ("   ", DB, True),
]


@pytest.mark.parametrize("text,labels,expected", MATCHES)
def test_string_selector_matches_as_kubernetes_does(text, labels, expected):
    selector = parse_selector(text)
    assert isinstance(selector, Selector), selector
    assert selector.matches(labels) is expected


def test_equality_and_set_forms_parse_to_the_same_requirements():
    assert parse_selector("a=b") == parse_selector("a==b") == parse_selector("a in (b)")
    assert parse_selector("a!=b") == parse_selector("a notin (b)")
    assert parse_selector("a=b,!c").requirements == (LabelRequirement("a", "In", ("b",)),
                                                     LabelRequirement("c", "DoesNotExist"))
    assert parse_selector("") is EVERYTHING and EVERYTHING.empty


# (selector string, a fragment of the error message)
BAD = [
    ("x=a||y=b", "invalid label selector"),
    ("x==a==b", "invalid label selector"),
    ("!x=a", "invalid label selector"),
    ("!x in (a)", "invalid label selector"),
    ("x=a=b", "invalid label selector"),
    ("a in (b", "invalid label selector"),
    ("a notin(", "invalid label selector"),
    ("a in (xyz abc)", "invalid label selector"),
    ("a in xyz", "invalid label selector"),
    ("a (", "invalid label selector"),
    ("(", "invalid label selector"),
    ("!", "invalid label selector"),
    ("=a", "invalid label selector"),
    ("a=b c", "invalid label selector"),
    (",a", "empty requirement"),
    ("a,", "empty requirement"),
    ("a,,b", "empty requirement"),
    ("x<a", "invalid label key"),
    ("-a=b", "invalid label key"),
    ("a" * 64, "invalid label key"),
    ("Bad_Prefix/a=b", "invalid label key"),
    ("a..b/c", "invalid label key"),
    ("a=-b", "invalid label value"),
    ("a=" + "v" * 64, "invalid label value"),
    ("a in (ok, bad!)", "invalid label selector"),
    ("a in (ok, -bad)", "invalid label value"),
]


@pytest.mark.parametrize("text,fragment", BAD)
def test_bad_string_selectors_are_errors_naming_the_fault(text, fragment):
    error = parse_selector(text)
    assert isinstance(error, SelectorError), error
    assert error.message.startswith("unable to parse requirement: ") and fragment in error.message


# (structured selector, labels, matches?)
STRUCTURED = [
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "web"}}, DB, False),
    ({"matchLabels": {"app": "web", "env": "prod"}}, WEB, True),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "qa"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, DB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, DB, True),
    ({"matchLabels": {"app": "db"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, DB, True),
    ({"matchLabels": {"app": "db"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]},
     DB, False),
    # empty matches everything, null matches nothing
    ({}, WEB, True),
    ({"matchLabels": {}, "matchExpressions": []}, BARE, True),
    (None, WEB, False),
    (None, BARE, False),
]


@pytest.mark.parametrize("spec,labels,expected", STRUCTURED)
def test_structured_selector_matches_through_the_same_requirements(spec, labels, expected):
    selector = structured_selector(spec)
    assert isinstance(selector, Selector), selector
    assert selector.matches(labels) is expected


def test_structured_and_string_forms_agree():
    spec = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "env", "operator": "NotIn", "values": ["dev"]}, {"key": "tier", "operator": "Exists"}]}
    assert structured_selector(spec) == parse_selector("app=web,env notin (dev),tier")
    assert structured_selector(None) is NOTHING and not NOTHING.empty


BAD_STRUCTURED = [
    {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
    {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
    {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]},
    {"matchExpressions": [{"key": "bad key", "operator": "Exists"}]},
    {"matchExpressions": ["a=b"]},
    {"matchLabels": {"a": "-b"}},
    "app=web",
]


@pytest.mark.parametrize("spec", BAD_STRUCTURED)
def test_bad_structured_selectors_are_errors(spec):
    assert isinstance(structured_selector(spec), SelectorError)


# (controller spec.selector, labels, adopts?)
CONTROLLER = [
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "web"}}, DB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, WEB, True),
    ({}, WEB, False),
    ({"matchLabels": {}}, BARE, False),
    (None, WEB, False),
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, WEB, False),
]


@pytest.mark.parametrize("spec,labels,expected", CONTROLLER)
def test_a_controller_with_an_empty_selector_adopts_nothing(spec, labels, expected):
    assert controller_selector(spec).matches(labels) is expected


FIELDS = ("metadata.name", "spec.nodeName")


@pytest.mark.parametrize("text,expected", [
    ("spec.nodeName=n1", [("spec.nodeName", "=", "n1")]),
    ("spec.nodeName==n1", [("spec.nodeName", "=", "n1")]),
    ("spec.nodeName!=", [("spec.nodeName", "!=", "")]),
    (" metadata.name = a , spec.nodeName!=n2 ", [("metadata.name", "=", "a"), ("spec.nodeName", "!=", "n2")]),
    ("", []),
])
def test_field_selectors_share_the_tokenizer(text, expected):
    assert parse_fields(text, FIELDS, "pods") == expected


@pytest.mark.parametrize("text,fragment", [
    ("spec.nodeName in (a)", "invalid field selector"),
    ("!spec.nodeName", "invalid field selector"),
    ("spec.nodeName", "invalid field selector"),
    ("spec.nodeName=a=b", "invalid field selector"),
    ("spec.bogus=1", "field label not supported"),
])
def test_bad_field_selectors_are_400(text, fragment):
    problem = parse_fields(text, FIELDS, "pods")
    assert isinstance(problem, Problem)
    assert problem.code == 400 and fragment in problem.message
