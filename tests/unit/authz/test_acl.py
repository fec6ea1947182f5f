"""Compiled ACL decisions: the corpus in tests/testdata/acl, plus the behaviours a table cannot show."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from vaultguard.service.authz.acl import ACL, AccessRequest, ACLResult, compile_acl
from vaultguard.service.authz.policy import parse_policy
from vaultguard.service.authz.templates import AliasContext, GroupContext, IdentityContext

CORPUS = Path(__file__).resolve().parents[2] / "testdata" / "acl"


def identity_from(data: dict[str, Any] | None) -> IdentityContext | None:
    """Build an IdentityContext from a corpus case's `identity` mapping."""
    if data is None:
        return None
    aliases = {
        accessor: AliasContext(
            id=alias["id"],
            name=alias["name"],
            metadata=alias.get("metadata", {}),
            custom_metadata=alias.get("custom_metadata", {}),
        )
        for accessor, alias in data.get("aliases", {}).items()
    }
    groups = tuple(
        GroupContext(id=g["id"], name=g["name"], metadata=g.get("metadata", {}))
        for g in data.get("groups", [])
    )
    return IdentityContext(
        entity_id=data["entity_id"],
        entity_name=data.get("entity_name", ""),
        metadata=data.get("metadata", {}),
        aliases=aliases,
        groups=groups,
    )


def load_corpus() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for file in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text())["cases"]:
            cases.append((f"{file.stem}: {case['name']}", case))
    return cases


CASES = dict(load_corpus())


@cache
def acl_for(case_id: str) -> ACL:
    case = CASES[case_id]
    policies = [parse_policy(p["name"], p["text"]) for p in case["policies"]]
    return compile_acl(policies, identity_from(case.get("identity")))


def corpus_rows():
    for case_id, case in CASES.items():
        for row in case["rows"]:
            yield pytest.param(case_id, row, id=f"{case_id} | {row['op']} {row['path']!r}")


ROWS = list(corpus_rows())


def test_the_decision_corpus_is_large_enough_to_mean_something():
    assert len(ROWS) >= 150


@pytest.mark.parametrize(("case_id", "row"), ROWS)
def test_decision_matches_the_corpus(case_id: str, row: dict[str, Any]):
    result = acl_for(case_id).evaluate(AccessRequest(row["path"], row["op"], row.get("params")))

    assert (result.allowed, result.reason) == (row["allow"], row["reason"])
    if "policies" in row:
        assert list(result.granting_policies) == row["policies"]
    if "pattern" in row:
        assert result.matched_pattern == row["pattern"]
    if "sudo" in row:
        assert result.sudo is row["sudo"]


# ---------------------------------------------------------------------------------------------------------
# Beyond the table
# ---------------------------------------------------------------------------------------------------------


def acl_of(*texts: str, identity: IdentityContext | None = None) -> ACL:
    return compile_acl([parse_policy(f"p{i}", text) for i, text in enumerate(texts)], identity)


def test_capabilities_self_reports_the_winning_rule_and_not_a_union():
    acl = acl_of(
        'path "secret/*" { capabilities = ["read", "list"] }',
        'path "secret/team/*" { capabilities = ["update", "sudo"] }',
    )
    assert acl.capabilities("secret/team/x") == {"update", "sudo"}
    assert acl.capabilities("secret/other") == {"read", "list"}


def test_capabilities_self_says_deny_when_nothing_matches_or_the_rule_denies():
    acl = acl_of(
        'path "secret/*" { capabilities = ["deny"] }',
        'path "kv/empty" { capabilities = [] }',
    )
    assert acl.capabilities("secret/x") == {"deny"}
    assert acl.capabilities("kv/empty") == {"deny"}
    assert acl.capabilities("elsewhere") == {"deny"}


def test_capabilities_self_says_root_for_a_root_policy():
    acl = compile_acl([parse_policy("root", "")])
    assert acl.capabilities("anything") == {"root"}
    assert acl.is_root


def test_a_root_result_says_it_is_root():
    result = compile_acl([parse_policy("Root ", "")]).evaluate(AccessRequest("x", "delete"))
    assert result.allowed and result.is_root and result.reason == "root"


def test_an_acl_remembers_the_policy_names_it_was_built_from():
    acl = compile_acl([parse_policy("b", ""), parse_policy("a", "")])
    assert acl.policy_names == ("a", "b")
    assert not acl.is_root


