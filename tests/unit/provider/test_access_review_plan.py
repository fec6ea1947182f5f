"""provider/access_review on plan JSON shapes that are awkward to produce with a real plan in a test."""

from __future__ import annotations

from vaultguard.provider.access_review import review

READ_A = 'path "a/*" { capabilities = ["read"] }'


def _registration(action: str, ceiling: list[str]) -> dict:
    values = {"display_name": "r", "namespace": None, "ceiling_policies": ceiling, "no_default_ceiling_policy": True}
    return {
        "address": "vault_agent_registration.r",
        "type": "vault_agent_registration",
        "change": {"actions": [action], "before": values, "after": values, "after_unknown": {}},
    }


def test_a_policy_the_plan_deletes_grants_nothing_after_even_if_the_server_still_has_it():
    deleted = {
        "address": "vault_policy.p",
        "type": "vault_policy",
        "change": {"actions": ["delete"], "before": {"name": "gone", "namespace": None, "policy": READ_A}},
    }
    plan = {"format_version": "1.2", "resource_changes": [deleted, _registration("no-op", ["gone"])]}

    [agent] = review(plan, [], server=lambda namespace, name: READ_A)["agents"]

    assert agent["gained"] == []
    assert [(r["path"], r["capabilities"]) for r in agent["lost"]] == [("a/*", ["read"])]


def test_a_policy_the_server_lacks_grants_nothing():
    plan = {"format_version": "1.2", "resource_changes": [_registration("create", ["missing"])]}
    plan["resource_changes"][0]["change"]["before"] = None

    [agent] = review(plan, [], server=lambda namespace, name: None)["agents"]

    assert agent["gained"] == [] and agent["lost"] == [] and "unknown" not in agent
