"""Identity groups and group aliases over HTTP, as Vault has them, on both storage engines."""

from __future__ import annotations

import threading

import pytest
from api_objects import RFC3339_UTC, UUID, create_entity, create_profile, errors, jwks_profile, namespace_id, unique

GROUP_READ_FIELDS = {
    "alias", "creation_time", "id", "last_update_time", "member_entity_ids", "member_group_ids", "metadata",
    "modify_index", "name", "namespace_id", "parent_group_ids", "policies", "type",
}  # fmt: skip
GROUP_ALIAS_READ_FIELDS = {
    "canonical_id", "creation_time", "id", "last_update_time", "merged_from_canonical_ids", "metadata",
    "mount_accessor", "mount_path", "mount_type", "name", "namespace_id",
}  # fmt: skip


def create_group(api, name=None, **fields):  # noqa: ANN001, ANN003, ANN201
    resp = api.post("identity/group", json={"name": name or unique("group"), **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def read_group(api, group_id):  # noqa: ANN001, ANN201
    resp = api.get(f"identity/group/id/{group_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def read_entity(api, entity_id):  # noqa: ANN001, ANN201
    resp = api.get(f"identity/entity/id/{entity_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


@pytest.fixture
def accessor(api, root):
    """The mount accessor of an OAuth profile in the test namespace (what group aliases name)."""
    profile = create_profile(api, "idp", **jwks_profile())
    return f"oauth-resource-server_{namespace_id(root, api.namespace)}_{profile['config_id']}"


# -- groups -------------------------------------------------------------------------------------------------


def test_a_group_reads_with_vaults_shape_by_id_and_by_name(api, root):
    alice = create_entity(api, "alice")
    resp = api.post(
        "identity/group",
        json={"name": "team", "policies": ["Ops", "dev"], "metadata": {"k": "v"}, "member_entity_ids": [alice]},
    )
    assert resp.status_code == 200, resp.text
    assert set(resp.json()["data"]) == {"id", "name"} and resp.json()["data"]["name"] == "team"
    group_id = resp.json()["data"]["id"]
    assert UUID.match(group_id)
    data = read_group(api, group_id)
    assert set(data) == GROUP_READ_FIELDS
    assert data["type"] == "internal"
    assert data["policies"] == ["ops", "dev"]
    assert data["metadata"] == {"k": "v"}
    assert data["member_entity_ids"] == [alice]
    assert data["member_group_ids"] == [] and data["parent_group_ids"] == []
    assert data["alias"] == {}
    assert data["namespace_id"] == namespace_id(root, api.namespace)
    assert RFC3339_UTC.match(data["creation_time"]) and data["modify_index"] == 1
    assert api.get("identity/group/name/team").json()["data"] == data


def test_posting_an_existing_name_updates_that_group(api):
    group_id = create_group(api, "team", policies=["a"], metadata={"k": "v"})
    resp = api.post("identity/group", json={"name": "team", "policies": ["b"]})
    assert resp.status_code == 200 and resp.json()["data"]["id"] == group_id
    data = read_group(api, group_id)
    assert data["policies"] == ["b"] and data["metadata"] == {"k": "v"} and data["modify_index"] == 2


@pytest.mark.parametrize("how", ["body-id", "path-id", "path-name"])
def test_a_group_update_changes_only_the_fields_sent(api, how):
    entity = create_entity(api)
    group_id = create_group(api, "team", policies=["a"], member_entity_ids=[entity])
    body = {"metadata": {"x": "y"}}
    if how == "body-id":
        resp = api.post("identity/group", json={"id": group_id, **body})
    elif how == "path-id":
        resp = api.post(f"identity/group/id/{group_id}", json=body)
    else:
        resp = api.post("identity/group/name/team", json=body)
    assert resp.status_code == 200, resp.text
    data = read_group(api, group_id)
    assert data["metadata"] == {"x": "y"}
    assert data["policies"] == ["a"] and data["member_entity_ids"] == [entity] and data["name"] == "team"


def test_post_by_name_creates_the_group_then_updates_it(api):
    resp = api.post("identity/group/name/by-path", json={"policies": ["a"]})
    assert resp.status_code == 200, resp.text
    group_id = resp.json()["data"]["id"]
    assert api.post("identity/group/name/by-path", json={"policies": ["b"]}).json()["data"]["id"] == group_id
    assert read_group(api, group_id)["policies"] == ["b"]


def test_a_group_without_a_name_gets_one(api):
    data = api.post("identity/group", json={}).json()["data"]
    assert data["name"] == f"group_{data['id']}"


def test_updating_a_missing_group_id_is_404(api):
    assert api.post("identity/group", json={"id": "missing", "policies": ["a"]}).status_code == 404
    assert api.post("identity/group/id/missing", json={"policies": ["a"]}).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "team"}, 'type: must be "internal" or "external", not "team"'),
        ({"policies": ["root"]}, 'policies: "root" cannot be assigned to a group'),
        ({"member_entity_ids": ["nope"]}, 'member_entity_ids: no identity entity with id "nope" in this namespace'),
        ({"member_group_ids": ["nope"]}, 'member_group_ids: no identity group with id "nope" in this namespace'),
        ({"member_group_ids": 7}, 'field "member_group_ids": expected a list of strings, got a number'),
    ],
    ids=["type", "root-policy", "entity", "group", "not-a-list"],
)
def test_bad_group_fields_are_refused_naming_the_field(api, body, message):
    resp = api.post("identity/group", json={"name": "g", **body})
    assert resp.status_code == 400 and errors(resp) == [message]
    assert api.get("identity/group/name/g").status_code == 404


