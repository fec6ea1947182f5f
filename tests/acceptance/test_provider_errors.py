"""Errors that say how to fix, as a user sees them through the real Terraform CLI.

The provider checks its connection and token when Terraform configures it (the token lookup, and the child
token unless `skip_child_token`), so `plan` fails on a bad setting even when the state is still empty; each
message names what was wrong and the setting that fixes it. A policy named in `ceiling_policies` or in an
entity's `policies` that the server does not have is a warning, never an error.
"""

from __future__ import annotations

from typing import Any

import pytest
import urllib3
from tf_steps import CHANGES, NO_CHANGES, apply, closed_port_address, fails, ok, plan

import vgtest

pytestmark = pytest.mark.terraform

READ_KV = '"path \\"kv/*\\" { capabilities = [\\"read\\"] }"'
A_POLICY = f'resource "vault_policy" "p" {{\n  name = "errors-test"\n  policy = {READ_KV}\n}}\n'


def first_plan(terraform: Any, **provider: Any) -> Any:
    """init, then plan one new resource with an empty state, with these provider settings."""
    terraform.configure_provider(**provider)
    terraform.write("main.tf", A_POLICY)
    ok(terraform("init"))
    return terraform("plan", "-detailed-exitcode")


def plain(result: Any) -> str:
    return " ".join((result.stdout + result.stderr).split())


# ---- connection and authentication: checked when the provider is configured --------------------------


def test_a_refused_token_fails_the_first_plan_and_names_the_setting(terraform, service, namespace) -> None:
    result = first_plan(terraform, address=service.url, token="hvs.not-a-token", namespace=namespace)

    fails(
        result,
        "The server refused the token",
        'Check `token` in the provider "vault" block, or VAULT_TOKEN when the block sets none',
    )
    assert "lookup-self" in plain(result)  # the request that was refused, for whoever debugs it


def test_a_refused_token_from_the_environment_is_reported_the_same_way(terraform, service, namespace) -> None:
    terraform.configure_provider(address=service.url, namespace=namespace)
    terraform.write("main.tf", A_POLICY)
    ok(terraform("init"))

    result = terraform("plan", env={"VAULT_TOKEN": "hvs.wrong"})

    fails(result, "The server refused the token", "VAULT_TOKEN")


def test_https_against_a_plain_http_server_says_so(terraform, service, namespace) -> None:
    address = service.url.replace("http://", "https://")

    result = first_plan(terraform, address=address, token=service.root_token, namespace=namespace)

    fails(
        result,
        f"{address} answered in plain HTTP, not TLS",
        f"use {service.url} as `address` (or VAULT_ADDR), or enable TLS on the server",
    )
    assert "WRONG_VERSION_NUMBER" not in plain(result)


@pytest.fixture(scope="module")
def tls_service(tmp_path_factory: pytest.TempPathFactory):
    """A production-mode server on HTTPS with a self-signed certificate; its CA file is `srv.ca_file`."""
    workdir = tmp_path_factory.mktemp("tls-service")
    cert, key = vgtest.self_signed(workdir)
    token_file = workdir / "root-token"
    token_file.write_text("hvs.tls-root-token\n")
    config = workdir / "server.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:1"\n  tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n}}\n'
        f'storage "sqlite" {{ path = "{workdir / "tls.db"}" }}\n'
        f'initial_root_token_file = "{token_file}"\n'
    )
    urllib3.disable_warnings()  # the start-up health check does not verify the certificate
    srv = vgtest.Server("", workdir, config_file=config, scheme="https", root_token="hvs.tls-root-token").start()
    srv.ca_file = cert
    try:
        yield srv
    finally:
        srv.stop()


def test_an_untrusted_certificate_names_the_ca_settings(terraform, tls_service) -> None:
    result = first_plan(terraform, address=tls_service.url, token=tls_service.root_token)

    fails(
        result,
        f"The certificate of {tls_service.url} is not trusted",
        "ca_cert_file",
        "VAULT_CACERT",
        "skip_tls_verify",
        "insecure",
    )

    trusted = {"ca_cert_file": str(tls_service.ca_file)}
    terraform.configure_provider(address=tls_service.url, token=tls_service.root_token, **trusted)
    assert plan(terraform).rc == CHANGES


def limited_token(service: Any, policy_name: str, rules: str) -> str:
    """A token of the root namespace holding one policy (and `default`)."""
    client = service.client()
    assert client.post(f"sys/policies/acl/{policy_name}", json={"policy": rules}).status_code in (200, 204)
    created = client.post("auth/token/create", json={"policies": [policy_name]})
    assert created.status_code == 200, created.text
    return created.json()["auth"]["client_token"]


