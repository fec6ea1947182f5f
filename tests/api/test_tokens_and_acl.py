"""Admin tokens and ACL enforcement on every admin endpoint (DECISIONS.md#d27, #d39–#d44, #d5, #d17)."""

from __future__ import annotations

import time

import pytest
import requests
from api_objects import (
    PERMISSION_DENIED,
    RFC3339_UTC,
    child_token,
    create_entity,
    create_profile,
    errors,
    jwks_profile,
    put_policy,
    registration,
)

NARROW = """
path "agent-registry/registration/id/*"       { capabilities = ["read"] }
path "agent-registry/registration/display-name" { capabilities = ["list"] }
path "sys/config/oauth-resource-server/*"     { capabilities = ["read"] }
path "identity/entity/id/*"                   { capabilities = ["read", "update"] }
path "sys/policies/acl/narrow"                { capabilities = ["read"] }
"""


@pytest.fixture
def world(api):
    """One of each object, and a token holding only the `narrow` policy (plus `default`)."""
    put_policy(api, "narrow", NARROW)
    record = registration(api, display_name="agent-1")
    profile = create_profile(api, "idp", **jwks_profile("https://idp.example.com"))
    return {
        "reg": record["id"],
        "entity": record["entity_id"],
        "entity_name": api.get(f"identity/entity/id/{record['entity_id']}").json()["data"]["name"],
        "config_id": profile["config_id"],
        "token": api.with_token(child_token(api, ["narrow"])),
    }


# (method, path template, body, expected status) for a token holding only NARROW + default.
NARROW_TABLE = [
    ("GET", "agent-registry/registration/id/{reg}", None, 200),
    ("GET", "agent-registry/registration/display-name/agent-1", None, 403),
    ("GET", "agent-registry/registration/entity-id/{entity}", None, 403),
    ("LIST", "agent-registry/registration/id", None, 403),
    ("LIST", "agent-registry/registration/display-name", None, 200),
    ("POST", "agent-registry/register", {"display_name": "x", "entity_id": "{entity}"}, 403),
    ("POST", "agent-registry/registration/id/{reg}", {"entity_id": "{entity}"}, 403),
    ("POST", "agent-registry/registration/display-name/agent-1", {"entity_id": "{entity}"}, 403),
    ("DELETE", "agent-registry/registration/id/{reg}", None, 403),
    ("DELETE", "agent-registry/registration/display-name/agent-1", None, 403),
    ("GET", "sys/config/oauth-resource-server/idp", None, 200),
    ("GET", "sys/config/oauth-resource-server/id/{config_id}", None, 200),
    ("LIST", "sys/config/oauth-resource-server", None, 403),
    ("POST", "sys/config/oauth-resource-server/idp", {"enabled": False}, 403),
    ("POST", "sys/config/oauth-resource-server/new", jwks_profile(), 403),
    ("DELETE", "sys/config/oauth-resource-server/idp", None, 403),
    ("GET", "identity/entity/id/{entity}", None, 200),
    ("POST", "identity/entity/id/{entity}", {"metadata": {"k": "v"}}, 200),
    ("DELETE", "identity/entity/id/{entity}", None, 403),
    ("GET", "identity/entity/name/{entity_name}", None, 403),
    ("LIST", "identity/entity/id", None, 403),
    ("POST", "identity/entity", {"name": "new"}, 403),
    ("POST", "identity/entity-alias", {"name": "a", "canonical_id": "{entity}"}, 403),
    ("LIST", "identity/entity-alias/id", None, 403),
    ("GET", "sys/policies/acl/narrow", None, 200),
    ("GET", "sys/policies/acl/default", None, 403),
    ("LIST", "sys/policies/acl", None, 403),
    ("GET", "sys/policy/narrow", None, 403),
    ("POST", "sys/policies/acl/narrow", {"policy": 'path "x" { capabilities = ["read"] }'}, 403),
    ("DELETE", "sys/policies/acl/narrow", None, 403),
    ("POST", "sys/namespaces/child", None, 403),
    ("LIST", "sys/namespaces", None, 403),
    ("GET", "sys/metrics", None, 403),
    ("POST", "auth/token/create", {}, 403),
    ("GET", "auth/token/lookup-self", None, 200),
    ("POST", "sys/capabilities-self", {"paths": ["x"]}, 200),
]