def test_group_names_are_unique_and_renames_are_checked(api):
    create_group(api, "taken")
    other = create_group(api, "other")
    resp = api.post(f"identity/group/id/{other}", json={"name": "taken"})
    assert resp.status_code == 400 and errors(resp) == ['name: a group named "taken" already exists']
    assert api.post(f"identity/group/id/{other}", json={"name": "renamed"}).status_code == 200
    assert read_group(api, other)["name"] == "renamed"


def test_a_groups_type_cannot_change(api):
    group_id = create_group(api, "ext", type="external")
    resp = api.post(f"identity/group/id/{group_id}", json={"type": "internal"})
    assert resp.status_code == 400
    assert errors(resp) == ['type: a group\'s type cannot be changed (group "ext" is external)']


def test_an_external_group_takes_no_entity_members(api):
    resp = api.post(
        "identity/group", json={"name": "ext", "type": "external", "member_entity_ids": [create_entity(api)]}
    )
    assert resp.status_code == 400
    assert errors(resp) == [
        "member_entity_ids: an external group's members come from its group alias and cannot be set"
    ]


def test_nested_groups_show_members_parents_and_the_entitys_group_ids(api):
    alice = create_entity(api, "alice")
    team = create_group(api, "team", member_entity_ids=[alice])
    dept = create_group(api, "dept", member_group_ids=[team])
    org = create_group(api, "org", member_group_ids=[dept])
    assert read_group(api, dept)["member_group_ids"] == [team]
    assert read_group(api, team)["parent_group_ids"] == [dept]
    entity = read_entity(api, alice)
    assert entity["direct_group_ids"] == [team]
    assert sorted(entity["inherited_group_ids"]) == sorted([dept, org])
    assert sorted(entity["group_ids"]) == sorted([team, dept, org])
    assert api.get("identity/entity/name/alice").json()["data"]["group_ids"] == entity["group_ids"]


def test_membership_cycles_are_refused_at_any_depth(api):
    a = create_group(api, "a")
    b = create_group(api, "b", member_group_ids=[a])
    c = create_group(api, "c", member_group_ids=[b])
    resp = api.post(f"identity/group/id/{a}", json={"member_group_ids": [c]})
    assert resp.status_code == 400
    assert errors(resp) == [
        f'member_group_ids: group "c" ({c}) already contains group "a", directly or through nested groups; '
        "a membership cycle is not allowed"
    ]
    self_member = api.post(f"identity/group/id/{a}", json={"member_group_ids": [a]})
    assert self_member.status_code == 400
    assert errors(self_member) == ['member_group_ids: group "a" cannot be a member of itself']
    assert read_group(api, a)["member_group_ids"] == []


