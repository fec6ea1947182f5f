"""authorization_details (vault:path_access): ACL path semantics, independent entries, skips never grant."""

import pytest

from vaultguard.service.authz.acl import AccessRequest
from vaultguard.service.authz.decision import RAR_NO_MATCH_ERROR, Decision, LayerOutcome
from vaultguard.service.authz.rar import MAX_ENTRIES, RAR_TYPE, compile_details
from vaultguard.service.authz.templates import IdentityContext

ALICE = IdentityContext(entity_id="e-alice", entity_name="alice", metadata={"team": "blue"}, aliases={})


def entry(path, *caps, **extra):
    return {"type": RAR_TYPE, "path": path, "capabilities": list(caps), **extra}


CASES = [
    # (entries, operation, path, parameters, allowed, reason)
    ([entry("secret/data/app", "read")], "read", "secret/data/app", None, True, "rar_match"),
    ([entry("secret/data/app", "read")], "read", "secret/data/app2", None, False, "rar_no_match"),
    ([entry("secret/data/app-*", "read")], "read", "secret/data/app-1/x", None, True, "rar_match"),
    ([entry("secret/+/app", "read")], "read", "secret/data/app", None, True, "rar_match"),
    ([entry("secret/+/app", "read")], "read", "secret/data/x/app", None, False, "rar_no_match"),
    ([entry("secret/data/app", "read")], "update", "secret/data/app", None, False, "rar_no_match"),
    ([entry("secret/data/app", "create", "read")], "create", "secret/data/app", None, True, "rar_match"),
    ([entry("secret/data/app", "create", "read")], "update", "secret/data/app", None, False, "rar_no_match"),
    ([entry("secret/metadata/", "list")], "list", "secret/metadata", None, True, "rar_match"),
    ([entry("/secret/data/app", "read")], "read", "secret/data/app", None, True, "rar_match"),
    # one entry grants, another denies the same path: deny wins
    (
        [entry("secret/data/*", "read"), entry("secret/data/app", "deny")],
        "read",
        "secret/data/app",
        None,
        False,
        "rar_denied",
    ),
    # entries are independent: a narrower one does not shadow a broader one (unlike ACL patterns)
    (
        [entry("secret/data/*", "read"), entry("secret/data/app", "update")],
        "read",
        "secret/data/app",
        None,
        True,
        "rar_match",
    ),
    # parameters
    (
        [entry("secret/data/app", "update", allowed_parameters={"env": ["dev"]})],
        "update",
        "secret/data/app",
        {"env": "dev"},
        True,
        "rar_match",
    ),
    (
        [entry("secret/data/app", "update", allowed_parameters={"env": ["dev"]})],
        "update",
        "secret/data/app",
        {"env": "prod"},
        False,
        "rar_no_match",
    ),
    (
        [entry("secret/data/app", "update", denied_parameters={"env": ["prod"]})],
        "update",
        "secret/data/app",
        {"env": "prod"},
        False,
        "rar_no_match",
    ),
    (
        [entry("secret/data/app", "update", required_parameters=["ticket"])],
        "update",
        "secret/data/app",
        {"x": 1},
        False,
        "rar_no_match",
    ),
    (
        [entry("secret/data/app", "update", required_parameters=["ticket"])],
        "update",
        "secret/data/app",
        {"ticket": "T-1"},
        True,
        "rar_match",
    ),
    # templates render with the subject
    (
        [entry("secret/data/{{identity.entity.id}}/*", "read")],
        "read",
        "secret/data/e-alice/k",
        None,
        True,
        "rar_match",
    ),
    (
        [entry("secret/data/{{identity.entity.id}}/*", "read")],
        "read",
        "secret/data/e-bob/k",
        None,
        False,
        "rar_no_match",
    ),
    (
        [entry("secret/data/{{identity.entity.metadata.team}}", "read")],
        "read",
        "secret/data/blue",
        None,
        True,
        "rar_match",
    ),
    (
        [entry("secret/data/{{identity.entity.metadata.nope}}", "read")],
        "read",
        "secret/data/",
        None,
        False,
        "rar_no_match",
    ),
    # DECISIONS.md#d7: unusable entries never grant
    (
        [{"type": "other:thing", "path": "secret/data/app", "capabilities": ["read"]}],
        "read",
        "secret/data/app",
        None,
        False,
        "rar_no_match",
    ),
    (
        [{"path": "secret/data/app", "capabilities": ["read"]}],
        "read",
        "secret/data/app",
        None,
        False,
        "rar_no_match",
    ),
    ([entry("secret/data/app")], "read", "secret/data/app", None, False, "rar_no_match"),
    ([entry("secret/data/app", "reed")], "read", "secret/data/app", None, False, "rar_no_match"),
    (
        [{"type": RAR_TYPE, "path": 7, "capabilities": ["read"]}],
        "read",
        "secret/data/app",
        None,
        False,
        "rar_no_match",
    ),
    (
        [{"type": RAR_TYPE, "path": "secret/data/app", "capabilities": "read"}],
        "read",
        "secret/data/app",
        None,
        False,
        "rar_no_match",
    ),
    ([entry("secret/data/../../sys/*", "read")], "read", "sys/policy/x", None, False, "rar_no_match"),
    ([entry("secret/*/app", "read")], "read", "secret/x/app", None, False, "rar_no_match"),
    (
        [entry("secret/data/app", "update", allowed_parameters=["env"])],
        "update",
        "secret/data/app",
        {"env": "x"},
        False,
        "rar_no_match",
    ),
    (["not an object", 3, None], "read", "secret/data/app", None, False, "rar_no_match"),
    ([], "read", "secret/data/app", None, False, "rar_no_match"),
]


