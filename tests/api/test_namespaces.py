"""Namespaces over HTTP: lifecycle, addressing and isolation (DECISIONS.md#d47, DECISIONS.md#d18)."""

from __future__ import annotations

import pytest
import requests
from api_objects import (
    PERMISSION_DENIED,
    create_entity,
    create_profile,
    errors,
    jwks_profile,
    put_policy,
    registration,
    unique,
)

from vaultguard.rules.names import RESERVED_NAMES


def test_a_namespace_is_created_read_and_listed(api, server):
    resp = api.post("sys/namespaces/team-a", json={"custom_metadata": {"owner": "ops"}})
    assert resp.status_code == 200
    created = resp.json()["data"]
    assert created["path"] == f"{api.namespace}/team-a/"
    assert created["custom_metadata"] == {"owner": "ops"}
    assert created["id"]
    read = api.get("sys/namespaces/team-a")
    assert read.status_code == 200
    assert read.json()["data"] == created
    listing = api.list("sys/namespaces")
    assert listing.status_code == 200
    assert listing.json()["data"]["keys"] == ["team-a/"]
    assert listing.json()["data"]["key_info"]["team-a/"] == created


def test_creating_an_existing_namespace_updates_its_metadata_only(api):
    first = api.post("sys/namespaces/team-a").json()["data"]
    again = api.post("sys/namespaces/team-a", json={"custom_metadata": {"k": "v"}})
    assert again.status_code == 200
    assert again.json()["data"] == {**first, "custom_metadata": {"k": "v"}}


def test_a_new_namespace_lists_no_children(api):
    assert api.list("sys/namespaces").status_code == 404


def test_reading_a_missing_namespace_is_404(api):
    assert api.get("sys/namespaces/nope").status_code == 404


def test_nested_namespaces_are_created_one_level_at_a_time(api, server):
    api.post("sys/namespaces/parent")
    parent = server.client(namespace=f"{api.namespace}/parent")
    resp = parent.post("sys/namespaces/child")
    assert resp.status_code == 200
    assert resp.json()["data"]["path"] == f"{api.namespace}/parent/child/"
    assert parent.list("sys/namespaces").json()["data"]["keys"] == ["child/"]
    assert api.list("sys/namespaces").json()["data"]["keys"] == ["parent/"]
    deep = api.post("sys/namespaces/a/b")
    assert deep.status_code == 400
    assert "must be a single namespace name" in errors(deep)[0]


# -- addressing ---------------------------------------------------------------------------------------------


def test_a_path_prefix_addresses_the_same_namespace_as_the_header(api, server):
    entity_id = create_entity(api, "alice")
    via_header = api.get(f"identity/entity/id/{entity_id}")
    bare = server.client()
    via_prefix = bare.get(f"{api.namespace}/identity/entity/id/{entity_id}")
    assert via_prefix.status_code == 200
    assert via_prefix.json()["data"] == via_header.json()["data"]


def test_a_path_prefix_is_relative_to_the_header_namespace(api, server):
    api.post("sys/namespaces/child")
    child = server.client(namespace=f"{api.namespace}/child")
    entity_id = create_entity(child, "in-child")
    resp = api.get(f"child/identity/entity/id/{entity_id}")
    assert resp.status_code == 200
    assert resp.json()["data"]["name"] == "in-child"


def test_writes_through_a_path_prefix_land_in_that_namespace(api, server):
    bare = server.client()
    resp = bare.post(
        f"{api.namespace}/sys/policies/acl/prefixed", json={"policy": 'path "x" { capabilities = ["read"] }'}
    )
    assert resp.status_code == 204
    assert api.get("sys/policies/acl/prefixed").status_code == 200
    assert bare.get("sys/policies/acl/prefixed").status_code == 404


def test_an_unknown_namespace_is_refused_like_a_bad_token(server):
    resp = server.client(namespace=unique("does-not-exist")).get("sys/policies/acl/default")
    assert resp.status_code == 403
    assert resp.json() == PERMISSION_DENIED


# -- isolation (DECISIONS.md#d18) --------------------------------------------------------------------------


