"""Identity entities and entity aliases over HTTP (DECISIONS.md#d46, DECISIONS.md#d11, DECISIONS.md#d19)."""

from __future__ import annotations

import pytest
from api_objects import (
    RFC3339_UTC,
    UUID,
    create_entity,
    create_profile,
    errors,
    jwks_profile,
    namespace_id,
    registration,
    unique,
)

ENTITY_READ_FIELDS = {
    "aliases", "creation_time", "direct_group_ids", "disabled", "group_ids", "id", "inherited_group_ids",
    "last_update_time", "merged_entity_ids", "metadata", "mfa_secrets", "name", "namespace_id", "policies",
}  # fmt: skip
ALIAS_READ_FIELDS = {
    "canonical_id", "creation_time", "custom_metadata", "external_id", "id", "issuer", "last_update_time",
    "local", "merged_from_canonical_ids", "metadata", "mount_accessor", "mount_path", "mount_type", "name",
    "namespace_id",
}  # fmt: skip
ISSUER = "https://login.example.com/tenant"


def read_entity(api, entity_id):  # noqa: ANN001, ANN201
    resp = api.get(f"identity/entity/id/{entity_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def create_alias(api, **fields):  # noqa: ANN001, ANN201
    return api.post("identity/entity-alias", json=fields)


@pytest.fixture
def oauth(api, root):
    """A profile trusting ISSUER in the test namespace, and the alias mount accessor it implies."""
    profile = create_profile(api, "idp", **jwks_profile(ISSUER))
    ns_id = namespace_id(root, api.namespace)
    return {
        "config_id": profile["config_id"],
        "accessor": f"oauth-resource-server_{ns_id}_{profile['config_id']}",
    }


# -- entities -----------------------------------------------------------------------------------------------


def test_creating_an_entity_returns_its_id_and_no_aliases(api):
    resp = api.post("identity/entity", json={"name": "alice"})
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert UUID.match(data["id"])
    assert data["aliases"] is None
    assert data["name"] == "alice"


def test_an_entity_reads_with_vaults_shape_by_id_and_by_name(api, root):
    entity_id = create_entity(api, "alice", policies=["ops", "Dev"], metadata={"team": "a"})
    data = read_entity(api, entity_id)
    assert set(data) == ENTITY_READ_FIELDS
    assert data["name"] == "alice"
    assert data["policies"] == ["ops", "dev"]
    assert data["metadata"] == {"team": "a"}
    assert data["disabled"] is False
    assert data["aliases"] == []
    assert data["namespace_id"] == namespace_id(root, api.namespace)
    assert RFC3339_UTC.match(data["creation_time"]) and data["last_update_time"] == data["creation_time"]
    by_name = api.get("identity/entity/name/alice")
    assert by_name.status_code == 200
    assert by_name.json()["data"] == data


def test_an_entity_without_a_name_gets_entity_dash_its_id(api):
    data = api.post("identity/entity", json={}).json()["data"]
    assert data["name"] == f"entity-{data['id']}"


def test_entity_names_are_unique(api):
    create_entity(api, "alice")
    resp = api.post("identity/entity", json={"name": "alice"})
    assert resp.status_code == 400
    assert errors(resp) == ['name: an entity named "alice" already exists']


def test_an_entity_cannot_hold_the_root_policy(api):
    resp = api.post("identity/entity", json={"name": "x", "policies": ["root"]})
    assert resp.status_code == 400
    assert errors(resp) == ['policies: "root" cannot be assigned to an entity']


@pytest.mark.parametrize("how", ["id-route", "entity-with-id", "name-route"])
def test_an_entity_update_changes_only_the_fields_sent(api, how):
    entity_id = create_entity(api, "bob", policies=["p1"], metadata={"k": "v"})
    before = read_entity(api, entity_id)
    body = {"disabled": True}
    if how == "id-route":
        resp = api.post(f"identity/entity/id/{entity_id}", json=body)
    elif how == "entity-with-id":
        resp = api.post("identity/entity", json={"id": entity_id, **body})
    else:
        resp = api.post("identity/entity/name/bob", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["id"] == entity_id
    after = read_entity(api, entity_id)
    assert after == {**before, "disabled": True, "last_update_time": after["last_update_time"]}


def test_writing_empty_policies_clears_them(api):
    entity_id = create_entity(api, policies=["p1", "p2"])
    assert api.post(f"identity/entity/id/{entity_id}", json={"policies": ""}).status_code == 200
    assert read_entity(api, entity_id)["policies"] == []


def test_an_entity_can_be_renamed_by_id_unless_the_name_is_taken(api):
    create_entity(api, "taken")
    entity_id = create_entity(api, "old")
    assert api.post(f"identity/entity/id/{entity_id}", json={"name": "new"}).status_code == 200
    assert read_entity(api, entity_id)["name"] == "new"
    resp = api.post(f"identity/entity/id/{entity_id}", json={"name": "taken"})
    assert resp.status_code == 400
    assert errors(resp) == ['name: an entity named "taken" already exists']


def test_post_by_name_creates_the_entity_then_updates_it(api):
    created = api.post("identity/entity/name/carol", json={"policies": ["p1"]})
    assert created.status_code == 200
    entity_id = created.json()["data"]["id"]
    updated = api.post("identity/entity/name/carol", json={"policies": ["p2"]})
    assert updated.json()["data"]["id"] == entity_id
    assert read_entity(api, entity_id)["policies"] == ["p2"]


def test_updating_an_entity_id_that_does_not_exist_is_404(api):
    for path, body in (
        ("identity/entity/id/missing", {"policies": ["x"]}),
        ("identity/entity", {"id": "missing"}),
    ):
        resp = api.post(path, json=body)
        assert resp.status_code == 404
        assert errors(resp) == ['entity with id "missing" not found']


def test_reading_a_missing_entity_is_404(api):
    assert api.get("identity/entity/id/missing").status_code == 404
    assert api.get("identity/entity/name/missing").status_code == 404


@pytest.mark.parametrize("style", ["LIST", "GET?list=true"])
def test_entities_list_by_id_and_by_name(api, style):
    a = create_entity(api, "a-entity")
    b = create_entity(api, "b-entity")

    def listing(path):  # noqa: ANN001, ANN202
        return api.list(path) if style == "LIST" else api.get(path, params={"list": "true"})

    by_id = listing("identity/entity/id")
    assert by_id.status_code == 200
    assert sorted(by_id.json()["data"]["keys"]) == sorted([a, b])
    assert by_id.json()["data"]["key_info"][a]["name"] == "a-entity"
    by_name = listing("identity/entity/name")
    assert by_name.status_code == 200
    assert by_name.json()["data"]["keys"] == ["a-entity", "b-entity"]


def test_an_empty_entity_list_is_404(api):
    assert api.list("identity/entity/id").status_code == 404
    assert api.list("identity/entity/name").status_code == 404


@pytest.mark.parametrize("route", ["id", "name"])
def test_an_entity_is_deleted_by_id_or_by_name(api, route):
    entity_id = create_entity(api, "doomed")
    key = entity_id if route == "id" else "doomed"
    assert api.delete(f"identity/entity/{route}/{key}").status_code == 204
    assert api.get(f"identity/entity/id/{entity_id}").status_code == 404


def test_deleting_a_missing_entity_is_204(api):
    assert api.delete("identity/entity/id/missing").status_code == 204
    assert api.delete("identity/entity/name/missing").status_code == 204


# -- aliases ------------------------------------------------------------------------------------------------


def test_an_oauth_alias_gets_the_synthesized_mount_accessor(api, root, oauth):
    entity_id = create_entity(api)
    resp = create_alias(api, name="alice", canonical_id=entity_id, issuer=ISSUER, external_id="user-123")
    assert resp.status_code == 200, resp.text
    alias_id = resp.json()["data"]["id"]
    assert resp.json()["data"]["canonical_id"] == entity_id
    data = api.get(f"identity/entity-alias/id/{alias_id}").json()["data"]
    assert set(data) == ALIAS_READ_FIELDS
    assert data["mount_accessor"] == oauth["accessor"]
    assert data["mount_accessor"] == f"oauth-resource-server_{namespace_id(root, api.namespace)}_{oauth['config_id']}"
    assert data["mount_path"] == "auth/oauth-resource-server/"
    assert data["issuer"] == ISSUER and data["external_id"] == "user-123"
    assert data["namespace_id"] == namespace_id(root, api.namespace)
    assert data["canonical_id"] == entity_id


def test_an_entity_read_lists_its_aliases(api, oauth):
    entity_id = create_entity(api)
    alias_id = create_alias(api, name="a", canonical_id=entity_id, issuer=ISSUER, external_id="u1").json()["data"]["id"]
    aliases = read_entity(api, entity_id)["aliases"]
    assert [a["id"] for a in aliases] == [alias_id]
    assert aliases[0]["mount_accessor"] == oauth["accessor"]


def test_alias_issuer_is_normalized_like_profile_issuers(api, oauth):
    entity_id = create_entity(api)
    resp = create_alias(api, name="n", canonical_id=entity_id, issuer=ISSUER.upper() + "/", external_id="u1")
    assert resp.status_code == 200, resp.text
    data = api.get(f"identity/entity-alias/id/{resp.json()['data']['id']}").json()["data"]
    assert data["issuer"] == ISSUER


def test_an_explicit_matching_mount_accessor_is_accepted(api, oauth):
    entity_id = create_entity(api)
    resp = create_alias(
        api,
        name="m",
        canonical_id=entity_id,
        issuer=ISSUER,
        external_id="u1",
        mount_accessor=oauth["accessor"],
    )
    assert resp.status_code == 200, resp.text


def test_a_mismatching_mount_accessor_is_refused(api, oauth):
    resp = create_alias(
        api,
        name="m",
        canonical_id=create_entity(api),
        issuer=ISSUER,
        external_id="u1",
        mount_accessor="auth_x_1",
    )
    assert resp.status_code == 400
    assert errors(resp) == [f'mount_accessor: must be "{oauth["accessor"]}" (or omitted) for issuer "{ISSUER}"']


@pytest.mark.parametrize("issuer", [ISSUER, ISSUER.upper(), ISSUER + "/"])
def test_issuer_and_external_id_identify_one_alias(api, oauth, issuer):
    create_alias(api, name="first", canonical_id=create_entity(api), issuer=ISSUER, external_id="user-1")
    resp = create_alias(api, name="second", canonical_id=create_entity(api), issuer=issuer, external_id="user-1")
    assert resp.status_code == 400
    assert errors(resp) == ["alias already exists for issuer and external_id"]


def test_the_same_external_id_under_another_issuer_is_a_different_alias(api, oauth):
    create_profile(api, "idp2", **jwks_profile("https://other.example.com"))
    create_alias(api, name="a", canonical_id=create_entity(api), issuer=ISSUER, external_id="user-1")
    resp = create_alias(
        api,
        name="a",
        canonical_id=create_entity(api),
        issuer="https://other.example.com",
        external_id="user-1",
    )
    assert resp.status_code == 200, resp.text


def test_an_alias_for_an_untrusted_issuer_is_refused(api):
    resp = create_alias(
        api, name="x", canonical_id=create_entity(api), issuer="https://nobody.example.com", external_id="u"
    )
    assert resp.status_code == 400
    assert errors(resp) == [
        'issuer: no OAuth resource server profile trusts issuer "https://nobody.example.com" '
        "in this namespace; create the profile first"
    ]


def test_an_alias_needs_a_name_and_an_existing_canonical_entity(api, oauth):
    no_name = create_alias(api, canonical_id=create_entity(api), issuer=ISSUER, external_id="u")
    assert no_name.status_code == 400 and errors(no_name) == ["name: must not be empty"]
    no_entity = create_alias(api, name="x", issuer=ISSUER, external_id="u")
    assert no_entity.status_code == 400 and errors(no_entity) == ["canonical_id: is required"]
    bad_entity = create_alias(api, name="x", canonical_id="missing", issuer=ISSUER, external_id="u")
    assert bad_entity.status_code == 400
    assert errors(bad_entity) == ['canonical_id: no identity entity with id "missing" in this namespace']


def test_an_alias_without_issuer_needs_a_mount_accessor(api):
    resp = create_alias(api, name="x", canonical_id=create_entity(api))
    assert resp.status_code == 400
    assert errors(resp) == ["mount_accessor: is required unless issuer is set"]


def test_an_alias_may_name_the_oauth_mount_accessor_instead_of_the_issuer(api, oauth):
    resp = create_alias(api, name="user-9", canonical_id=create_entity(api), mount_accessor=oauth["accessor"])
    assert resp.status_code == 200, resp.text
    data = api.get(f"identity/entity-alias/id/{resp.json()['data']['id']}").json()["data"]
    assert data["issuer"] == ISSUER and data["external_id"] == "user-9"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("issuer", "https://other.example.com", "issuer: cannot be changed after the alias is created"),
        ("external_id", "user-2", "external_id: cannot be changed after the alias is created"),
    ],
)
def test_issuer_and_external_id_are_immutable(api, oauth, field, value, message):
    alias_id = create_alias(api, name="a", canonical_id=create_entity(api), issuer=ISSUER, external_id="user-1").json()[
        "data"
    ]["id"]
    resp = api.post(f"identity/entity-alias/id/{alias_id}", json={field: value})
    assert resp.status_code == 400
    assert errors(resp) == [message]
    data = api.get(f"identity/entity-alias/id/{alias_id}").json()["data"]
    assert data["issuer"] == ISSUER and data["external_id"] == "user-1"


