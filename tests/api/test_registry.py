"""Agent registry over HTTP (DECISIONS.md#d25, #d26, #d10, #d13, #d16)."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from api_objects import (
    RFC3339_UTC,
    UUID,
    child_token,
    create_entity,
    error_text,
    errors,
    put_policy,
    register,
    registration,
    unique,
)

RECORD_FIELDS = {
    "id", "display_name", "entity_id", "description", "owner", "ceiling_policies",
    "no_default_ceiling_policy", "optional_authorization_details", "creation_time", "last_updated_time",
}  # fmt: skip
KEY_INFO_FIELDS = {
    "display_name", "entity_id", "owner", "creation_time", "last_updated_time",
    "no_default_ceiling_policy", "optional_authorization_details",
}  # fmt: skip


def errors_are(resp, *expected: str) -> bool:  # noqa: ANN001
    """The response's errors are exactly `expected` (asserted here, so a failure shows the difference)."""
    assert errors(resp) == list(expected)
    return True


def by_name(name: str) -> str:
    return "agent-registry/registration/display-name/" + quote(name, safe="")


# -- create and read ----------------------------------------------------------------------------------------


def test_register_answers_with_the_new_id_and_display_name_only(api):
    entity = create_entity(api)
    resp = register(api, "deployer", entity)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert set(data) == {"id", "display_name"}
    assert UUID.match(data["id"])
    assert data["display_name"] == "deployer"


@pytest.mark.parametrize(
    "prefer", ["return=representation", 'return="representation"', "handling=lenient, Return=Representation; x=1"]
)
def test_register_answers_with_the_record_as_read_when_the_request_prefers_it(api, prefer):
    # RFC 7240 (DECISIONS.md#d68): the provider asks for the record instead of reading it back.
    entity = create_entity(api)
    body = {"display_name": unique("agent"), "entity_id": entity, "ceiling_policies": ["Ops"], "owner": "team"}
    resp = api.post("agent-registry/register", json=body, headers={"Prefer": prefer})
    assert resp.status_code == 200
    assert resp.headers["Preference-Applied"] == "return=representation"
    data = resp.json()["data"]
    assert set(data) == RECORD_FIELDS
    assert data == api.get(f"agent-registry/registration/id/{data['id']}").json()["data"]
    assert data["ceiling_policies"] == ["ops", "default", "default-ceiling"]


def test_a_caller_that_may_write_but_not_read_gets_the_id_and_display_name_only(api):
    """Asking for the record does not turn a write capability into a read one."""
    policy = unique("write-only")
    put_policy(api, policy, 'path "agent-registry/register" { capabilities = ["create", "update"] }\n'
                            'path "identity/*" { capabilities = ["create", "update", "read"] }')  # fmt: skip
    writer = api.with_token(child_token(api, [policy]))
    entity = create_entity(api)
    body = {"display_name": unique("agent"), "entity_id": entity}
    resp = writer.post("agent-registry/register", json=body, headers={"Prefer": "return=representation"})
    assert resp.status_code == 200, resp.text
    assert set(resp.json()["data"]) == {"id", "display_name"} and "Preference-Applied" not in resp.headers
    reader = unique("read-too")
    put_policy(api, reader, 'path "agent-registry/register" { capabilities = ["create", "update"] }\n'
                            'path "agent-registry/registration/id/*" { capabilities = ["read"] }')  # fmt: skip
    body = {"display_name": unique("agent"), "entity_id": create_entity(api)}
    resp = api.with_token(child_token(api, [reader])).post(
        "agent-registry/register", json=body, headers={"Prefer": "return=representation"}
    )
    assert resp.status_code == 200, resp.text
    assert set(resp.json()["data"]) == RECORD_FIELDS


def test_other_preferences_get_the_id_and_display_name_only(api):
    resp = register(api, headers={"Prefer": "return=minimal"})
    assert resp.status_code == 200
    assert set(resp.json()["data"]) == {"id", "display_name"} and "Preference-Applied" not in resp.headers


