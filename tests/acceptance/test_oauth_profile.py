"""vault_oauth_resource_server_config_profile with the real Terraform CLI against the real service: the
standard acceptance steps, plus what the upstream resource gets wrong (DECISIONS.md#d50): plan-time validation,
server-normalized values (issuer, PEM, lists) without diffs, import by config_id, the 2.1 attributes.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from tf_steps import (
    CHANGES,
    NO_CHANGES,
    apply,
    assert_empty_plan,
    assert_no_changes,
    assert_plans,
    fails,
    ok,
    plan,
    point_at_unreachable_service,
)

from vaultguard.service.authn.keys import ALGORITHMS, normalize_pem

pytestmark = pytest.mark.terraform

ADDRESS = "vault_oauth_resource_server_config_profile.idp"
JWKS_URI = "https://idp.example.com/.well-known/jwks.json"


# ---- helpers ------------------------------------------------------------------------------------------


def public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def ca_certificate_pem() -> str:
    """A self-signed CA certificate (what `jwks_ca_pem` holds)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {
        "ca": ca_certificate_pem(),
        "rsa": public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "weak_rsa": public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "ec": public_pem(ec.generate_private_key(ec.SECP256R1())),
        "ed25519": public_pem(ed25519.Ed25519PrivateKey.generate()),
    }


def oddly_spaced(pem: str) -> str:
    """The same key with CRLF line ends, indentation, blank lines and the base64 rewrapped at 40."""
    lines = pem.strip().splitlines()
    body = "".join(lines[1:-1])
    wrapped = [body[i : i + 40] for i in range(0, len(body), 40)]
    return "\r\n\r\n" + "\r\n".join([lines[0], *(f"   {w}" for w in wrapped), lines[-1]]) + "\r\n\r\n\r\n"


def block(name: str = "idp", keys: list[tuple[str, str]] = (), **arguments: Any) -> str:
    """A profile resource block; values are written as JSON, which HCL reads as-is."""
    lines = [f"  {key} = {json.dumps(value)}" for key, value in arguments.items()]
    for key_id, pem in keys:
        lines.append(f"  public_keys {{\n    key_id = {json.dumps(key_id)}\n    pem = {json.dumps(pem)}\n  }}")
    return f'resource "vault_oauth_resource_server_config_profile" "{name}" {{\n' + "\n".join(lines) + "\n}\n"