def test_objects_in_a_parent_namespace_are_invisible_in_its_child(api, server):
    put_policy(api, "parent-only", 'path "x" { capabilities = ["read"] }')
    record = registration(api, display_name="parent-agent")
    profile = create_profile(api, "parent-profile", **jwks_profile("https://parent.example.com"))
    api.post("sys/namespaces/child")
    child = server.client(namespace=f"{api.namespace}/child")
    assert child.get("sys/policies/acl/parent-only").status_code == 404
    assert child.get(f"identity/entity/id/{record['entity_id']}").status_code == 404
    assert child.get(f"agent-registry/registration/id/{record['id']}").status_code == 404
    assert child.get("agent-registry/registration/display-name/parent-agent").status_code == 404
    assert child.get("sys/config/oauth-resource-server/parent-profile").status_code == 404
    assert child.get(f"sys/config/oauth-resource-server/id/{profile['config_id']}").status_code == 404
    assert child.list("agent-registry/registration/id").status_code == 404
    assert child.list("identity/entity/id").status_code == 404
    # …and a child may reuse every name and issuer of its parent.
    assert (
        child.post(
            "sys/config/oauth-resource-server/parent-profile", json=jwks_profile("https://parent.example.com")
        ).status_code
        == 204
    )
    assert registration(child, display_name="parent-agent")["entity_id"] != record["entity_id"]


def test_a_registration_cannot_reference_an_entity_of_another_namespace(api, server):
    api.post("sys/namespaces/child")
    child = server.client(namespace=f"{api.namespace}/child")
    parent_entity = create_entity(api)
    resp = child.post("agent-registry/register", json={"display_name": "x", "entity_id": parent_entity})
    assert resp.status_code == 400
    assert errors(resp) == [f'entity_id: no identity entity with id "{parent_entity}" in this namespace']


# -- delete -------------------------------------------------------------------------------------------------


def test_an_empty_namespace_is_deleted(api, server):
    api.post("sys/namespaces/empty")
    assert api.delete("sys/namespaces/empty").status_code == 204
    assert api.get("sys/namespaces/empty").status_code == 404
    gone = server.client(namespace=f"{api.namespace}/empty").get("sys/policies/acl/default")
    assert gone.status_code == 403


def test_custom_policies_do_not_keep_a_namespace_alive(api, server):
    api.post("sys/namespaces/with-policy")
    put_policy(server.client(namespace=f"{api.namespace}/with-policy"), "p", 'path "x" { capabilities = ["read"] }')
    assert api.delete("sys/namespaces/with-policy").status_code == 204


@pytest.mark.parametrize("content", ["entity", "profile", "registration"])
def test_a_namespace_holding_objects_is_not_deleted(api, server, content):
    api.post("sys/namespaces/busy")
    busy = server.client(namespace=f"{api.namespace}/busy")
    if content == "entity":
        create_entity(busy)
    elif content == "profile":
        create_profile(busy)
    else:
        registration(busy)
    resp = api.delete("sys/namespaces/busy")
    assert resp.status_code == 400
    assert errors(resp) == [
        f'namespace "{api.namespace}/busy/" is not empty: '
        "delete its entities, aliases, profiles and registrations first"
    ]
    assert api.get("sys/namespaces/busy").status_code == 200


def test_a_namespace_with_children_is_not_deleted(api, server):
    api.post("sys/namespaces/parent")
    server.client(namespace=f"{api.namespace}/parent").post("sys/namespaces/child")
    resp = api.delete("sys/namespaces/parent")
    assert resp.status_code == 400
    assert errors(resp) == [f'namespace "{api.namespace}/parent/" has child namespaces; delete them first']


def test_deleting_a_missing_namespace_is_204(api):
    assert api.delete("sys/namespaces/never").status_code == 204


# -- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sys", "identity", "agent-registry", "auth", "root", "audit"])
def test_reserved_names_are_refused(api, name):
    resp = api.post(f"sys/namespaces/{name}")
    assert resp.status_code in (400,)
    assert errors(resp) == [f'path: "{name}" is a reserved name ({", ".join(sorted(RESERVED_NAMES))})']


@pytest.mark.parametrize("name", ["-dash", "has space", "semi;colon", "x" * 65, "ünï"])
def test_invalid_names_are_refused(api, name):
    resp = api.post(f"sys/namespaces/{name}")
    assert resp.status_code == 400
    assert "is not a valid namespace name" in errors(resp)[0]


@pytest.mark.parametrize(
    "path", ["sys/namespaces/%2e%2e", "sys/namespaces/a/%2E%2E/b", "%2e%2e/sys/policies/acl/default"]
)
def test_dot_dot_segments_are_refused(api, path):
    resp = requests.post(
        f"{api.url}/v1/{path}",
        headers={"X-Vault-Token": api.token, "X-Vault-Namespace": api.namespace},
        timeout=10,
    )
    assert resp.status_code == 400
    assert errors(resp) == ["invalid request path: '.' and '..' segments are not allowed"]


