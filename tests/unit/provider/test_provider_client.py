"""The provider's HTTP client against a real HTTP server on loopback: headers, errors, retries, TLS."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from provider_http import FakeVault

from vaultguard.provider.client import (
    ApiError,
    ClientSettings,
    Conflict,
    EnterpriseRequired,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PlainHttpServer,
    Unreachable,
    UntrustedCertificate,
    VaultClient,
    is_enterprise_version,
    join_namespace,
    path_segment,
)


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    yield fake
    fake.close()


def make_client(url: str, **overrides) -> VaultClient:
    settings = dict(address=url, token="parent-token", backoff_factor=0, max_retries=2)
    settings.update(overrides)
    return VaultClient(ClientSettings(**settings))


# ---- requests on the wire ---------------------------------------------------------------------------


def test_every_request_carries_the_child_token_and_the_vault_request_header(vault: FakeVault) -> None:
    vault.on("GET", "secret/data/app", (200, {"data": {"data": {"k": "v"}}}))
    client = make_client(vault.url)

    assert client.read("secret/data/app") == {"data": {"data": {"k": "v"}}}

    create = vault.calls("POST", "auth/token/create")[0]
    assert create.header("X-Vault-Token") == "parent-token"
    assert create.body == {
        "display_name": "terraform",
        "ttl": "1200s",
        "explicit_max_ttl": "1200s",
        "renewable": False,
    }
    read = vault.calls("GET", "secret/data/app")[0]
    assert read.header("X-Vault-Token") == "child-token"
    assert read.header("X-Vault-Request") == "true"
    assert read.header("X-Vault-Namespace") is None


def test_skip_child_token_uses_the_configured_token(vault: FakeVault) -> None:
    vault.on("GET", "x", (200, {"data": {}}))
    client = make_client(vault.url, skip_child_token=True)

    client.read("x")

    assert vault.calls("POST", "auth/token/create") == []
    assert vault.calls("GET", "x")[0].header("X-Vault-Token") == "parent-token"


def test_the_token_is_settled_once_per_client(vault: FakeVault) -> None:
    vault.on("GET", "x", (200, {"data": {}}))
    client = make_client(vault.url)

    for _ in range(3):
        client.read("x")

    assert len(vault.calls("GET", "auth/token/lookup-self")) == 1
    assert len(vault.calls("POST", "auth/token/create")) == 1


def test_namespace_header_joins_provider_and_resource_namespaces(vault: FakeVault) -> None:
    vault.on("GET", "x", (200, {"data": {}}))
    client = make_client(vault.url, namespace="/team/")

    client.read("x", namespace="agents/")
    client.read("x")

    assert [r.header("X-Vault-Namespace") for r in vault.calls("GET", "x")] == ["team/agents", "team"]


def test_the_tokens_namespace_is_the_default_and_hosts_the_child_token(vault: FakeVault) -> None:
    vault.token_namespace = "ns1/"
    vault.on("GET", "x", (200, {"data": {}}))
    client = make_client(vault.url)

    client.read("x", namespace="sub")

    assert vault.calls("GET", "auth/token/lookup-self")[0].header("X-Vault-Namespace") is None
    assert vault.calls("POST", "auth/token/create")[0].header("X-Vault-Namespace") == "ns1"
    assert vault.calls("GET", "x")[0].header("X-Vault-Namespace") == "ns1/sub"


def test_set_namespace_from_token_false_keeps_the_root_namespace(vault: FakeVault) -> None:
    vault.token_namespace = "ns1/"
    vault.on("GET", "x", (200, {"data": {}}))
    client = make_client(vault.url, set_namespace_from_token=False)

    client.read("x")

    assert vault.calls("GET", "x")[0].header("X-Vault-Namespace") is None


@pytest.mark.parametrize("spelling", ["X-Vault-Token", "x-vault-token"])
def test_extra_headers_are_sent_but_cannot_replace_the_token(vault: FakeVault, spelling: str) -> None:
    vault.on("GET", "x", (200, {"data": {}}))
    client = make_client(vault.url, headers=(("X-Team", "platform"), (spelling, "spoofed")))

    client.read("x")

    read = vault.calls("GET", "x")[0]
    assert read.header("X-Team") == "platform"
    assert read.header("X-Vault-Token") == "child-token"
    assert "spoofed" not in read.headers.values()


def test_write_sends_json_with_put_and_returns_the_body(vault: FakeVault) -> None:
    vault.on("PUT", "agent-registry/register", lambda r: (200, {"data": {"id": "abc", "echo": r.body}}))
    client = make_client(vault.url)

    assert client.write("agent-registry/register", {"display_name": "bot"}) == {
        "data": {"id": "abc", "echo": {"display_name": "bot"}}
    }


def test_write_answered_with_204_returns_none(vault: FakeVault) -> None:
    vault.on("PUT", "sys/policy/p", (204, None))

    assert make_client(vault.url).write("sys/policy/p", {"policy": ""}) is None


def test_read_of_a_missing_object_is_none(vault: FakeVault) -> None:
    assert make_client(vault.url).read("agent-registry/registration/id/nope") is None


def test_a_server_without_the_token_endpoints_is_an_error_not_a_missing_object(vault: FakeVault) -> None:
    # Otherwise an address pointing at the wrong server would make every resource look deleted.
    vault.on("GET", "auth/token/lookup-self", (404, {"errors": []}))

    with pytest.raises(NotFound):
        make_client(vault.url).read("agent-registry/registration/id/abc")
    with pytest.raises(NotFound):
        make_client(vault.url).list("agent-registry/registration/id")


def test_list_uses_the_list_method_and_returns_keys(vault: FakeVault) -> None:
    vault.on("LIST", "agent-registry/registration/id", (200, {"data": {"keys": ["a", "b"]}}))

    assert make_client(vault.url).list("agent-registry/registration/id") == ["a", "b"]


def test_policy_names_are_listed_once_per_namespace_until_this_client_writes_a_policy(vault: FakeVault) -> None:
    vault.on("LIST", "sys/policies/acl", (200, {"data": {"keys": ["default", "ops"]}}))
    vault.on("PUT", "sys/policies/acl/new", (204, None))
    client = make_client(vault.url)

    assert client.policy_names() == {"default", "ops"}
    assert client.policy_names() == {"default", "ops"}
    assert client.policy_names("team") == {"default", "ops"}
    assert len(vault.calls("LIST", "sys/policies/acl")) == 2  # once for each namespace

    vault.on("LIST", "sys/policies/acl", (200, {"data": {"keys": ["default", "new", "ops"]}}))
    client.write("sys/policies/acl/new", {"policy": ""})

    assert client.policy_names() == {"default", "new", "ops"}


def test_list_of_nothing_is_empty(vault: FakeVault) -> None:
    assert make_client(vault.url).list("agent-registry/registration/id") == []


def test_delete_of_something_already_gone_succeeds(vault: FakeVault) -> None:
    client = make_client(vault.url)

    client.delete("sys/policy/gone")

    assert len(vault.calls("DELETE", "sys/policy/gone")) == 1


# ---- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, InvalidRequest),
        (401, PermissionDenied),
        (403, PermissionDenied),
        (404, NotFound),
        (409, Conflict),
        (405, ApiError),
    ],
)
def test_error_statuses_become_typed_errors_carrying_the_servers_messages(
    vault: FakeVault, status: int, error_type: type[ApiError]
) -> None:
    vault.on("PUT", "x", (status, {"errors": ["display_name is required", "second problem"]}))

    with pytest.raises(error_type) as caught:
        make_client(vault.url).write("x", {})

    assert caught.value.status == status
    assert caught.value.errors == ["display_name is required", "second problem"]
    assert "display_name is required; second problem" in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)


def test_the_fields_a_validation_error_is_about_are_read_from_field_errors(vault: FakeVault) -> None:
    body = {
        "errors": ["a", "b", "c"],
        "field_errors": [
            {"field": ["public_keys", 1, "pem"], "error": "a"},
            {"field": "not a path", "error": "b"},
            {"field": [], "error": "c"},
        ],
    }
    vault.on("PUT", "x", (400, body))

    with pytest.raises(InvalidRequest) as caught:
        make_client(vault.url).write("x", {})

    assert caught.value.field_paths == [["public_keys", 1, "pem"]]  # malformed entries are ignored


def test_a_token_that_is_refused_fails_on_first_use_with_the_servers_message(vault: FakeVault) -> None:
    vault.on("GET", "auth/token/lookup-self", (403, {"errors": ["permission denied"]}))

    with pytest.raises(PermissionDenied, match="permission denied"):
        make_client(vault.url).read("x")


def test_5xx_answers_are_retried_up_to_max_retries(vault: FakeVault) -> None:
    vault.sequence(
        "GET", "x", [(503, {"errors": ["sealed"]}), (502, {"errors": []}), (200, {"data": {"ok": True}})]
    )

    assert make_client(vault.url, max_retries=2).read("x") == {"data": {"ok": True}}
    assert len(vault.calls("GET", "x")) == 3


def test_5xx_after_the_last_retry_surfaces_the_servers_message(vault: FakeVault) -> None:
    vault.on("GET", "x", (500, {"errors": ["storage unavailable"]}))

    with pytest.raises(ApiError, match="storage unavailable"):
        make_client(vault.url, max_retries=1).read("x")
    assert len(vault.calls("GET", "x")) == 2


def test_client_errors_are_not_retried(vault: FakeVault) -> None:
    vault.on("PUT", "x", (400, {"errors": ["bad"]}))

    with pytest.raises(InvalidRequest):
        make_client(vault.url, max_retries=3).write("x", {})
    assert len(vault.calls("PUT", "x")) == 1


def test_an_unreachable_server_is_reported_as_such() -> None:
    fake = FakeVault()
    url = fake.url
    fake.close()

    with pytest.raises(Unreachable, match="could not reach"):
        make_client(url, max_retries=1).read("x")


# ---- enterprise check -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [("2.1.0+ent", True), ("1.15.2+ent.hsm", True), ("2.1.0", False), ("2.1.0-ent", False), ("", False)],
)
def test_enterprise_is_recognized_by_build_metadata(version: str, expected: bool) -> None:
    assert is_enterprise_version(version) is expected


def test_enterprise_check_reads_seal_status_once_without_namespace(vault: FakeVault) -> None:
    client = make_client(vault.url, namespace="team")

    assert client.require_enterprise() == "2.1.0+ent"
    assert client.require_enterprise() == "2.1.0+ent"

    calls = vault.calls("GET", "sys/seal-status")
    assert len(calls) == 1
    assert calls[0].header("X-Vault-Namespace") is None


def test_a_community_server_fails_the_enterprise_check(vault: FakeVault) -> None:
    vault.version = "2.1.0"

    with pytest.raises(EnterpriseRequired, match="Enterprise Feature Required.*2.1.0"):
        make_client(vault.url).require_enterprise()


def test_version_override_replaces_the_server_version(vault: FakeVault) -> None:
    client = make_client(vault.url, skip_get_vault_version=True, vault_version_override="2.1.0+ent")

    assert client.require_enterprise() == "2.1.0+ent"
    assert vault.calls("GET", "sys/seal-status") == []

    # Told not to ask and given nothing to check: skipped, never a failure of every apply.
    assert make_client(vault.url, skip_get_vault_version=True).require_enterprise() is None
    assert vault.calls("GET", "sys/seal-status") == []


# ---- TLS --------------------------------------------------------------------------------------------


LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it."""
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def tls_vault(tls_files: tuple[Path, Path, Path]) -> Iterator[FakeVault]:
    _, cert_file, key_file = tls_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    fake = FakeVault(tls=ctx)
    fake.on("GET", "x", (200, {"data": {"ok": True}}))
    yield fake
    fake.close()