def test_a_registration_reads_the_same_by_id_by_name_and_by_entity_id(api):
    entity = create_entity(api)
    body = {
        "display_name": "deployer",
        "entity_id": entity,
        "description": "Production deployment agent",
        "owner": "platform-team",
        "ceiling_policies": ["agent-deploy", "agent-secrets-read"],
        "optional_authorization_details": True,
    }
    reg_id = api.post("agent-registry/register", json=body).json()["data"]["id"]

    by_id = api.get(f"agent-registry/registration/id/{reg_id}")
    assert by_id.status_code == 200
    record = by_id.json()["data"]
    assert set(record) == RECORD_FIELDS
    assert record == {
        "id": reg_id,
        "display_name": "deployer",
        "entity_id": entity,
        "description": "Production deployment agent",
        "owner": "platform-team",
        "ceiling_policies": ["agent-deploy", "agent-secrets-read", "default", "default-ceiling"],
        "no_default_ceiling_policy": False,
        "optional_authorization_details": True,
        "creation_time": record["creation_time"],
        "last_updated_time": record["creation_time"],
    }
    assert RFC3339_UTC.match(record["creation_time"])
    assert api.get(by_name("deployer")).json()["data"] == record
    assert api.get(f"agent-registry/registration/entity-id/{entity}").json()["data"] == record


def test_a_read_response_uses_the_vault_envelope(api):
    record_id = registration(api)["id"]
    body = api.get(f"agent-registry/registration/id/{record_id}").json()
    assert set(body) == {
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    }
    assert body["lease_id"] == "" and body["renewable"] is False and body["warnings"] is None


def test_put_registers_like_post(api):
    entity = create_entity(api)
    resp = api.request("PUT", "agent-registry/register", json={"display_name": "put-agent", "entity_id": entity})
    assert resp.status_code == 200
    assert api.get(by_name("put-agent")).status_code == 200


@pytest.mark.parametrize("kind", ["id", "display-name", "entity-id"])
def test_reading_a_missing_registration_is_404_naming_what_was_looked_up(api, kind):
    resp = api.get(f"agent-registry/registration/{kind}/nope")
    assert resp.status_code == 404
    assert "agent registration with" in error_text(resp) and '"nope" not found' in error_text(resp)


@pytest.mark.parametrize("name", ["agent with spaces", "team-a/deployer", "a/b/c", "ünïcode agent"])
def test_display_names_with_spaces_and_slashes_are_readable_updatable_and_deletable_by_name(api, name):
    entity = create_entity(api)
    reg_id = register(api, name, entity).json()["data"]["id"]
    read = api.get(by_name(name))
    assert read.status_code == 200
    assert read.json()["data"]["id"] == reg_id
    update = api.post(by_name(name), json={"entity_id": entity, "owner": "team"})
    assert update.status_code == 200
    assert update.json()["data"] == {"id": reg_id, "display_name": name}
    assert api.get(by_name(name)).json()["data"]["owner"] == "team"
    assert api.delete(by_name(name)).status_code == 204
    assert api.get(f"agent-registry/registration/id/{reg_id}").status_code == 404


# -- default ceiling policies -------------------------------------------------------------------------------


def test_default_ceilings_are_appended_after_the_declared_policies(api):
    record = registration(api, ceiling_policies=["agent-ceiling-demo"])
    assert record["ceiling_policies"] == ["agent-ceiling-demo", "default", "default-ceiling"]


def test_a_registration_without_ceilings_gets_only_the_defaults(api):
    assert registration(api)["ceiling_policies"] == ["default", "default-ceiling"]


def test_default_ceilings_listed_by_the_user_are_not_repeated(api):
    record = registration(api, ceiling_policies=["default-ceiling", "mine", "default", "mine"])
    assert record["ceiling_policies"] == ["default-ceiling", "mine", "default"]


def test_ceiling_policy_names_are_normalized_like_policy_names(api):
    record = registration(api, ceiling_policies=[" Agent-Deploy ", "DEFAULT"])
    assert record["ceiling_policies"] == ["agent-deploy", "default", "default-ceiling"]


