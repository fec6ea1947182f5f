"""Rendering of KV v2 records: Vault's timestamps, Go durations and response shapes."""

from __future__ import annotations

import pytest

from vaultguard.service.secrets.model import EngineConfig, SecretKey, VersionInfo, go_duration, timestamp

SECOND = 1_000_000


@pytest.mark.parametrize(
    "micros,text",
    [
        (None, ""),
        (0, "1970-01-01T00:00:00Z"),
        (1_700_000_000 * SECOND, "2023-11-14T22:13:20Z"),
        (1_700_000_000 * SECOND + 945_319, "2023-11-14T22:13:20.945319Z"),
        (1_700_000_000 * SECOND + 500_000, "2023-11-14T22:13:20.5Z"),
        (1_700_000_000 * SECOND + 1, "2023-11-14T22:13:20.000001Z"),
    ],
)
def test_timestamps_are_rfc3339_utc_without_trailing_zeros(micros, text):
    assert timestamp(micros) == text


@pytest.mark.parametrize(
    "seconds,text",
    [(0, "0s"), (1, "1s"), (59, "59s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s"), (5400, "1h30m0s"),
     (86400, "24h0m0s"), (90061, "25h1m1s"), (-1, "-1s"), (-3600, "-1h0m0s")],
)  # fmt: skip
def test_durations_render_like_go(seconds, text):
    assert go_duration(seconds) == text


def test_a_version_is_live_until_its_deletion_time_and_never_once_destroyed():
    version = VersionInfo(number=1, created_time=10, deletion_time=100)
    assert version.is_live(99) and not version.is_deleted(99)
    assert not version.is_live(100) and version.is_deleted(100)
    assert not VersionInfo(number=1, created_time=10, destroyed=True).is_live(0)
    assert VersionInfo(number=1, created_time=10).is_live(10**18)


def test_key_metadata_has_vaults_fields_with_versions_keyed_by_string():
    key = SecretKey(path="a/b", current_version=2, created_time=SECOND, updated_time=2 * SECOND)
    key.versions = {2: VersionInfo(2, 2 * SECOND), 1: VersionInfo(1, SECOND, deletion_time=3 * SECOND)}
    api = key.to_api()
    assert list(api["versions"]) == ["1", "2"]
    assert api["versions"]["1"] == {
        "created_time": "1970-01-01T00:00:01Z",
        "deletion_time": "1970-01-01T00:00:03Z",
        "destroyed": False,
    }
    assert api["custom_metadata"] is None and api["delete_version_after"] == "0s"
    assert set(api) == {
        "cas_required", "created_time", "current_version", "custom_metadata", "delete_version_after",
        "max_versions", "oldest_version", "updated_time", "versions",
    }  # fmt: skip


def test_version_metadata_carries_the_keys_custom_metadata():
    key = SecretKey(path="k", custom_metadata={"owner": "x"})
    meta = key.version_metadata(VersionInfo(3, SECOND))
    assert meta == {
        "created_time": "1970-01-01T00:00:01Z",
        "custom_metadata": {"owner": "x"},
        "deletion_time": "",
        "destroyed": False,
        "version": 3,
    }


def test_engine_config_renders_its_duration():
    assert EngineConfig(max_versions=3, cas_required=True, delete_version_after=-1).to_api() == {
        "cas_required": True,
        "delete_version_after": "-1s",
        "max_versions": 3,
    }
