"""Who approves on an environment and how many approvals it takes."""

from __future__ import annotations

from driftbot.requests import rules


def test_user_groups_are_resolved_through_the_given_lookup():
    groups = {"S0DBAS": ["UBO", "UCY"]}
    assert rules.resolve_approvers(["UANA", "S0DBAS"], groups.__getitem__) == {"UANA", "UBO", "UCY"}
