"""Agents calling the service with real signed JWTs: every layer allows and refuses
(DECISIONS.md#d33, #d35)."""

from __future__ import annotations

import time

import pytest
from agent_world import AUDIENCE, ISSUER, build, rar

RAR_NO_MATCH = [
    "2 errors occurred:\n\t* RAR_NO_MATCH: No valid authorization_details claim found matching this request."
    "\n\t* permission denied\n\n"
]
DENIED = {"errors": ["permission denied"]}
READ_REPORTER = [rar("sys/policy/policy-reader", "read")]


@pytest.fixture
def world(api):
    return build(api)


@pytest.mark.parametrize("key", ["rsa", "p256", "ed25519"])
def test_a_registered_agent_reads_what_every_layer_allows(world, key):
    token = world.mint(key, authorization_details=READ_REPORTER)
    resp = world.as_agent(token).get("sys/policy/policy-reader")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["name"] == "policy-reader"


def test_ps256_tokens_work_with_the_same_rsa_key(world):
    token = world.mint("rsa", alg="PS256", authorization_details=READ_REPORTER)
    assert world.as_agent(token).get("sys/policy/policy-reader").status_code == 200


def test_the_token_may_come_as_a_bearer_header(world, server):
    token = world.mint(authorization_details=READ_REPORTER)
    client = world.client.with_token("")
    resp = client.get("sys/policy/policy-reader", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text


def test_outside_the_authorization_details_is_rar_no_match(world):
    token = world.mint(authorization_details=[rar("sys/policy/other", "read")])
    resp = world.as_agent(token).get("sys/policy/policy-reader")
    assert resp.status_code == 403 and resp.json()["errors"] == RAR_NO_MATCH


def test_a_deny_entry_in_the_authorization_details_wins(world):
    details = READ_REPORTER + [rar("sys/policy/policy-reader", "deny")]
    resp = world.as_agent(world.mint(authorization_details=details)).get("sys/policy/policy-reader")
    assert resp.status_code == 403 and resp.json()["errors"] == RAR_NO_MATCH


def test_without_authorization_details_the_claim_is_required(world):
    resp = world.as_agent(world.mint()).get("sys/policy/policy-reader")
    assert resp.status_code == 403
    assert resp.json() == {"errors": ["authorization_details claim is required"]}


def test_the_registration_can_make_authorization_details_optional(api):
    world = build(api, optional_authorization_details=True)
    assert world.as_agent(world.mint()).get("sys/policy/policy-reader").status_code == 200


def test_the_profile_can_make_authorization_details_optional(world):
    resp = world.client.post(
        f"sys/config/oauth-resource-server/{world.profile}", json={"optional_authorization_details": True}
    )
    assert resp.status_code in (200, 204)
    assert world.as_agent(world.mint()).get("sys/policy/policy-reader").status_code == 200


def test_authorization_details_are_enforced_even_when_optional(api):
    world = build(api, optional_authorization_details=True)
    token = world.mint(authorization_details=[rar("sys/policy/other", "read")])
    assert world.as_agent(token).get("sys/policy/policy-reader").status_code == 403


def test_an_empty_authorization_details_array_matches_nothing(world):
    resp = world.as_agent(world.mint(authorization_details=[])).get("sys/policy/policy-reader")
    assert resp.status_code == 403 and resp.json()["errors"] == RAR_NO_MATCH


def test_the_ceiling_limits_an_agent_even_in_a_direct_request(world):
    # The baseline (policy-reader) allows sys/policy/default, the RAR names it, the ceiling does not.
    token = world.mint(authorization_details=[rar("sys/policy/default", "read")])
    resp = world.as_agent(token).get("sys/policy/default")
    assert resp.status_code == 200, "default-ceiling grants sys/policy/default"
    token = world.mint(authorization_details=[rar("sys/policy/agent-ceiling", "read")])
    resp = world.as_agent(token).get("sys/policy/agent-ceiling")
    assert resp.status_code == 403 and resp.json() == DENIED


def test_the_baseline_limits_what_the_ceiling_and_rar_allow(api):
    world = build(api)
    api.post("sys/policies/acl/agent-ceiling", json={"policy": 'path "sys/*" { capabilities = ["read"] }'})
    token = world.mint(authorization_details=[rar("sys/policies/acl/agent-ceiling", "read")])
    resp = world.as_agent(token).get("sys/policies/acl/agent-ceiling")
    assert resp.status_code == 403 and resp.json() == DENIED  # policy-reader covers sys/policy/*, not sys/policies


def test_a_delegated_request_uses_the_subjects_baseline_and_the_actors_ceiling(world):
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, authorization_details=READ_REPORTER)
    assert world.as_agent(token).get("sys/policy/policy-reader").status_code == 200
    # The human has no policy-reader any more: the agent's own policies do not count in delegation.
    world.client.post(f"identity/entity/id/{world.human}", json={"policies": []})
    assert world.as_agent(token).get("sys/policy/policy-reader").status_code == 403