@pytest.mark.parametrize("entries,operation,path,parameters,allowed,reason", CASES)
def test_authorization_details_decide_like_the_table_says(
    entries, operation, path, parameters, allowed, reason
):
    result = compile_details(entries, ALICE).evaluate(AccessRequest(path, operation, parameters))
    assert (result.allowed, result.reason) == (allowed, reason)


def test_unusable_entries_are_reported_with_why():
    details = compile_details(
        [{"type": "x"}, entry("a/b"), entry("a/{{identity.entity.metadata.none}}", "read")], ALICE
    )
    assert [i for i, _ in details.skipped] == [0, 1, 2]
    assert "not 'vault:path_access'" in details.skipped[0][1]
    assert "template" in details.skipped[2][1]


def test_only_the_first_entries_up_to_the_cap_count():
    many = [entry(f"p/{i}", "read") for i in range(MAX_ENTRIES + 5)]
    details = compile_details(many, ALICE)
    assert len(details.entries) == MAX_ENTRIES
    assert not details.evaluate(AccessRequest(f"p/{MAX_ENTRIES + 1}", "read")).allowed


def test_a_rar_denial_shows_vaults_two_message_form_and_other_denials_say_only_permission_denied():
    rar = Decision.deny("rar", "rar_no_match")
    assert rar.caller_error() == (403, [RAR_NO_MATCH_ERROR])
    assert Decision.deny("rar_required", "rar_required").caller_error() == (
        403,
        ["authorization_details claim is required"],
    )
    for layer in ("token", "identity", "registry", "baseline", "ceiling"):
        assert Decision.deny(layer, "x", "secret detail").caller_error() == (403, ["permission denied"])


def test_the_audit_form_carries_the_layers_and_policies():
    decision = Decision(True, "allowed", "", "", (LayerOutcome("baseline", True, "allowed", ("kv-read",)),))
    audit = decision.to_audit()
    assert audit["decision"] == "allow" and audit["layers"][0]["policies"] == ["kv-read"]
    assert decision.policies("baseline") == ("kv-read",)


def test_the_canonical_claim_differs_whenever_the_claim_does():
    from types import MappingProxyType

    from vaultguard.service.authz.rar import canonical_claim

    def claim(path, caps=("read",), **extra):
        return (MappingProxyType({"type": RAR_TYPE, "path": path, "capabilities": list(caps), **extra}),)

    assert canonical_claim(claim("a")) == canonical_claim(claim("a"))
    assert canonical_claim(claim("a")) != canonical_claim(claim("b"))
    assert canonical_claim(claim("a")) != canonical_claim(claim("a", ("read", "update")))
    assert canonical_claim(claim("a", allowed_parameters={"k": ["1"]})) != canonical_claim(
        claim("a", allowed_parameters={"k": ["2"]})
    )
    assert canonical_claim(()) == "[]"