def stored(client: Any, name: str) -> dict[str, Any] | None:
    resp = client.get(f"sys/config/oauth-resource-server/{name}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def create_out_of_band(client: Any, name: str, **fields: Any) -> dict[str, Any]:
    resp = client.post(f"sys/config/oauth-resource-server/{name}", json=fields)
    assert resp.status_code in (200, 204), resp.text
    return stored(client, name)


def state_of(terraform: Any, address: str = ADDRESS) -> dict[str, Any] | None:
    """One resource's attributes in the local state file (None when not in state)."""
    path = terraform.workdir / "terraform.tfstate"
    if not path.exists():
        return None
    kind, name = address.split(".")
    for resource in json.loads(path.read_text())["resources"]:
        if resource["mode"] == "managed" and (resource["type"], resource["name"]) == (kind, name):
            return resource["instances"][0]["attributes"]
    return None


# ---- lifecycle ----------------------------------------------------------------------------------------


def test_a_profile_is_created_updated_reset_switched_to_static_keys_and_replaced(
    terraform, service, namespace, keys
):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    odd_ca = oddly_spaced(keys["ca"])
    terraform.write(
        "main.tf", block(profile_name="corp", issuer_id="https://IdP.Example.com/", jwks_uri=JWKS_URI,
                         jwks_ca_pem=odd_ca, audiences=["web", "api"])
    )  # fmt: skip
    ok(terraform("init"))

    # create: the issuer and the CA bundle are stored normalized, state keeps the configuration's spelling
    apply(terraform)
    state = state_of(terraform)
    profile = stored(client, "corp")
    assert profile["issuer_id"] == "https://idp.example.com"
    assert profile["jwks_ca_pem"] == normalize_pem(keys["ca"]) != odd_ca
    assert state["jwks_ca_pem"] == odd_ca
    assert profile["supported_algorithms"] == list(ALGORITHMS)  # the full list, EdDSA included
    assert (profile["user_claim"], profile["unique_id_claim"], profile["actor_claim"]) == ("sub", "jti", "act.sub")
    assert state["issuer_id"] == "https://IdP.Example.com/"
    assert state["id"] == state["config_id"] == profile["config_id"]
    assert state["public_keys"] == []
    assert_no_changes(terraform)

    # in-place update of every mutable field
    terraform.write(
        "main.tf",
        block(profile_name="corp", issuer_id="https://IdP.Example.com/", jwks_uri=JWKS_URI, audiences=["api"],
              no_default_policy=True, user_claim="email", supported_algorithms=["ES256", "RS256"],
              jwt_type="access_token", clock_skew_leeway=30, enabled=False, optional_authorization_details=True,
              actor_claim="act.client_id"),
    )  # fmt: skip
    assert_plans(terraform, "update in-place", absent=("must be replaced",))
    apply(terraform)
    profile = stored(client, "corp")
    assert profile["audiences"] == ["api"]
    assert profile["supported_algorithms"] == ["ES256", "RS256"]
    assert (profile["clock_skew_leeway"], profile["enabled"], profile["user_claim"]) == (30, False, "email")
    assert (profile["no_default_policy"], profile["optional_authorization_details"]) == (True, True)
    assert profile["actor_claim"] == "act.client_id"
    assert profile["jwks_ca_pem"] == ""  # removed from the configuration: cleared
    assert profile["config_id"] == state["config_id"]
    assert_empty_plan(terraform)

    # taking the arguments out of the configuration returns them to their defaults
    terraform.write("main.tf", block(profile_name="corp", issuer_id="https://idp.EXAMPLE.com", jwks_uri=JWKS_URI))
    apply(terraform)
    profile = stored(client, "corp")
    assert profile["audiences"] == []
    assert profile["supported_algorithms"] == list(ALGORITHMS)
    assert (profile["clock_skew_leeway"], profile["enabled"], profile["user_claim"]) == (0, True, "sub")
    assert (profile["no_default_policy"], profile["optional_authorization_details"]) == (False, False)
    assert profile["actor_claim"] == "act.sub"
    assert state_of(terraform)["issuer_id"] == "https://IdP.Example.com/"  # respelled issuer: no change
    assert state_of(terraform)["audiences"] is None
    assert_empty_plan(terraform)

    # static keys, PEM written with odd whitespace: stored canonical, no diff, not even after a respelling
    # or a reordering of the blocks
    odd_rsa, odd_ed = oddly_spaced(keys["rsa"]), oddly_spaced(keys["ed25519"])
    static = dict(profile_name="corp", issuer_id="https://IdP.Example.com/", use_jwks=False)
    terraform.write("main.tf", block(keys=[("rsa-1", odd_rsa), ("ed-1", odd_ed)], **static))
    apply(terraform)
    profile = stored(client, "corp")
    assert (profile["use_jwks"], profile["jwks_uri"]) == (False, "")
    assert profile["public_keys"] == [
        {"key_id": "rsa-1", "pem": normalize_pem(keys["rsa"])},
        {"key_id": "ed-1", "pem": normalize_pem(keys["ed25519"])},
    ]
    assert state_of(terraform)["public_keys"][0]["pem"] == odd_rsa
    assert state_of(terraform)["jwks_uri"] is None
    assert_no_changes(terraform)
    terraform.write("main.tf", block(keys=[("ed-1", keys["ed25519"]), ("rsa-1", keys["rsa"])], **static))
    assert_empty_plan(terraform)

    # unique_id_claim cannot change on the server: changing it replaces the profile
    terraform.write("main.tf", block(keys=[("ed-1", keys["ed25519"])], unique_id_claim="uti", **static))
    assert_plans(terraform, "must be replaced", '"jti" -> "uti" # forces replacement')

    # replace: a new profile_name is a new profile
    static["profile_name"] = "corp-2"
    terraform.write("main.tf", block(keys=[("ed-1", keys["ed25519"])], **static))
    assert_plans(terraform, "must be replaced", '~ profile_name                   = "corp" -> "corp-2"')
    apply(terraform)
    assert stored(client, "corp") is None
    assert stored(client, "corp-2")["config_id"] == state_of(terraform)["config_id"] != state["config_id"]
    assert_empty_plan(terraform)

    # destroy
    ok(terraform("destroy", "-auto-approve"))
    assert stored(client, "corp-2") is None


def test_drift_deleted_or_changed_out_of_band_is_planned_back(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf", block(profile_name="drift", issuer_id="https://drift.example.com", jwks_uri=JWKS_URI,
                         audiences=["api"])
    )  # fmt: skip
    ok(terraform("init"))
    apply(terraform)
    config_id = state_of(terraform)["config_id"]
    assert plan(terraform).rc == NO_CHANGES

    # changed out of band
    resp = client.post("sys/config/oauth-resource-server/drift", json={"audiences": ["other"], "enabled": False})
    assert resp.status_code in (200, 204), resp.text
    assert_plans(terraform, "update in-place", '~ "other" -> "api"', "~ enabled", absent=("must be replaced",))
    apply(terraform)
    assert (stored(client, "drift")["audiences"], stored(client, "drift")["enabled"]) == (["api"], True)

    # deleted out of band
    assert client.delete("sys/config/oauth-resource-server/drift").status_code == 204
    assert plan(terraform).rc == CHANGES
    apply(terraform, "-refresh-only")
    assert state_of(terraform) is None
    apply(terraform)
    assert stored(client, "drift")["config_id"] == state_of(terraform)["config_id"] != config_id
    assert_empty_plan(terraform)