def test_a_token_that_may_not_create_child_tokens_names_skip_child_token(terraform, service, namespace) -> None:
    ci_token = limited_token(service, "ci-reader", 'path "sys/policies/acl/*" { capabilities = ["read"] }')

    result = first_plan(terraform, address=service.url, token=ci_token, namespace=namespace)

    fails(
        result,
        "The token may not create the provider's child token",
        "auth/token/create",
        "skip_child_token = true",
        "TERRAFORM_VAULT_SKIP_CHILD_TOKEN",
    )
    terraform.configure_provider(address=service.url, token=ci_token, namespace=namespace, skip_child_token=True)
    assert plan(terraform).rc == CHANGES


def test_an_unreachable_server_fails_the_first_plan_and_names_the_address(terraform) -> None:
    address = closed_port_address()

    result = first_plan(terraform, address=address, token="hvs.any", max_retries=0)

    fails(result, f"Could not reach the server at {address}", "Connection refused", "`address`", "VAULT_ADDR")


def test_validate_still_needs_no_server(terraform) -> None:
    terraform.configure_provider(address=closed_port_address(), token="hvs.any")
    terraform.write("main.tf", A_POLICY)
    ok(terraform("init"))

    ok(terraform("validate"))


# ---- policies that do not exist: a warning ---------------------------------------------------------


def registration(ceiling: str, entity: str = "vault_identity_entity.e.id") -> str:
    return (
        'resource "vault_identity_entity" "e" {\n  name = "agent-entity"\n}\n'
        'resource "vault_agent_registration" "a" {\n  display_name = "agent"\n'
        f"  entity_id = {entity}\n  ceiling_policies = {ceiling}\n}}\n"
    )


def policy(label: str, name: str) -> str:
    return (
        f'resource "vault_policy" "{label}" {{\n  name = "{name}"\n  policy = {READ_KV}\n}}\n'
    )


WARNED = "does not exist"


def test_a_ceiling_policy_the_server_lacks_is_a_warning_naming_it(terraform, service, namespace) -> None:
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", registration('["reader", "Reeder"]') + policy("reader", "reader"))
    ok(terraform("init"))
    apply(terraform)

    result = plan(terraform)

    assert result.rc == NO_CHANGES, result.stdout + result.stderr  # a warning, never an error or a diff
    assert 'Warning: Policy "reeder" does not exist' in plain(result)
    assert "ceiling_policies names a policy that namespace" in plain(result)
    assert plain(result).count("does not exist") == 1  # the one that exists is not mentioned

    # creating it makes the warning go away
    terraform.write("policies.tf", policy("typo", "reeder"))
    apply(terraform)
    assert WARNED not in plain(plan(terraform))


def test_an_entity_policy_the_server_lacks_is_a_warning_naming_it(terraform, service, namespace) -> None:
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", 'resource "vault_identity_entity" "e" {\n  name = "x"\n  policies = ["nope"]\n}\n')
    ok(terraform("init"))
    apply(terraform)

    result = plan(terraform)

    assert result.rc == NO_CHANGES
    assert 'Warning: Policy "nope" does not exist' in plain(result)
    assert "policies names a policy that namespace" in plain(result)


@pytest.mark.parametrize("reference", [False, True], ids=["literal-name", "reference"])
def test_policies_created_in_the_same_configuration_never_warn(
    terraform, service, namespace, reference: bool
) -> None:
    ceiling = '[vault_policy.ceiling.name, "default"]' if reference else '["agent-ceiling", "default"]'
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        registration(ceiling)
        + policy("ceiling", "agent-ceiling")
        + policy("entity", "entity-policy")
        + 'resource "vault_identity_entity" "f" {\n  name = "f"\n  policies = ["entity-policy"]\n}\n',
    )
    ok(terraform("init"))

    for result in (plan(terraform), apply(terraform), plan(terraform), apply(terraform, "-refresh-only")):
        assert WARNED not in plain(result), plain(result)


def test_without_permission_to_list_policies_there_is_no_warning(terraform, service, namespace) -> None:
    everything = '{ capabilities = ["create", "read", "update", "delete", "list"] }'
    rules = f'path "{namespace}/identity/entity" {everything}\npath "{namespace}/identity/entity/*" {everything}\n'
    token = limited_token(service, "entities-only", rules)
    terraform.configure_provider(address=service.url, token=token, namespace=namespace, skip_child_token=True)
    terraform.write("main.tf", 'resource "vault_identity_entity" "e" {\n  name = "y"\n  policies = ["nope"]\n}\n')
    ok(terraform("init"))
    apply(terraform)

    result = plan(terraform)

    assert result.rc == NO_CHANGES and "Warning" not in plain(result), plain(result)

