"""ACL policies over HTTP: `sys/policies/acl` and the legacy `sys/policy` (DECISIONS.md#d39, DECISIONS.md#d12)."""

from __future__ import annotations

import base64
import json

import pytest
from api_objects import errors, put_policy

HCL = 'path "secret/data/app/*" {\n  capabilities = ["read", "list"]\n}\n'
JSON_POLICY = json.dumps({"path": {"secret/data/app/*": {"capabilities": ["read"]}}})


def read_policy(api, name):  # noqa: ANN001, ANN201
    resp = api.get(f"sys/policies/acl/{name}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_an_hcl_policy_is_written_with_204_and_read_back_verbatim(api):
    resp = api.post("sys/policies/acl/app-read", json={"policy": HCL})
    assert resp.status_code == 204
    assert read_policy(api, "app-read") == {"name": "app-read", "policy": HCL}


def test_a_json_policy_is_accepted(api):
    put_policy(api, "json-policy", JSON_POLICY)
    assert read_policy(api, "json-policy")["policy"] == JSON_POLICY


def test_put_writes_like_post(api):
    assert api.request("PUT", "sys/policies/acl/put-policy", json={"policy": HCL}).status_code == 204
    assert read_policy(api, "put-policy")["policy"] == HCL


def test_a_base64_policy_is_stored_decoded(api):
    encoded = base64.b64encode(HCL.encode()).decode()
    assert api.post("sys/policies/acl/b64", json={"policy": encoded}).status_code == 204
    assert read_policy(api, "b64")["policy"] == HCL


def test_an_update_replaces_the_text(api):
    put_policy(api, "changing", HCL)
    new_text = 'path "kv/*" { capabilities = ["deny"] }'
    put_policy(api, "changing", new_text)
    assert read_policy(api, "changing")["policy"] == new_text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('path "x" { capabilities = ["fly"] }', 'path "x": unknown capability "fly"'),
        (
            'path "x" { capabilites = ["read"] }',
            'path "x": unknown key "capabilites" (did you mean "capabilities"?)',
        ),
        (
            'path "a*b" { capabilities = ["read"] }',
            'path "a*b": "*" is only allowed as the last character of a pattern',
        ),
        ("path {{{", "line 1"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_problem(api, text, problem):
    resp = api.post("sys/policies/acl/broken", json={"policy": text})
    assert resp.status_code == 400
    [message] = errors(resp)
    assert message.startswith("failed to parse policy: ")
    assert message.count("failed to parse policy") == 1
    assert problem in message
    assert api.get("sys/policies/acl/broken").status_code == 404


@pytest.mark.parametrize("body", [{}, {"policy": ""}, {"policy": "   "}])
def test_a_policy_write_needs_policy_text(api, body):
    resp = api.post("sys/policies/acl/empty", json=body)
    assert resp.status_code == 400
    assert errors(resp) == ["policy: is required (the HCL or JSON policy text)"]


def test_policy_names_are_lowercased(api):
    put_policy(api, "MixedCase", HCL)
    assert read_policy(api, "mixedcase")["name"] == "mixedcase"
    assert read_policy(api, "MIXEDCASE")["policy"] == HCL
    assert "mixedcase" in api.list("sys/policies/acl").json()["data"]["keys"]
    assert "MixedCase" not in api.list("sys/policies/acl").json()["data"]["keys"]


@pytest.mark.parametrize("name", ["has space", "semi;colon", "x" * 129, "-leading-dash"])
def test_an_invalid_policy_name_is_refused(api, name):
    resp = api.post(f"sys/policies/acl/{name}", json={"policy": HCL})
    assert resp.status_code == 400
    assert errors(resp)[0].startswith("name: ")


def test_reading_a_missing_policy_is_404(api):
    assert api.get("sys/policies/acl/missing").status_code == 404
    assert api.get("sys/policy/missing").status_code == 404


def test_a_policy_is_deleted_and_deleting_a_missing_one_is_204(api):
    put_policy(api, "doomed", HCL)
    assert api.delete("sys/policies/acl/doomed").status_code == 204
    assert api.get("sys/policies/acl/doomed").status_code == 404
    assert api.delete("sys/policies/acl/doomed").status_code == 204


@pytest.mark.parametrize("style", ["LIST", "GET?list=true"])
def test_list_shows_the_builtin_and_written_policies(api, style):
    put_policy(api, "mine", HCL)
    resp = api.list("sys/policies/acl") if style == "LIST" else api.get("sys/policies/acl", params={"list": "true"})
    assert resp.status_code == 200
    assert resp.json()["data"]["keys"] == ["default", "default-ceiling", "mine", "root"]


# -- built-in policies --------------------------------------------------------------------------------------


def test_root_cannot_be_written_or_deleted(api):
    write = api.post("sys/policies/acl/root", json={"policy": HCL})
    assert write.status_code == 400
    assert errors(write) == ['cannot update "root" policy']
    delete = api.delete("sys/policies/acl/root")
    assert delete.status_code == 400
    assert errors(delete) == ['cannot delete "root" policy']
    assert read_policy(api, "root") == {"name": "root", "policy": ""}


@pytest.mark.parametrize("name", ["default", "default-ceiling"])
def test_builtin_policies_are_editable_but_not_deletable(api, name):
    resp = api.delete(f"sys/policies/acl/{name}")
    assert resp.status_code == 400
    assert errors(resp) == [f'cannot delete "{name}" policy']
    put_policy(api, name, HCL)
    assert read_policy(api, name)["policy"] == HCL
    assert api.delete(f"sys/policy/{name}").status_code == 400


def test_the_default_policy_lets_a_token_look_itself_up(api):
    text = read_policy(api, "default")["policy"]
    assert 'path "auth/token/lookup-self"' in text
    assert 'path "sys/capabilities-self"' in text


def test_the_default_ceiling_policy_grants_the_d12_self_reads(api):
    text = read_policy(api, "default-ceiling")["policy"]
    assert 'path "agent-registry/registration/entity-id/{{identity.entity.id}}"' in text
    assert 'path "sys/policy/default"' in text
    assert 'path "sys/policy/default-ceiling"' in text
    assert "entity_id/" not in text


def test_a_new_namespace_starts_with_its_own_builtin_policies(api, root):
    put_policy(api, "default", HCL)
    assert read_policy(root, "default")["policy"] != HCL


# -- legacy sys/policy --------------------------------------------------------------------------------------


def test_legacy_list_answers_with_policies_and_keys_at_the_top_and_in_data(api):
    put_policy(api, "mine", HCL)
    resp = api.get("sys/policy")
    assert resp.status_code == 200
    body = resp.json()
    names = ["default", "default-ceiling", "mine", "root"]
    assert body["policies"] == names and body["keys"] == names
    assert body["data"] == {"policies": names, "keys": names}


def test_legacy_read_answers_with_name_and_rules(api):
    put_policy(api, "mine", HCL)
    body = api.get("sys/policy/mine").json()
    assert body["name"] == "mine" and body["rules"] == HCL
    assert body["data"] == {"name": "mine", "rules": HCL}


@pytest.mark.parametrize("field", ["policy", "rules"])
def test_legacy_write_takes_policy_or_rules(api, field):
    assert api.post("sys/policy/legacy", json={field: HCL}).status_code == 204
    assert read_policy(api, "legacy")["policy"] == HCL
    assert api.delete("sys/policy/legacy").status_code == 204
    assert api.get("sys/policies/acl/legacy").status_code == 404
