"""Parameter constraints on KV v2 writes are checked on the body that will be stored (they used to be
skipped: the check of `secret/data/*` writes got no parameters)."""

from __future__ import annotations

from api.api_objects import child_token, put_policy

KV_WRITER = """
path "secret/data/*" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = {
    "data" = []
  }
}
"""


def test_kv_writes_are_checked_with_the_body_they_store(api) -> None:
    put_policy(api, "kv-writer", KV_WRITER)
    writer = api.with_token(child_token(api, ["kv-writer"]))

    assert writer.post("secret/data/app", json={"data": {"k": "v"}}).status_code == 200
    refused = writer.post("secret/data/app", json={"data": {"k": "w"}, "options": {"cas": 1}})

    assert refused.status_code == 403, refused.text
    assert api.get("secret/data/app").json()["data"]["data"] == {"k": "v"}


METADATA_WRITER = """
path "secret/metadata/*" {
  capabilities = ["create", "update", "patch", "read"]
  allowed_parameters = {
    "max_versions" = [5, 10]
    "custom_metadata" = []
  }
}
"""
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def test_metadata_writes_are_checked_with_the_settings_they_store(api) -> None:
    put_policy(api, "metadata-writer", METADATA_WRITER)
    writer = api.with_token(child_token(api, ["metadata-writer"]))

    assert writer.post("secret/metadata/app", json={"max_versions": "5"}).status_code == 204
    for body in ({"max_versions": 3}, {"max_versions": "3"}, {"cas_required": "true"}, {"max_versions": "x"}):
        refused = writer.post("secret/metadata/app", json=body)
        assert refused.status_code == 403, (body, refused.text)
    assert api.get("secret/metadata/app").json()["data"]["max_versions"] == 5

    patched = writer.request("PATCH", "secret/metadata/app", json={"max_versions": "10"}, headers=MERGE_PATCH)
    assert patched.status_code == 204, patched.text
    refused = writer.request("PATCH", "secret/metadata/app", json={"max_versions": "3"}, headers=MERGE_PATCH)
    assert refused.status_code == 403, refused.text
    reset = writer.request("PATCH", "secret/metadata/app", json={"max_versions": None}, headers=MERGE_PATCH)
    assert reset.status_code == 403, "a reset stores null, which the policy does not list"
    assert api.get("secret/metadata/app").json()["data"]["max_versions"] == 10

    labelled = writer.post("secret/metadata/app", json={"max_versions": 10, "custom_metadata": {"team": "blue"}})
    assert labelled.status_code == 204, labelled.text


def test_a_metadata_body_that_does_not_parse_is_a_field_error_for_an_allowed_caller(api) -> None:
    resp = api.post("secret/metadata/app", json={"max_versions": "many"})
    assert resp.status_code == 400 and "max_versions" in resp.text


VERSIONS_AND_CONFIG = """
path "secret/destroy/*" { capabilities = ["update"] allowed_parameters = { versions = [1, 2] } }
path "secret/config" { capabilities = ["update"] allowed_parameters = { max_versions = [5, 10] } }
"""


def test_version_and_engine_writes_are_checked_with_the_values_they_store(api) -> None:
    """They used to be checked with no parameters at all, so no constraint on them held (THREATS.md#t27)."""
    put_policy(api, "versions-writer", VERSIONS_AND_CONFIG)
    writer = api.with_token(child_token(api, ["versions-writer"]))
    for n in (1, 2, 3):
        assert api.post("secret/data/app", json={"data": {"n": n}}).status_code == 200
    for versions in ([3], "3", " 1 , 3 ", ["1", "3"], 3):
        refused = writer.post("secret/destroy/app", json={"versions": versions})
        assert refused.status_code == 403, (versions, refused.text)
    assert not any(v["destroyed"] for v in api.get("secret/metadata/app").json()["data"]["versions"].values())
    assert writer.post("secret/destroy/app", json={"versions": "2, 1"}).status_code == 204
    versions = api.get("secret/metadata/app").json()["data"]["versions"]
    assert [versions[n]["destroyed"] for n in ("1", "2", "3")] == [True, True, False]

    for value in (7, "7", " 3 "):
        refused = writer.post("secret/config", json={"max_versions": value})
        assert refused.status_code == 403, (value, refused.text)
    assert api.get("secret/config").json()["data"]["max_versions"] == 0
    assert writer.post("secret/config", json={"max_versions": " 10 "}).status_code == 204
    assert api.get("secret/config").json()["data"]["max_versions"] == 10