# ---- import -------------------------------------------------------------------------------------------


def test_import_by_profile_name_and_by_config_id_with_the_cli_and_with_import_blocks(
    terraform, service, namespace, keys
):
    client = service.client(namespace)
    jwks = create_out_of_band(client, "imp-jwks", issuer_id="https://Auth.Example.com/", jwks_uri=JWKS_URI,
                              audiences=["api"], supported_algorithms=["RS256", "PS256"])  # fmt: skip
    static = create_out_of_band(client, "imp-static", issuer_id="https://static.example.com", use_jwks=False,
                                public_keys=[{"key_id": "k1", "pem": oddly_spaced(keys["ec"])}],
                                unique_id_claim="uti")  # fmt: skip
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        block("jwks", profile_name="imp-jwks", issuer_id="https://auth.example.com", jwks_uri=JWKS_URI,
              audiences=["api"], supported_algorithms=["RS256", "PS256"])
        + block("static", keys=[("k1", keys["ec"])], profile_name="imp-static",
                issuer_id="https://static.example.com", use_jwks=False, unique_id_claim="uti"),
    )  # fmt: skip
    ok(terraform("init"))

    # terraform import: by name, and by config_id
    ok(terraform("import", "vault_oauth_resource_server_config_profile.jwks", "imp-jwks"))
    ok(terraform("import", "vault_oauth_resource_server_config_profile.static", static["config_id"]))
    assert state_of(terraform, "vault_oauth_resource_server_config_profile.jwks")["id"] == jwks["config_id"]
    assert state_of(terraform, "vault_oauth_resource_server_config_profile.static")["profile_name"] == "imp-static"
    assert_empty_plan(terraform)

    # import blocks with generated configuration
    ok(terraform("state", "rm", "vault_oauth_resource_server_config_profile.jwks",
                 "vault_oauth_resource_server_config_profile.static"))  # fmt: skip
    terraform.write(
        "main.tf",
        'import {\n  to = vault_oauth_resource_server_config_profile.jwks\n  id = "imp-jwks"\n}\n'
        f'import {{\n  to = vault_oauth_resource_server_config_profile.static\n  id = "{static["config_id"]}"\n}}\n',
    )
    ok(terraform("plan", "-generate-config-out=generated.tf"))
    generated = (terraform.workdir / "generated.tf").read_text()
    assert 'issuer_id                      = "https://auth.example.com"' in generated
    assert 'unique_id_claim                = "uti"' in generated
    assert "public_keys {" in generated
    assert_plans(terraform, "2 to import, 0 to add, 0 to change, 0 to destroy")
    apply(terraform)
    assert_empty_plan(terraform)


