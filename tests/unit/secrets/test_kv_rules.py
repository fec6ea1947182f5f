"""KV v2 rules as plain functions: input validation, check-and-set, versions, pruning, metadata, listing."""

from __future__ import annotations

import json

import pytest

from vaultguard.service.secrets import rules
from vaultguard.service.secrets.model import DELETE_VERSION_AFTER_DISABLED, EngineConfig, SecretKey, VersionInfo

SECOND = 1_000_000
NOW = 1_700_000_000 * SECOND


def key_with(*numbers: int, **fields) -> SecretKey:  # noqa: ANN003
    key = SecretKey(path="k", created_time=NOW, updated_time=NOW, **fields)
    for n in numbers:
        key.versions[n] = VersionInfo(n, NOW)
    key.current_version = max(numbers, default=0)
    return key


def written(versions: int, config: EngineConfig | None = None, **fields) -> SecretKey:  # noqa: ANN003
    """A key after `versions` writes."""
    config = config or EngineConfig()
    key = SecretKey(path="k", **fields) if fields else None
    for i in range(versions):
        key = rules.write_version(key, "k", config, None, NOW + i).key
    assert key is not None
    return key


# -- paths ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["a", "a/b/c", "with space/ünïcode ✓", "x" * 1024, "a.b/c..d/.e", "a+b/*"])
def test_valid_secret_paths(path):
    assert rules.path_problem(path) is None


