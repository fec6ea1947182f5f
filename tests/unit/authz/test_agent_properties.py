"""Properties of the agent decision, whatever the policies and authorization_details:

- an allow never exceeds what baseline ∩ ceiling permits;
- removing an authorization_details entry that grants, or adding a deny entry, never widens;
- removing a ceiling or baseline policy never widens, unless that policy wrote the pattern that decided
  its layer (Vault's rule: the most specific pattern wins, so removing a narrow pattern can expose a
  broader grant — see test_acl_properties.py for the ACL-level statement).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vaultguard.service.authz.acl import AccessRequest, compile_acl
from vaultguard.service.authz.agent import decide
from vaultguard.service.authz.policy import PathRule, Policy
from vaultguard.service.authz.rar import RAR_TYPE, compile_details

SEGMENTS = ["a", "b", "c"]
OPERATIONS = ["read", "list", "create", "update", "delete"]
CAPABILITIES = ["read", "list", "create", "update", "delete", "deny"]

segment = st.sampled_from(SEGMENTS)
request_path = st.lists(segment, min_size=1, max_size=3).map("/".join)


@st.composite
def pattern(draw) -> str:
    parts = draw(st.lists(st.sampled_from(SEGMENTS + ["+"]), min_size=1, max_size=3))
    text = "/".join(parts)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))] + "*"
    return text or "*"


capability_set = st.sets(st.sampled_from(CAPABILITIES), min_size=1, max_size=3).map(frozenset)
rule = st.builds(lambda p, c: PathRule(p, frozenset({"deny"}) if "deny" in c else c), pattern(), capability_set)
policy_rules = st.lists(rule, min_size=0, max_size=4)


def policies(rule_lists: list[list[PathRule]], prefix: str) -> list[Policy]:
    return [Policy(f"{prefix}{i}", tuple(rules), False) for i, rules in enumerate(rule_lists)]


rar_entry = st.builds(lambda p, c: {"type": RAR_TYPE, "path": p, "capabilities": sorted(c)}, pattern(), capability_set)
requests = st.builds(AccessRequest, request_path, st.sampled_from(OPERATIONS))
# Half the layers also carry a grant-everything policy, so allowed requests are common enough to test.
_ALLOW_ALL = [PathRule("*", frozenset(OPERATIONS))]
policy_sets = st.one_of(
    st.lists(policy_rules, min_size=0, max_size=3),
    st.lists(policy_rules, min_size=0, max_size=2).map(lambda sets: [*sets, _ALLOW_ALL]),
)


@settings(max_examples=300, deadline=None)
@given(policy_sets, policy_sets, st.one_of(st.none(), st.lists(rar_entry, max_size=4)), requests, st.booleans())
def test_an_allow_never_exceeds_baseline_and_ceiling(base, ceil, details, request, optional):
    baseline, ceiling = compile_acl(policies(base, "b")), compile_acl(policies(ceil, "c"))
    rar = compile_details(details, None) if details is not None else None
    decision = decide(request, baseline, ceiling, rar, optional)
    if decision.allowed:
        assert baseline.evaluate(request).allowed and ceiling.evaluate(request).allowed
        if rar is not None:
            assert rar.evaluate(request).allowed


@settings(max_examples=300, deadline=None)
@given(policy_sets, policy_sets, st.lists(rar_entry, min_size=1, max_size=4), requests, st.data())
def test_removing_a_granting_entry_or_adding_a_deny_entry_never_widens(base, ceil, details, request, data):
    baseline, ceiling = compile_acl(policies(base, "b")), compile_acl(policies(ceil, "c"))
    before = decide(request, baseline, ceiling, compile_details(details, None), False).allowed
    index = data.draw(st.integers(0, len(details) - 1))
    if "deny" not in details[index]["capabilities"]:
        fewer = details[:index] + details[index + 1 :]
        assert not decide(request, baseline, ceiling, compile_details(fewer, None), False).allowed or before
    denied = details + [{"type": RAR_TYPE, "path": data.draw(pattern()), "capabilities": ["deny"]}]
    assert not decide(request, baseline, ceiling, compile_details(denied, None), False).allowed or before


@settings(max_examples=300, deadline=None)
@given(policy_sets, st.lists(policy_rules, min_size=1, max_size=3), requests, st.data(), st.booleans())
def test_removing_a_policy_widens_only_if_it_wrote_the_deciding_pattern(other, layer, request, data, as_ceiling):
    index = data.draw(st.integers(0, len(layer) - 1))
    full = policies(layer, "p")
    removed = full[index]
    reduced = full[:index] + full[index + 1 :]
    fixed = compile_acl(policies(other, "o"))

    def allowed(layer_policies: list[Policy]) -> bool:
        acl = compile_acl(layer_policies)
        baseline, ceiling = (fixed, acl) if as_ceiling else (acl, fixed)
        return decide(request, baseline, ceiling, None, True).allowed

    if allowed(reduced) and not allowed(full):
        decisive = compile_acl(full).evaluate(request)
        assert fixed.evaluate(request).allowed
        assert decisive.matched_pattern is not None
        assert any(r.pattern == decisive.matched_pattern for r in removed.rules)


@given(policy_sets, requests)
def test_an_empty_ceiling_refuses_everything(base, request):
    assert not decide(request, compile_acl(policies(base, "b")), compile_acl([]), None, True).allowed


@given(policy_sets, policy_sets, requests)
def test_authorization_details_are_required_unless_optional(base, ceil, request):
    baseline, ceiling = compile_acl(policies(base, "b")), compile_acl(policies(ceil, "c"))
    decision = decide(request, baseline, ceiling, None, False)
    assert not decision.allowed and decision.layer == "rar_required"
