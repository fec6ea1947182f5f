"""vault_oauth_resource_server_config_profile in-process: plan-time validation (with unknown values), plan
adjustments for values the server normalizes, state from the server, and create/import against a
Vault-shaped HTTP server. Plus the data source's object type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from provider_http import FakeVault
from tf.iface import CreateContext, ImportContext, PlanContext
from tf.types import Unknown
from tf.utils import Diagnostics

from vaultguard.provider.data_sources.oauth_profile import SCHEMA as DATA_SCHEMA
from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.oauth_profile import (
    SCHEMA,
    OAuthResourceServerConfigProfileResource,
    from_api,
    to_api,
)
from vaultguard.service.authn.keys import ALGORITHMS, normalize_pem

TYPE = "vault_oauth_resource_server_config_profile"
CONFIG_ID = "8d1c6a52-5f0e-4e86-9b5d-2c0a7f4e3b19"
JWKS = "https://idp.example.com/jwks"


def _pem(key: Any) -> str:
    return (
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()


EC_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))
ED_PEM = _pem(ed25519.Ed25519PrivateKey.generate())
WEAK_RSA_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    yield fake
    fake.close()


def resource(url: str = "http://127.0.0.1:1", **environ: str) -> OAuthResourceServerConfigProfileResource:
    provider = VaultProvider(environ={"HOME": "/nonexistent", **environ})
    diags = Diagnostics()
    provider.configure_provider(diags, {"address": url, "token": "t", "max_retries": 0, "headers": []})
    return OAuthResourceServerConfigProfileResource(provider)


def config(**values: Any) -> dict[str, Any]:
    full: dict[str, Any] = {a.name: None for a in SCHEMA.attributes}
    full["public_keys"] = []
    full.update(values)
    return full


def jwks_config(**values: Any) -> dict[str, Any]:
    return config(**{"profile_name": "idp", "issuer_id": "https://idp.example.com", "jwks_uri": JWKS, **values})


def static_config(*keys: tuple[str, str], **values: Any) -> dict[str, Any]:
    blocks = [{"key_id": k, "pem": p} for k, p in keys]
    base = {"profile_name": "idp", "issuer_id": "https://idp.example.com", "use_jwks": False}
    return config(**{**base, "public_keys": blocks, **values})


def server_record(**values: Any) -> dict[str, Any]:
    data = {
        "config_id": CONFIG_ID,
        "profile_name": "idp",
        "issuer_id": "https://idp.example.com",
        "local": False,
        "use_jwks": True,
        "jwks_uri": JWKS,
        "jwks_ca_pem": "",
        "public_keys": [],
        "audiences": [],
        "no_default_policy": False,
        "optional_authorization_details": False,
        "user_claim": "sub",
        "supported_algorithms": list(ALGORITHMS),
        "jwt_type": "access_token",
        "clock_skew_leeway": 0,
        "enabled": True,
        "unique_id_claim": "jti",
        "actor_claim": "act.sub",
    }
    data.update(values)
    return data


def validate(cfg: dict[str, Any]) -> list[tuple[str, Any]]:
    diags = Diagnostics()
    resource().validate(diags, TYPE, cfg)
    return [(d.detail, d.path) for d in diags.diagnostics if d.severity == "error"]


def plan(prior: dict | None, cfg: dict) -> dict:
    computed = {a.name for a in SCHEMA.attributes if a.computed}
    proposed = {k: (prior or {}).get(k) if v is None and k in computed else v for k, v in cfg.items()}
    diags = Diagnostics()
    planned = resource().plan_with_config(PlanContext(diags, TYPE, set()), prior, proposed, cfg)
    assert not diags.diagnostics
    return planned


# ---- validation ---------------------------------------------------------------------------------------


def test_a_valid_configuration_passes_including_eddsa() -> None:
    assert validate(jwks_config()) == []
    assert validate(static_config(("ed", ED_PEM), supported_algorithms=["EdDSA"])) == []


def test_key_source_rules_point_at_the_arguments() -> None:
    paths = [path for _, path in validate(config(profile_name="p", issuer_id="https://i", public_keys=[
        {"key_id": "k", "pem": EC_PEM}]))]  # fmt: skip
    assert paths == [["public_keys", (0,)], ["jwks_uri"]]
    paths = [path for _, path in validate(static_config(jwks_uri=JWKS, jwks_ca_pem=""))]
    assert paths == [["jwks_uri"], ["use_jwks"]]


def test_duplicate_key_ids_and_weak_keys_are_refused_at_their_block() -> None:
    found = validate(static_config(("k", EC_PEM), ("k", ED_PEM), ("w", WEAK_RSA_PEM)))
    assert [path for _, path in found] == [["public_keys", (2,), "pem"], ["public_keys", (1,), "key_id"]]
    assert "RSA key is 1024 bits; at least 2048 are required" in found[0][0]


def test_the_services_rules_run_once_the_configuration_is_known() -> None:
    # An EC key that no allowed algorithm can use: only the service's write path knows that rule.
    found = validate(static_config(("ec", EC_PEM), supported_algorithms=["RS256"]))
    assert found == [
        (
            'public_keys[0] (key_id "ec"): an EC P-256 key can only be used with ES256; supported_algorithms '
            "allows none of them.",
            ["public_keys", (0,)],
        )
    ]
    assert [path for _, path in validate(jwks_config(actor_claim="act..sub"))] == [["actor_claim"]]


@pytest.mark.parametrize(
    "unknown",
    [
        {"use_jwks": Unknown, "public_keys": [{"key_id": "k", "pem": EC_PEM}]},
        {"jwks_uri": Unknown},
        {"public_keys": Unknown, "use_jwks": False, "jwks_uri": None},
        {"issuer_id": Unknown},
    ],
)
def test_values_not_known_yet_are_checked_at_apply_instead(unknown: dict[str, Any]) -> None:
    assert validate(config(profile_name="p", issuer_id="https://i.example.com", jwks_uri=JWKS) | unknown) == []


# ---- plan ---------------------------------------------------------------------------------------------


def test_a_create_plan_fills_every_default() -> None:
    planned = plan(None, jwks_config())
    assert planned["supported_algorithms"] == list(ALGORITHMS)
    assert (planned["use_jwks"], planned["enabled"], planned["clock_skew_leeway"]) == (True, True, 0)
    assert (planned["user_claim"], planned["unique_id_claim"], planned["actor_claim"]) == ("sub", "jti", "act.sub")
    assert planned["config_id"] is Unknown and planned["id"] is Unknown


def test_equivalent_spellings_keep_the_prior_value() -> None:
    prior = from_api(server_record(audiences=["a", "b"]), jwks_config(issuer_id="https://IdP.example.com/"))
    prior["audiences"] = ["a", "b"]

    planned = plan(prior, jwks_config(issuer_id="https://idp.EXAMPLE.com", audiences=["b", "a"],
                                      supported_algorithms=list(reversed(ALGORITHMS))))  # fmt: skip

    assert planned["issuer_id"] == "https://IdP.example.com/"
    assert planned["audiences"] == ["a", "b"]
    assert planned["supported_algorithms"] == list(ALGORITHMS)


def test_an_empty_algorithm_list_means_all_of_them() -> None:
    prior = from_api(server_record(), jwks_config(supported_algorithms=[]))
    assert prior["supported_algorithms"] == []
    assert plan(prior, jwks_config())["supported_algorithms"] == []  # unset (all) is the same as [] (all)


def test_pem_whitespace_and_key_order_keep_the_prior_blocks() -> None:
    odd = "\r\n  " + EC_PEM.replace("\n", "\r\n   ") + "\n\n"
    prior = from_api(
        server_record(use_jwks=False, jwks_uri="", public_keys=[{"key_id": "ec", "pem": normalize_pem(EC_PEM)},
                                                                {"key_id": "ed", "pem": normalize_pem(ED_PEM)}]),
        static_config(("ec", odd), ("ed", ED_PEM)),
    )  # fmt: skip
    assert prior["public_keys"][0]["pem"] == odd

    assert plan(prior, static_config(("ec", EC_PEM), ("ed", ED_PEM)))["public_keys"] == prior["public_keys"]
    assert plan(prior, static_config(("ed", ED_PEM), ("ec", EC_PEM)))["public_keys"] == prior["public_keys"]
    changed = plan(prior, static_config(("ec", EC_PEM)))["public_keys"]
    assert changed == [{"key_id": "ec", "pem": odd}]


def test_arguments_taken_out_of_the_configuration_return_to_their_defaults() -> None:
    prior = from_api(server_record(clock_skew_leeway=30, enabled=False, user_claim="email"), jwks_config())

    planned = plan(prior, jwks_config())

    assert (planned["clock_skew_leeway"], planned["enabled"], planned["user_claim"]) == (0, True, "sub")
    assert planned["config_id"] == CONFIG_ID


# ---- state from the server ----------------------------------------------------------------------------


def test_empty_server_values_stay_null_when_the_configuration_left_them_out() -> None:
    state = from_api(server_record(), {})
    assert (state["audiences"], state["jwks_ca_pem"], state["public_keys"]) == (None, None, [])
    assert from_api(server_record(), {"audiences": []})["audiences"] == []
    assert state["id"] == state["config_id"] == CONFIG_ID


def test_every_field_is_sent_so_a_partial_update_clears_what_was_removed() -> None:
    body = to_api(plan(None, jwks_config()))
    assert body["audiences"] == [] and body["jwks_ca_pem"] == "" and body["public_keys"] == []
    assert set(body) == {
        "issuer_id", "use_jwks", "jwks_uri", "jwks_ca_pem", "public_keys", "audiences", "no_default_policy",
        "optional_authorization_details", "user_claim", "supported_algorithms", "jwt_type", "clock_skew_leeway",
        "enabled", "unique_id_claim", "actor_claim", "groups_claim",
    }  # fmt: skip


# ---- against a Vault-shaped server --------------------------------------------------------------------


def test_create_refuses_to_overwrite_an_existing_profile(vault: FakeVault) -> None:
    vault.on("GET", "sys/config/oauth-resource-server/idp", (200, {"data": server_record()}))
    diags = Diagnostics()

    assert resource(vault.url).create(CreateContext(diags, TYPE), plan(None, jwks_config())) is None

    [d] = diags.diagnostics
    assert (d.summary, d.path) == ("Unable to create vault_oauth_resource_server_config_profile", ["profile_name"])
    assert vault.calls("PUT", "sys/config/oauth-resource-server/idp") == []


def test_create_reports_the_servers_warnings(vault: FakeVault) -> None:
    warning = "JWKS URI uses HTTP instead of HTTPS. This is insecure and should only be used in development."
    vault.sequence(
        "GET", "sys/config/oauth-resource-server/idp", [(404, {"errors": []}), (200, {"data": server_record()})]
    )
    vault.on("PUT", "sys/config/oauth-resource-server/idp", (200, {"warnings": [warning]}))
    diags = Diagnostics()

    state = resource(vault.url).create(CreateContext(diags, TYPE), plan(None, jwks_config()))

    assert state["config_id"] == CONFIG_ID
    assert [(d.severity, d.detail) for d in diags.diagnostics] == [("warning", warning)]


def test_import_by_config_id_reads_the_id_route_in_the_import_namespace(vault: FakeVault) -> None:
    vault.on("GET", f"sys/config/oauth-resource-server/id/{CONFIG_ID}", (200, {"data": server_record()}))
    diags = Diagnostics()

    state = resource(vault.url, TERRAFORM_VAULT_NAMESPACE_IMPORT="team").import_(ImportContext(diags, TYPE), CONFIG_ID)

    assert not diags.diagnostics
    assert (state["profile_name"], state["namespace"], state["config_id"]) == ("idp", "team", CONFIG_ID)
    assert (
        vault.calls("GET", f"sys/config/oauth-resource-server/id/{CONFIG_ID}")[0].header("X-Vault-Namespace") == "team"
    )


# ---- data source --------------------------------------------------------------------------------------


def test_the_data_sources_public_keys_are_a_list_of_objects() -> None:
    [keys] = [a for a in DATA_SCHEMA.attributes if a.name == "public_keys"]
    assert keys.type.tf_type() == b'["list",["object",{"key_id":"string","pem":"string"}]]'


def test_fields_a_server_does_not_echo_keep_their_prior_value() -> None:
    answer = server_record()
    for name in ("jwks_ca_pem", "unique_id_claim", "actor_claim"):
        del answer[name]
    prior = {"jwks_ca_pem": "-----BEGIN CERTIFICATE-----\n...", "unique_id_claim": "uti", "actor_claim": None}

    state = from_api(answer, prior)

    assert (state["jwks_ca_pem"], state["unique_id_claim"], state["actor_claim"]) == (
        prior["jwks_ca_pem"],
        "uti",
        "act.sub",
    )