def _fill(value, world):  # noqa: ANN001, ANN202
    if isinstance(value, str):
        for key in ("reg", "entity", "entity_name", "config_id"):
            value = value.replace("{" + key + "}", world[key])
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    NARROW_TABLE,
    ids=lambda v: ",".join(sorted(v)) if isinstance(v, dict) else str(v)[:60],  # stable: bodies hold random names
)
def test_a_narrow_token_can_do_exactly_what_its_policy_allows(world, method, path, body, expected):
    resp = world["token"].request(method, _fill(path, world), json=_fill(body, world))
    assert resp.status_code == expected, resp.text
    if expected == 403:
        assert resp.json() == PERMISSION_DENIED


def test_a_refused_write_changes_nothing(api, world):
    before = api.get(f"agent-registry/registration/id/{world['reg']}").json()["data"]
    world["token"].post(f"agent-registry/registration/id/{world['reg']}", json={"entity_id": world["entity"]})
    world["token"].delete(f"agent-registry/registration/id/{world['reg']}")
    assert api.get(f"agent-registry/registration/id/{world['reg']}").json()["data"] == before


def test_an_explicit_deny_beats_a_broader_grant(api, world):
    put_policy(api, "deny-one", f'path "agent-registry/registration/id/{world["reg"]}" {{ capabilities = ["deny"] }}')
    token = api.with_token(child_token(api, ["narrow", "deny-one"]))
    assert token.get(f"agent-registry/registration/id/{world['reg']}").status_code == 403
    assert token.get("sys/policies/acl/narrow").status_code == 200


def test_a_policy_change_applies_to_existing_tokens_at_once(api, world):
    path = f"agent-registry/registration/id/{world['reg']}"
    assert world["token"].get(path).status_code == 200
    put_policy(api, "narrow", 'path "sys/policies/acl/narrow" { capabilities = ["read"] }')
    assert world["token"].get(path).status_code == 403
    api.delete("sys/policies/acl/narrow")
    assert world["token"].get("sys/policies/acl/narrow").status_code == 403


# -- create versus update -----------------------------------------------------------------------------------


def _token_with(api, name, text):  # noqa: ANN001, ANN202
    put_policy(api, name, text)
    return api.with_token(child_token(api, [name]))


def test_create_on_register_allows_new_registrations_but_not_updates(api):
    token = _token_with(api, "reg-create", 'path "agent-registry/register" { capabilities = ["create"] }')
    entity = create_entity(api)
    created = token.post("agent-registry/register", json={"display_name": "mine", "entity_id": entity})
    assert created.status_code == 200, created.text
    reg_id = created.json()["data"]["id"]
    update = token.post("agent-registry/register", json={"id": reg_id, "display_name": "mine", "entity_id": entity})
    assert update.status_code == 403
    assert update.json() == PERMISSION_DENIED


def test_update_on_register_allows_updates_but_not_new_registrations(api):
    token = _token_with(api, "reg-update", 'path "agent-registry/register" { capabilities = ["update"] }')
    record = registration(api, display_name="theirs")
    new = token.post("agent-registry/register", json={"display_name": "new", "entity_id": create_entity(api)})
    assert new.status_code == 403
    update = token.post(
        "agent-registry/register",
        json={"id": record["id"], "display_name": "theirs", "entity_id": record["entity_id"]},
    )
    assert update.status_code == 200, update.text


def test_create_on_profiles_allows_a_new_profile_but_not_rewriting_it(api):
    token = _token_with(api, "prof-create", 'path "sys/config/oauth-resource-server/*" { capabilities = ["create"] }')
    assert token.post("sys/config/oauth-resource-server/p1", json=jwks_profile()).status_code == 204
    rewrite = token.post("sys/config/oauth-resource-server/p1", json={"enabled": False})
    assert rewrite.status_code == 403


def test_create_on_entity_names_allows_creating_but_not_updating(api):
    token = _token_with(api, "ent-create", 'path "identity/entity/name/*" { capabilities = ["create"] }')
    assert token.post("identity/entity/name/fresh", json={}).status_code == 200
    assert token.post("identity/entity/name/fresh", json={"policies": ["x"]}).status_code == 403