def test_no_default_ceiling_policy_stores_only_the_declared_policies(api):
    record = registration(api, ceiling_policies=["mine"], no_default_ceiling_policy=True)
    assert record["ceiling_policies"] == ["mine"]
    assert record["no_default_ceiling_policy"] is True


def test_opting_out_still_allows_listing_a_default_policy_explicitly(api):
    record = registration(api, ceiling_policies=["default-ceiling"], no_default_ceiling_policy=True)
    assert record["ceiling_policies"] == ["default-ceiling"]


@pytest.mark.parametrize("ceiling", [["root"], ["mine", "root"], [" ROOT "]])
def test_root_cannot_be_a_ceiling_policy(api, ceiling):
    resp = register(api, ceiling_policies=ceiling)
    assert resp.status_code == 400
    assert errors_are(resp, 'ceiling_policies: "root" cannot be a ceiling policy')


# -- create validation --------------------------------------------------------------------------------------


def test_a_taken_display_name_is_refused_naming_the_existing_registration(api):
    first = registration(api, display_name="deployer")
    resp = register(api, "deployer")
    assert resp.status_code == 400
    assert errors_are(resp, f'display_name: "deployer" is already used by agent registration "{first["id"]}"')
    assert api.get(by_name("deployer")).json()["data"]["id"] == first["id"]


def test_register_requires_a_display_name(api):
    resp = api.post("agent-registry/register", json={"entity_id": create_entity(api)})
    assert resp.status_code == 400
    assert errors_are(resp, "display_name: must not be empty")


@pytest.mark.parametrize("name", ["", "   "])
def test_register_refuses_a_blank_display_name(api, name):
    resp = api.post("agent-registry/register", json={"display_name": name, "entity_id": create_entity(api)})
    assert resp.status_code == 400
    assert errors_are(resp, "display_name: must not be empty")


def test_register_requires_an_entity_id(api):
    resp = api.post("agent-registry/register", json={"display_name": "x"})
    assert resp.status_code == 400
    assert errors_are(resp, "entity_id: is required")


def test_register_refuses_an_entity_that_does_not_exist(api):
    resp = register(api, entity_id="0b7c1e42-0000-4000-8000-000000000000")
    assert resp.status_code == 400
    assert errors_are(
        resp, 'entity_id: no identity entity with id "0b7c1e42-0000-4000-8000-000000000000" in this namespace'
    )


def test_an_entity_can_have_only_one_registration(api):
    entity = create_entity(api)
    first = registration(api, display_name="first", entity_id=entity)
    resp = register(api, "second", entity)
    assert resp.status_code == 400
    assert errors_are(
        resp,
        f'entity_id: entity "{entity}" already has agent registration "{first["id"]}" ("first"); '
        "an entity can have only one",
    )
    assert api.get(by_name("second")).status_code == 404


def test_register_with_an_unknown_id_is_404(api):
    resp = register(api, id="3f7e0b7c-0000-4000-8000-000000000000")
    assert resp.status_code == 404
    assert errors_are(resp, 'agent registration with id "3f7e0b7c-0000-4000-8000-000000000000" not found')


# -- update (full replace, DECISIONS.md#d10) ---------------------------------------------------------------

FULL = {
    "description": "d",
    "owner": "o",
    "ceiling_policies": ["c1"],
    "no_default_ceiling_policy": True,
    "optional_authorization_details": True,
}
RESET = {
    "description": "",
    "owner": "",
    "ceiling_policies": ["default", "default-ceiling"],
    "no_default_ceiling_policy": False,
    "optional_authorization_details": False,
}


def _update_by_id(api, record, body, **kw):  # noqa: ANN001, ANN003, ANN202
    return api.post(f"agent-registry/registration/id/{record['id']}", json=body, **kw)


def _update_by_name(api, record, body, **kw):  # noqa: ANN001, ANN003, ANN202
    return api.post(by_name(record["display_name"]), json=body, **kw)


