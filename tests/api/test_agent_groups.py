"""An agent request's baseline from the subject's groups (direct and nested), enforced on the next request
on every worker, with group templates; `vaultguard explain` names the group that granted."""

from __future__ import annotations

import pytest
from agent_world import build, rar
from api_objects import namespace_id, put_policy

TARGET = "sys/policy/target"
READ_TARGET = [rar(TARGET, "read")]
NEXT_REQUESTS = 4  # the shared server has two workers: several requests reach both


@pytest.fixture
def world(api):
    """An agent whose ceiling allows reading any policy, a human without policies of its own, and
    `target-reader`, which only a group will hand out."""
    put_policy(api, "wide-ceiling", 'path "sys/policy/*" { capabilities = ["read"] }')
    put_policy(api, "target-reader", f'path "{TARGET}" {{ capabilities = ["read"] }}')
    put_policy(api, "target", 'path "nothing" { capabilities = ["read"] }')
    world = build(api, ceiling=["wide-ceiling"])
    for entity in (world.human, world.agent):
        assert api.post(f"identity/entity/id/{entity}", json={"policies": []}).status_code == 200
    return world


def delegated(world, **claims):  # noqa: ANN001, ANN003, ANN201
    """A token for the human (subject) handed to the registered agent (actor)."""
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, authorization_details=READ_TARGET, **claims)
    return world.as_agent(token)


def statuses(client, path=TARGET):  # noqa: ANN001, ANN201
    return {client.get(path).status_code for _ in range(NEXT_REQUESTS)}