def test_create_on_policies_allows_a_new_policy_but_not_overwriting(api):
    token = _token_with(api, "pol-create", 'path "sys/policies/acl/*" { capabilities = ["create"] }')
    text = 'path "x" { capabilities = ["read"] }'
    assert token.post("sys/policies/acl/brand-new", json={"policy": text}).status_code == 204
    assert token.post("sys/policies/acl/brand-new", json={"policy": text}).status_code == 403


def test_parameter_constraints_apply_to_registry_writes(api):
    token = _token_with(
        api,
        "no-opt-out",
        'path "agent-registry/register" {\n  capabilities = ["create"]\n'
        '  denied_parameters = { "no_default_ceiling_policy" = [] }\n}',
    )
    refused = token.post(
        "agent-registry/register",
        json={"display_name": "a", "entity_id": create_entity(api), "no_default_ceiling_policy": True},
    )
    assert refused.status_code == 403
    allowed = token.post("agent-registry/register", json={"display_name": "b", "entity_id": create_entity(api)})
    assert allowed.status_code == 200, allowed.text


# -- presenting a token -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "hvs.not-a-real-token", "root"])
def test_a_missing_or_unknown_token_is_403_permission_denied(api, token):
    for method, path in (("GET", "sys/policies/acl/default"), ("LIST", "agent-registry/registration/id")):
        resp = api.with_token(token).request(method, path)
        assert resp.status_code == 403
        assert resp.json() == PERMISSION_DENIED


def test_a_bearer_authorization_header_works_like_x_vault_token(api):
    resp = requests.get(
        f"{api.url}/v1/sys/policies/acl/default",
        headers={"Authorization": f"Bearer {api.token}", "X-Vault-Namespace": api.namespace},
        timeout=10,
    )
    assert resp.status_code == 200


@pytest.mark.parametrize("header", ["X-Vault-Token", "Authorization"])
def test_a_token_header_over_8192_bytes_is_400(api, header):
    token = "x" * 8193
    value = token if header == "X-Vault-Token" else f"Bearer {token}"
    resp = requests.get(f"{api.url}/v1/auth/token/lookup-self", headers={header: value}, timeout=10)
    assert resp.status_code == 400
    assert errors(resp) == ["authentication token is larger than the maximum allowed size of 8192 bytes"]


def test_a_token_of_exactly_8192_bytes_is_only_unknown(api):
    resp = api.with_token("x" * 8192).get("auth/token/lookup-self")
    assert resp.status_code == 403


def test_a_token_works_in_its_namespace_and_below_but_not_above(api, root, server):
    put_policy(
        api,
        "reader",
        'path "sys/policies/acl/*" { capabilities = ["read"] }\n'
        'path "child/sys/policies/acl/*" { capabilities = ["read"] }',
    )
    token = child_token(api, ["reader"])
    api.post("sys/namespaces/child")
    assert api.with_token(token).get("sys/policies/acl/reader").status_code == 200
    assert (
        server.client(namespace=f"{api.namespace}/child", token=token).get("sys/policies/acl/default").status_code
        == 200
    )
    assert server.client(token=token).get(f"{api.namespace}/sys/policies/acl/reader").status_code == 200
    assert server.client(token=token).get("sys/policies/acl/default").status_code == 403


# -- token lifecycle ----------------------------------------------------------------------------------------

LOOKUP_FIELDS = {
    "accessor", "creation_time", "creation_ttl", "display_name", "entity_id", "expire_time",
    "explicit_max_ttl", "id", "issue_time", "meta", "num_uses", "orphan", "path", "policies", "renewable",
    "ttl", "type",
}  # fmt: skip