def _register_with_id(api, record, body, **kw):  # noqa: ANN001, ANN003, ANN202
    return api.post("agent-registry/register", json={"id": record["id"], **body}, **kw)


UPDATES = pytest.mark.parametrize("update", [_update_by_id, _update_by_name, _register_with_id])


@UPDATES
def test_an_update_answers_with_the_record_as_read_when_the_request_prefers_it(api, update):
    record = registration(api, **FULL)
    body = {"display_name": record["display_name"], "entity_id": record["entity_id"], "owner": "other"}
    resp = update(api, record, body, headers={"Prefer": "return=representation"})
    assert resp.status_code == 200
    after = api.get(f"agent-registry/registration/id/{record['id']}").json()["data"]
    assert resp.json()["data"] == after and after["owner"] == "other"
    assert after["creation_time"] == record["creation_time"]


@UPDATES
def test_an_update_replaces_every_mutable_field_and_resets_the_omitted_ones(api, update):
    record = registration(api, **FULL)
    resp = update(api, record, {"display_name": record["display_name"], "entity_id": record["entity_id"]})
    assert resp.status_code == 200
    assert resp.json()["data"] == {"id": record["id"], "display_name": record["display_name"]}
    after = api.get(f"agent-registry/registration/id/{record['id']}").json()["data"]
    assert after == {**record, **RESET, "last_updated_time": after["last_updated_time"]}


@UPDATES
def test_an_update_sets_the_fields_it_sends(api, update):
    record = registration(api)
    body = {"display_name": record["display_name"], "entity_id": record["entity_id"], **FULL}
    assert update(api, record, body).status_code == 200
    after = api.get(f"agent-registry/registration/id/{record['id']}").json()["data"]
    assert after == {
        **record,
        **FULL,
        "ceiling_policies": ["c1"],
        "last_updated_time": after["last_updated_time"],
    }


@UPDATES
def test_an_update_requires_the_entity_id_again(api, update):
    record = registration(api)
    resp = update(api, record, {"display_name": record["display_name"], "owner": "x"})
    assert resp.status_code == 400
    assert errors_are(resp, "entity_id: is required")
    assert api.get(f"agent-registry/registration/id/{record['id']}").json()["data"] == record


def test_an_update_keeps_creation_time_and_moves_last_updated_time(api):
    record = registration(api)
    time.sleep(1.1)  # timestamps have one-second resolution
    assert _update_by_id(api, record, {"entity_id": record["entity_id"], "owner": "x"}).status_code == 200
    after = api.get(f"agent-registry/registration/id/{record['id']}").json()["data"]
    assert after["creation_time"] == record["creation_time"]
    assert after["last_updated_time"] > record["last_updated_time"]
    assert RFC3339_UTC.match(after["last_updated_time"])


def test_update_by_id_can_rename(api):
    record = registration(api, display_name="old-name")
    resp = _update_by_id(api, record, {"display_name": "new-name", "entity_id": record["entity_id"]})
    assert resp.json()["data"] == {"id": record["id"], "display_name": "new-name"}
    assert api.get(by_name("new-name")).json()["data"]["id"] == record["id"]
    assert api.get(by_name("old-name")).status_code == 404


def test_update_by_name_takes_the_name_from_the_url(api):
    record = registration(api, display_name="url-name")
    resp = _update_by_name(api, record, {"display_name": "body-name", "entity_id": record["entity_id"]})
    assert resp.json()["data"] == {"id": record["id"], "display_name": "url-name"}
    assert api.get(by_name("body-name")).status_code == 404


def test_update_by_id_without_a_display_name_keeps_the_name(api):
    record = registration(api, display_name="kept")
    assert _update_by_id(api, record, {"entity_id": record["entity_id"]}).status_code == 200
    assert api.get(by_name("kept")).status_code == 200


