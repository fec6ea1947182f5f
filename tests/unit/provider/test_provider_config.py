"""Provider configuration: hashicorp/vault-compatible arguments, environment fallbacks, diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tf.gen import tfplugin_pb2 as pb
from tf.types import Unknown
from tf.utils import Diagnostics

from vaultguard.provider.framework import ListNestedBlock
from vaultguard.provider.provider import PROVIDER_SCHEMA, VaultProvider, package_version


def config(**values: Any) -> dict[str, Any]:
    """A provider config as Terraform sends it: every schema argument present, null unless set."""
    full: dict[str, Any] = {a.name: None for a in PROVIDER_SCHEMA.attributes}
    full["headers"] = []
    full.update(values)
    return full


def provider(tmp_path: Path, **env: str) -> VaultProvider:
    return VaultProvider(environ={"HOME": str(tmp_path), **env})


def diagnostics(p: VaultProvider, cfg: dict[str, Any], phase: str) -> list[tuple[str, str, Any]]:
    diags = Diagnostics()
    getattr(p, phase)(diags, cfg)
    return [(d.severity, d.summary, d.path) for d in diags.diagnostics]


# ---- schema -----------------------------------------------------------------------------------------


def test_schema_has_the_hashicorp_vault_arguments_used_here() -> None:
    names = {a.name for a in PROVIDER_SCHEMA.attributes}

    assert {
        "address", "token", "namespace", "skip_tls_verify", "ca_cert_file", "ca_cert_dir", "skip_child_token",
        "max_retries", "token_name", "max_lease_ttl_seconds", "set_namespace_from_token",
        "skip_get_vault_version", "vault_version_override",
    } <= names  # fmt: skip
    assert all(a.optional and not a.required for a in PROVIDER_SCHEMA.attributes)


def test_token_and_header_values_are_sensitive() -> None:
    token = next(a for a in PROVIDER_SCHEMA.attributes if a.name == "token")
    [headers] = PROVIDER_SCHEMA.block_types

    assert token.sensitive
    assert isinstance(headers, ListNestedBlock)
    assert headers.to_pb().nesting == pb.Schema.NestedBlock.NestingMode.LIST
    assert {a.name: a.sensitive for a in headers.block.attributes} == {"name": False, "value": True}


def test_provider_identity() -> None:
    p = VaultProvider(environ={})

    assert p.full_name() == "registry.terraform.io/vaultguard/vault"
    assert p.get_model_prefix() == "vault_"
    assert p.version == package_version()


# ---- configure --------------------------------------------------------------------------------------


def test_config_arguments_become_client_settings(tmp_path: Path) -> None:
    p = provider(tmp_path)
    cfg = config(
        address="https://vault.example:8200/", token="s.abc", namespace="admin/", skip_child_token=True,
        max_retries=5, token_name="ci", headers=[{"name": "X-Team", "value": "platform"}],
        ca_cert_file="/etc/ca.pem", max_lease_ttl_seconds=600,
    )  # fmt: skip

    assert diagnostics(p, cfg, "configure_provider") == []
    client = p.client
    s = client.settings
    assert (s.address, s.token, s.namespace, s.skip_child_token) == (
        "https://vault.example:8200/",
        "s.abc",
        "admin/",
        True,
    )
    assert (s.max_retries, s.token_name, s.ca_cert_file, s.child_token_ttl) == (5, "ci", "/etc/ca.pem", 600)
    assert s.headers == (("X-Team", "platform"),)
    assert client.address == "https://vault.example:8200"
    assert client.namespace == "admin"


def test_environment_variables_fill_what_the_config_leaves_out(tmp_path: Path) -> None:
    p = provider(
        tmp_path, VAULT_ADDR="http://127.0.0.1:8200", VAULT_TOKEN="env-token", VAULT_NAMESPACE="team",
        VAULT_SKIP_VERIFY="true", VAULT_CACERT="/ca.pem", VAULT_CAPATH="/ca.d", VAULT_MAX_RETRIES="7",
        TERRAFORM_VAULT_SKIP_CHILD_TOKEN="1", VAULT_TOKEN_NAME="from-env",
    )  # fmt: skip

    assert diagnostics(p, config(), "configure_provider") == []
    s = p.client.settings
    assert (s.address, s.token, s.namespace, s.skip_tls_verify) == (
        "http://127.0.0.1:8200",
        "env-token",
        "team",
        True,
    )
    assert (s.ca_cert_file, s.ca_cert_dir, s.max_retries, s.skip_child_token, s.token_name) == (
        "/ca.pem", "/ca.d", 7, True, "from-env"
    )  # fmt: skip


def test_config_wins_over_environment(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_ADDR="http://env:8200", VAULT_TOKEN="env-token")

    diagnostics(p, config(address="http://config:8200", token="config-token"), "configure_provider")

    assert (p.client.settings.address, p.client.settings.token) == ("http://config:8200", "config-token")


def test_token_falls_back_to_the_vault_token_file(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("file-token\n")
    p = provider(tmp_path, VAULT_ADDR="http://127.0.0.1:8200")

    assert diagnostics(p, config(), "configure_provider") == []
    assert p.client.settings.token == "file-token"


def test_missing_address_is_an_error_at_configure(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_TOKEN="t")

    assert diagnostics(p, config(), "configure_provider") == [("error", "Missing Vault address", ["address"])]


def test_missing_token_is_an_error_at_configure(tmp_path: Path) -> None:
    p = provider(tmp_path)

    assert diagnostics(p, config(address="http://127.0.0.1:8200"), "configure_provider") == [
        ("error", "Missing Vault token", ["token"])
    ]


def test_empty_strings_count_as_unset(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_ADDR="http://127.0.0.1:8200", VAULT_TOKEN="t")

    assert diagnostics(p, config(address="", token=""), "configure_provider") == []
    assert p.client.settings.address == "http://127.0.0.1:8200"


def test_an_address_that_is_not_a_url_is_rejected(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_TOKEN="t")

    assert diagnostics(p, config(address="vault.example:8200"), "configure_provider") == [
        ("error", "Invalid value for address", ["address"])
    ]


def test_a_bad_vault_addr_is_rejected_naming_the_variable(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_TOKEN="t", VAULT_ADDR="vault:8200")
    diags = Diagnostics()

    p.configure_provider(diags, config())

    assert "VAULT_ADDR" in diags.diagnostics[0].detail


@pytest.mark.parametrize(
    ("env", "summary"),
    [
        ({"VAULT_SKIP_VERIFY": "maybe"}, "Invalid value for skip_tls_verify"),
        ({"VAULT_MAX_RETRIES": "-1"}, "Invalid value for max_retries"),
        ({"VAULT_MAX_RETRIES": "two"}, "Invalid value for max_retries"),
    ],
)
def test_unusable_environment_values_are_errors(tmp_path: Path, env: dict[str, str], summary: str) -> None:
    p = provider(tmp_path, VAULT_ADDR="http://127.0.0.1:8200", VAULT_TOKEN="t", **env)
    diags = Diagnostics()

    p.configure_provider(diags, config())

    assert [d.summary for d in diags.diagnostics] == [summary]
    assert next(iter(env)) in diags.diagnostics[0].detail


def test_an_address_unknown_until_apply_is_reported(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_TOKEN="t")

    assert diagnostics(p, config(address=Unknown), "configure_provider") == [
        ("error", "Provider argument address is not known yet", ["address"])
    ]


def test_configure_contacts_nothing(tmp_path: Path) -> None:
    # Port 1 refuses connections: configuring must still succeed, the first API call reports it.
    p = provider(tmp_path)

    assert diagnostics(p, config(address="http://127.0.0.1:1", token="t"), "configure_provider") == []


# ---- validate ---------------------------------------------------------------------------------------


def test_validate_warns_about_missing_credentials_without_failing(tmp_path: Path) -> None:
    p = provider(tmp_path)

    found = diagnostics(p, config(), "validate_config")

    assert [(sev, path) for sev, _, path in found] == [("warning", ["address"]), ("warning", ["token"])]
    assert found[0][1].startswith("Missing Vault address")


def test_validate_is_quiet_when_the_environment_provides_credentials(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_ADDR="http://127.0.0.1:8200", VAULT_TOKEN="t")

    assert diagnostics(p, config(), "validate_config") == []


def test_validate_rejects_a_written_bad_address(tmp_path: Path) -> None:
    p = provider(tmp_path, VAULT_TOKEN="t")

    assert diagnostics(p, config(address="not a url"), "validate_config") == [
        ("error", "Invalid value for address", ["address"])
    ]


def test_validate_skips_values_unknown_at_plan(tmp_path: Path) -> None:
    p = provider(tmp_path)

    assert diagnostics(p, config(address=Unknown, token=Unknown), "validate_config") == []


def test_using_the_client_before_configure_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="before Terraform configured it"):
        _ = VaultProvider(environ={}).client