def test_lookup_self_describes_a_child_token(api):
    put_policy(api, "reader", 'path "x" { capabilities = ["read"] }')
    resp = api.post(
        "auth/token/create",
        json={"policies": ["reader"], "ttl": "1h", "display_name": "ci", "meta": {"k": "v"}},
    )
    assert resp.status_code == 200
    auth = resp.json()["auth"]
    assert auth["policies"] == ["default", "reader"] and auth["lease_duration"] == 3600
    data = api.with_token(auth["client_token"]).get("auth/token/lookup-self").json()["data"]
    assert LOOKUP_FIELDS <= set(data)
    assert data["id"] == auth["client_token"]
    assert data["accessor"] == auth["accessor"]
    assert data["policies"] == ["default", "reader"]
    assert data["display_name"] == "token-ci"
    assert data["meta"] == {"k": "v"}
    assert data["path"] == "auth/token/create"
    assert data["type"] == "service"
    assert data["orphan"] is False
    assert data["creation_ttl"] == 3600
    assert 3590 <= data["ttl"] <= 3600
    assert RFC3339_UTC.match(data["expire_time"]) and RFC3339_UTC.match(data["issue_time"])
    assert data["namespace_path"] == api.namespace + "/"


def test_lookup_self_describes_the_root_token(root):
    data = root.get("auth/token/lookup-self").json()["data"]
    assert data["policies"] == ["root"]
    assert data["expire_time"] is None and data["ttl"] == 0
    assert data["path"] == "auth/token/root"


def test_a_child_token_cannot_get_policies_its_parent_lacks(api):
    put_policy(api, "minter", 'path "auth/token/create" { capabilities = ["update"] }')
    put_policy(api, "other", 'path "x" { capabilities = ["read"] }')
    parent = api.with_token(child_token(api, ["minter"]))
    same = parent.post("auth/token/create", json={"policies": ["minter"]})
    assert same.status_code == 200
    assert same.json()["auth"]["policies"] == ["default", "minter"]
    inherited = parent.post("auth/token/create", json={})
    assert inherited.json()["auth"]["policies"] == ["default", "minter"]
    wider = parent.post("auth/token/create", json={"policies": ["minter", "other"]})
    assert wider.status_code == 400
    assert errors(wider) == ["policies: child policies must be a subset of the parent's; not allowed: other"]
    root_policy = parent.post("auth/token/create", json={"policies": ["root"]})
    assert root_policy.status_code == 400
    orphan = parent.post("auth/token/create", json={"no_parent": True})
    assert orphan.status_code == 400
    assert errors(orphan) == ["no_parent: only a root token may create orphan tokens"]


def test_a_child_token_never_outlives_its_parent(api):
    put_policy(api, "minter", 'path "auth/token/create" { capabilities = ["update"] }')
    parent = api.with_token(child_token(api, ["minter"], ttl="1h"))
    child = parent.post("auth/token/create", json={"ttl": "10h"}).json()["auth"]
    assert 3590 <= child["lease_duration"] <= 3600


def test_revoke_self_makes_the_token_and_its_children_useless(api):
    put_policy(api, "minter", 'path "auth/token/create" { capabilities = ["update"] }')
    parent_token = child_token(api, ["minter"])
    parent = api.with_token(parent_token)
    grandchild = api.with_token(parent.post("auth/token/create", json={}).json()["auth"]["client_token"])
    assert grandchild.get("auth/token/lookup-self").status_code == 200
    assert parent.post("auth/token/revoke-self").status_code == 204
    assert parent.get("auth/token/lookup-self").json() == PERMISSION_DENIED
    assert grandchild.get("auth/token/lookup-self").status_code == 403


def test_root_can_look_up_and_revoke_another_token(api):
    token = child_token(api, ["default"])
    looked_up = api.post("auth/token/lookup", json={"token": token})
    assert looked_up.status_code == 200 and looked_up.json()["data"]["id"] == token
    assert api.post("auth/token/revoke", json={"token": token}).status_code == 204
    assert api.with_token(token).get("auth/token/lookup-self").status_code == 403
    gone = api.post("auth/token/lookup", json={"token": token})
    assert gone.status_code == 400 and errors(gone) == ["bad token"]


def test_an_expired_token_is_refused(api):
    token = api.with_token(child_token(api, ["default"], ttl=1))
    assert token.get("auth/token/lookup-self").status_code == 200
    time.sleep(1.1)
    resp = token.get("auth/token/lookup-self")
    assert resp.status_code == 403
    assert resp.json() == PERMISSION_DENIED


def test_a_limited_use_token_stops_working_after_its_uses(api):
    token = api.with_token(child_token(api, ["default"], num_uses=2))
    assert token.get("auth/token/lookup-self").status_code == 200
    assert token.get("auth/token/lookup-self").status_code == 200
    assert token.get("auth/token/lookup-self").status_code == 403


