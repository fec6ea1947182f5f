"""vault_identity_entity_alias in-process: validation, the issuer spelling rule (DECISIONS.md#d19), state from
the server."""

from __future__ import annotations

from tf.provider import _encode_state_d
from tf.types import Unknown
from tf.utils import Diagnostics

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.identity_entity_alias import (
    SCHEMA,
    IdentityEntityAliasResource,
    from_api,
    reconcile,
    to_api,
)

TYPE = "vault_identity_entity_alias"
ACCESSOR = "oauth-resource-server_root_c1"
SERVER = {
    "id": "a-1",
    "canonical_id": "e-1",
    "name": "alice",
    "mount_accessor": ACCESSOR,
    "issuer": "https://idp.example.com",
    "external_id": "auth0|alice",
    "custom_metadata": {},
}


def config(**values):
    return {**{a.name: None for a in SCHEMA.attributes}, "name": "alice", "canonical_id": "e-1", **values}


def validate(cfg) -> list:
    diags = Diagnostics()
    IdentityEntityAliasResource(VaultProvider(environ={})).validate(diags, TYPE, cfg)
    return [(d.summary, d.path) for d in diags.diagnostics]


def test_an_alias_needs_an_issuer_or_a_mount_accessor_and_external_id_needs_the_issuer():
    assert validate(config(issuer="https://idp.example.com/")) == []
    assert validate(config(mount_accessor=ACCESSOR)) == []
    assert validate(config(issuer=Unknown, external_id="x")) == []
    assert validate(config()) == [("Missing required argument", ["issuer"])]
    assert validate(config(mount_accessor=ACCESSOR, external_id="x")) == [
        ("Invalid value for external_id", ["external_id"])
    ]
    assert validate(config(name=" ", issuer="https://i")) == [("Invalid value for name", ["name"])]


def test_issuers_that_normalize_alike_are_equal():
    issuer = {a.name: a for a in SCHEMA.attributes}["issuer"].type
    assert issuer.semantically_equal("https://IdP.example.com/", "https://idp.example.com")
    assert not issuer.semantically_equal("https://idp.example.com/a", "https://idp.example.com")
    assert not issuer.semantically_equal(None, "https://idp.example.com")
    assert issuer.semantically_equal(None, None)


def test_state_keeps_the_configured_issuer_spelling():
    prior = config(id="a-1", issuer="https://IdP.Example.com/", external_id="auth0|alice", mount_accessor=ACCESSOR)
    assert reconcile(prior, from_api(SERVER)) == prior
    # a different issuer on the server (it cannot change there, but an import may disagree) shows as is
    assert reconcile({**prior, "issuer": "https://other"}, from_api(SERVER))["issuer"] == "https://idp.example.com"
    # tf's own encoding keeps the prior spelling too
    attrs = {a.name: a for a in SCHEMA.attributes}
    encoded = _encode_state_d(attrs, {}, {"issuer": "https://idp.example.com"}, {"issuer": "https://IdP.Example.com/"})
    assert encoded == {"issuer": "https://IdP.Example.com/"}


def test_the_computed_fields_come_from_the_server_and_metadata_null_stays_null():
    state = reconcile({"id": "a-1"}, from_api(SERVER))
    assert (state["mount_accessor"], state["issuer"], state["external_id"]) == (
        ACCESSOR,
        "https://idp.example.com",
        "auth0|alice",
    )
    assert state["custom_metadata"] is None
    plain = from_api({**SERVER, "issuer": "", "external_id": "", "mount_accessor": "acc"})
    assert (plain["issuer"], plain["external_id"]) == (None, None)


def test_the_request_body_carries_known_immutable_fields_only():
    assert to_api(config(issuer="https://i/", external_id=Unknown, mount_accessor=Unknown)) == {
        "name": "alice",
        "canonical_id": "e-1",
        "custom_metadata": {},
        "issuer": "https://i/",
    }