def test_an_alias_update_may_resend_issuer_and_external_id_and_change_the_rest(api, oauth):
    entity_a, entity_b = create_entity(api), create_entity(api)
    alias_id = create_alias(api, name="a", canonical_id=entity_a, issuer=ISSUER, external_id="user-1").json()["data"][
        "id"
    ]
    resp = api.post(
        f"identity/entity-alias/id/{alias_id}",
        json={
            "issuer": ISSUER + "/",
            "external_id": "user-1",
            "canonical_id": entity_b,
            "custom_metadata": {"k": "v"},
        },
    )
    assert resp.status_code == 200, resp.text
    data = api.get(f"identity/entity-alias/id/{alias_id}").json()["data"]
    assert data["canonical_id"] == entity_b
    assert data["custom_metadata"] == {"k": "v"}
    assert read_entity(api, entity_a)["aliases"] == []


def test_aliases_are_listed_and_deleted(api, oauth):
    alias_id = create_alias(api, name="a", canonical_id=create_entity(api), issuer=ISSUER, external_id="u").json()[
        "data"
    ]["id"]
    listing = api.list("identity/entity-alias/id")
    assert listing.status_code == 200
    assert listing.json()["data"]["keys"] == [alias_id]
    assert listing.json()["data"]["key_info"][alias_id]["issuer"] == ISSUER
    assert api.delete(f"identity/entity-alias/id/{alias_id}").status_code == 204
    assert api.get(f"identity/entity-alias/id/{alias_id}").status_code == 404
    assert api.list("identity/entity-alias/id").status_code == 404
    assert api.delete(f"identity/entity-alias/id/{alias_id}").status_code == 204


