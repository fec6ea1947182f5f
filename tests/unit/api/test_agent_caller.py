"""AgentCaller.for_token: a known agent's next token reuses its resolution and compiled layers, never its
token or its remembered decisions."""

from __future__ import annotations

from vaultguard.service.api.agents import AgentCaller
from vaultguard.service.authz.acl import AccessRequest


def test_a_new_token_shares_the_compiled_layers_but_not_the_token_or_decisions():
    first = AgentCaller(
        token="token-1", raw_token="raw-1", resolution="resolution", baseline_policies=("team",),
        baseline="baseline-acl", ceiling="ceiling-acl", details="details", rar_optional=False, passed=(),
    )  # fmt: skip
    first.decisions[AccessRequest("secret/data/a", "read")] = "remembered"
    second = first.for_token("token-2", "raw-2")
    assert (second.token, second.raw_token, second.decisions) == ("token-2", "raw-2", {})
    assert (second.resolution, second.baseline, second.ceiling, second.details) == (
        "resolution", "baseline-acl", "ceiling-acl", "details")  # fmt: skip
    second.decisions[AccessRequest("secret/data/b", "read")] = "other"
    assert list(first.decisions) == [AccessRequest("secret/data/a", "read")]
    assert (first.token, first.raw_token) == ("token-1", "raw-1")