def test_a_delegated_request_needs_the_actor_to_be_registered(world):
    world.client.delete(f"agent-registry/registration/id/{world.registration}")
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, authorization_details=READ_REPORTER)
    assert world.as_agent(token).get("sys/policy/policy-reader").json() == DENIED


def test_a_direct_request_by_an_unregistered_subject_is_refused(world):
    token = world.mint(sub="alice", authorization_details=READ_REPORTER)
    resp = world.as_agent(token).get("sys/policy/policy-reader")
    assert resp.status_code == 403 and resp.json() == DENIED


def test_deleting_the_registration_is_enforced_on_the_next_request(world):
    token = world.mint(authorization_details=READ_REPORTER)
    agent = world.as_agent(token)
    assert agent.get("sys/policy/policy-reader").status_code == 200
    world.client.delete(f"agent-registry/registration/id/{world.registration}")
    assert agent.get("sys/policy/policy-reader").json() == DENIED


def test_narrowing_the_ceiling_is_enforced_on_the_next_request(world):
    agent = world.as_agent(world.mint(authorization_details=READ_REPORTER))
    assert agent.get("sys/policy/policy-reader").status_code == 200
    world.client.post("sys/policies/acl/agent-ceiling", json={"policy": 'path "nothing" { capabilities = ["read"] }'})
    assert agent.get("sys/policy/policy-reader").json() == DENIED


def test_disabling_the_profile_or_the_entity_is_enforced_on_the_next_request(world):
    agent = world.as_agent(world.mint(authorization_details=READ_REPORTER))
    assert agent.get("sys/policy/policy-reader").status_code == 200
    world.client.post(f"identity/entity/id/{world.agent}", json={"disabled": True})
    assert agent.get("sys/policy/policy-reader").json() == DENIED
    world.client.post(f"identity/entity/id/{world.agent}", json={"disabled": False})
    assert agent.get("sys/policy/policy-reader").status_code == 200
    world.client.post(f"sys/config/oauth-resource-server/{world.profile}", json={"enabled": False})
    assert agent.get("sys/policy/policy-reader").json() == DENIED


def test_removing_the_signing_key_is_enforced_on_the_next_request(world):
    from security import jwt_forge

    agent = world.as_agent(world.mint("p256", authorization_details=READ_REPORTER))
    assert agent.get("sys/policy/policy-reader").status_code == 200
    keys = [{"key_id": "rsa", "pem": jwt_forge.public_pem("rsa")}]
    world.client.post(f"sys/config/oauth-resource-server/{world.profile}", json={"public_keys": keys})
    assert agent.get("sys/policy/policy-reader").json() == DENIED


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"aud": "https://someone-else.example"},
        {"iss": "https://unknown-issuer.example"},
        {"sub": "nobody"},
        {"jti": None},
        {"authorization_details": {"type": "vault:path_access"}},
    ],
)
def test_bad_tokens_get_only_permission_denied(world, claims):
    resp = world.as_agent(world.mint(**{"authorization_details": READ_REPORTER, **claims})).get(
        "sys/policy/policy-reader"
    )
    assert resp.status_code == 403 and resp.json() == DENIED


def test_a_token_signed_by_another_key_is_refused(world):
    from security import jwt_forge

    forged = jwt_forge.token(
        "rsa_attacker",
        head=jwt_forge.header("RS256", kid="rsa"),
        payload=jwt_forge.claims(int(time.time()), iss=ISSUER, aud=AUDIENCE, sub="agent-bot"),
    )
    assert world.as_agent(forged).get("sys/policy/policy-reader").json() == DENIED


def test_a_token_is_only_valid_in_its_profiles_namespace(world, root):
    token = world.mint(authorization_details=READ_REPORTER)
    assert root.with_token(token).get("sys/policy/policy-reader").json() == DENIED