def test_import_from_the_namespace_named_by_terraform_vault_namespace_import(terraform, service, namespace):
    client = service.client(namespace)
    profile = create_out_of_band(client, "ns-idp", issuer_id="https://ns.example.com", jwks_uri=JWKS_URI)
    terraform.configure_provider(address=service.url, token=service.root_token)  # the root namespace
    terraform.write("main.tf", f'import {{\n  to = {ADDRESS}\n  id = "{profile["config_id"]}"\n}}\n')
    ok(terraform("init"))
    env = {"TERRAFORM_VAULT_NAMESPACE_IMPORT": namespace}

    ok(terraform("plan", "-generate-config-out=generated.tf", env=env))
    assert f'namespace                      = "{namespace}"' in (terraform.workdir / "generated.tf").read_text()
    ok(terraform("apply", "-auto-approve", env=env))
    assert state_of(terraform)["config_id"] == profile["config_id"]
    assert_empty_plan(terraform)

    ok(terraform("state", "rm", ADDRESS))
    ok(terraform("import", ADDRESS, "ns-idp", env=env))
    assert state_of(terraform)["namespace"] == namespace
    assert_empty_plan(terraform)


# ---- failures -----------------------------------------------------------------------------------------


def test_create_never_overwrites_an_existing_profile_and_errors_carry_the_services_message(
    terraform, service, namespace
):
    client = service.client(namespace)
    existing = create_out_of_band(client, "taken", issuer_id="https://taken.example.com", jwks_uri=JWKS_URI)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    config = block(profile_name="taken", issuer_id="https://other.example.com", jwks_uri=JWKS_URI)
    terraform.write("main.tf", config)
    ok(terraform("init"))

    fails(
        terraform("apply", "-auto-approve"),
        "Unable to create vault_oauth_resource_server_config_profile",
        'A profile named "taken" already exists. Import it',
    )
    assert stored(client, "taken") == existing  # untouched
    assert state_of(terraform) is None

    # a rule only the service can check (issuer unique in the namespace): its message, on issuer_id
    terraform.write("main.tf", block(profile_name="second", issuer_id="https://TAKEN.example.com/", jwks_uri=JWKS_URI))
    result = fails(
        terraform("apply", "-auto-approve"),
        "Unable to create vault_oauth_resource_server_config_profile",
        'duplicate issuer_id "https://taken.example.com" found in profile "taken"',
    )
    assert 'issuer_id = "https://TAKEN.example.com/"' in result.stderr  # the diagnostic points at the line
    assert "Traceback" not in result.stderr