def test_concurrent_opposite_nestings_never_make_a_cycle(api):
    """Two writers each adding one half of a cycle: at most one wins, on both engines."""
    for _ in range(5):
        a, b = create_group(api), create_group(api)
        results: list[int] = []

        def nest(parent, child, results=results):  # noqa: ANN001, ANN202
            results.append(api.post(f"identity/group/id/{parent}", json={"member_group_ids": [child]}).status_code)

        threads = [threading.Thread(target=nest, args=pair) for pair in ((a, b), (b, a))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [200, 400]
        assert not (read_group(api, a)["member_group_ids"] and read_group(api, b)["member_group_ids"])


def test_deleting_an_entity_removes_it_from_its_groups(api):
    alice, bob = create_entity(api, "alice"), create_entity(api, "bob")
    team = create_group(api, "team", member_entity_ids=[alice, bob])
    assert api.delete(f"identity/entity/id/{alice}").status_code == 204
    assert read_group(api, team)["member_entity_ids"] == [bob]


def test_deleting_a_group_removes_it_from_its_parents_and_deletes_its_alias(api, accessor):
    child = create_group(api, "child", type="external")
    parent = create_group(api, "parent", member_group_ids=[child])
    alias = api.post("identity/group-alias", json={"name": "devs", "mount_accessor": accessor, "canonical_id": child})
    assert alias.status_code == 200, alias.text
    assert api.delete("identity/group/name/child").status_code == 204
    assert api.get(f"identity/group/id/{child}").status_code == 404
    assert read_group(api, parent)["member_group_ids"] == []
    assert api.get(f"identity/group-alias/id/{alias.json()['data']['id']}").status_code == 404
    assert api.delete(f"identity/group/id/{child}").status_code == 204


@pytest.mark.parametrize("style", ["LIST", "GET?list=true"])
def test_groups_list_by_id_and_by_name(api, style):
    a, b = create_group(api, "a-group"), create_group(api, "b-group", type="external")

    def listing(path):  # noqa: ANN001, ANN202
        return api.list(path) if style == "LIST" else api.get(path, params={"list": "true"})

    by_id = listing("identity/group/id").json()["data"]
    assert sorted(by_id["keys"]) == sorted([a, b])
    assert by_id["key_info"][b] == {"name": "b-group", "type": "external"}
    assert listing("identity/group/name").json()["data"]["keys"] == ["a-group", "b-group"]


def test_an_empty_group_list_is_404_and_listing_an_item_is_unsupported(api):
    assert api.list("identity/group/id").status_code == 404
    assert api.list("identity/group/name").status_code == 404
    group_id = create_group(api, "g")
    assert api.list(f"identity/group/id/{group_id}").status_code == 405


def test_members_and_groups_of_other_namespaces_are_refused_and_invisible(api, root):
    outsider = create_entity(root, unique("outsider"))
    resp = api.post("identity/group", json={"name": "g", "member_entity_ids": [outsider]})
    assert resp.status_code == 400
    assert errors(resp) == [f'member_entity_ids: no identity entity with id "{outsider}" in this namespace']
    group_id = create_group(api, "mine")
    assert root.get(f"identity/group/id/{group_id}").status_code == 404
    resp = root.post("identity/group", json={"name": unique("g"), "member_group_ids": [group_id]})
    assert resp.status_code == 400


def test_a_namespace_holding_a_group_is_not_empty(api, root):
    create_group(api, "g")
    assert root.delete(f"sys/namespaces/{api.namespace}").status_code == 400


# -- ACL ---------------------------------------------------------------------------------------------------


def test_group_writes_are_checked_with_the_policies_as_stored(api):
    api.post(
        "sys/policies/acl/group-writer",
        json={
            "policy": 'path "identity/group" { capabilities = ["create", "update"] '
            'denied_parameters = { policies = ["admin"] } }\n'
            'path "identity/group/name/*" { capabilities = ["create", "update"] '
            'denied_parameters = { policies = ["admin"] } }'
        },
    )
    token = api.post("auth/token/create", json={"policies": ["group-writer"]}).json()["auth"]["client_token"]
    writer = api.with_token(token)
    assert writer.post("identity/group", json={"name": "g", "policies": " ADMIN"}).status_code == 403
    assert writer.post("identity/group/name/g2", json={"policies": "dev,Admin"}).status_code == 403
    assert writer.post("identity/group", json={"name": "g", "policies": "dev"}).status_code == 200
    assert writer.get("identity/group/name/g").status_code == 403


# -- group aliases ------------------------------------------------------------------------------------------


def test_a_group_alias_names_an_external_group_on_an_oauth_accessor(api, root, accessor):
    group_id = create_group(api, "ext", type="external")
    resp = api.post(
        "identity/group-alias", json={"name": "idp-devs", "mount_accessor": accessor, "canonical_id": group_id}
    )
    assert resp.status_code == 200, resp.text
    alias_id = resp.json()["data"]["id"]
    assert resp.json()["data"]["canonical_id"] == group_id
    data = api.get(f"identity/group-alias/id/{alias_id}").json()["data"]
    assert set(data) == GROUP_ALIAS_READ_FIELDS
    assert data["mount_accessor"] == accessor and data["name"] == "idp-devs"
    assert data["mount_type"] == "oauth-resource-server"
    assert data["namespace_id"] == namespace_id(root, api.namespace)
    assert read_group(api, group_id)["alias"] == data
    listing = api.list("identity/group-alias/id").json()["data"]
    assert listing["keys"] == [alias_id] and listing["key_info"][alias_id]["canonical_id"] == group_id


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"mount_accessor": "auth_jwt_123"},
            'mount_accessor: "auth_jwt_123" is not a mount accessor in this namespace',
        ),
        ({"canonical_id": ""}, "canonical_id: is required"),
        ({"canonical_id": "nope"}, 'canonical_id: no identity group with id "nope" in this namespace'),
        ({"canonical_id": "INTERNAL"}, 'canonical_id: group "int" is internal; only external groups have aliases'),
        ({"name": ""}, "name: must not be empty"),
    ],
    ids=["accessor", "no-group", "missing-group", "internal-group", "no-name"],
)
def test_bad_group_aliases_are_refused_naming_the_field(api, accessor, body, message):
    external = create_group(api, "ext", type="external")
    internal = create_group(api, "int")
    fields = {"name": "devs", "mount_accessor": accessor, "canonical_id": external, **body}
    if fields["canonical_id"] == "INTERNAL":
        fields["canonical_id"] = internal
    resp = api.post("identity/group-alias", json=fields)
    assert resp.status_code == 400 and errors(resp) == [message]