@pytest.mark.parametrize(
    "request_",
    [
        AccessRequest(None, "read"),  # type: ignore[arg-type]
        AccessRequest(b"secret/x", "read"),  # type: ignore[arg-type]
        AccessRequest("secret/x", None),  # type: ignore[arg-type]
        AccessRequest("secret/x", "update", ["not", "a", "mapping"]),  # type: ignore[arg-type]
        AccessRequest("secret/x", "update", {1: "non-string key", None: object()}),
        AccessRequest("secret/x", "update", MappingProxyType({"k": {"deep": [1, {"x": None}]}})),
    ],
    ids=["path None", "path bytes", "operation None", "parameters a list", "odd keys", "nested values"],
)
def test_evaluate_never_raises_and_never_allows_by_accident_on_malformed_requests(request_: AccessRequest):
    acl = acl_of(
        'path "secret/*" { capabilities = ["read"] allowed_parameters = { "k" = ["v"] } }',
    )
    result = acl.evaluate(request_)
    assert isinstance(result, ACLResult)
    assert result.allowed is False


def test_an_unexpected_failure_is_reported_as_an_evaluation_error():
    acl = acl_of('path "secret/*" { capabilities = ["read"] }')
    assert acl.evaluate(AccessRequest(None, "read")).reason == "evaluation_error"  # type: ignore[arg-type]


def test_a_templated_policy_is_rendered_for_each_identity_it_is_compiled_for():
    policy = parse_policy("self", 'path "kv/{{identity.entity.name}}/*" { capabilities = ["read"] }')
    alice = compile_acl([policy], IdentityContext(entity_id="e1", entity_name="alice"))
    bob = compile_acl([policy], IdentityContext(entity_id="e2", entity_name="bob"))

    assert alice.evaluate(AccessRequest("kv/alice/x", "read")).allowed
    assert not alice.evaluate(AccessRequest("kv/bob/x", "read")).allowed
    assert bob.evaluate(AccessRequest("kv/bob/x", "read")).allowed


def test_compile_accepts_any_iterable_of_policies():
    policies = (parse_policy(n, f'path "{n}/*" {{ capabilities = ["read"] }}') for n in ("a", "b"))
    acl = compile_acl(policies)
    assert acl.evaluate(AccessRequest("b/x", "read")).granting_policies == ("b",)


def test_the_same_request_gives_the_same_answer_every_time():
    acl = acl_of('path "kv/*" { capabilities = ["update"] allowed_parameters = { "a" = ["1"] } }')
    first = [acl.evaluate(AccessRequest("kv/x", "update", {"a": v})) for v in ("1", "2", "1", "2")]
    assert [r.allowed for r in first] == [True, False, True, False]
    assert [r.reason for r in first] == [
        "allowed",
        "parameter_not_allowed",
        "allowed",
        "parameter_not_allowed",
    ]


def test_ten_thousand_paths_still_resolve_to_the_right_rule():
    lines = []
    for i in range(2500):
        lines.append(f'path "secret/data/app-{i}/*" {{ capabilities = ["read"] }}')
        lines.append(f'path "kv/team-{i}/config" {{ capabilities = ["update"] }}')
        lines.append(f'path "pki/issue/+/role-{i}" {{ capabilities = ["create"] }}')
        lines.append(f'path "db/creds/r{i}*" {{ capabilities = ["delete"] }}')
    acl = compile_acl([parse_policy("big", "\n".join(lines))])

    assert (
        acl.evaluate(AccessRequest("secret/data/app-1234/x/y", "read")).matched_pattern
        == "secret/data/app-1234/*"
    )
    assert acl.evaluate(AccessRequest("kv/team-77/config", "update")).allowed
    assert (
        acl.evaluate(AccessRequest("pki/issue/web/role-2499", "create")).matched_pattern
        == "pki/issue/+/role-2499"
    )
    # r1234* and r123* and r12* and r1* all match: the longest prefix wins.
    assert acl.evaluate(AccessRequest("db/creds/r1234x", "delete")).matched_pattern == "db/creds/r1234*"
    assert acl.evaluate(AccessRequest("secret/data/app-2500/x", "read")).reason == "no_matching_path"