def group(api, name, **fields):  # noqa: ANN001, ANN003, ANN201
    resp = api.post("identity/group", json={"name": name, **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def test_a_direct_membership_grants_and_its_removal_is_enforced_on_the_next_request(world, api):
    agent = delegated(world)
    assert statuses(agent) == {403}
    team = group(api, "team", policies=["target-reader"], member_entity_ids=[world.human])
    assert statuses(agent) == {200}
    assert api.post(f"identity/group/id/{team}", json={"member_entity_ids": []}).status_code == 200
    assert statuses(agent) == {403}


def test_a_nested_membership_grants_at_any_depth_and_unnesting_is_enforced(world, api):
    agent = delegated(world)
    team = group(api, "team", member_entity_ids=[world.human])
    dept = group(api, "dept", member_group_ids=[team])
    org = group(api, "org", policies=["target-reader"], member_group_ids=[dept])
    assert statuses(agent) == {200}
    assert api.post(f"identity/group/id/{dept}", json={"member_group_ids": []}).status_code == 200
    assert statuses(agent) == {403}
    assert api.post(f"identity/group/id/{org}", json={"member_group_ids": [team]}).status_code == 200
    assert statuses(agent) == {200}
    assert api.post(f"identity/group/id/{org}", json={"policies": []}).status_code == 200
    assert statuses(agent) == {403}


def test_deleting_the_group_or_the_membership_entity_link_is_enforced(world, api):
    agent = delegated(world)
    team = group(api, "team", policies=["target-reader"], member_entity_ids=[world.human])
    assert statuses(agent) == {200}
    assert api.delete(f"identity/group/id/{team}").status_code == 204
    assert statuses(agent) == {403}


def test_the_baseline_is_the_subjects_groups_never_the_actors(world, api):
    group(api, "agents", policies=["target-reader"], member_entity_ids=[world.agent])
    assert statuses(delegated(world)) == {403}  # the actor's groups do not widen the subject's baseline


def test_in_the_direct_flow_the_agents_own_groups_count_and_its_ceiling_still_bounds(world, api):
    agent = world.as_agent(world.mint(authorization_details=READ_TARGET))  # the agent is the subject
    assert statuses(agent) == {403}
    group(api, "bots", policies=["target-reader"], member_entity_ids=[world.agent])
    assert statuses(agent) == {200}
    put_policy(api, "wide-ceiling", 'path "sys/policy/policy-reader" { capabilities = ["read"] }')
    assert statuses(agent) == {403}


def test_no_default_policy_on_the_profile_still_leaves_the_group_policies(world, api):
    put_policy(api, "default", f'path "{TARGET}" {{ capabilities = ["read"] }}')
    agent = delegated(world)
    assert statuses(agent) == {200}  # through `default`
    resp = api.post("sys/config/oauth-resource-server/agents-idp", json={"no_default_policy": True})
    assert resp.status_code in (200, 204), resp.text
    assert statuses(agent) == {403}
    group(api, "team", policies=["target-reader"], member_entity_ids=[world.human])
    assert statuses(agent) == {200}


def test_group_templates_render_names_ids_and_metadata(world, api):
    put_policy(
        api,
        "by-group",
        'path "sys/policy/{{identity.groups.names.team.metadata.policy}}" { capabilities = ["read"] }\n'
        'path "sys/policy/{{identity.groups.names.team.id}}" { capabilities = ["read"] }\n',
    )
    team = group(api, "team", policies=["by-group"], metadata={"policy": "target"}, member_entity_ids=[world.human])
    assert statuses(delegated(world)) == {200}
    assert api.post(f"identity/group/id/{team}", json={"metadata": {"policy": "other"}}).status_code == 200
    assert statuses(delegated(world)) == {403}
    put_policy(api, team, 'path "nothing" { capabilities = ["read"] }')
    by_id = world.as_agent(
        world.mint(sub="alice", act={"sub": "agent-bot"}, authorization_details=[rar(f"sys/policy/{team}", "read")])
    )
    assert statuses(by_id, f"sys/policy/{team}") == {200}


def test_the_group_ids_template_renders_the_group_name(world, api):
    team = group(api, "target", member_entity_ids=[world.human])
    put_policy(api, "by-id", f'path "sys/policy/{{{{identity.groups.ids.{team}.name}}}}" {{ capabilities = ["read"] }}')
    assert api.post(f"identity/group/id/{team}", json={"policies": ["by-id"]}).status_code == 200
    assert statuses(delegated(world)) == {200}
    assert api.post(f"identity/group/id/{team}", json={"name": "renamed"}).status_code == 200
    assert statuses(delegated(world)) == {403}


def test_explain_names_the_group_that_granted(world, api):
    team = group(api, "team", member_entity_ids=[world.human])
    group(api, "org", policies=["target-reader"], member_group_ids=[team])
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, authorization_details=READ_TARGET)
    resp = api.post("sys/authorize/explain", json={"token": token, "operation": "read", "path": TARGET})
    assert resp.status_code == 200, resp.text
    baseline = next(step for step in resp.json()["data"]["steps"] if step["layer"] == "baseline")
    assert baseline["policies"] == ["target-reader"]
    assert baseline["policy_sources"]["target-reader"] == ['group "org" (through "team")']
    assert [(g["name"], g["via"]) for g in baseline["groups"]] == [("org", 'through "team"'), ("team", "member")]


# -- groups from the token (the profile's groups_claim) ---------------------------------------------------------------


@pytest.fixture
def claimed(world, api, root):
    """The profile reads `groups`; the external group `idp-devs` (granting target-reader) is aliased `devs`
    on the profile's mount accessor."""
    resp = api.post("sys/config/oauth-resource-server/agents-idp", json={"groups_claim": "groups"})
    assert resp.status_code in (200, 204), resp.text
    config_id = api.get("sys/config/oauth-resource-server/agents-idp").json()["data"]["config_id"]
    accessor = f"oauth-resource-server_{namespace_id(root, api.namespace)}_{config_id}"
    devs = group(api, "idp-devs", type="external", policies=["target-reader"])
    alias = api.post("identity/group-alias", json={"name": "devs", "mount_accessor": accessor, "canonical_id": devs})
    assert alias.status_code == 200, alias.text
    return {"group": devs, "alias": alias.json()["data"]["id"], "accessor": accessor}


def test_a_claim_value_aliased_to_an_external_group_grants_its_policies(world, claimed):
    assert statuses(delegated(world, groups=["devs"])) == {200}
    assert statuses(delegated(world, groups=["ops", "devs"])) == {200}
    assert statuses(delegated(world, groups=["ops"])) == {403}
    assert statuses(delegated(world, groups=[])) == {403}
    assert statuses(delegated(world)) == {403}  # absent: no groups from the token


def test_in_the_direct_flow_the_agents_claim_counts(world, claimed):
    agent = world.as_agent(world.mint(groups=["devs"], authorization_details=READ_TARGET))
    assert statuses(agent) == {200}
    assert statuses(world.as_agent(world.mint(authorization_details=READ_TARGET))) == {403}


def test_only_the_subjects_claim_counts_never_the_actors(world, claimed):
    token = world.mint(sub="alice", act={"sub": "agent-bot", "groups": ["devs"]}, authorization_details=READ_TARGET)
    assert statuses(world.as_agent(token)) == {403}


def test_groups_containing_the_claimed_group_grant_too(world, api, claimed):
    api.post(f"identity/group/id/{claimed['group']}", json={"policies": []})
    group(api, "engineering", policies=["target-reader"], member_group_ids=[claimed["group"]])
    assert statuses(delegated(world, groups=["devs"])) == {200}


def test_removing_the_alias_or_the_claim_setting_is_enforced_on_the_next_request(world, api, claimed):
    assert statuses(delegated(world, groups=["devs"])) == {200}
    api.post("sys/config/oauth-resource-server/agents-idp", json={"groups_claim": ""})
    assert statuses(delegated(world, groups=["devs"])) == {403}
    api.post("sys/config/oauth-resource-server/agents-idp", json={"groups_claim": "groups"})
    assert statuses(delegated(world, groups=["devs"])) == {200}
    assert api.delete(f"identity/group-alias/id/{claimed['alias']}").status_code == 204
    assert statuses(delegated(world, groups=["devs"])) == {403}


@pytest.mark.parametrize(
    "value",
    ["devs", {"devs": True}, ["devs", 7], ["devs", ""], ["x" * 1025], [f"g{i}" for i in range(257)]],
    ids=["string", "object", "number", "empty", "long-value", "too-many"],
)
@pytest.mark.parametrize("flow", ["delegated", "direct"])
def test_a_malformed_or_oversized_claim_makes_the_token_invalid(world, api, claimed, value, flow):
    if flow == "delegated":
        token = world.mint(sub="alice", act={"sub": "agent-bot"}, groups=value, authorization_details=READ_TARGET)
    else:
        token = world.mint(groups=value, authorization_details=READ_TARGET)
    resp = world.as_agent(token).get(TARGET)
    assert resp.status_code == 403 and resp.json() == {"errors": ["permission denied"]}
    report = api.post("sys/authorize/explain", json={"token": token, "operation": "read", "path": TARGET})
    assert report.json()["data"]["reason"] == "groups_invalid"


def test_without_groups_claim_on_the_profile_the_claim_is_ignored_even_malformed(world, api):
    assert statuses(delegated(world, groups=["devs"])) == {403}
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, groups=7, authorization_details=READ_TARGET)
    report = api.post("sys/authorize/explain", json={"token": token, "operation": "read", "path": TARGET})
    assert report.json()["data"]["layer"] == "baseline"  # the token is valid: the baseline refuses


def test_explain_names_the_claim_value_that_granted(world, api, claimed):
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, groups=["devs"], authorization_details=READ_TARGET)
    resp = api.post("sys/authorize/explain", json={"token": token, "operation": "read", "path": TARGET})
    assert resp.status_code == 200 and resp.json()["data"]["allowed"] is True
    baseline = next(step for step in resp.json()["data"]["steps"] if step["layer"] == "baseline")
    assert baseline["policy_sources"]["target-reader"] == ['group "idp-devs" (groups claim "devs")']