def test_invalid_configuration_is_reported_at_plan_time_without_the_service(terraform, keys):
    point_at_unreachable_service(terraform)
    terraform.write(
        "main.tf",
        # use_jwks (default true) with public_keys and without jwks_uri; bad name, namespace, enums, numbers
        block("a", keys=[("k", keys["rsa"])], profile_name="bad name", issuer_id="https://a.example.com",
              namespace="team/", supported_algorithms=["RS256", "HS256", "none"], jwt_type="id_token",
              clock_skew_leeway=-5)
        # static keys: duplicate key_id, weak RSA, unparsable PEM, and JWKS-only arguments
        + block("b", keys=[("k1", keys["weak_rsa"]), ("k1", "not a pem"), ("k2", "-----BEGIN PUBLIC KEY-----\n"
                "AAAA\n-----END PUBLIC KEY-----\n")], profile_name="b", issuer_id="https://b.example.com",
                use_jwks=False, jwks_uri=JWKS_URI, jwks_ca_pem="junk")
        # static keys required, but none given
        + block("c", profile_name="c", issuer_id="https://c.example.com", use_jwks=False)
        # passes every rule of its own: caught by the service's rules, run at plan time
        + block("d", keys=[("ec", keys["ec"])], profile_name="d", issuer_id="https://d.example.com//",
                use_jwks=False, supported_algorithms=["RS256", "PS256"])
        # valid, EdDSA included: no error
        + block("e", keys=[("ed", keys["ed25519"])], profile_name="e", issuer_id="https://e.example.com",
                use_jwks=False, supported_algorithms=["EdDSA"]),
    )  # fmt: skip
    ok(terraform("init"))

    for command in ("validate", "plan"):
        result = fails(
            terraform(command),
            'Error: Conflicting configuration arguments with vault_oauth_resource_server_config_profile.a',
            "public_keys cannot be used with use_jwks = true (the default)",
            "jwks_uri is required with use_jwks = true (the default)",
            "Invalid value for profile_name",
            "Invalid value for namespace",
            'supported_algorithms[1] must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, '
            'ES512, EdDSA; got "HS256"',
            "Invalid value for supported_algorithms[2]",
            'jwt_type must be one of access_token, transaction_token; got "id_token"',
            "clock_skew_leeway must be between 0 and 3600; got -5",
            'public_keys[1].key_id "k1" is already used by public_keys[0]; each key_id must be unique',
            "public_keys[0].pem is not a usable public key: RSA key is 1024 bits; at least 2048 are required",
            "public_keys[1].pem is not a usable public key: PEM has no -----BEGIN ...----- line",
            "Invalid value for public_keys[2].pem",
            "jwks_uri cannot be used with use_jwks = false",
            "jwks_ca_pem cannot be used with use_jwks = false",
            "jwks_ca_pem is not a usable CA bundle",
            "At least one public_keys block is required with use_jwks = false",
            "issuer_id must not end with more than one '/'",
        )
        text = result.stdout + result.stderr
        assert "could not reach" not in text
        assert "vault_oauth_resource_server_config_profile.e" not in text
        # each error points at its line of the configuration
        assert 'clock_skew_leeway = -5' in text and 'jwt_type = "id_token"' in text


# ---- data source --------------------------------------------------------------------------------------


def test_the_data_source_reads_a_profile_by_name(terraform, service, namespace, keys):
    client = service.client(namespace)
    profile = create_out_of_band(client, "lookup", issuer_id="https://lookup.example.com", use_jwks=False,
                                 public_keys=[{"key_id": "ed", "pem": keys["ed25519"]}], audiences=["api"])  # fmt: skip
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        'data "vault_oauth_resource_server_config_profile" "p" {\n  profile_name = "lookup"\n}\n'
        'output "p" {\n  value = data.vault_oauth_resource_server_config_profile.p\n}\n',
    )
    ok(terraform("init"))
    apply(terraform)

    value = terraform.output("p")
    assert value["id"] == value["config_id"] == profile["config_id"]
    assert value["issuer_id"] == "https://lookup.example.com"
    assert value["public_keys"] == [{"key_id": "ed", "pem": normalize_pem(keys["ed25519"])}]
    assert (value["audiences"], value["use_jwks"], value["jwks_uri"]) == (["api"], False, "")
    assert value["supported_algorithms"] == list(ALGORITHMS)

    terraform.write("main.tf", 'data "vault_oauth_resource_server_config_profile" "p" {\n  profile_name = "nope"\n}\n')
    fails(terraform("plan"), 'No profile named "nope"')
