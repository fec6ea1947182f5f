"""Data source vault_kv_secret_v2 read against a real HTTP server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from provider_http import FakeVault
from tf.iface import ReadDataContext
from tf.utils import Diagnostics

from vaultguard.provider.data_sources.kv_secret_v2 import SCHEMA, KvSecretV2DataSource, api_path
from vaultguard.provider.provider import VaultProvider


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    yield fake
    fake.close()


def configured(url: str) -> VaultProvider:
    p = VaultProvider(environ={"HOME": "/nonexistent"})
    diags = Diagnostics()
    p.configure_provider(diags, {"address": url, "token": "t", "max_retries": 0, "headers": []})
    assert not diags.diagnostics
    return p


def config(**values: Any) -> dict[str, Any]:
    full = {a.name: None for a in SCHEMA.attributes}
    full.update(values)
    return full


def read(p: VaultProvider, cfg: dict[str, Any]) -> tuple[dict | None, Diagnostics]:
    diags = Diagnostics()
    state = KvSecretV2DataSource(p).read(ReadDataContext(diags, "vault_kv_secret_v2"), cfg)
    return state, diags


def test_reads_data_and_metadata(vault: FakeVault) -> None:
    vault.on(
        "GET",
        "secret/data/team/app",
        (200, {"data": {"data": {"user": "bot", "port": 5432}, "metadata": {
            "created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": False,
            "custom_metadata": {"owner": "platform"}, "version": 3}}}),
    )  # fmt: skip

    state, diags = read(configured(vault.url), config(mount="secret", name="team/app", namespace="agents"))

    assert not diags.diagnostics
    assert state["path"] == "secret/data/team/app"
    assert json.loads(state["data_json"]) == {"user": "bot", "port": 5432}
    assert state["data"] == {"user": "bot", "port": "5432"}
    assert state["custom_metadata"] == {"owner": "platform"}
    assert (state["created_time"], state["destroyed"]) == ("2026-01-01T00:00:00Z", False)
    assert vault.calls("GET", "secret/data/team/app")[0].header("X-Vault-Namespace") == "agents"


def test_a_specific_version_is_asked_for(vault: FakeVault) -> None:
    vault.on("GET", "secret/data/app", (200, {"data": {"data": {}, "metadata": {}}}))

    read(configured(vault.url), config(mount="secret", name="app", version=2))

    assert vault.calls("GET", "secret/data/app")[0].path == "secret/data/app?version=2"


def test_a_missing_secret_is_an_error_on_name(vault: FakeVault) -> None:
    state, diags = read(configured(vault.url), config(mount="secret", name="nope"))

    assert state is None
    [d] = diags.diagnostics
    assert (d.summary, d.path) == ("Unable to read vault_kv_secret_v2", ["name"])


def test_permission_denied_is_reported_with_the_servers_message(vault: FakeVault) -> None:
    vault.on("GET", "secret/data/app", (403, {"errors": ["permission denied"]}))

    state, diags = read(configured(vault.url), config(mount="secret", name="app"))

    assert state is None
    assert "permission denied" in diags.diagnostics[0].detail


def test_validation_rejects_a_negative_version() -> None:
    diags = Diagnostics()

    KvSecretV2DataSource(VaultProvider(environ={})).validate(
        diags, "vault_kv_secret_v2", config(mount="secret", name="app", version=-1)
    )

    assert [(d.summary, d.path) for d in diags.diagnostics] == [("Invalid value for version", ["version"])]


def test_names_are_escaped_segment_by_segment() -> None:
    assert api_path("/secret/", "team/my app") == "secret/data/team/my%20app"


def test_nested_values_are_compact_json_as_hashicorp_vault_writes_them(vault: FakeVault) -> None:
    secret = {"data": {"baz": {"riff": "raff"}, "on": False}, "metadata": {}}
    vault.on("GET", "secret/data/app", (200, {"data": secret}))

    state, _ = read(configured(vault.url), config(mount="secret", name="app"))

    assert state["data"] == {"baz": '{"riff":"raff"}', "on": "false"}
    assert state["data_json"] == '{"baz":{"riff":"raff"},"on":false}'


def test_a_deleted_version_reads_as_no_data_with_its_deletion_time(vault: FakeVault) -> None:
    deleted = {"created_time": "2026-01-01T00:00:00Z", "deletion_time": "2026-01-02T00:00:00Z", "destroyed": False}
    live = {"created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": False}
    versions = {"1": live, "2": deleted}
    body = {"data": {"current_version": 2, "versions": versions, "custom_metadata": {"owner": "ops"}}}
    vault.on("GET", "secret/metadata/app", (200, body))

    state, diags = read(configured(vault.url), config(mount="secret", name="app"))

    assert not diags.diagnostics
    assert (state["data"], state["data_json"]) == ({}, "null")
    assert (state["deletion_time"], state["destroyed"]) == ("2026-01-02T00:00:00Z", False)
    assert state["custom_metadata"] == {"owner": "ops"}
    # a version that is not deleted yet answered 404 stays an error (so does one that does not exist)
    for version in (1, 3):
        state, diags = read(configured(vault.url), config(mount="secret", name="app", version=version))
        assert state is None and diags.diagnostics[0].summary == "Unable to read vault_kv_secret_v2"