# -- deleting entities (DECISIONS.md#d11) ------------------------------------------------------------------


def test_deleting_an_entity_deletes_its_aliases(api, oauth):
    entity_id = create_entity(api)
    alias_id = create_alias(api, name="a", canonical_id=entity_id, issuer=ISSUER, external_id="u").json()["data"]["id"]
    assert api.delete(f"identity/entity/id/{entity_id}").status_code == 204
    assert api.get(f"identity/entity-alias/id/{alias_id}").status_code == 404
    again = create_alias(api, name="a", canonical_id=create_entity(api), issuer=ISSUER, external_id="u")
    assert again.status_code == 200, again.text


@pytest.mark.parametrize("route", ["id", "name"])
def test_an_entity_with_an_agent_registration_cannot_be_deleted(api, oauth, route):
    entity_id = create_entity(api, "agent-entity")
    alias_id = create_alias(api, name="a", canonical_id=entity_id, issuer=ISSUER, external_id="u").json()["data"]["id"]
    record = registration(api, display_name="the-agent", entity_id=entity_id)
    key = entity_id if route == "id" else "agent-entity"
    resp = api.delete(f"identity/entity/{route}/{key}")
    assert resp.status_code == 400
    assert errors(resp) == [
        f'entity "{entity_id}" is referenced by agent registration "{record["id"]}" ("the-agent"); '
        "delete the registration first"
    ]
    assert api.get(f"identity/entity/id/{entity_id}").status_code == 200
    assert api.get(f"identity/entity-alias/id/{alias_id}").status_code == 200
    assert api.get(f"agent-registry/registration/id/{record['id']}").status_code == 200


def test_identity_objects_of_other_namespaces_are_invisible(api, root):
    entity_id = create_entity(api, unique("private"))
    name = read_entity(api, entity_id)["name"]
    assert root.get(f"identity/entity/id/{entity_id}").status_code == 404
    assert root.get(f"identity/entity/name/{name}").status_code == 404