@pytest.mark.parametrize("update", [_update_by_id, _register_with_id])
def test_renaming_onto_a_taken_display_name_is_refused_naming_the_holder(api, update):
    holder = registration(api, display_name="taken")
    record = registration(api, display_name="mine")
    resp = update(api, record, {"display_name": "taken", "entity_id": record["entity_id"]})
    assert resp.status_code == 400
    assert errors_are(resp, f'display_name: "taken" is already used by agent registration "{holder["id"]}"')
    assert api.get(by_name("mine")).json()["data"] == record


@UPDATES
def test_entity_id_can_move_to_an_entity_without_a_registration(api, update):
    record = registration(api)
    new_entity = create_entity(api)
    resp = update(api, record, {"display_name": record["display_name"], "entity_id": new_entity})
    assert resp.status_code == 200
    assert api.get(f"agent-registry/registration/entity-id/{new_entity}").json()["data"]["id"] == record["id"]
    assert api.get(f"agent-registry/registration/entity-id/{record['entity_id']}").status_code == 404


@UPDATES
def test_entity_id_cannot_move_to_an_entity_that_already_has_a_registration(api, update):
    other = registration(api, display_name="other")
    record = registration(api)
    resp = update(api, record, {"display_name": record["display_name"], "entity_id": other["entity_id"]})
    assert resp.status_code == 400
    assert f'already has agent registration "{other["id"]}" ("other")' in error_text(resp)
    assert api.get(f"agent-registry/registration/id/{record['id']}").json()["data"] == record


@UPDATES
def test_entity_id_cannot_move_to_an_entity_that_does_not_exist(api, update):
    record = registration(api)
    resp = update(api, record, {"display_name": record["display_name"], "entity_id": "missing"})
    assert resp.status_code == 400
    assert errors_are(resp, 'entity_id: no identity entity with id "missing" in this namespace')


@UPDATES
def test_an_update_cannot_add_root_to_the_ceiling(api, update):
    record = registration(api)
    body = {
        "display_name": record["display_name"],
        "entity_id": record["entity_id"],
        "ceiling_policies": ["root"],
    }
    resp = update(api, record, body)
    assert resp.status_code == 400
    assert errors_are(resp, 'ceiling_policies: "root" cannot be a ceiling policy')


def test_updating_a_missing_registration_is_404(api):
    entity = create_entity(api)
    by_id = api.post("agent-registry/registration/id/missing", json={"entity_id": entity})
    assert by_id.status_code == 404
    assert errors_are(by_id, 'agent registration with id "missing" not found')
    by_display_name = api.post(by_name("missing"), json={"entity_id": entity})
    assert by_display_name.status_code == 404
    assert errors_are(by_display_name, 'agent registration with display_name "missing" not found')


# -- coercion and unknown parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("false", False), ("0", False), (1, True)])
def test_boolean_fields_accept_vault_style_strings(api, raw, expected):
    record = registration(api, optional_authorization_details=raw, no_default_ceiling_policy=raw)
    assert record["optional_authorization_details"] is expected
    assert record["no_default_ceiling_policy"] is expected


def test_a_boolean_field_refuses_other_words(api):
    resp = register(api, optional_authorization_details="yes")
    assert resp.status_code == 400
    assert errors_are(resp, 'field "optional_authorization_details": expected a boolean (true/false), got "yes"')


@pytest.mark.parametrize("raw", ["a, b", '["a","b"]', ["a", "b"]])
def test_ceiling_policies_accept_a_comma_string_a_json_array_string_or_a_list(api, raw):
    record = registration(api, ceiling_policies=raw, no_default_ceiling_policy=True)
    assert record["ceiling_policies"] == ["a", "b"]


def test_unknown_parameters_are_ignored_with_a_warning(api):
    resp = register(api, external_id="x", colour="blue")
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [colour external_id]"]
    record = api.get(f"agent-registry/registration/id/{resp.json()['data']['id']}").json()["data"]
    assert "colour" not in record and "external_id" not in record


def test_an_update_also_warns_about_unknown_parameters(api):
    record = registration(api)
    resp = _update_by_id(api, record, {"entity_id": record["entity_id"], "local": True})
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [local]"]


