"""The quick query-string check never accepts what jsonschema would reject.

`qs.validate` skips jsonschema when its compiled quick check accepts a query, so the quick
check must be sound: for every query schema the handlers use (allocation candidates at every
microversion, provider listing, usages, traits) and many generated queries (good and bad
keys, suffixes, values), quick acceptance implies jsonschema acceptance.  It must also be
useful: the usual valid queries are accepted without jsonschema.
"""

from __future__ import annotations

import random

import jsonschema
import pytest

from berth.centralised.placement import acquery, qs
from berth.centralised.placement.handlers import provider_filter, traits, usages
from berth.centralised.placement.microversion import Version
from berth.centralised.placement.request import CHECKER, Req

KEYS = ["resources", "resources1", "resources_A", "resources-x", "resources0", "required", "required2",
        "member_of", "member_of1", "in_tree", "in_tree3", "group_policy", "limit", "root_required",
        "same_subtree", "name", "uuid", "project_id", "user_id", "consumer_type", "associated", "bogus",
        "resources" + "x" * 70]
VALUES = ["VCPU:1", "", "none", "isolate", "sideways", "1", "0", "10", "-3", "1.5", "abc",
          "6e2b6a4c-9a7a-4d4e-8f0a-1f2b3c4d5e6f", "6e2b6a4c9a7a4d4e8f0a1f2b3c4d5e6f", "not-a-uuid",
          "INSTANCE", "all", "lower_case", "x" * 300]


def _req(minor: int) -> Req:
    return Req("GET", "/", {}, [], {}, b"", Version(1, minor), [], "", "", "", None)


def _schemas() -> list[tuple[str, dict]]:
    out = [(f"candidates 1.{m}", acquery.schema(_req(m))) for m in range(10, 40)]
    out += [(f"providers 1.{m}", provider_filter.schema(_req(m))) for m in (0, 3, 4, 14, 18, 39)]
    out += [(f"usages 1.{m}", usages._schema(_req(m))) for m in (9, 38)]
    return out + [("traits", traits.LIST_SCHEMA)]


@pytest.mark.parametrize(("label", "schema"), _schemas())
def test_quick_acceptance_implies_jsonschema_acceptance(label, schema):
    rng = random.Random(label)
    validator = jsonschema.validators.validator_for(schema)(schema, format_checker=CHECKER)
    quick = qs._quick(schema)
    accepted = 0
    for _ in range(3000):
        params = {rng.choice(KEYS): rng.choice(VALUES) for _ in range(rng.randint(0, 4))}
        if quick(params):
            accepted += 1
            assert validator.is_valid(params), (label, params)
    assert accepted > 0, f"{label}: the quick check accepted nothing"


def test_usual_queries_pass_the_quick_check():
    perfload = {"resources": "VCPU:1,DISK_GB:10,MEMORY_MB:256", "member_of": "in:6e2b6a4c-9a7a-4d4e-8f0a-1f2b3c4d5e6f",
                "required": "HW_CPU_X86_AVX2", "limit": "50"}
    assert qs._quick(acquery.schema(_req(36)))(perfload)
    granular = {"resources1": "VCPU:1", "resources2": "MEMORY_MB:1", "group_policy": "isolate"}
    assert qs._quick(acquery.schema(_req(39)))(granular)
    assert not qs._quick(acquery.schema(_req(39)))({**granular, "group_policy": "sideways"})
    assert not qs._quick(acquery.schema(_req(24)))({"resources_A": "VCPU:1"})
    assert qs._quick(provider_filter.schema(_req(14)))({"in_tree": "6e2b6a4c-9a7a-4d4e-8f0a-1f2b3c4d5e6f"})
    assert not qs._quick(provider_filter.schema(_req(14)))({"in_tree": "not-a-uuid"})
