"""`vaultguard terraform-import` in-process: labels, the rendered file, settings resolution, and how the
listing's failures read, against a Vault-shaped HTTP server."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_http import FakeVault

from vaultguard.provider.bulk_import import (
    PROFILE_TYPE,
    REGISTRATION_TYPE,
    BulkImportError,
    ImportTarget,
    Listing,
    assign_labels,
    client_settings,
    list_targets,
    render,
    terraform_import,
    terraform_label,
)
from vaultguard.provider.client import VaultClient
from vaultguard.provider.terraform import hcl_string

TERRAFORM_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def reg(name: str, reg_id: str | None = None) -> ImportTarget:
    return ImportTarget(REGISTRATION_TYPE, name, reg_id or f"id-{name}")


def profile(name: str) -> ImportTarget:
    return ImportTarget(PROFILE_TYPE, name, name)


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    yield fake
    fake.close()


# ---- labels -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("deploy-agent", "deploy_agent"),
        ("Deploy Agent", "deploy_agent"),
        ("team/agent one", "team_agent_one"),
        ("billing.agent--v2", "billing_agent_v2"),
        ("café", "cafe"),
        ("9lives", "_9lives"),
        ("__x__", "x"),
        ("", "unnamed"),
        ("日本", "unnamed"),
        ("///", "unnamed"),
    ],
)
def test_a_label_is_a_lower_case_terraform_identifier_made_from_the_name(name: str, label: str) -> None:
    assert terraform_label(name) == label
    assert TERRAFORM_IDENTIFIER.fullmatch(label)


def test_names_giving_the_same_label_get_numbered_suffixes_in_name_order() -> None:
    targets = [reg("agent-one"), reg("Agent One"), reg("AGENT ONE")]

    labels = assign_labels(targets)

    assert [labels[t] for t in targets] == ["agent_one_3", "agent_one_2", "agent_one"]


def test_the_name_already_equal_to_the_label_keeps_it() -> None:
    labels = assign_labels([reg("Agent-One"), reg("agent_one")])

    assert labels[reg("agent_one")] == "agent_one"
    assert labels[reg("Agent-One")] == "agent_one_2"


def test_a_suffix_never_takes_a_label_another_name_gives_naturally() -> None:
    targets = [reg("a b"), reg("a-b"), reg("a_b_2")]

    labels = assign_labels(targets)

    assert labels[reg("a_b_2")] == "a_b_2"
    assert sorted(labels.values()) == ["a_b", "a_b_2", "a_b_3"]


def test_labels_are_unique_per_resource_type_and_may_repeat_across_types() -> None:
    labels = assign_labels([reg("auth0"), profile("auth0")])

    assert labels[reg("auth0")] == labels[profile("auth0")] == "auth0"


def test_labels_do_not_depend_on_the_order_the_server_lists_in() -> None:
    targets = [reg(n) for n in ("x", "X", "x!", "x_2", "y", "Y ", "-y-", "z")]
    expected = assign_labels(targets)

    for seed in range(20):
        shuffled = targets[:]
        random.Random(seed).shuffle(shuffled)
        assert assign_labels(shuffled) == expected
    assert len(set(expected.values())) == len(targets)


# ---- rendering ----------------------------------------------------------------------------------------


def test_the_file_holds_one_sorted_import_block_per_object_profiles_first() -> None:
    listing = Listing(None, (reg("zeta", "id-z"), profile("corp-idp"), reg("alpha", "id-a")))

    text = render(listing)

    blocks = re.findall(r"import \{\n  to = (\S+)\n  id = (.*)\n\}", text)
    assert blocks == [
        (f"{PROFILE_TYPE}.corp_idp", '"corp-idp"'),
        (f"{REGISTRATION_TYPE}.alpha", '"id-a"  # "alpha"'),
        (f"{REGISTRATION_TYPE}.zeta", '"id-z"  # "zeta"'),
    ]
    assert "terraform plan -generate-config-out=generated.tf" in text
    assert "TERRAFORM_VAULT_NAMESPACE_IMPORT" not in text


def test_rendering_is_the_same_whatever_order_the_objects_come_in() -> None:
    targets = [reg(f"agent {i % 7}", f"id-{i}") for i in range(30)] + [profile("p1"), profile("P1")]

    first = render(Listing("team-a", tuple(targets)))

    assert render(Listing("team-a", tuple(reversed(targets)))) == first


def test_a_non_root_namespace_is_named_with_the_providers_import_variable() -> None:
    text = render(Listing("team-a/ci", (reg("a"),)))

    assert 'namespace "team-a/ci"' in text
    assert "TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a/ci terraform plan -generate-config-out=generated.tf" in text
    assert "TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a/ci terraform apply" in text  # apply imports again


def test_names_and_ids_are_escaped_as_hcl_strings() -> None:
    assert hcl_string('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert hcl_string("${var.x} %{if}") == '"$${var.x} %%{if}"'
    assert hcl_string("two\nlines") == '"two\\nlines"'

    text = render(Listing(None, (reg("evil\n}\nimport {", "id-1"),)))

    assert text.count("\nimport {") == 1  # the name stays inside its one-line comment
    assert '# "evil\\n}\\nimport {"' in text


# ---- settings -----------------------------------------------------------------------------------------


def test_settings_fall_back_to_the_providers_environment_variables(tmp_path: Path) -> None:
    environ = {"VAULT_ADDR": "https://vault.example.com:8200", "VAULT_TOKEN": "t", "VAULT_NAMESPACE": "team-a"}

    settings = client_settings(address=None, token=None, namespace=None, environ=environ)

    assert (settings.address, settings.token, settings.namespace) == ("https://vault.example.com:8200", "t", "team-a")
    assert settings.skip_child_token and not settings.skip_tls_verify


def test_options_win_over_the_environment() -> None:
    environ = {"VAULT_ADDR": "https://a.example.com", "VAULT_TOKEN": "t", "VAULT_NAMESPACE": "team-a"}

    settings = client_settings(
        address="http://127.0.0.1:8200", token="u", namespace="team-b", skip_tls_verify=True, environ=environ
    )

    assert (settings.address, settings.token, settings.namespace) == ("http://127.0.0.1:8200", "u", "team-b")
    assert settings.skip_tls_verify


def test_vault_skip_verify_applies_without_the_flag() -> None:
    environ = {"VAULT_ADDR": "https://a.example.com", "VAULT_TOKEN": "t", "VAULT_SKIP_VERIFY": "true"}

    assert client_settings(address=None, token=None, namespace=None, environ=environ).skip_tls_verify


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"HOME": "/nonexistent"}, "no server address: give --address or set VAULT_ADDR"),
        ({"VAULT_ADDR": "vault:8200", "HOME": "/nonexistent"}, "must be an http:// or https:// URL"),
        ({"VAULT_ADDR": "http://127.0.0.1:8200", "HOME": "/nonexistent"}, "no token: give --token"),
    ],
)
def test_missing_or_bad_settings_are_one_line_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(BulkImportError, match=re.escape(message)) as caught:
        client_settings(address=None, token=None, namespace=None, environ=environ)
    assert "\n" not in str(caught.value)


# ---- listing, against a Vault-shaped server -----------------------------------------------------------


def client(vault: FakeVault, namespace: str | None = None) -> VaultClient:
    return VaultClient(client_settings(address=vault.url, token="root", namespace=namespace, environ={}))


def test_registrations_are_imported_by_id_and_named_by_display_name(vault: FakeVault) -> None:
    vault.on(
        "LIST",
        "agent-registry/registration/id",
        (200, {"data": {"keys": ["id-1", "id-2"], "key_info": {"id-1": {"display_name": "a/b"}, "id-2": {}}}}),
    )
    vault.on("LIST", "sys/config/oauth-resource-server", (200, {"data": {"keys": ["auth0"]}}))
    seen: list[str] = []

    listing = list_targets(client(vault), seen.append)

    assert set(listing.targets) == {
        ImportTarget(REGISTRATION_TYPE, "a/b", "id-1"),
        ImportTarget(REGISTRATION_TYPE, "id-2", "id-2"),  # no display_name given: the id names it
        ImportTarget(PROFILE_TYPE, "auth0", "auth0"),
    }
    assert seen == ["listed 2 registrations", "listed 2 registrations, 1 profiles"]
    assert not any(r.path.startswith("auth/token/create") for r in vault.requests)  # no child token


def test_an_empty_namespace_lists_nothing(vault: FakeVault) -> None:
    listing = list_targets(client(vault, "team-a"))  # both lists answer 404, as Vault does when empty

    assert listing == Listing("team-a", ())


def test_a_refused_token_is_named_as_such(vault: FakeVault) -> None:
    vault.on("GET", "auth/token/lookup-self", (403, {"errors": ["permission denied"]}))

    with pytest.raises(BulkImportError, match=r"refused the token \(HTTP 403 on auth/token/lookup-self\)"):
        list_targets(client(vault))


def test_a_missing_namespace_is_told_apart_from_missing_rights(vault: FakeVault) -> None:
    denied = (403, {"errors": ["permission denied"]})
    vault.on("LIST", "agent-registry/registration/id", denied)

    with pytest.raises(BulkImportError, match="^namespace team-a/ci does not exist on http"):
        list_targets(client(vault, "team-a/ci"))
    probe = vault.requests[-1]
    assert (probe.path, probe.header("X-Vault-Namespace")) == ("sys/namespaces/ci", "team-a")

    vault.on("GET", "sys/namespaces/ci", (200, {"data": {"path": "team-a/ci/"}}))
    with pytest.raises(BulkImportError, match="^permission denied listing agent-registry/registration/id in names"):
        list_targets(client(vault, "team-a/ci"))


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    settings = client_settings(address="http://127.0.0.1:1", token="t", namespace=None, environ={})

    with pytest.raises(BulkImportError, match=r"^could not reach http://127.0.0.1:1: .*refused") as caught:
        terraform_import(settings, tmp_path / "imports.tf")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "imports.tf").exists()


# ---- the output file ----------------------------------------------------------------------------------


def test_an_existing_file_is_kept_unless_forced(vault: FakeVault, tmp_path: Path) -> None:
    output = tmp_path / "imports.tf"
    output.write_text("mine\n")
    settings = client_settings(address=vault.url, token="root", namespace=None, environ={})

    with pytest.raises(BulkImportError, match="already exists: use --force to overwrite it"):
        terraform_import(settings, output)
    assert output.read_text() == "mine\n"
    assert vault.requests == []  # refused before asking the server anything

    terraform_import(settings, output, force=True)
    assert output.read_text().startswith("# Written by `vaultguard terraform-import`")


def test_a_missing_directory_is_refused_before_listing(vault: FakeVault, tmp_path: Path) -> None:
    settings = client_settings(address=vault.url, token="root", namespace=None, environ={})

    with pytest.raises(BulkImportError, match="cannot write .*: no directory"):
        terraform_import(settings, tmp_path / "missing" / "imports.tf")
    assert vault.requests == []