def test_a_server_signed_by_the_configured_ca_file_is_trusted(tls_vault: FakeVault, tls_files) -> None:
    assert make_client(tls_vault.url, ca_cert_file=str(tls_files[0])).read("x") == {"data": {"ok": True}}


def test_a_server_signed_by_an_unknown_ca_is_refused(tls_vault: FakeVault) -> None:
    with pytest.raises(UntrustedCertificate, match=f"the certificate of {tls_vault.url} is not trusted: .*verify"):
        make_client(tls_vault.url, max_retries=0).read("x")


def test_https_to_a_plain_http_server_is_told_apart_from_other_tls_failures(vault: FakeVault) -> None:
    address = vault.url.replace("http://", "https://")

    with pytest.raises(PlainHttpServer, match=f"^{address} answered in plain HTTP, not TLS"):
        make_client(address, max_retries=0).read("x")


def test_skip_tls_verify_accepts_any_server_certificate(tls_vault: FakeVault) -> None:
    with pytest.warns(Warning):  # urllib3 says loudly that the request is unverified
        assert make_client(tls_vault.url, skip_tls_verify=True).read("x") == {"data": {"ok": True}}


# ---- helpers ----------------------------------------------------------------------------------------


def test_namespaces_join_without_stray_slashes() -> None:
    assert join_namespace("admin/", "/team", None, "") == "admin/team"
    assert join_namespace(None, "") is None


def test_path_segments_are_escaped_whole() -> None:
    assert path_segment("team/bot 1") == "team%2Fbot%201"