def test_a_refused_request_still_uses_up_a_limited_use(api):
    token = api.with_token(child_token(api, ["default"], num_uses=2))
    assert token.get("sys/policies/acl/default").status_code == 403
    assert token.get("auth/token/lookup-self").status_code == 200
    assert token.get("auth/token/lookup-self").status_code == 403


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"num_uses": -1}, "num_uses: must not be negative"),
        ({"type": "batch"}, 'type: only "service" tokens are supported'),
        (
            {"id": "my-own-token"},
            "id: choosing a token's value is not supported; tokens are always generated",
        ),
        ({"ttl": "soon"}, 'field "ttl": invalid duration "soon"'),
    ],
)
def test_token_create_refuses_bad_fields(api, fields, message):
    resp = api.post("auth/token/create", json=fields)
    assert resp.status_code == 400
    assert errors(resp) == [message]


# -- capabilities-self --------------------------------------------------------------------------------------


def test_capabilities_self_reports_each_path(api, world):
    reg_path = f"agent-registry/registration/id/{world['reg']}"
    resp = world["token"].post(
        "sys/capabilities-self", json={"paths": [reg_path, "identity/entity/id/x", "sys/metrics"]}
    )
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data[reg_path] == ["read"]
    assert data["identity/entity/id/x"] == ["read", "update"]
    assert data["sys/metrics"] == ["deny"]


def test_capabilities_self_for_one_path_also_answers_capabilities(api, world):
    resp = world["token"].post("sys/capabilities-self", json={"path": "sys/policies/acl/narrow"})
    assert resp.json()["data"]["capabilities"] == ["read"]
    assert resp.json()["capabilities"] == ["read"]


def test_capabilities_self_for_root_is_root(api):
    resp = api.post("sys/capabilities-self", json={"paths": ["anything"]})
    assert resp.json()["data"] == {"anything": ["root"], "capabilities": ["root"]}


# -- LIST is only a collection operation --------------------------------------------------------------------

ITEM_PATHS = [
    "agent-registry/registration/id/mine",
    "agent-registry/registration/display-name/mine",
    "identity/entity/id/mine",
    "identity/entity/name/mine",
    "identity/entity-alias/id/mine",
    "sys/config/oauth-resource-server/mine",
    "sys/policies/acl/mine",
    "sys/policy/mine",
]


@pytest.mark.parametrize("path", ITEM_PATHS)
def test_list_on_a_single_object_path_is_an_unsupported_operation(api, world, path):
    for resp in (api.list(path), api.get(path, params={"list": "true"})):
        assert resp.status_code == 405, resp.text
        assert errors(resp) == ["1 error occurred:\n\t* unsupported operation\n\n"]


@pytest.mark.parametrize("path", ITEM_PATHS)
def test_list_granted_below_an_object_path_does_not_list_the_whole_collection(api, world, path):
    token = _token_with(api, "sub-list", f'path "{path}/*" {{ capabilities = ["list"] }}')
    resp = token.list(path)
    assert resp.status_code in (403, 405), resp.text
    assert "keys" not in resp.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("agent-registry/register", {"display_name": 7, "entity_id": []}),
        ("sys/policies/acl/x", {"policy": "path {"}),
        ("identity/entity", {"policies": {"not": "a list"}}),
        ("sys/config/oauth-resource-server/p", {"use_jwks": "maybe"}),
        ("auth/token/create", {"ttl": "forever"}),
    ],
)
def test_a_caller_without_rights_gets_403_before_any_field_is_judged(api, path, body):
    """Vault authorizes before the handler parses fields, so field errors never leak to unauthorized callers."""
    client = _token_with(api, "nothing-here", 'path "secret/*" { capabilities = ["read"] }')
    resp = client.post(path, json=body)
    assert resp.status_code == 403 and errors(resp) == ["permission denied"]


def test_token_ttls_are_capped_at_768_hours(api):
    resp = api.post("auth/token/create", json={"policies": ["default"], "ttl": "2000h"})
    assert resp.status_code == 200 and resp.json()["auth"]["lease_duration"] == 768 * 3600
