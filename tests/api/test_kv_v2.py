"""The KV version 2 engine at `secret/` over HTTP, on SQLite and PostgreSQL, and through `hvac` unchanged.

Every namespace has its own engine (no inheritance). Writes are create or update by Vault's existence check
(the key has metadata), deletes are soft until destroyed, and bad input is a clear 4xx with nothing written.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import hvac
import hvac.exceptions
import pytest
import requests
from api_objects import PERMISSION_DENIED, RFC3339_UTC, child_token, error_text, put_policy, unique
from api_objects import race as race_all

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
VERSION_METADATA_KEYS = {"created_time", "custom_metadata", "deletion_time", "destroyed", "version"}
KEY_METADATA_KEYS = {
    "cas_required", "created_time", "current_version", "custom_metadata", "delete_version_after",
    "max_versions", "oldest_version", "updated_time", "versions",
}  # fmt: skip
NOT_FOUND = {"errors": []}


def write(client, path: str, data, **options):  # noqa: ANN001, ANN201
    body = {"data": data}
    if options:
        body["options"] = options
    return client.post(f"secret/data/{path}", json=body)


def put(client, path: str, data, **options) -> dict:  # noqa: ANN001
    """Write and return the new version's metadata (asserting success)."""
    resp = write(client, path, data, **options)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def read(client, path: str, version: int | None = None):  # noqa: ANN001, ANN201
    return client.get(f"secret/data/{path}", params={} if version is None else {"version": version})