@pytest.mark.parametrize(
    "path,problem",
    [
        ("", "missing path"),
        ("a/", 'must not end with "/"'),
        ("/a", "empty path segments"),
        ("a//b", "empty path segments"),
        ("..", "'.' and '..'"),
        ("a/../b", "'.' and '..'"),
        ("a/./b", "'.' and '..'"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("a\x7fb", "control characters"),
        ("x" * 1025, "longer than 1024 bytes"),
        ("€" * 342, "longer than 1024 bytes"),
        ("a\ud800", "valid Unicode"),
    ],
)
def test_invalid_secret_paths_name_the_rule(path, problem):
    assert problem in rules.path_problem(path)
    with pytest.raises(rules.KVError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        rules.check_path(path)


@pytest.mark.parametrize("path,prefix", [("", ""), ("/", ""), ("a", "a/"), ("a/", "a/"), ("a/b", "a/b/")])
def test_list_prefixes_are_folders(path, prefix):
    assert rules.list_prefix(path) == prefix


@pytest.mark.parametrize("path", ["a//", "../", "a/../b/", "//"])
def test_bad_list_prefixes_are_refused(path):
    with pytest.raises(rules.KVError):
        rules.list_prefix(path)


# -- data ----------------------------------------------------------------------------------------------------


def test_data_is_encoded_compactly_with_sorted_keys():
    assert rules.encode_data({"b": 1, "a": {"d": [1, None], "c": "é"}}) == '{"a":{"c":"é","d":[1,null]},"b":1}'
    assert rules.decode_data(rules.encode_data({"x": 1.5})) == {"x": 1.5}


@pytest.mark.parametrize(
    "value,message",
    [
        (None, "no data provided"),
        ([1], "expected a JSON object, got a list"),
        ("s", "expected a JSON object, got a string"),
        (True, "expected a JSON object, got a boolean"),
        ({"a": float("nan")}, "numbers must be finite"),
        ({"a": [float("inf")]}, "numbers must be finite"),
        ({"a": "\udc80"}, "valid Unicode"),
        ({"\ud800": 1}, "valid Unicode"),
    ],
)
def test_bad_data_is_refused_with_the_field_named(value, message):
    with pytest.raises(rules.KVError, match=message) as caught:
        rules.encode_data(value)
    assert str(caught.value).startswith('field "data"') and caught.value.status == 400


def test_data_size_is_capped_after_encoding():
    overhead = len('{"a":""}')
    assert rules.encode_data({"a": "x" * (rules.MAX_DATA_BYTES - overhead)})
    with pytest.raises(rules.KVError) as caught:
        rules.encode_data({"a": "x" * (rules.MAX_DATA_BYTES - overhead + 1)})
    assert caught.value.status == 413
    with pytest.raises(rules.KVError):  # multi-byte characters count in bytes
        rules.encode_data({"a": "é" * (rules.MAX_DATA_BYTES // 2)})


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def test_data_depth_is_capped():
    rules.encode_data(nested(rules.MAX_DATA_DEPTH))
    with pytest.raises(rules.KVError, match="nested deeper"):
        rules.encode_data(nested(rules.MAX_DATA_DEPTH + 1))
    lists = [[]]
    for _ in range(rules.MAX_DATA_DEPTH + 5):
        lists = [lists]
    with pytest.raises(rules.KVError, match="nested deeper"):
        rules.encode_data({"l": lists})


@pytest.mark.parametrize(
    "target,patch,result",
    [
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}}, {"a": {"x": 1, "z": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": "flat"}, {"a": "flat"}),
        ({}, {"a": {"b": None}}, {"a": {}}),
        ({"a": 1}, {"missing": None}, {"a": 1}),
    ],
)
def test_merge_patch_follows_rfc_7396(target, patch, result):
    before = json.dumps(target)
    assert rules.merge_patch(target, patch) == result
    assert json.dumps(target) == before  # the stored version is not modified


def test_subkeys_replace_values_with_null_and_stop_at_depth():
    data = {"a": 1, "b": {"c": {"d": [1]}, "e": {}}, "f": None}
    assert rules.subkeys(data) == {"a": None, "b": {"c": {"d": None}, "e": None}, "f": None}
    assert rules.subkeys(data, 1) == {"a": None, "b": None, "f": None}
    assert rules.subkeys(data, 2) == {"a": None, "b": {"c": None, "e": None}, "f": None}


# -- fields --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,cas",
    [(None, None), ({}, None), ({"cas": None}, None), ({"cas": 0}, 0), ({"cas": "3"}, 3), ({"cas": 2.0}, 2),
     ({"cas": 1, "other": 1}, 1)],
)  # fmt: skip
def test_cas_option(options, cas):
    assert rules.parse_cas(options) == cas


@pytest.mark.parametrize("options", ["cas", [1], {"cas": True}, {"cas": "x"}, {"cas": -1}, {"cas": 1.5},
                                     {"cas": 2**31}, {"cas": "1e3"}, {"cas": {}}])  # fmt: skip
def test_bad_cas_option(options):
    with pytest.raises(rules.KVError, match='field "options'):
        rules.parse_cas(options)


@pytest.mark.parametrize(
    "raw,numbers",
    [([1, 2], [1, 2]), ([2, 2, 1], [2, 1]), ("1,3", [1, 3]), (" 4 , 5 ", [4, 5]), (7, [7]), (["8"], [8])],
)
def test_versions_lists(raw, numbers):
    assert rules.parse_versions(raw) == numbers


@pytest.mark.parametrize(
    "raw,message",
    [(None, "no version number provided"), ([], "no version number provided"), ("", "no version number"),
     (" , ", "no version number"), ([0], "must be between 1"), ([-1], "must be between 1"),
     (["x"], "expected an integer"), ([None], "expected an integer"), ([[1]], "expected an integer"),
     (list(range(1, 1002)), "more than 1000")],
)  # fmt: skip
def test_bad_versions_lists(raw, message):
    with pytest.raises(rules.KVError, match=message):
        rules.parse_versions(raw)


@pytest.mark.parametrize("raw,version", [(None, 0), ("", 0), ("0", 0), ("12", 12)])
def test_read_version_parameter(raw, version):
    assert rules.parse_version(raw) == version


@pytest.mark.parametrize("raw", ["x", "-1", "1.5", "99999999999999999999", "2147483648"])
def test_bad_read_version_parameter(raw):
    with pytest.raises(rules.KVError, match='field "version"'):
        rules.parse_version(raw)


def test_custom_metadata_within_vaults_limits():
    limits = {f"k{i}": "v" for i in range(63)} | {"k" * 128: "v" * 512}
    assert rules.parse_custom_metadata(limits) == limits
    assert rules.parse_custom_metadata({"a": None, "b": "x"}, patch=True) == {"a": None, "b": "x"}


@pytest.mark.parametrize(
    "raw,message",
    [
        ([], "expected a JSON object"),
        ({"a": None}, "expected a string, got null"),
        ({"a": 1}, "expected a string"),
        ({"a": ""}, "1 to 512 bytes"),
        ({"a": "é" * 257}, "1 to 512 bytes"),
        ({"": "v"}, "1 to 128 bytes"),
        ({"k" * 129: "v"}, "1 to 128 bytes"),
        ({"a\n": "v"}, "unprintable"),
        ({"a": "v\x00"}, "unprintable"),
        ({f"k{i}": "v" for i in range(65)}, "at most 64 keys"),
    ],
)
def test_bad_custom_metadata(raw, message):
    with pytest.raises(rules.KVError, match=message):
        rules.parse_custom_metadata(raw)


# -- check-and-set and writes --------------------------------------------------------------------------------


def test_cas_zero_means_the_key_must_not_exist_yet():
    rules.check_cas(None, EngineConfig(), 0)
    with pytest.raises(rules.KVError, match=rules.CAS_MISMATCH):
        rules.check_cas(key_with(1), EngineConfig(), 0)


def test_cas_must_equal_the_current_version():
    rules.check_cas(key_with(1, 2), EngineConfig(), 2)
    with pytest.raises(rules.KVError, match=rules.CAS_MISMATCH):
        rules.check_cas(key_with(1, 2), EngineConfig(), 1)


def test_cas_is_required_when_the_key_or_the_engine_says_so():
    rules.check_cas(key_with(1), EngineConfig(), None)
    with pytest.raises(rules.KVError, match=rules.CAS_REQUIRED):
        rules.check_cas(key_with(1, cas_required=True), EngineConfig(), None)
    with pytest.raises(rules.KVError, match=rules.CAS_REQUIRED):
        rules.check_cas(None, EngineConfig(cas_required=True), None)


def test_the_first_write_creates_the_key_with_version_1():
    change = rules.write_version(None, "a/b", EngineConfig(), None, NOW)
    assert change.new_key and change.added == VersionInfo(1, NOW)
    assert change.key.path == "a/b" and change.key.current_version == 1
    assert change.key.created_time == change.key.updated_time == NOW


def test_a_later_write_adds_the_next_version_and_keeps_created_time():
    key = key_with(1, 2)
    change = rules.write_version(key, "k", EngineConfig(), 2, NOW + SECOND)
    assert not change.new_key and change.added is not None and change.added.number == 3
    assert key.created_time == NOW and key.updated_time == NOW + SECOND


def test_a_refused_write_changes_nothing():
    key = key_with(1)
    with pytest.raises(rules.KVError):
        rules.write_version(key, "k", EngineConfig(), 5, NOW)
    assert key.current_version == 1 and list(key.versions) == [1]


def test_ten_versions_are_kept_by_default():
    key = written(12)
    assert sorted(key.versions) == list(range(3, 13)) and key.oldest_version == 3


def test_oldest_version_stays_0_until_pruning_starts():
    assert written(9).oldest_version == 0
    assert written(10).oldest_version == 1 and len(written(10).versions) == 10


def test_max_versions_is_the_larger_of_key_and_engine():
    assert rules.effective_max_versions(key_with(max_versions=3), EngineConfig(max_versions=5)) == 5
    assert rules.effective_max_versions(key_with(max_versions=7), EngineConfig(max_versions=5)) == 7
    assert rules.effective_max_versions(key_with(), EngineConfig()) == 10


def test_pruning_reports_what_to_remove_and_catches_up_after_a_lowered_limit():
    key = written(6)
    key.max_versions = 2
    change = rules.write_version(key, "k", EngineConfig(), None, NOW)
    assert change.pruned == [1, 2, 3, 4, 5]
    assert sorted(key.versions) == [6, 7] and key.oldest_version == 6


def test_delete_version_after_uses_the_shortest_non_zero_setting():
    key = key_with(delete_version_after=60)
    assert rules.deletion_time_for(NOW, key, EngineConfig()) == NOW + 60 * SECOND
    assert rules.deletion_time_for(NOW, key, EngineConfig(delete_version_after=30)) == NOW + 30 * SECOND
    assert rules.deletion_time_for(NOW, key, EngineConfig(delete_version_after=90)) == NOW + 60 * SECOND
    assert rules.deletion_time_for(NOW, key_with(), EngineConfig()) is None
    disabled = EngineConfig(delete_version_after=DELETE_VERSION_AFTER_DISABLED)
    assert rules.deletion_time_for(NOW, key, disabled) is None


def test_a_write_schedules_the_versions_deletion():
    change = rules.write_version(key_with(delete_version_after=5), "k", EngineConfig(), None, NOW)
    assert change.added is not None and change.added.deletion_time == NOW + 5 * SECOND


# -- reads ---------------------------------------------------------------------------------------------------


def test_a_read_of_a_live_version_returns_data_and_metadata():
    key = key_with(1, custom_metadata={"o": "x"})
    body = rules.read_result(key, key.versions[1], '{"a":1}', NOW)
    assert body["data"] == {"a": 1}
    assert body["metadata"]["version"] == 1 and body["metadata"]["custom_metadata"] == {"o": "x"}


def test_a_read_of_a_missing_version_is_a_bare_not_found():
    with pytest.raises(rules.KVNotFound) as caught:
        rules.read_result(key_with(1), None, None, NOW)
    assert caught.value.body is None


@pytest.mark.parametrize(
    "version",
    [VersionInfo(1, NOW, deletion_time=NOW - 1), VersionInfo(1, NOW, destroyed=True)],
    ids=["deleted", "destroyed"],
)
def test_a_read_of_a_deleted_or_destroyed_version_is_not_found_with_its_metadata(version):
    with pytest.raises(rules.KVNotFound) as caught:
        rules.read_result(key_with(1), version, '{"a":1}', NOW)
    assert caught.value.body is not None
    assert caught.value.body["data"] is None and caught.value.body["metadata"]["version"] == 1


def test_a_version_scheduled_for_later_deletion_is_still_readable():
    version = VersionInfo(1, NOW, deletion_time=NOW + SECOND)
    assert rules.read_result(key_with(1), version, "{}", NOW)["data"] == {}


# -- delete, undelete, destroy -------------------------------------------------------------------------------


def test_soft_delete_marks_only_the_current_version():
    key = key_with(1, 2)
    change = rules.soft_delete_latest(key, NOW)
    assert [v.number for v in change.updated] == [2]
    assert key.versions[2].deletion_time == NOW and key.versions[1].deletion_time is None


def test_soft_delete_leaves_deleted_and_destroyed_versions_alone():
    key = key_with(1)
    key.versions[1].deletion_time = NOW - 5
    assert rules.soft_delete_latest(key, NOW).updated == []
    assert key.versions[1].deletion_time == NOW - 5
    key.versions[1] = VersionInfo(1, NOW, destroyed=True)
    assert rules.soft_delete_latest(key, NOW).updated == []
    assert rules.soft_delete_latest(key_with(), NOW).updated == []


def test_delete_brings_a_scheduled_deletion_forward():
    key = key_with(1)
    key.versions[1].deletion_time = NOW + 100 * SECOND
    rules.delete_versions(key, [1], NOW)
    assert key.versions[1].deletion_time == NOW


def test_undelete_restores_versions_not_destroyed_and_restarts_delete_version_after():
    key = key_with(1, 2, 3, delete_version_after=10)
    key.versions[1].deletion_time = NOW - 1
    key.versions[2] = VersionInfo(2, NOW, deletion_time=NOW - 1, destroyed=True)
    change = rules.undelete_versions(key, [1, 2, 9], EngineConfig(), NOW)
    assert [v.number for v in change.updated] == [1]
    assert key.versions[1].deletion_time == NOW + 10 * SECOND
    assert key.versions[2].deletion_time == NOW - 1


def test_destroy_marks_versions_destroyed_once():
    key = key_with(1, 2)
    assert [v.number for v in rules.destroy_versions(key, [1, 5]).updated] == [1]
    assert key.versions[1].destroyed and not key.versions[2].destroyed
    assert rules.destroy_versions(key, [1]).updated == []


# -- metadata and config -------------------------------------------------------------------------------------


def test_metadata_write_creates_a_key_without_versions():
    change = rules.write_metadata(None, "k", {"max_versions": 3, "custom_metadata": {"a": "b"}}, NOW)
    assert change.new_key and change.key.max_versions == 3 and change.key.custom_metadata == {"a": "b"}
    assert change.key.current_version == 0 and change.key.created_time == NOW


def test_metadata_write_changes_only_the_fields_given():
    key = key_with(1, max_versions=4, custom_metadata={"a": "1"})
    rules.write_metadata(key, "k", {"cas_required": True}, NOW)
    assert key.max_versions == 4 and key.custom_metadata == {"a": "1"} and key.cas_required


def test_metadata_patch_merges_custom_metadata_and_null_resets():
    key = key_with(1, max_versions=4, cas_required=True, custom_metadata={"a": "1", "b": "2"})
    rules.patch_metadata(key, {"max_versions": None, "custom_metadata": {"a": None, "c": "3"}})
    assert key.max_versions == 0 and key.cas_required and key.custom_metadata == {"b": "2", "c": "3"}
    rules.patch_metadata(key, {"custom_metadata": None})
    assert key.custom_metadata is None


def test_metadata_patch_needs_an_existing_key_and_keeps_the_key_limit():
    with pytest.raises(rules.KVNotFound):
        rules.patch_metadata(None, {"max_versions": 1})
    key = key_with(1, custom_metadata={f"k{i}": "v" for i in range(60)})
    with pytest.raises(rules.KVError, match="at most 64 keys"):
        rules.patch_metadata(key, {"custom_metadata": {f"n{i}": "v" for i in range(5)}})


def test_engine_configuration_applies_fields_and_normalizes_a_negative_duration():
    config = rules.configure(EngineConfig(), {"max_versions": 4, "delete_version_after": -30})
    assert config == EngineConfig(max_versions=4, delete_version_after=DELETE_VERSION_AFTER_DISABLED)
    rules.configure(config, {"delete_version_after": 0, "cas_required": True})
    assert config == EngineConfig(max_versions=4, cas_required=True, delete_version_after=0)
    with pytest.raises(rules.KVError, match="max_versions"):
        rules.configure(config, {"max_versions": rules.MAX_MAX_VERSIONS + 1})


def test_patch_target_is_the_live_current_version():
    key = key_with(1, 2)
    assert rules.patch_target(key, EngineConfig(), None, NOW).number == 2
    key.versions[2].deletion_time = NOW
    with pytest.raises(rules.KVNotFound) as caught:
        rules.patch_target(key, EngineConfig(), None, NOW)
    assert caught.value.body is not None and caught.value.body["version"] == 2
    with pytest.raises(rules.KVNotFound):
        rules.patch_target(None, EngineConfig(), None, NOW)
    with pytest.raises(rules.KVError, match=rules.CAS_MISMATCH):
        rules.patch_target(key_with(1), EngineConfig(), 3, NOW)


# -- listing -------------------------------------------------------------------------------------------------


def test_list_children_are_keys_and_folders_one_level_down():
    paths = ["a", "b/c", "b/d/e", "b/d/f", "bee", "b"]
    assert rules.list_children(paths, "") == ["a", "b", "b/", "bee"]
    assert rules.list_children(paths, "b/") == ["c", "d/"]
    assert rules.list_children(paths, "b/d/") == ["e", "f"]
    assert rules.list_children(paths, "zzz/") == []
