"""Properties of compiled ACLs over random policy sets (hypothesis).

Note on "removing a policy never widens": under Vault's rules that is not true in general, and the engine
must not make it true. The most specific matching pattern decides alone (DECISIONS.md#d41), so removing a policy
whose narrower pattern shadowed a broader grant widens access; and allowed_parameters merge per key
(DECISIONS.md#d42), so removing a policy can lift a parameter restriction. The property that does hold, and is
tested here, is that removing a policy widens a request only when that policy wrote the pattern that
decided the request before.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaultguard.service.authz.acl import AccessRequest, ACLResult, compile_acl
from vaultguard.service.authz.policy import Policy, parse_policy

SEGMENTS = ["a", "b", "ab", "x"]
OPERATIONS = ["read", "list", "create", "update", "patch", "delete"]
GRANTS = ["read", "list", "create", "update", "patch", "delete", "sudo"]

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def patterns(draw) -> str:
    """Patterns over a small alphabet so that random requests often match several of them."""
    segments = draw(st.lists(st.sampled_from([*SEGMENTS, "+"]), min_size=1, max_size=3))
    ending = draw(st.sampled_from(["", "", "*", "/*", "/"]))
    if ending == "*" and segments[-1] == "+":
        ending = "/*"  # "+*" is refused by the parser
    return "/".join(segments) + ending


@st.composite
def blocks(draw) -> str:
    pattern = draw(patterns())
    if draw(st.integers(0, 5)) == 0:
        return f'path "{pattern}" {{ capabilities = ["deny"] }}'
    capabilities = draw(st.lists(st.sampled_from(GRANTS), unique=True, max_size=4))
    body = "capabilities = [" + ", ".join(f'"{c}"' for c in capabilities) + "]"
    parameters = draw(st.sampled_from(["", "allowed", "denied", "required"]))
    if parameters == "allowed":
        body += ' allowed_parameters = { "k" = ["v1"] }'
    elif parameters == "denied":
        body += ' denied_parameters = { "k" = ["v2"] }'
    elif parameters == "required":
        body += ' required_parameters = ["k"]'
    return f'path "{pattern}" {{ {body} }}'


@st.composite
def policy_sets(draw) -> list[Policy]:
    count = draw(st.integers(1, 4))
    return [
        parse_policy(f"policy-{i}", "\n".join(draw(st.lists(blocks(), min_size=1, max_size=4))))
        for i in range(count)
    ]


@st.composite
def requests(draw) -> AccessRequest:
    segments = draw(st.lists(st.sampled_from([*SEGMENTS, "", "y"]), min_size=1, max_size=4))
    parameters = draw(st.sampled_from([None, {}, {"k": "v1"}, {"k": "v2"}, {"other": "v1"}]))
    return AccessRequest("/".join(segments), draw(st.sampled_from(OPERATIONS)), parameters)


request_batches = st.lists(requests(), min_size=1, max_size=25)


@PROPERTY_SETTINGS
@given(policy_sets(), patterns(), request_batches)
def test_adding_a_deny_never_allows_a_request_that_was_denied(policies, denied_pattern, batch):
    before = compile_acl(policies)
    after = compile_acl(
        [*policies, parse_policy("fence", f'path "{denied_pattern}" {{ capabilities = ["deny"] }}')]
    )
    for request in batch:
        if after.evaluate(request).allowed:
            assert before.evaluate(request).allowed, request


@PROPERTY_SETTINGS
@given(policy_sets(), st.data(), request_batches)
def test_removing_a_policy_widens_a_request_only_when_that_policy_wrote_the_deciding_pattern(
    policies, data, batch
):
    removed = data.draw(st.sampled_from(policies))
    before = compile_acl(policies)
    after = compile_acl([p for p in policies if p is not removed])
    removed_patterns = {rule.pattern for rule in removed.rules}
    for request in batch:
        was, now = before.evaluate(request), after.evaluate(request)
        if now.allowed and not was.allowed:
            assert was.matched_pattern in removed_patterns, (request, was, now)


@PROPERTY_SETTINGS
@given(policy_sets(), st.randoms(use_true_random=False), request_batches)
def test_the_order_of_policies_never_changes_a_decision(policies, rng, batch):
    shuffled = list(policies)
    rng.shuffle(shuffled)
    first, second = compile_acl(policies), compile_acl(shuffled)
    for request in batch:
        assert first.evaluate(request) == second.evaluate(request)


@PROPERTY_SETTINGS
@given(policy_sets(), request_batches)
def test_an_allowed_request_names_the_policies_that_granted_it(policies, batch):
    acl = compile_acl(policies)
    names = {p.name for p in policies}
    for request in batch:
        result = acl.evaluate(request)
        if result.allowed:
            assert result.reason == "allowed"
            assert result.granting_policies and set(result.granting_policies) <= names
            assert "deny" not in result.capabilities


# ---------------------------------------------------------------------------------------------------------
# The trie against a brute-force scan of every pattern
# ---------------------------------------------------------------------------------------------------------


def brute_force_priority(pattern: str) -> tuple:
    """DECISIONS.md#d41 written out again, independently of the engine: larger wins."""
    segments = pattern.split("/")
    plus_positions = [sum(len(s) + 1 for s in segments[:i]) for i, s in enumerate(segments) if s == "+"]
    wildcard_positions = plus_positions + ([len(pattern) - 1] if pattern.endswith("*") else [])
    return (min(wildcard_positions), not pattern.endswith("*"), -len(plus_positions), len(pattern), pattern)


def brute_force_matches(pattern: str, path: str) -> bool:
    body, glob = (pattern[:-1], True) if pattern.endswith("*") else (pattern, False)
    regex = "/".join("[^/]+" if s == "+" else re.escape(s) for s in body.split("/"))
    return re.fullmatch(regex + (".*" if glob else ""), path, re.DOTALL) is not None


def brute_force_winner(patterns_: set[str], request: AccessRequest) -> str | None:
    path = request.path.lstrip("/")
    candidates = [path]
    if request.operation == "list":
        path = path if path.endswith("/") else path + "/"
        candidates = [path, path[:-1]]
    exact = {p for p in patterns_ if not p.endswith("*") and "+" not in p.split("/")}
    for candidate in candidates:
        if candidate in exact:
            return candidate
    matching = [p for p in patterns_ - exact if brute_force_matches(p, path)]
    return max(matching, key=brute_force_priority) if matching else None


@PROPERTY_SETTINGS
@given(policy_sets(), request_batches)
def test_the_trie_picks_the_same_pattern_as_a_scan_of_every_pattern(policies, batch):
    acl = compile_acl(policies)
    every_pattern = {rule.pattern for policy in policies for rule in policy.rules}
    for request in batch:
        assert acl.evaluate(request).matched_pattern == brute_force_winner(every_pattern, request), request


# ---------------------------------------------------------------------------------------------------------
# Never raising
# ---------------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@PROPERTY_SETTINGS
@given(
    policy_sets(),
    st.text(max_size=40),
    st.text(max_size=10) | st.sampled_from(OPERATIONS),
    st.none()
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["k", "K", "policies", "*"]), json_values),
)
def test_evaluate_never_raises_on_arbitrary_paths_and_parameters(policies, path, operation, parameters):
    acl = compile_acl(policies)
    result = acl.evaluate(AccessRequest(path, operation, parameters))
    assert isinstance(result, ACLResult)
    assert result.reason != "evaluation_error"
    assert isinstance(acl.capabilities(path), frozenset)