# -- LIST (DECISIONS.md#d13) -------------------------------------------------------------------------------

LIST_STYLES = pytest.mark.parametrize("style", ["LIST", "GET?list=true"])


def _list(api, path, style):  # noqa: ANN001, ANN202
    if style == "LIST":
        return api.list(path)
    return api.get(path, params={"list": "true"})


@LIST_STYLES
def test_list_by_id_returns_ids_with_the_key_info_superset(api, style):
    first = registration(api, display_name="a-agent", owner="team-a")
    second = registration(api, display_name="b-agent")
    resp = _list(api, "agent-registry/registration/id", style)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert sorted(data["keys"]) == sorted([first["id"], second["id"]])
    assert set(data["key_info"]) == set(data["keys"])
    info = data["key_info"][first["id"]]
    assert KEY_INFO_FIELDS <= set(info)
    assert info["display_name"] == "a-agent"
    assert info["entity_id"] == first["entity_id"]
    assert info["owner"] == "team-a"
    assert info["creation_time"] == first["creation_time"]
    assert info["last_updated_time"] == first["last_updated_time"]
    assert info["no_default_ceiling_policy"] is False
    assert info["optional_authorization_details"] is False


@LIST_STYLES
def test_list_by_display_name_returns_names(api, style):
    first = registration(api, display_name="b-agent")
    registration(api, display_name="a agent/with slash")
    resp = _list(api, "agent-registry/registration/display-name", style)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["keys"] == ["a agent/with slash", "b-agent"]
    assert data["key_info"]["b-agent"]["display_name"] == "b-agent"
    assert data["key_info"]["b-agent"]["id"] == first["id"]


@pytest.mark.parametrize("path", ["agent-registry/registration/id/", "agent-registry/registration/display-name/"])
def test_list_works_with_a_trailing_slash(api, path):
    registration(api)
    assert api.list(path).status_code == 200


@LIST_STYLES
@pytest.mark.parametrize("kind", ["id", "display-name"])
def test_an_empty_list_is_404(api, style, kind):
    resp = _list(api, f"agent-registry/registration/{kind}", style)
    assert resp.status_code == 404
    assert errors(resp) == []


def test_a_plain_get_on_the_list_path_is_not_a_list(api):
    registration(api)
    assert api.get("agent-registry/registration/id").status_code == 404


# -- delete (DECISIONS.md#d16) -----------------------------------------------------------------------------


def test_delete_by_id_removes_the_registration_and_keeps_the_entity(api):
    record = registration(api)
    assert api.delete(f"agent-registry/registration/id/{record['id']}").status_code == 204
    assert api.get(f"agent-registry/registration/id/{record['id']}").status_code == 404
    assert api.get(f"identity/entity/id/{record['entity_id']}").status_code == 200
    assert api.list("agent-registry/registration/id").status_code == 404


def test_delete_by_name_removes_the_registration(api):
    record = registration(api, display_name="to-delete")
    assert api.delete(by_name("to-delete")).status_code == 204
    assert api.get(f"agent-registry/registration/id/{record['id']}").status_code == 404


@pytest.mark.parametrize("path", ["agent-registry/registration/id/missing", by_name("missing")])
def test_deleting_a_missing_registration_is_204(api, path):
    assert api.delete(path).status_code == 204


def test_a_deleted_entity_slot_and_name_can_be_reused(api):
    record = registration(api, display_name="reuse")
    api.delete(f"agent-registry/registration/id/{record['id']}")
    again = register(api, "reuse", record["entity_id"])
    assert again.status_code == 200
    assert again.json()["data"]["id"] != record["id"]


def test_registrations_of_other_namespaces_are_invisible(api, root):
    record = registration(api, display_name=unique("ns-private"))
    assert root.get(f"agent-registry/registration/id/{record['id']}").status_code == 404
    assert root.get(by_name(record["display_name"])).status_code == 404
    assert root.get(f"agent-registry/registration/entity-id/{record['entity_id']}").status_code == 404
