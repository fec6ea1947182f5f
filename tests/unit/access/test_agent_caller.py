"""AgentCaller.for_token: a known agent's next token reuses its resolution, compiled layers and remembered
decisions (they depend on those layers and the request only), never the other token."""

from __future__ import annotations

from vaultguard.service.access.agents import AgentCaller
from vaultguard.service.authz.acl import AccessRequest


def test_a_new_token_shares_the_compiled_layers_and_decisions_but_not_the_token():
    first = AgentCaller(
        token="token-1", raw_token="raw-1", resolution="resolution", groups="groups", baseline_policies=("team",),
        baseline="baseline-acl", ceiling="ceiling-acl", details="details", rar_optional=False, passed=(),
    )  # fmt: skip
    first.decisions.put(AccessRequest("secret/data/a", "read"), "remembered")
    second = first.for_token("token-2", "raw-2")
    assert (second.token, second.raw_token) == ("token-2", "raw-2")
    assert (first.token, first.raw_token) == ("token-1", "raw-1")
    assert (second.resolution, second.groups, second.baseline, second.ceiling, second.details) == (
        "resolution", "groups", "baseline-acl", "ceiling-acl", "details")  # fmt: skip
    assert second.decisions.get(AccessRequest("secret/data/a", "read")) == "remembered"
    assert second.decide(AccessRequest("secret/data/a", "read")) == "remembered"
