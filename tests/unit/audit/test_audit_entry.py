"""The audit entry builder: Vault's request/response shape, DECISIONS.md#d38 metadata, tokens and data only as HMAC."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import re
import time
from types import MappingProxyType, SimpleNamespace

import pytest

from vaultguard.service.audit import entry as e
from vaultguard.service.audit.hashing import Hasher
from vaultguard.service.authn.jwt import REASONS, ValidatedToken
from vaultguard.service.authn.tokens import TokenRecord
from vaultguard.service.authz.acl import ACLResult
from vaultguard.service.authz.decision import Decision, LayerOutcome
from vaultguard.service.identity.groups import Membership
from vaultguard.service.identity.model import Entity, Group
from vaultguard.service.identity.resolve import Resolution
from vaultguard.service.registry.model import Registration

KEY = bytes(range(32))
HASHER = Hasher(KEY)
JWT_CLAIMS = {
    "iss": "https://IdP.example/",
    "sub": "alice",
    "aud": ["https://vaultguard.example"],
    "jti": "jti-1",
    "txn": "txn-9",
    "act": {"sub": "agent-bot"},
    "authorization_details": [{"type": "vault:path_access", "path": "secret/data/a", "capabilities": ["read"]}],
    "exp": 2_000_000_300,
    "iat": 2_000_000_000,
}


def hmac_of(value: str) -> str:
    return "hmac-sha256:" + hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


RAW_JWT = b64({"alg": "RS256", "typ": "at+jwt"}) + "." + b64(JWT_CLAIMS) + ".c2ln"


def facts(**overrides) -> e.RequestFacts:
    values = dict(id="req-1", operation="read", path="secret/data/a", namespace_id="root", namespace_path="",
                  remote_address="10.0.0.7", remote_port=51000, token="hvs.secret-token")  # fmt: skip
    values.update(overrides)
    return e.RequestFacts(**values)


def agent_caller(actor: bool = True) -> SimpleNamespace:
    token = ValidatedToken(
        header=MappingProxyType({"alg": "RS256"}),
        claims=MappingProxyType(JWT_CLAIMS),
        profile=None,
        issuer="https://idp.example",
        subject="alice",
        actor="agent-bot" if actor else None,
        unique_id="jti-1",
        authorization_details=tuple(MappingProxyType(d) for d in JWT_CLAIMS["authorization_details"]),
        audiences=("https://vaultguard.example",),
        expires_at=2_000_000_300,
        issued_at=2_000_000_000,
        not_before=None,
        transaction="txn-9",
        groups=(),
    )
    human = Entity(id="ent-human", namespace_id="root", name="alice", policies=["kv-reader"])
    bot = Entity(id="ent-bot", namespace_id="root", name="report-bot", policies=["bot-own"])
    registration = Registration(id="reg-1", namespace_id="root", display_name="report-bot", entity_id="ent-bot")
    return SimpleNamespace(
        token=token,
        resolution=Resolution(human, bot if actor else None, registration),
        groups=Membership((Group(id="grp-1", namespace_id="root", name="team", policies=["team-read"]),),
                          {"grp-1": "member"}),
        baseline_policies=("default", "kv-reader", "team-read"),
        accessor="acc-123",
        display_name="JWT Token with Unique Identifier: jti-1",
    )


PASSED = (
    LayerOutcome("token", True, "valid", ("idp",)),
    LayerOutcome("identity", True, "resolved"),
    LayerOutcome("registry", True, "registered", ("reg-1",)),
)


def allowed() -> Decision:
    return Decision(True, "allowed", "", "", PASSED + (
        LayerOutcome("baseline", True, "allowed", ("kv-reader",)),
        LayerOutcome("ceiling", True, "allowed", ("agent-ceiling", "kv-reader")),
        LayerOutcome("rar", True, "rar_match", ("authorization_details[0]",)),
    ))  # fmt: skip


def ceiling_denied() -> Decision:
    outcomes = PASSED + (
        LayerOutcome("baseline", True, "allowed", ("kv-reader",)),
        LayerOutcome("ceiling", False, "no_matching_path", (), "ceiling policies do not allow read"),
    )
    return Decision(False, "ceiling_no_matching_path", "ceiling", "ceiling policies do not allow read", outcomes)


# --- hashing ----------------------------------------------------------------------------------------------------------


def test_a_value_is_shown_as_hmac_sha256_under_the_server_key():
    assert HASHER.hash("hvs.secret-token") == hmac_of("hvs.secret-token")
    assert Hasher(bytes(32)).hash("hvs.secret-token") != HASHER.hash("hvs.secret-token")
    assert HASHER.hash("") == "" and HASHER.digest("") == hmac_of("")


def test_data_keeps_its_keys_and_hashes_every_string_at_any_depth():
    data = {"password": "p", "n": 3, "ok": True, "none": None, "list": ["a", {"b": "c"}], "nested": {"x": "y"}}
    assert HASHER.values(data) == {
        "password": hmac_of("p"), "n": 3, "ok": True, "none": None,
        "list": [hmac_of("a"), {"b": hmac_of("c")}], "nested": {"x": hmac_of("y")},
    }  # fmt: skip


def test_a_short_key_is_refused():
    with pytest.raises(ValueError):
        Hasher(b"short")


# --- request block ----------------------------------------------------------------------------------------------------


def test_the_request_block_names_the_request_and_hides_the_token_and_the_data():
    block = e.request_block(HASHER, facts(data={"value": "s3cret", "version": 2}), accessor="acc-1")
    assert block == {
        "id": "req-1",
        "operation": "read",
        "client_token": hmac_of("hvs.secret-token"),
        "client_token_accessor": hmac_of("acc-1"),
        "namespace": {"id": "root", "path": ""},
        "path": "secret/data/a",
        "data": {"value": hmac_of("s3cret"), "version": 2},
        "remote_address": "10.0.0.7",
        "remote_port": 51000,
    }


def test_absurdly_deep_data_is_left_out_rather_than_failing_the_request():
    deep: dict = {}
    for _ in range(5000):
        deep = {"d": deep}
    assert e.request_block(HASHER, facts(data=deep))["data"] is None


@pytest.mark.parametrize(
    "method,is_list,operation",
    [("GET", False, "read"), ("GET", True, "list"), ("HEAD", False, "read"), ("POST", False, "update"),
     ("PUT", False, "update"), ("PATCH", False, "patch"), ("DELETE", False, "delete")],
)  # fmt: skip
def test_the_operation_follows_the_method_until_the_route_names_it(method, is_list, operation):
    assert e.operation_for(method, is_list) == operation


# --- admin tokens -----------------------------------------------------------------------------------------------------


def record(**overrides) -> TokenRecord:
    values = dict(id_hash="h", accessor="acc-9", namespace_id="ns1", policies=["default", "reader"],
                  display_name="token-ci", meta={"team": "a"}, creation_time=1_900_000_000.0,
                  expire_time=1_900_003_600.0)  # fmt: skip
    values.update(overrides)
    return TokenRecord(**values)


def acl(allowed: bool, reason: str, policies: tuple[str, ...]) -> ACLResult:
    return ACLResult(allowed, frozenset({"read"}) if allowed else frozenset(), policies, "secret/*", reason)


def test_an_admin_token_allowed_by_its_acl_lists_the_granting_policy():
    auth = e.admin_auth(HASHER, "hvs.secret-token", record(), "ns1", "team-a/", acl(True, "allowed", ("reader",)),
                        authorized=True)  # fmt: skip
    assert auth["client_token"] == hmac_of("hvs.secret-token") and auth["accessor"] == hmac_of("acc-9")
    assert auth["policies"] == auth["token_policies"] == ["default", "reader"] and auth["identity_policies"] == []
    assert auth["token_type"] == "service" and auth["token_ttl"] == 3600
    assert auth["metadata"] == {"team": "a", "decision": "allow", "reason": "allowed"}
    assert auth["policy_results"] == {
        "allowed": True,
        "granting_policies": [{"name": "reader", "namespace_id": "ns1", "namespace_path": "team-a/", "type": "acl"}],
    }


def test_an_admin_refusal_has_no_granting_policy_and_says_why():
    auth = e.admin_auth(HASHER, "t", record(), "ns1", "team-a/", acl(False, "explicit_deny", ("locked",)), True)
    assert auth["policy_results"] == {"allowed": False, "granting_policies": []}
    assert (auth["metadata"]["decision"], auth["metadata"]["reason"]) == ("deny", "explicit_deny")


def test_root_is_granted_by_root():
    auth = e.admin_auth(HASHER, "t", record(policies=["root"], expire_time=None), "root", "", None, True)
    assert auth["metadata"]["reason"] == "root" and "token_ttl" not in auth
    assert [p["name"] for p in auth["policy_results"]["granting_policies"]] == ["root"]


def test_a_tokens_own_metadata_cannot_forge_the_decision():
    forged = record(meta={"decision": "allow", "reason": "allowed"})
    auth = e.admin_auth(HASHER, "t", forged, "ns1", "", acl(False, "no_matching_path", ()), True)
    assert (auth["metadata"]["decision"], auth["metadata"]["reason"]) == ("deny", "no_matching_path")


def test_before_the_authorization_check_there_is_no_decision_to_report():
    auth = e.admin_auth(HASHER, "t", record(), "ns1", "", None, authorized=False)
    assert auth["metadata"] == {"team": "a"} and "policy_results" not in auth


@pytest.mark.parametrize("reason", sorted(e.ADMIN_REFUSALS))
def test_a_token_refused_before_it_was_identified_carries_the_reason(reason):
    auth = e.anonymous_auth(HASHER, "hvs.bad", reason)
    assert auth["client_token"] == hmac_of("hvs.bad")
    assert auth["metadata"]["decision"] == "deny" and auth["metadata"]["reason"] == reason
    assert auth["policy_results"] == {"allowed": False, "granting_policies": []}


def test_a_public_request_has_only_an_empty_client_token():
    assert e.anonymous_auth(HASHER, "") == {"client_token": ""}


# --- agents -----------------------------------------------------------------------------------------------------------


def test_an_allowed_delegated_agent_request_carries_the_oauth_keys_the_registration_and_the_decision():
    auth = e.agent_auth(HASHER, RAW_JWT, agent_caller(), allowed())
    meta = auth["metadata"]
    assert meta["jwt_unique_id"] == "jti-1"
    assert meta["jwt_issuer"] == "https://IdP.example/", "the `iss` claim as sent"
    assert meta["jwt_transaction_claim"] == "txn-9"
    assert meta["jwt_audience_claim"] == ["https://vaultguard.example"]
    assert meta["jwt_authorization_details"] == JWT_CLAIMS["authorization_details"]
    assert (meta["actor_entity_id"], meta["actor_entity_name"]) == ("ent-bot", "report-bot")
    assert (meta["agent_registration_id"], meta["agent_display_name"]) == ("reg-1", "report-bot")
    assert (meta["decision"], meta["reason"], meta["layer"]) == ("allow", "allowed", "")
    assert [(s["layer"], s["policies"]) for s in meta["layers"]][3:5] == [
        ("baseline", ["kv-reader"]), ("ceiling", ["agent-ceiling", "kv-reader"])
    ]  # fmt: skip
    assert auth["client_token"] == hmac_of(RAW_JWT) and auth["accessor"] == hmac_of("acc-123")
    assert auth["entity_id"] == "ent-human", "the subject, as Vault shows it"
    assert auth["policies"] == ["default", "kv-reader", "team-read"]
    assert (auth["identity_policies"], auth["token_policies"]) == (["kv-reader", "team-read"], ["default"])
    assert auth["token_type"] == "ent" and auth["token_ttl"] == 300
    assert auth["policy_results"] == {
        "allowed": True,
        "granting_policies": [
            {"name": "kv-reader", "namespace_id": "root", "type": "acl"},
            {"name": "agent-ceiling", "namespace_id": "root", "type": "acl"},
        ],
    }


def test_a_direct_agent_request_has_no_actor_keys():
    meta = e.agent_auth(HASHER, RAW_JWT, agent_caller(actor=False), allowed())["metadata"]
    assert "actor_entity_id" not in meta and "actor_entity_name" not in meta


def test_a_ceiling_refusal_names_the_layer_and_keeps_what_the_baseline_granted_in_the_layers():
    auth = e.agent_auth(HASHER, RAW_JWT, agent_caller(), ceiling_denied())
    meta = auth["metadata"]
    assert (meta["decision"], meta["reason"], meta["layer"]) == ("deny", "ceiling_no_matching_path", "ceiling")
    assert {"layer": "baseline", "allowed": True, "reason": "allowed", "policies": ["kv-reader"]} in meta["layers"]
    assert auth["policy_results"] == {"allowed": False, "granting_policies": []}


def test_a_token_refused_after_its_signature_verified_is_named_by_its_claims():
    decision = Decision.deny("token", "expired", "now is after exp")
    auth = e.refused_agent_auth(HASHER, RAW_JWT, decision)
    meta = auth["metadata"]
    assert (meta["decision"], meta["reason"], meta["layer"]) == ("deny", "expired", "token")
    assert meta["jwt_issuer"] == "https://IdP.example/" and meta["jwt_unique_id"] == "jti-1"
    assert meta["jwt_audience_claim"] == ["https://vaultguard.example"] and meta["jwt_transaction_claim"] == "txn-9"
    assert auth["client_token"] == hmac_of(RAW_JWT)


def test_an_unresolved_subject_is_named_by_its_claims():
    decision = Decision.deny("identity", "subject_alias_not_found", "no alias", PASSED[:1])
    assert e.refused_agent_auth(HASHER, RAW_JWT, decision)["metadata"]["jwt_unique_id"] == "jti-1"


@pytest.mark.parametrize("reason", ["signature_invalid", "no_profile", "malformed", "kid_unknown", "alg_none"])
def test_claims_of_a_token_whose_signature_never_verified_are_not_repeated(reason):
    meta = e.refused_agent_auth(HASHER, RAW_JWT, Decision.deny("token", reason))["metadata"]
    assert not any(key.startswith("jwt_") for key in meta)
    assert meta["reason"] == reason


def test_a_garbage_token_still_gets_an_entry():
    meta = e.refused_agent_auth(HASHER, "a.%%%.c", Decision.deny("identity", "subject_alias_not_found"))["metadata"]
    assert meta["reason"] == "subject_alias_not_found" and "jwt_issuer" not in meta


def test_the_signed_reasons_are_real_reason_codes():
    assert e.SIGNED_TOKEN_REASONS <= set(REASONS)


# --- responses and lines ----------------------------------------------------------------------------------------------


def test_a_response_entry_hashes_the_envelopes_data_and_any_new_token():
    body = {
        "request_id": "x", "data": {"name": "reader"}, "warnings": ["w"],
        "auth": {"client_token": "hvs.new", "accessor": "acc-new", "policies": ["reader"]},
    }  # fmt: skip
    entry = e.response_entry(HASHER, {"client_token": ""}, {"id": "req-1"}, 200, body)
    assert entry["type"] == "response" and entry["error"] == ""
    assert entry["response"] == {
        "status_code": 200,
        "data": {"name": hmac_of("reader")},
        "warnings": ["w"],
        "auth": {"client_token": hmac_of("hvs.new"), "accessor": hmac_of("acc-new"), "policies": ["reader"]},
    }


def test_an_error_response_carries_the_error_the_caller_saw():
    entry = e.response_entry(HASHER, {}, {}, 403, {"errors": ["permission denied"]})
    assert entry["response"] == {"status_code": 403} and entry["error"] == "permission denied"


def test_a_bare_status_body_is_hashed_like_data_and_left_out_on_the_cheap_path():
    assert e.response_entry(HASHER, {}, {}, 200, {"version": "2.1.0"})["response"]["data"] == {
        "version": hmac_of("2.1.0")
    }
    assert e.response_entry(HASHER, {}, {}, 200, {"version": "2.1.0"}, include_data=False)["response"] == {
        "status_code": 200
    }


def test_each_entry_is_one_line_and_no_value_can_break_it():
    forged = 'x"}\n{"type":"response"'
    line = e.encode(e.request_entry({"display_name": forged, "m": MappingProxyType({"a": (1, 2)})}, {"path": "p"}))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["auth"] == {"display_name": forged, "m": {"a": [1, 2]}}
    assert e.encode({"a": 1}, {"b": 2}).count(b"\n") == 2


def test_the_blocks_a_request_and_its_response_share_are_encoded_once_with_the_same_result():
    auth, block = e.agent_auth(HASHER, RAW_JWT, agent_caller(), allowed()), e.request_block(HASHER, facts())
    request = e.request_entry(auth, block)
    response = e.response_entry(HASHER, auth, block, 200, {"request_id": "r", "data": {"a": "b"}})
    memo: dict = {}
    shared = e.encode(request, memo=memo) + e.encode(response, memo=memo)
    assert len(memo) == 2
    assert [json.loads(line) for line in shared.splitlines()] == [json.loads(e.encode(x)) for x in (request, response)]


def test_entry_times_are_rfc3339_utc_with_microseconds():
    stamp = e.timestamp()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(parsed.timestamp() - time.time()) < 5


def test_a_route_refusal_beyond_the_acl_check_is_still_a_deny_with_its_own_reason():
    allowed_by_acl = e.admin_auth(HASHER, "t", record(), "ns1", "", acl(True, "allowed", ("reader",)), True)
    refused = e.refused_by_route(allowed_by_acl)
    assert (refused["metadata"]["decision"], refused["metadata"]["reason"]) == ("deny", "route_refused")
    assert refused["policy_results"] == {"allowed": False, "granting_policies": []}
    assert allowed_by_acl["metadata"]["decision"] == "allow", "the request entry's block is not changed"
    denied = e.anonymous_auth(HASHER, "t", "token_unknown")
    assert e.refused_by_route(denied) is denied, "a precise reason is kept"