def metadata(client, path: str) -> dict:  # noqa: ANN001
    resp = client.get(f"secret/metadata/{path}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def new_namespace(server) -> str:  # noqa: ANN001
    name = "t" + uuid.uuid4().hex[:12]
    resp = server.client().post(f"sys/namespaces/{name}")
    assert resp.status_code == 200, resp.text
    return name


# -- versions: write, read -----------------------------------------------------------------------------------


def test_a_first_write_creates_version_1_and_answers_with_its_metadata(api):
    resp = write(api, "app/db", {"user": "svc", "password": "s3cret"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["warnings"] is None and body["lease_id"] == ""
    data = body["data"]
    assert set(data) == VERSION_METADATA_KEYS
    assert data["version"] == 1
    assert RFC3339_UTC.match(data["created_time"])
    assert data["deletion_time"] == "" and data["destroyed"] is False and data["custom_metadata"] is None


def test_a_read_returns_the_latest_data_with_its_metadata(api):
    put(api, "app/db", {"user": "svc", "nested": {"a": [1, 2, {"b": None}]}, "n": 1.5, "ok": True})
    resp = read(api, "app/db")
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert set(data) == {"data", "metadata"}
    assert data["data"] == {"user": "svc", "nested": {"a": [1, 2, {"b": None}]}, "n": 1.5, "ok": True}
    assert set(data["metadata"]) == VERSION_METADATA_KEYS
    assert data["metadata"]["version"] == 1 and data["metadata"]["deletion_time"] == ""


def test_every_write_adds_a_version_and_older_versions_stay_readable(api):
    for i in range(1, 4):
        assert put(api, "app/db", {"v": i})["version"] == i
    assert read(api, "app/db").json()["data"]["data"] == {"v": 3}
    assert read(api, "app/db", version=0).json()["data"]["data"] == {"v": 3}
    one = read(api, "app/db", version=1).json()["data"]
    assert one["data"] == {"v": 1} and one["metadata"]["version"] == 1


def test_an_empty_object_is_valid_secret_data(api):
    put(api, "empty", {})
    assert read(api, "empty").json()["data"]["data"] == {}


def test_reading_a_missing_key_or_version_is_a_bare_404(api):
    assert read(api, "nope").status_code == 404
    assert read(api, "nope").json() == NOT_FOUND
    put(api, "app/db", {"v": 1})
    resp = read(api, "app/db", version=7)
    assert resp.status_code == 404 and resp.json() == NOT_FOUND


def test_unicode_paths_and_values_round_trip(api):
    put(api, "équipe/clé ü", {"mot": "passé ✓"})
    assert read(api, "équipe/clé ü").json()["data"]["data"] == {"mot": "passé ✓"}
    assert api.list("secret/metadata/équipe").json()["data"]["keys"] == ["clé ü"]


# -- soft delete, undelete, destroy --------------------------------------------------------------------------


def test_delete_soft_deletes_the_latest_version_and_its_404_still_carries_metadata(api):
    put(api, "app/db", {"v": 1})
    put(api, "app/db", {"v": 2})
    resp = api.delete("secret/data/app/db")
    assert resp.status_code == 204
    gone = read(api, "app/db")
    assert gone.status_code == 404
    data = gone.json()["data"]
    assert data["data"] is None
    assert data["metadata"]["version"] == 2 and RFC3339_UTC.match(data["metadata"]["deletion_time"])
    assert read(api, "app/db", version=1).json()["data"]["data"] == {"v": 1}
    assert RFC3339_UTC.match(metadata(api, "app/db")["versions"]["2"]["deletion_time"])


def test_delete_of_a_missing_key_or_an_already_deleted_version_is_a_quiet_204(api):
    assert api.delete("secret/data/never").status_code == 204
    put(api, "app/db", {"v": 1})
    assert api.delete("secret/data/app/db").status_code == 204
    first = metadata(api, "app/db")["versions"]["1"]["deletion_time"]
    assert api.delete("secret/data/app/db").status_code == 204
    assert metadata(api, "app/db")["versions"]["1"]["deletion_time"] == first  # not moved


def test_delete_versions_then_undelete_brings_them_back(api):
    for i in range(1, 4):
        put(api, "k", {"v": i})
    assert api.post("secret/delete/k", json={"versions": [1, 3]}).status_code == 204
    assert read(api, "k", 1).status_code == 404 and read(api, "k", 3).status_code == 404
    assert read(api, "k", 2).status_code == 200
    assert api.post("secret/undelete/k", json={"versions": [1, 3]}).status_code == 204
    assert read(api, "k", 1).json()["data"]["data"] == {"v": 1}
    assert read(api, "k").json()["data"]["data"] == {"v": 3}
    assert metadata(api, "k")["versions"]["3"]["deletion_time"] == ""


def test_versions_may_be_given_as_a_comma_separated_string(api):
    for i in range(1, 3):
        put(api, "k", {"v": i})
    assert api.request("PUT", "secret/delete/k", json={"versions": "1,2"}).status_code == 204
    assert read(api, "k", 1).status_code == 404 and read(api, "k", 2).status_code == 404


def test_destroy_removes_the_data_for_good(api):
    put(api, "k", {"v": 1})
    put(api, "k", {"v": 2})
    assert api.request("PUT", "secret/destroy/k", json={"versions": [1]}).status_code == 204
    gone = read(api, "k", 1)
    assert gone.status_code == 404
    assert gone.json()["data"]["metadata"]["destroyed"] is True and gone.json()["data"]["data"] is None
    assert api.post("secret/undelete/k", json={"versions": [1]}).status_code == 204
    assert read(api, "k", 1).status_code == 404  # destroyed cannot be undeleted
    assert metadata(api, "k")["versions"]["1"]["destroyed"] is True
    assert read(api, "k").json()["data"]["data"] == {"v": 2}


def test_versions_operations_on_a_missing_key_or_version_are_quiet(api):
    for op in ("delete", "undelete", "destroy"):
        assert api.post(f"secret/{op}/absent", json={"versions": [1]}).status_code == 204
    put(api, "k", {"v": 1})
    for op in ("delete", "undelete", "destroy"):
        assert api.post(f"secret/{op}/k", json={"versions": [42]}).status_code == 204
    assert read(api, "k").status_code == 200


def test_a_new_write_after_a_delete_is_readable_again(api):
    put(api, "k", {"v": 1})
    api.delete("secret/data/k")
    assert put(api, "k", {"v": 2})["version"] == 2
    assert read(api, "k").json()["data"]["data"] == {"v": 2}


# -- check-and-set --------------------------------------------------------------------------------------------


def test_cas_zero_writes_only_a_key_that_does_not_exist(api):
    assert put(api, "k", {"v": 1}, cas=0)["version"] == 1
    resp = write(api, "k", {"v": 2}, cas=0)
    assert resp.status_code == 400
    mismatch = "check-and-set parameter did not match the current version"  # Vault's text; the field as data
    assert resp.json() == {"errors": [mismatch], "field_errors": [{"field": ["options", "cas"], "error": mismatch}]}


def test_cas_must_match_the_current_version(api):
    put(api, "k", {"v": 1})
    put(api, "k", {"v": 2})
    resp = write(api, "k", {"v": 3}, cas=1)
    assert resp.status_code == 400 and "did not match the current version" in error_text(resp)
    assert put(api, "k", {"v": 3}, cas=2)["version"] == 3
    assert metadata(api, "k")["current_version"] == 3


def test_cas_counts_the_current_version_even_when_it_is_deleted(api):
    put(api, "k", {"v": 1})
    api.delete("secret/data/k")
    assert write(api, "k", {"v": 2}, cas=0).status_code == 400
    assert put(api, "k", {"v": 2}, cas=1)["version"] == 2


def test_cas_required_on_the_key_refuses_writes_without_cas(api):
    put(api, "k", {"v": 1})
    assert api.post("secret/metadata/k", json={"cas_required": True}).status_code == 204
    resp = write(api, "k", {"v": 2})
    assert resp.status_code == 400
    assert resp.json() == {
        "errors": ["check-and-set parameter required for this call"],
        "field_errors": [{"field": ["options", "cas"], "error": "check-and-set parameter required for this call"}],
    }
    assert put(api, "k", {"v": 2}, cas=1)["version"] == 2
    assert write(api, "other", {"v": 1}).status_code == 200  # other keys unaffected


def test_cas_required_in_the_engine_config_applies_to_every_key(api):
    assert api.post("secret/config", json={"cas_required": True}).status_code == 204
    assert write(api, "k", {"v": 1}).status_code == 400
    assert put(api, "k", {"v": 1}, cas=0)["version"] == 1
    resp = api.post("secret/metadata/k", json={"cas_required": False})
    assert resp.status_code == 200 and "cas_required" in resp.json()["warnings"][0]
    assert write(api, "k", {"v": 2}).status_code == 400


def test_cas_may_be_sent_as_a_numeric_string(api):
    put(api, "k", {"v": 1})
    assert api.post("secret/data/k", json={"data": {"v": 2}, "options": {"cas": "1"}}).status_code == 200


# -- max_versions and delete_version_after --------------------------------------------------------------------


def test_max_versions_on_the_key_prunes_the_oldest_versions(api):
    assert api.post("secret/metadata/k", json={"max_versions": 3}).status_code == 204
    for i in range(1, 6):
        put(api, "k", {"v": i})
    meta = metadata(api, "k")
    assert sorted(meta["versions"], key=int) == ["3", "4", "5"]
    assert meta["oldest_version"] == 3 and meta["current_version"] == 5 and meta["max_versions"] == 3
    assert read(api, "k", 1).json() == NOT_FOUND
    assert read(api, "k", 3).json()["data"]["data"] == {"v": 3}


def test_without_settings_a_key_keeps_ten_versions(api):
    for i in range(1, 13):
        put(api, "k", {"v": i})
    meta = metadata(api, "k")
    assert sorted(map(int, meta["versions"])) == list(range(3, 13))
    assert meta["oldest_version"] == 3 and meta["max_versions"] == 0


def test_engine_max_versions_applies_when_it_is_the_larger_setting(api):
    assert api.post("secret/config", json={"max_versions": 2}).status_code == 204
    for i in range(1, 5):
        put(api, "k", {"v": i})
    assert sorted(metadata(api, "k")["versions"], key=int) == ["3", "4"]


def test_lowering_max_versions_prunes_on_the_next_write(api):
    for i in range(1, 6):
        put(api, "k", {"v": i})
    api.post("secret/metadata/k", json={"max_versions": 2})
    assert len(metadata(api, "k")["versions"]) == 5
    put(api, "k", {"v": 6})
    assert sorted(metadata(api, "k")["versions"], key=int) == ["5", "6"]


def test_delete_version_after_schedules_the_deletion_of_new_versions(api):
    api.post("secret/metadata/k", json={"delete_version_after": "1s"})
    assert metadata(api, "k")["delete_version_after"] == "1s"
    written = put(api, "k", {"v": 1})
    assert RFC3339_UTC.match(written["deletion_time"])
    assert read(api, "k").status_code == 200  # deletion lies in the future
    time.sleep(1.3)
    gone = read(api, "k")
    assert gone.status_code == 404 and gone.json()["data"]["metadata"]["deletion_time"] == written["deletion_time"]


def test_a_negative_engine_delete_version_after_disables_it_on_every_key(api):
    assert api.post("secret/config", json={"delete_version_after": "-1s"}).status_code == 204
    assert api.get("secret/config").json()["data"]["delete_version_after"] == "-1s"
    api.post("secret/metadata/k", json={"delete_version_after": "1h"})
    assert put(api, "k", {"v": 1})["deletion_time"] == ""


def test_delete_version_after_is_rendered_as_a_go_duration(api):
    api.post("secret/metadata/k", json={"delete_version_after": 5400})
    assert metadata(api, "k")["delete_version_after"] == "1h30m0s"


# -- metadata -------------------------------------------------------------------------------------------------


def test_metadata_read_has_vaults_shape(api):
    first = put(api, "k", {"v": 1})
    put(api, "k", {"v": 2})
    meta = metadata(api, "k")
    assert set(meta) == KEY_METADATA_KEYS
    assert meta["current_version"] == 2 and meta["oldest_version"] == 0
    assert meta["cas_required"] is False and meta["delete_version_after"] == "0s" and meta["max_versions"] == 0
    assert meta["custom_metadata"] is None
    assert meta["created_time"] == first["created_time"]
    assert RFC3339_UTC.match(meta["updated_time"]) and meta["updated_time"] >= meta["created_time"]
    assert set(meta["versions"]) == {"1", "2"}
    assert meta["versions"]["1"] == {"created_time": first["created_time"], "deletion_time": "", "destroyed": False}


def test_metadata_of_a_missing_key_is_a_bare_404(api):
    resp = api.get("secret/metadata/nope")
    assert resp.status_code == 404 and resp.json() == NOT_FOUND


def test_metadata_write_sets_settings_and_custom_metadata_seen_by_data_reads(api):
    put(api, "k", {"v": 1})
    resp = api.post(
        "secret/metadata/k",
        json={"max_versions": 5, "cas_required": True, "delete_version_after": "3h", "custom_metadata": {"o": "t"}},
    )
    assert resp.status_code == 204, resp.text
    meta = metadata(api, "k")
    assert (meta["max_versions"], meta["cas_required"], meta["delete_version_after"]) == (5, True, "3h0m0s")
    assert meta["custom_metadata"] == {"o": "t"}
    assert read(api, "k").json()["data"]["metadata"]["custom_metadata"] == {"o": "t"}
    assert put(api, "k", {"v": 2}, cas=1)["custom_metadata"] == {"o": "t"}


def test_metadata_write_changes_only_the_fields_sent(api):
    api.post("secret/metadata/k", json={"max_versions": 4, "custom_metadata": {"a": "1"}})
    api.post("secret/metadata/k", json={"cas_required": True})
    meta = metadata(api, "k")
    assert meta["max_versions"] == 4 and meta["custom_metadata"] == {"a": "1"} and meta["cas_required"] is True
    api.post("secret/metadata/k", json={"custom_metadata": {"b": "2"}})
    assert metadata(api, "k")["custom_metadata"] == {"b": "2"}  # custom_metadata is replaced as a whole


def test_metadata_may_exist_before_any_version(api):
    assert api.post("secret/metadata/future", json={"max_versions": 2}).status_code == 204
    meta = metadata(api, "future")
    assert meta["current_version"] == 0 and meta["versions"] == {}
    assert read(api, "future").json() == NOT_FOUND
    assert api.list("secret/metadata").json()["data"]["keys"] == ["future"]
    assert put(api, "future", {"v": 1})["version"] == 1


def test_metadata_write_without_any_field_writes_nothing(api):
    resp = api.post("secret/metadata/k", json={})
    assert resp.status_code == 204
    assert api.get("secret/metadata/k").status_code == 404


def test_metadata_delete_removes_every_version_and_the_key_starts_over(api):
    for i in range(1, 4):
        put(api, "k", {"v": i})
    assert api.delete("secret/metadata/k").status_code == 204
    assert api.get("secret/metadata/k").status_code == 404
    assert read(api, "k", 1).status_code == 404
    assert api.list("secret/metadata").status_code == 404
    assert put(api, "k", {"v": "again"})["version"] == 1
    assert api.delete("secret/metadata/absent").status_code == 204


def test_metadata_patch_merges_settings_and_custom_metadata(api):
    api.post("secret/metadata/k", json={"max_versions": 4, "custom_metadata": {"a": "1", "b": "2"}})
    resp = api.request(
        "PATCH", "secret/metadata/k", json={"cas_required": True, "custom_metadata": {"b": None, "c": "3"}},
        headers=MERGE_PATCH,
    )  # fmt: skip
    assert resp.status_code == 204, resp.text
    meta = metadata(api, "k")
    assert meta["custom_metadata"] == {"a": "1", "c": "3"}
    assert meta["cas_required"] is True and meta["max_versions"] == 4


def test_metadata_patch_of_a_missing_key_is_404_and_needs_the_merge_patch_content_type(api):
    assert api.request("PATCH", "secret/metadata/nope", json={"max_versions": 1}, headers=MERGE_PATCH).json() == (
        NOT_FOUND
    )
    api.post("secret/metadata/k", json={"max_versions": 4})
    resp = api.request("PATCH", "secret/metadata/k", json={"max_versions": 1})
    assert resp.status_code == 415 and "application/merge-patch+json" in error_text(resp)
    assert metadata(api, "k")["max_versions"] == 4


# -- PATCH data ------------------------------------------------------------------------------------------------


def test_patch_merges_into_the_current_version_as_a_new_version(api):
    put(api, "k", {"user": "u", "password": "p", "opts": {"x": 1, "y": 2}})
    resp = api.request(
        "PATCH", "secret/data/k", json={"data": {"password": None, "opts": {"y": 3}, "new": True}},
        headers=MERGE_PATCH,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["version"] == 2 and set(resp.json()["data"]) == VERSION_METADATA_KEYS
    assert read(api, "k").json()["data"]["data"] == {"user": "u", "opts": {"x": 1, "y": 3}, "new": True}


def test_patch_needs_a_live_current_version(api):
    resp = api.request("PATCH", "secret/data/absent", json={"data": {"a": 1}}, headers=MERGE_PATCH)
    assert resp.status_code == 404 and resp.json() == NOT_FOUND
    put(api, "k", {"a": 1})
    api.delete("secret/data/k")
    resp = api.request("PATCH", "secret/data/k", json={"data": {"a": 2}}, headers=MERGE_PATCH)
    assert resp.status_code == 404
    assert resp.json()["data"]["version"] == 1 and resp.json()["data"]["deletion_time"] != ""
    assert metadata(api, "k")["current_version"] == 1


def test_patch_honours_cas_and_the_content_type(api):
    put(api, "k", {"a": 1})
    resp = api.request("PATCH", "secret/data/k", json={"data": {"a": 2}, "options": {"cas": 5}}, headers=MERGE_PATCH)
    assert resp.status_code == 400 and "check-and-set" in error_text(resp)
    resp = api.request("PATCH", "secret/data/k", json={"data": {"a": 2}})
    assert resp.status_code == 415
    resp = api.request("PATCH", "secret/data/k", json={"data": {"a": 2}, "options": {"cas": 1}}, headers=MERGE_PATCH)
    assert resp.status_code == 200
    assert read(api, "k").json()["data"]["data"] == {"a": 2}


# -- subkeys ---------------------------------------------------------------------------------------------------


def test_subkeys_show_the_structure_without_values(api):
    put(api, "k", {"a": 1, "b": {"c": "x", "d": {"e": True}}, "f": {}})
    resp = api.get("secret/subkeys/k")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["subkeys"] == {"a": None, "b": {"c": None, "d": {"e": None}}, "f": None}
    assert resp.json()["data"]["metadata"]["version"] == 1
    shallow = api.get("secret/subkeys/k", params={"depth": 1}).json()["data"]["subkeys"]
    assert shallow == {"a": None, "b": None, "f": None}
    api.delete("secret/data/k")
    assert api.get("secret/subkeys/k").status_code == 404


# -- LIST -------------------------------------------------------------------------------------------------------


def test_list_shows_keys_and_folders_one_level_at_a_time(api):
    for path in ("a", "b/c", "b/d/e", "b/d/f", "bee"):
        put(api, path, {"v": 1})
    assert api.list("secret/metadata").json()["data"]["keys"] == ["a", "b/", "bee"]
    assert api.list("secret/metadata/").json()["data"]["keys"] == ["a", "b/", "bee"]
    assert api.list("secret/metadata/b").json()["data"]["keys"] == ["c", "d/"]
    assert api.list("secret/metadata/b/").json()["data"]["keys"] == ["c", "d/"]
    assert api.list("secret/metadata/b/d/").json()["data"]["keys"] == ["e", "f"]
    assert api.get("secret/metadata/b/", params={"list": "true"}).json()["data"]["keys"] == ["c", "d/"]


def test_list_of_an_empty_folder_is_a_bare_404(api):
    assert api.list("secret/metadata").json() == NOT_FOUND
    put(api, "a/b", {"v": 1})
    resp = api.list("secret/metadata/zzz")
    assert resp.status_code == 404 and resp.json() == NOT_FOUND


def test_a_key_and_a_folder_may_share_a_name(api):
    put(api, "app", {"v": 1})
    put(api, "app/db", {"v": 1})
    assert api.list("secret/metadata").json()["data"]["keys"] == ["app", "app/"]


def test_list_keeps_keys_whose_versions_are_all_deleted_or_destroyed(api):
    put(api, "k", {"v": 1})
    api.delete("secret/data/k")
    api.post("secret/destroy/k", json={"versions": [1]})
    assert api.list("secret/metadata").json()["data"]["keys"] == ["k"]


def test_list_is_not_an_operation_of_data_config_or_subkeys(api):
    put(api, "a/b", {"v": 1})
    for path in ("secret/data/a", "secret/data/a/b", "secret/config", "secret/subkeys/a/b"):
        resp = api.list(path)
        assert resp.status_code == 405, (path, resp.text)


# -- engine config ---------------------------------------------------------------------------------------------


def test_config_reads_defaults_and_keeps_what_was_written(api):
    resp = api.get("secret/config")
    assert resp.status_code == 200
    assert resp.json()["data"] == {"cas_required": False, "delete_version_after": "0s", "max_versions": 0}
    assert api.post("secret/config", json={"max_versions": 7, "delete_version_after": "90s"}).status_code == 204
    assert api.post("secret/config", json={"cas_required": True}).status_code == 204
    data = api.get("secret/config").json()["data"]
    assert data == {"cas_required": True, "delete_version_after": "1m30s", "max_versions": 7}
    assert api.post("secret/config", json={"delete_version_after": 0}).status_code == 204
    assert api.get("secret/config").json()["data"]["delete_version_after"] == "0s"


# -- routing and methods ---------------------------------------------------------------------------------------


def test_unknown_engine_paths_and_methods_are_404_and_405(api):
    assert api.get("secret/nope/x").status_code == 404
    assert api.request("PATCH", "secret/delete/x", json={}, headers=MERGE_PATCH).status_code == 405
    assert api.request("GET", "secret/destroy/x").status_code == 405


def test_the_bare_endpoints_ask_for_a_path_instead_of_redirecting(api):
    for method, path in (("GET", "secret/data"), ("POST", "secret/data"), ("POST", "secret/delete")):
        resp = api.request(method, path, json={}, allow_redirects=False)
        assert resp.status_code == 400 and error_text(resp) == "missing path", (method, path, resp.text)
    resp = api.get("secret/metadata", allow_redirects=False)
    assert resp.status_code == 400


def test_unknown_body_fields_are_ignored_with_a_warning(api):
    resp = api.post("secret/data/k", json={"data": {"a": 1}, "extra": 1})
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [extra]"]


# -- namespaces ------------------------------------------------------------------------------------------------


def test_every_namespace_has_its_own_engine(api, server):
    other = server.client(namespace=new_namespace(server))
    put(api, "shared/name", {"owner": "first"})
    assert read(other, "shared/name").status_code == 404
    assert other.list("secret/metadata").status_code == 404
    put(other, "shared/name", {"owner": "second"})
    assert read(api, "shared/name").json()["data"]["data"] == {"owner": "first"}
    assert read(other, "shared/name").json()["data"]["metadata"]["version"] == 1
    api.post("secret/config", json={"max_versions": 3})
    assert other.get("secret/config").json()["data"]["max_versions"] == 0


def test_a_parent_namespace_does_not_see_a_childs_secrets(api, server):
    child = f"{api.namespace}/kid"
    assert api.post("sys/namespaces/kid").status_code == 200
    kid = server.client(namespace=child)
    put(kid, "k", {"v": "child"})
    assert read(api, "k").status_code == 404
    put(api, "k", {"v": "parent"})
    assert read(kid, "k").json()["data"]["data"] == {"v": "child"}
    # the namespace may also come as a path prefix
    resp = requests.get(
        f"{server.url}/v1/{child}/secret/data/k", headers={"X-Vault-Token": server.root_token}, timeout=30
    )
    assert resp.json()["data"]["data"] == {"v": "child"}


def test_deleting_a_namespace_deletes_its_secrets(server):
    name = new_namespace(server)
    put(server.client(namespace=name), "k", {"v": 1})
    assert server.client().delete(f"sys/namespaces/{name}").status_code in (200, 204)
    server.client().post(f"sys/namespaces/{name}")
    assert read(server.client(namespace=name), "k").status_code == 404


# -- authorization ---------------------------------------------------------------------------------------------


def token_with(api, text: str):  # noqa: ANN001, ANN201
    name = unique("kv")
    put_policy(api, name, text)
    return api.with_token(child_token(api, [name]))


def test_the_first_write_of_a_key_needs_create_and_later_writes_need_update(api):
    creator = token_with(api, 'path "secret/data/*" { capabilities = ["create"] }')
    updater = token_with(api, 'path "secret/data/*" { capabilities = ["update"] }')
    assert write(updater, "k", {"v": 1}).json() == PERMISSION_DENIED
    assert write(creator, "k", {"v": 1}).status_code == 200
    resp = write(creator, "k", {"v": 2})
    assert resp.status_code == 403 and resp.json() == PERMISSION_DENIED
    assert write(updater, "k", {"v": 2}).status_code == 200
    assert metadata(api, "k")["current_version"] == 2


def test_a_key_whose_versions_are_deleted_still_exists_for_authorization(api):
    creator = token_with(api, 'path "secret/data/*" { capabilities = ["create"] }')
    put(api, "k", {"v": 1})
    api.delete("secret/data/k")
    assert write(creator, "k", {"v": 2}).status_code == 403  # metadata exists: update
    api.delete("secret/metadata/k")
    assert write(creator, "k", {"v": 2}).status_code == 200  # gone for good: create again


def test_metadata_writes_are_create_or_update_too(api):
    creator = token_with(api, 'path "secret/metadata/*" { capabilities = ["create"] }')
    assert creator.post("secret/metadata/k", json={"max_versions": 2}).status_code == 204
    assert creator.post("secret/metadata/k", json={"max_versions": 3}).status_code == 403
    assert metadata(api, "k")["max_versions"] == 2


# (method, path, body, headers, capability that allows it) on a key `app/db` that exists.
OPERATIONS = [
    ("GET", "secret/data/app/db", None, None, ("secret/data/app/db", "read")),
    ("DELETE", "secret/data/app/db", None, None, ("secret/data/app/db", "delete")),
    ("PATCH", "secret/data/app/db", {"data": {"x": 1}}, MERGE_PATCH, ("secret/data/app/db", "patch")),
    ("POST", "secret/delete/app/db", {"versions": [1]}, None, ("secret/delete/app/db", "update")),
    ("POST", "secret/undelete/app/db", {"versions": [1]}, None, ("secret/undelete/app/db", "update")),
    ("PUT", "secret/destroy/app/db", {"versions": [1]}, None, ("secret/destroy/app/db", "update")),
    ("GET", "secret/metadata/app/db", None, None, ("secret/metadata/app/db", "read")),
    ("POST", "secret/metadata/app/db", {"max_versions": 3}, None, ("secret/metadata/app/db", "update")),
    ("PATCH", "secret/metadata/app/db", {"max_versions": 3}, MERGE_PATCH, ("secret/metadata/app/db", "patch")),
    ("DELETE", "secret/metadata/app/db", None, None, ("secret/metadata/app/db", "delete")),
    ("LIST", "secret/metadata/app", None, None, ("secret/metadata/app/", "list")),
    ("GET", "secret/subkeys/app/db", None, None, ("secret/subkeys/app/db", "read")),
    ("GET", "secret/config", None, None, ("secret/config", "read")),
    ("POST", "secret/config", {"max_versions": 3}, None, ("secret/config", "update")),
]
ALL_BUT = {"read", "create", "update", "patch", "delete", "list"}


@pytest.mark.parametrize("method,path,body,headers,grant", OPERATIONS, ids=[f"{o[0]} {o[1]}" for o in OPERATIONS])
def test_each_operation_needs_exactly_its_capability(api, method, path, body, headers, grant):
    put(api, "app/db", {"v": 1})
    acl_path, capability = grant
    others = sorted(ALL_BUT - {capability})
    without = token_with(api, f'path "{acl_path}" {{ capabilities = {json.dumps(others)} }}')
    resp = without.request(method, path, json=body, headers=headers)
    assert resp.status_code == 403 and resp.json() == PERMISSION_DENIED, resp.text
    with_it = token_with(api, f'path "{acl_path}" {{ capabilities = ["{capability}"] }}')
    resp = with_it.request(method, path, json=body, headers=headers)
    assert resp.status_code in (200, 204), resp.text


def test_authorization_comes_before_judging_the_input(api):
    reader = token_with(api, 'path "secret/data/*" { capabilities = ["read"] }')
    for resp in (
        reader.post("secret/data/k", json={"data": "not an object"}),
        reader.post("secret/data/a//b", json={"data": {}}),
        reader.post("secret/delete/k", json={"versions": "x"}),
        reader.request("PATCH", "secret/data/k", json={"data": 1}),
        reader.get("secret/metadata/k"),
    ):
        assert resp.status_code == 403 and resp.json() == PERMISSION_DENIED, resp.text


def test_a_policy_on_one_folder_does_not_reach_another(api):
    team = token_with(api, 'path "secret/data/team-a/*" { capabilities = ["create", "read", "update"] }')
    assert write(team, "team-a/k", {"v": 1}).status_code == 200
    assert read(team, "team-a/k").status_code == 200
    assert write(team, "team-b/k", {"v": 1}).status_code == 403
    put(api, "team-b/k", {"v": 1})
    assert read(team, "team-b/k").status_code == 403


def test_a_token_from_a_parent_namespace_reaches_a_child_engine_through_its_relative_path(api, server):
    assert api.post("sys/namespaces/kid").status_code == 200
    parent = token_with(api, 'path "kid/secret/data/*" { capabilities = ["create", "read"] }')
    kid = server.client(namespace=f"{api.namespace}/kid", token=parent.token)
    assert write(kid, "k", {"v": 1}).status_code == 200
    assert read(kid, "k").status_code == 200
    assert write(parent, "k", {"v": 1}).status_code == 403  # the parent's own engine: no grant


# -- bad input ------------------------------------------------------------------------------------------------

BAD_DATA = [
    ({"data": [1, 2]}, 400, 'field "data": expected a JSON object, got a list'),
    ({"data": "text"}, 400, 'field "data": expected a JSON object, got a string'),
    ({"data": 5}, 400, 'field "data": expected a JSON object, got a number'),
    ({"data": None}, 400, 'field "data": no data provided'),
    ({}, 400, 'field "data": no data provided'),
    ({"data": {"a": 1}, "options": "cas=1"}, 400, 'field "options": expected a JSON object'),
    ({"data": {"a": 1}, "options": {"cas": "one"}}, 400, 'field "options.cas": expected an integer'),
    ({"data": {"a": 1}, "options": {"cas": True}}, 400, 'field "options.cas": expected an integer'),
    ({"data": {"a": 1}, "options": {"cas": -1}}, 400, 'field "options.cas": must be between 0'),
    ({"data": {"a": 1}, "options": {"cas": 1.5}}, 400, 'field "options.cas": expected an integer'),
    ({"data": {"a": 1}, "options": {"cas": [1]}}, 400, 'field "options.cas": expected an integer'),
]


@pytest.mark.parametrize("body,status,message", BAD_DATA, ids=[m for _, _, m in BAD_DATA])
def test_bad_secret_data_is_refused_and_nothing_is_written(api, body, status, message):
    resp = api.post("secret/data/bad", json=body)
    assert resp.status_code == status, resp.text
    assert message in error_text(resp)
    assert api.get("secret/metadata/bad").status_code == 404


@pytest.mark.parametrize("raw", ['{"data": {"a": NaN}}', '{"data": {"a": [1e400]}}', '{"data": {"a": -Infinity}}'])
def test_non_finite_numbers_are_refused(api, raw):
    resp = api.request("POST", "secret/data/bad", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and 'field "data": numbers must be finite' in error_text(resp)
    assert api.get("secret/metadata/bad").status_code == 404


def test_oversized_secret_data_is_413_and_the_limit_itself_is_accepted(api):
    overhead = len(json.dumps({"a": ""}, separators=(",", ":")))
    resp = write(api, "big", {"a": "x" * (1024 * 1024 - overhead + 1)})
    assert resp.status_code == 413 and 'field "data"' in error_text(resp)
    assert api.get("secret/metadata/big").status_code == 404
    assert write(api, "big", {"a": "x" * (1024 * 1024 - overhead)}).status_code == 200


def test_deeply_nested_data_is_refused(api):
    deep: dict = {}
    node = deep
    for _ in range(150):
        node["n"] = {}
        node = node["n"]
    resp = write(api, "deep", deep)
    assert resp.status_code == 400 and "nested deeper than" in error_text(resp)


BAD_PATHS = [
    ("a//b", "empty path segments"),
    ("/lead", "empty path segments"),
    ("trail/", 'must not end with "/"'),
    ("ctl%01x", "control characters"),
    ("x" * 1025, "longer than 1024 bytes"),
    ("é" * 513, "longer than 1024 bytes"),
]


@pytest.mark.parametrize("path,message", BAD_PATHS, ids=[m + f" ({len(p)})" for p, m in BAD_PATHS])
def test_bad_secret_paths_are_refused(api, path, message):
    resp = api.post(f"secret/data/{path}", json={"data": {"a": 1}})
    assert resp.status_code == 400, resp.text
    assert message in error_text(resp)
    assert api.list("secret/metadata").status_code == 404


@pytest.mark.parametrize("path", ["%2e%2e/x", "a/%2E%2E/b", "a%2F..%2Fb", "..%2F..%2Fsys%2Fpolicy", "a/%2E/b"])
def test_traversal_segments_are_refused_before_anything_runs(api, path):
    for method in ("GET", "POST", "DELETE"):
        resp = api.request(method, f"secret/data/{path}", json={"data": {"a": 1}})
        assert resp.status_code == 400, (method, path, resp.text)
        assert "'..'" in error_text(resp)
    assert api.list("secret/metadata").status_code == 404


def test_a_path_of_the_maximum_length_is_accepted(api):
    path = "/".join(["x" * 99] * 10) + "/" + "y" * 14  # 1004 bytes
    path += "z" * (1024 - len(path))
    assert put(api, path, {"a": 1})["version"] == 1
    assert read(api, path).status_code == 200


BAD_VERSIONS = [
    ({}, "no version number provided"),
    ({"versions": []}, "no version number provided"),
    ({"versions": ""}, "no version number provided"),
    ({"versions": ["a"]}, 'field "versions[0]": expected an integer'),
    ({"versions": [1, -2]}, 'field "versions[1]": must be between 1'),
    ({"versions": [0]}, 'field "versions[0]": must be between 1'),
    ({"versions": [1.5]}, 'field "versions[0]": expected an integer'),
    ({"versions": [True]}, 'field "versions[0]": expected an integer'),
    ({"versions": "1,x"}, 'field "versions[1]": expected an integer'),
    ({"versions": {"1": True}}, 'field "versions[0]": expected an integer'),
    ({"versions": list(range(1, 1002))}, "more than 1000 entries"),
]


@pytest.mark.parametrize("op", ["delete", "undelete", "destroy"])
@pytest.mark.parametrize("body,message", BAD_VERSIONS, ids=[m for _, m in BAD_VERSIONS])
def test_bad_versions_lists_are_refused(api, op, body, message):
    put(api, "k", {"v": 1})
    resp = api.post(f"secret/{op}/k", json=body)
    assert resp.status_code == 400, resp.text
    assert message in error_text(resp)
    assert read(api, "k").json()["data"]["data"] == {"v": 1}


@pytest.mark.parametrize("version", ["abc", "-1", "1.5", "99999999999999999999"])
def test_a_bad_version_query_parameter_is_refused(api, version):
    put(api, "k", {"v": 1})
    for path in ("secret/data/k", "secret/subkeys/k"):
        resp = api.get(path, params={"version": version})
        assert resp.status_code == 400 and 'field "version"' in error_text(resp), resp.text


BAD_METADATA = [
    ({"max_versions": -1}, 'field "max_versions": must be between 0 and 1000'),
    ({"max_versions": 1001}, 'field "max_versions": must be between 0 and 1000'),
    ({"max_versions": "many"}, 'field "max_versions": expected an integer'),
    ({"cas_required": "maybe"}, 'field "cas_required": expected a boolean'),
    ({"delete_version_after": "-5s"}, 'field "delete_version_after": invalid duration'),
    ({"delete_version_after": -5}, 'field "delete_version_after": must not be negative'),
    ({"delete_version_after": "soon"}, 'field "delete_version_after": invalid duration'),
    ({"custom_metadata": "a=b"}, 'field "custom_metadata": expected a JSON object'),
    ({"custom_metadata": {"a": 1}}, 'field "custom_metadata.a": expected a string'),
    ({"custom_metadata": {"a": ""}}, 'field "custom_metadata.a": must be 1 to 512 bytes'),
    ({"custom_metadata": {"a": "v" * 513}}, 'field "custom_metadata.a": must be 1 to 512 bytes'),
    ({"custom_metadata": {"k" * 129: "v"}}, "must be 1 to 128 bytes"),
    ({"custom_metadata": {"": "v"}}, "must be 1 to 128 bytes"),
    ({"custom_metadata": {"a": "tab\there"}}, "unprintable characters"),
    ({"custom_metadata": {f"k{i}": "v" for i in range(65)}}, "at most 64 keys"),
]


@pytest.mark.parametrize("body,message", BAD_METADATA, ids=[m for _, m in BAD_METADATA])
def test_bad_metadata_is_refused_and_nothing_is_written(api, body, message):
    resp = api.post("secret/metadata/k", json=body)
    assert resp.status_code == 400, resp.text
    assert message in error_text(resp)
    assert api.get("secret/metadata/k").status_code == 404


@pytest.mark.parametrize("body,message", BAD_METADATA[:3], ids=[m for _, m in BAD_METADATA[:3]])
def test_bad_engine_config_is_refused(api, body, message):
    resp = api.post("secret/config", json=body)
    assert resp.status_code == 400 and message in error_text(resp)
    assert api.get("secret/config").json()["data"]["max_versions"] == 0


def test_a_bad_json_body_is_a_400(api):
    resp = api.request("POST", "secret/data/k", data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "failed to parse JSON" in error_text(resp)
    resp = api.request("POST", "secret/data/k", data="[1]", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_a_bad_patch_is_refused_and_leaves_the_secret_alone(api):
    put(api, "k", {"a": 1})
    for body in ({"data": [1]}, {}, {"data": {"a": 1}, "options": {"cas": "x"}}):
        resp = api.request("PATCH", "secret/data/k", json=body, headers=MERGE_PATCH)
        assert resp.status_code == 400, resp.text
    resp = api.request("PATCH", "secret/metadata/k", json={"custom_metadata": [1]}, headers=MERGE_PATCH)
    assert resp.status_code == 400
    assert metadata(api, "k")["current_version"] == 1


def test_a_patch_that_would_grow_the_secret_past_the_limit_is_refused(api):
    half = "x" * (600 * 1024)
    put(api, "k", {"a": half})
    resp = api.request("PATCH", "secret/data/k", json={"data": {"b": half}}, headers=MERGE_PATCH)
    assert resp.status_code == 413
    assert metadata(api, "k")["current_version"] == 1


# -- races -----------------------------------------------------------------------------------------------------

RACERS = 12


def race(api, requests_to_send):  # noqa: ANN001, ANN201
    """Send one request per (method, path, body) at the same moment, each on its own connection."""
    return race_all([(api, *item) for item in requests_to_send])


def test_racing_first_writes_with_cas_zero_have_exactly_one_winner(api):
    responses = race(
        api, [("POST", "secret/data/race", {"data": {"i": i}, "options": {"cas": 0}}) for i in range(RACERS)]
    )
    assert Counter(r.status_code for r in responses) == Counter({200: 1, 400: RACERS - 1}), [r.text for r in responses]
    for loser in (r for r in responses if r.status_code == 400):
        assert loser.json()["errors"] == ["check-and-set parameter did not match the current version"]
    assert metadata(api, "race")["current_version"] == 1


def test_racing_writes_without_cas_each_get_their_own_version(api):
    responses = race(api, [("POST", "secret/data/race", {"data": {"i": i}}) for i in range(RACERS)])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["data"]["version"] for r in responses) == list(range(1, RACERS + 1))
    assert metadata(api, "race")["current_version"] == RACERS


# -- hvac, unchanged -------------------------------------------------------------------------------------------


@pytest.fixture
def kv(api) -> hvac.api.secrets_engines.KvV2:
    return hvac.Client(url=api.url, token=api.token, namespace=api.namespace).secrets.kv.v2


def test_hvac_writes_reads_and_lists_secrets(kv):
    created = kv.create_or_update_secret("team/app", secret={"user": "u", "pw": "p"}, mount_point="secret")
    assert created["data"]["version"] == 1
    kv.create_or_update_secret("team/app", secret={"user": "u2"}, cas=1, mount_point="secret")
    kv.create_or_update_secret("team/other/deep", secret={"x": "1"}, mount_point="secret")
    latest = kv.read_secret_version("team/app", mount_point="secret", raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"user": "u2"} and latest["data"]["metadata"]["version"] == 2
    first = kv.read_secret_version("team/app", version=1, mount_point="secret", raise_on_deleted_version=True)
    assert first["data"]["data"] == {"user": "u", "pw": "p"}
    assert kv.list_secrets("team", mount_point="secret")["data"]["keys"] == ["app", "other/"]
    assert kv.list_secrets("", mount_point="secret")["data"]["keys"] == ["team/"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.list_secrets("nothing-here", mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="check-and-set"):
        kv.create_or_update_secret("team/app", secret={"x": "y"}, cas=1, mount_point="secret")


def test_hvac_deletes_undeletes_and_destroys_versions(kv):
    kv.create_or_update_secret("app", secret={"v": "1"}, mount_point="secret")
    kv.create_or_update_secret("app", secret={"v": "2"}, mount_point="secret")
    kv.delete_latest_version_of_secret("app", mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version("app", mount_point="secret", raise_on_deleted_version=True)
    deleted = kv.read_secret_version("app", mount_point="secret", raise_on_deleted_version=False)
    assert deleted["data"]["metadata"]["deletion_time"] != "" and deleted["data"]["data"] is None
    kv.undelete_secret_versions("app", versions=[2], mount_point="secret")
    assert kv.read_secret_version("app", mount_point="secret", raise_on_deleted_version=True)["data"]["data"] == {
        "v": "2"
    }
    kv.delete_secret_versions("app", versions=[1], mount_point="secret")
    kv.destroy_secret_versions("app", versions=[1], mount_point="secret")
    meta = kv.read_secret_metadata("app", mount_point="secret")["data"]
    assert meta["versions"]["1"]["destroyed"] is True and meta["current_version"] == 2


@pytest.mark.filterwarnings("ignore:The raise_on_deleted_version parameter:DeprecationWarning")  # inside hvac's patch()
def test_hvac_updates_metadata_and_patches(kv):
    kv.create_or_update_secret("app", secret={"a": "1", "b": "2"}, mount_point="secret")
    kv.update_metadata(
        "app", max_versions=4, cas_required=False, custom_metadata={"owner": "team"}, mount_point="secret"
    )
    meta = kv.read_secret_metadata("app", mount_point="secret")["data"]
    assert meta["max_versions"] == 4 and meta["custom_metadata"] == {"owner": "team"}
    assert meta["delete_version_after"] == "0s"
    patched = kv.patch("app", secret={"b": "3", "c": "4"}, mount_point="secret")
    assert patched["data"]["version"] == 2
    data = kv.read_secret_version("app", mount_point="secret", raise_on_deleted_version=True)["data"]
    assert data["data"] == {"a": "1", "b": "3", "c": "4"}
    assert data["metadata"]["custom_metadata"] == {"owner": "team"}
    kv.delete_metadata_and_all_versions("app", mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata("app", mount_point="secret")


def test_hvac_configures_the_engine(kv):
    kv.configure(max_versions=5, cas_required=False, delete_version_after="1h", mount_point="secret")
    config = kv.read_configuration(mount_point="secret")["data"]
    assert config == {"cas_required": False, "delete_version_after": "1h0m0s", "max_versions": 5}


def test_hvac_with_a_create_only_token_writes_once(api):
    name = unique("kv")
    put_policy(api, name, 'path "secret/data/*" { capabilities = ["create", "read"] }')
    client = hvac.Client(url=api.url, token=child_token(api, [name]), namespace=api.namespace)
    client.secrets.kv.v2.create_or_update_secret("once", secret={"a": "1"}, mount_point="secret")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret("once", secret={"a": "2"}, mount_point="secret")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.list_secrets("", mount_point="secret")