def test_one_alias_per_group_and_one_group_per_alias_name(api, accessor):
    first, second = create_group(api, "one", type="external"), create_group(api, "two", type="external")
    alias = api.post("identity/group-alias", json={"name": "devs", "mount_accessor": accessor, "canonical_id": first})
    alias_id = alias.json()["data"]["id"]
    again = api.post("identity/group-alias", json={"name": "ops", "mount_accessor": accessor, "canonical_id": first})
    assert again.status_code == 400 and errors(again) == [
        f'canonical_id: group "one" already has an alias ("{alias_id}")'
    ]
    same = api.post("identity/group-alias", json={"name": "devs", "mount_accessor": accessor, "canonical_id": second})
    assert same.status_code == 400
    assert errors(same) == ['name: a group alias named "devs" already exists for this mount accessor']


def test_a_group_alias_is_updated_and_deleted(api, accessor):
    first, second = create_group(api, "one", type="external"), create_group(api, "two", type="external")
    alias_id = api.post(
        "identity/group-alias", json={"name": "devs", "mount_accessor": accessor, "canonical_id": first}
    ).json()["data"]["id"]
    resp = api.post(f"identity/group-alias/id/{alias_id}", json={"name": "developers", "canonical_id": second})
    assert resp.status_code == 200, resp.text
    data = api.get(f"identity/group-alias/id/{alias_id}").json()["data"]
    assert data["name"] == "developers" and data["canonical_id"] == second
    assert read_group(api, first)["alias"] == {}
    assert api.post("identity/group-alias", json={"id": alias_id, "name": "devs"}).status_code == 200
    assert api.delete(f"identity/group-alias/id/{alias_id}").status_code == 204
    assert api.get(f"identity/group-alias/id/{alias_id}").status_code == 404
    assert read_group(api, second)["alias"] == {}


# -- lookup ---------------------------------------------------------------------------------------------------------


def test_a_group_is_looked_up_by_name_id_alias_id_or_alias_name(api, accessor):
    group_id = create_group(api, "ext", type="external")
    alias_id = api.post(
        "identity/group-alias", json={"name": "devs", "mount_accessor": accessor, "canonical_id": group_id}
    ).json()["data"]["id"]
    for body in (
        {"name": "ext"},
        {"id": group_id},
        {"alias_id": alias_id},
        {"alias_name": "devs", "alias_mount_accessor": accessor},
    ):
        resp = api.post("identity/lookup/group", json=body)
        assert resp.status_code == 200, (body, resp.text)
        assert resp.json()["data"] == read_group(api, group_id)
    assert api.post("identity/lookup/group", json={"name": "missing"}).status_code == 204
    assert (
        api.post("identity/lookup/group", json={"alias_name": "ops", "alias_mount_accessor": accessor}).status_code
        == 204
    )


@pytest.mark.parametrize("body", [{}, {"name": "a", "id": "b"}, {"alias_name": "devs"}, {"alias_mount_accessor": "x"}])
def test_a_lookup_needs_exactly_one_criterion(api, body):
    resp = api.post("identity/lookup/group", json=body)
    assert resp.status_code == 400
    assert errors(resp) == ["give exactly one of name, id, alias_id, or alias_name together with alias_mount_accessor"]