@pytest.mark.parametrize("header", ["..", "a/../b", "./x"])
def test_dot_dot_segments_in_the_namespace_header_are_refused(api, header):
    resp = api.get("sys/policies/acl/default", headers={"X-Vault-Namespace": header})
    assert resp.status_code == 400
    assert errors(resp) == ["invalid request path: '.' and '..' segments are not allowed"]


def test_namespaces_cannot_nest_deeper_than_eight_levels(api, server):
    path = api.namespace
    for level in range(7):
        resp = server.client(namespace=path).post(f"sys/namespaces/l{level}")
        assert resp.status_code == 200, resp.text
        path += f"/l{level}"
    resp = server.client(namespace=path).post("sys/namespaces/too-deep")
    assert resp.status_code == 400
    assert errors(resp) == ["path: namespaces may be nested at most 8 levels deep"]


# -- deletion removes what the namespace holds (THREATS.md#t29) ---------------------------------------------


def _rows_of(server, namespace_ids: list[str]) -> dict[str, int]:
    """Rows left in the database for these namespaces, per table (read directly, not through the API)."""
    import sqlalchemy as sa

    from vaultguard.service.storage import tables as t
    from vaultguard.service.storage.engine import create_engine

    engine = create_engine(server.storage_url)
    try:
        with engine.connect() as conn:
            return {
                table.name: conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.namespace_id.in_(namespace_ids))
                ).scalar()
                for table in (t.kv_config, t.kv_keys, t.kv_versions, t.policies, t.tokens)
            }
    finally:
        engine.dispose()


def _fill_with_secrets(client) -> None:
    """Three secret versions under two keys, engine settings and a token."""
    assert client.post("secret/config", json={"max_versions": 5}).status_code in (200, 204)
    for value in ("one", "two"):
        assert client.post("secret/data/app/db", json={"data": {"password": value}}).status_code == 200
    assert client.post("secret/data/other", json={"data": {"k": "v"}}).status_code == 200
    assert client.post("auth/token/create", json={"policies": ["default"]}).status_code == 200


def _namespace_id(parent, name: str) -> str:
    resp = parent.get(f"sys/namespaces/{name}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def test_deleting_a_namespace_removes_its_secrets_in_the_database(api, server):
    api.post("sys/namespaces/vault-of-secrets")
    inner = server.client(namespace=f"{api.namespace}/vault-of-secrets")
    _fill_with_secrets(inner)
    ns_id = _namespace_id(api, "vault-of-secrets")
    before = _rows_of(server, [ns_id])
    assert before["kv_keys"] == 2 and before["kv_versions"] == 3 and before["kv_config"] == 1

    assert api.delete("sys/namespaces/vault-of-secrets").status_code == 204

    assert _rows_of(server, [ns_id]) == dict.fromkeys(before, 0)
    api.post("sys/namespaces/vault-of-secrets")  # a namespace of the same name starts empty
    assert inner.get("secret/data/app/db").status_code == 404


def test_nested_namespaces_holding_secrets_are_deleted_child_first(api, server):
    api.post("sys/namespaces/outer")
    outer = server.client(namespace=f"{api.namespace}/outer")
    outer.post("sys/namespaces/inner")
    inner = server.client(namespace=f"{api.namespace}/outer/inner")
    _fill_with_secrets(outer)
    _fill_with_secrets(inner)
    ids = [_namespace_id(api, "outer"), _namespace_id(outer, "inner")]

    refused = api.delete("sys/namespaces/outer")
    assert refused.status_code == 400 and "has child namespaces" in errors(refused)[0]
    assert _rows_of(server, ids)["kv_versions"] == 6  # nothing half-deleted

    assert outer.delete("sys/namespaces/inner").status_code == 204
    assert _rows_of(server, ids[1:]) == dict.fromkeys(_rows_of(server, ids[1:]), 0)
    assert _rows_of(server, ids[:1])["kv_versions"] == 3  # the parent's secrets are untouched
    assert outer.get("secret/data/app/db").json()["data"]["data"] == {"password": "two"}

    assert api.delete("sys/namespaces/outer").status_code == 204
    assert sum(_rows_of(server, ids).values()) == 0
