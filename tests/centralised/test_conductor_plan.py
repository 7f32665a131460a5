"""The conductor's pure decisions: group late checks and Nova-worded faults."""

from __future__ import annotations

from berth.centralised.conductor import plan


def test_anti_affinity_late_check_catches_a_racing_member():
    assert plan.group_violation("anti-affinity", "h1", ["h2", "h1"]).startswith("Anti-affinity instance group")
    assert plan.group_violation("anti-affinity", "h3", ["h2", "h1"]) is None


def test_affinity_late_check_wants_every_member_on_the_same_host():
    assert plan.group_violation("affinity", "h1", []) is None
    assert plan.group_violation("affinity", "h1", ["h1", "h1"]) is None
    assert "h2" in plan.group_violation("affinity", "h1", ["h2"])


def test_soft_policies_never_fail_a_build():
    for policy in ("soft-affinity", "soft-anti-affinity", None):
        assert plan.group_violation(policy, "h1", ["h1", "h2"]) is None


def test_exhausted_retries_read_like_nova_and_keep_each_reason():
    attempts = plan.Attempts()
    attempts.failed("h1", "compute agent at http://h1 unreachable: ConnectError")
    attempts.failed("h2", "claim refused: placement.concurrent_update")
    message, details = plan.exhausted("abc", attempts)
    assert message == ("Exceeded maximum number of retries. Exhausted all hosts available for retrying build "
                       "failures for instance abc.")
    assert [a["host"] for a in details["attempts"]] == ["h1", "h2"] == attempts.hosts
    fault = plan.fault(plan.MAX_RETRIES, message, details)
    assert fault["code"] == 500 and fault["message"].startswith("MaxRetriesExceeded: Exceeded maximum")