def test_lookup_self_describes_the_ephemeral_token_when_every_layer_allows_it(api):
    world = build(api, ceiling=["agent-ceiling", "introspect"])
    api.post(
        "sys/policies/acl/introspect", json={"policy": 'path "auth/token/lookup-self" { capabilities = ["read"] }'}
    )
    token = world.mint(authorization_details=[rar("auth/token/lookup-self", "read")])
    resp = world.as_agent(token).get("auth/token/lookup-self")
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["entity_id"] == world.agent and data["id"] == token
    assert data["display_name"].startswith("JWT Token with Unique Identifier: ")
    assert data["policies"] == ["default", "policy-reader"] and data["renewable"] is False
    assert 0 < data["ttl"] <= 300


# -- a real secret behind the three layers ---------------------------------------------------------------


@pytest.fixture
def kv_world(api):
    world = build(api, ceiling=["kv-ceiling"])
    api.post("sys/policies/acl/kv-team", json={"policy": 'path "secret/data/shared-secret/*" '
                                               '{ capabilities = ["create", "read", "update"] }'})  # fmt: skip
    api.post("sys/policies/acl/kv-ceiling", json={"policy": 'path "secret/data/shared-secret/*" '
                                                  '{ capabilities = ["create", "read", "update"] }'})  # fmt: skip
    api.post(f"identity/entity/id/{world.agent}", json={"policies": ["kv-team"]})
    return world


def test_the_rar_worked_example_first_write_is_create_and_the_second_is_update(kv_world):
    """DECISIONS.md#d36: RAR ["create","read"] lets the first write of a new key through and refuses the next."""
    token = kv_world.mint(authorization_details=[rar("secret/data/shared-secret/foo", "create", "read")])
    agent = kv_world.as_agent(token)
    first = agent.post("secret/data/shared-secret/foo", json={"data": {"v": 1}})
    assert first.status_code == 200, first.text
    second = agent.post("secret/data/shared-secret/foo", json={"data": {"v": 2}})
    assert second.status_code == 403 and second.json()["errors"] == RAR_NO_MATCH
    read = agent.get("secret/data/shared-secret/foo")
    assert read.status_code == 200 and read.json()["data"]["data"] == {"v": 1}


def test_an_agent_reads_a_secret_only_inside_every_layer(kv_world):
    kv_world.client.post("secret/data/shared-secret/db", json={"data": {"password": "s3cret"}})
    kv_world.client.post("secret/data/other/db", json={"data": {"password": "nope"}})
    token = kv_world.mint(authorization_details=[rar("secret/data/shared-secret/*", "read")])
    agent = kv_world.as_agent(token)
    assert agent.get("secret/data/shared-secret/db").json()["data"]["data"] == {"password": "s3cret"}
    denied = agent.get("secret/data/other/db")
    assert denied.status_code == 403 and denied.json() == DENIED  # baseline and ceiling stop it first
    write = agent.post("secret/data/shared-secret/db", json={"data": {"password": "changed"}})
    assert write.status_code == 403 and write.json()["errors"] == RAR_NO_MATCH


def test_tokens_of_one_agent_with_different_authorization_details_are_decided_separately(world):
    allowed = world.as_agent(world.mint(authorization_details=READ_REPORTER))
    assert allowed.get("sys/policy/policy-reader").status_code == 200
    other = world.as_agent(world.mint(authorization_details=[rar("sys/policy/default", "read")]))
    resp = other.get("sys/policy/policy-reader")
    assert resp.status_code == 403 and resp.json()["errors"] == RAR_NO_MATCH
    assert other.get("sys/policy/default").status_code == 200
    assert allowed.get("sys/policy/default").json()["errors"] == RAR_NO_MATCH


def _decisions(root, decision: str, layer: str, reason: str) -> float:
    """The agent-decision counter for one label set, summed over the server's workers."""
    text = root.get("sys/metrics", params={"format": "prometheus"}).text
    line = f'vaultguard_agent_decisions_total{{decision="{decision}",layer="{layer}",reason="{reason}"}} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def test_every_agent_decision_is_counted_by_outcome_layer_and_reason(world, root):
    allowed, denied = ("allow", "", "allowed"), ("deny", "rar", "rar_no_match")
    before = [_decisions(root, *labels) for labels in (allowed, denied)]
    agent = world.as_agent(world.mint(authorization_details=READ_REPORTER))
    assert agent.get("sys/policy/policy-reader").status_code == 200
    assert agent.get("sys/policy/policy-reader").status_code == 200
    assert agent.get("sys/policy/default").status_code == 403
    after = [_decisions(root, *labels) for labels in (allowed, denied)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1]
