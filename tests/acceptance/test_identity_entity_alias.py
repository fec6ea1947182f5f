"""vault_identity_entity_alias with the real Terraform CLI against the real service: the standard acceptance
steps, the issuer spelling rule (DECISIONS.md#d19) and the alias going away with its entity (DECISIONS.md#d11)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tf_steps import (
    apply,
    assert_empty_plan,
    assert_no_changes,
    assert_plans,
    fails,
    ok,
    point_at_unreachable_service,
    state_values,
)

pytestmark = pytest.mark.terraform

ISSUER = "https://idp.example.com"
# How an IdP may print the same issuer: upper case and a trailing slash (DECISIONS.md#d19 makes them equal).
ISSUER_AS_PRINTED = "https://IdP.Example.com/"


def make_profile(client, name: str, issuer: str) -> str:
    """An OAuth resource server profile trusting `issuer`; returns its config_id."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    resp = client.post(
        f"sys/config/oauth-resource-server/{name}",
        json={"issuer_id": issuer, "use_jwks": False, "public_keys": [{"key_id": "k1", "pem": pem}]},
    )
    assert resp.status_code in (200, 204), resp.text
    return client.get(f"sys/config/oauth-resource-server/{name}").json()["data"]["config_id"]


def config(alias_body: str) -> str:
    return (
        'resource "vault_identity_entity" "human" {\n  name = "alice"\n}\n\n'
        'resource "vault_identity_entity_alias" "a" {\n'
        "  canonical_id = vault_identity_entity.human.id\n"
        f"{alias_body}\n}}\n"
    )


def stored(client, alias_id: str) -> dict | None:
    resp = client.get(f"identity/entity-alias/id/{alias_id}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_an_oauth_alias_goes_through_create_update_replace_drift_import_and_destroy(terraform, service, namespace):
    client = service.client(namespace)
    config_id = make_profile(client, "idp", ISSUER)
    namespace_id = client.get(f"sys/namespaces/{namespace}", headers={"X-Vault-Namespace": ""}).json()["data"]["id"]
    accessor = f"oauth-resource-server_{namespace_id}_{config_id}"
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        config(
            f'  name            = "alice@idp"\n  issuer          = "{ISSUER_AS_PRINTED}"\n'
            '  external_id     = "auth0|alice"\n  custom_metadata = { source = "terraform" }'
        ),
    )
    ok(terraform("init"))

    # create: the server normalizes the issuer and synthesizes the mount accessor; state keeps the
    # configuration's spelling, so there is neither an inconsistent result nor a diff afterwards
    apply(terraform)
    state = state_values(terraform, "vault_identity_entity_alias.a")
    alias_id = state["id"]
    data = stored(client, alias_id)
    assert (data["issuer"], data["external_id"], data["mount_accessor"]) == (ISSUER, "auth0|alice", accessor)
    assert data["canonical_id"] == state_values(terraform, "vault_identity_entity.human")["id"]
    assert (state["issuer"], state["mount_accessor"]) == (ISSUER_AS_PRINTED, accessor)
    assert_no_changes(terraform)

    # update in place: name and metadata; respelling the issuer the way the server stores it replaces nothing
    terraform.write(
        "main.tf",
        config(
            f'  name            = "alice"\n  issuer          = "{ISSUER}"\n'
            '  external_id     = "auth0|alice"\n  custom_metadata = { source = "tf" }'
        ),
    )
    assert_plans(terraform, "update in-place", absent=("must be replaced",))
    apply(terraform)
    assert state_values(terraform, "vault_identity_entity_alias.a")["id"] == alias_id
    data = stored(client, alias_id)
    assert (data["name"], data["custom_metadata"]) == ("alice", {"source": "tf"})
    assert_empty_plan(terraform)

    # a different external_id replaces the alias
    terraform.write(
        "main.tf",
        config(
            f'  name            = "alice"\n  issuer          = "{ISSUER}"\n'
            '  external_id     = "auth0|alice2"\n  custom_metadata = { source = "tf" }'
        ),
    )
    assert_plans(terraform, "must be replaced")
    apply(terraform)
    assert stored(client, alias_id) is None
    alias_id = state_values(terraform, "vault_identity_entity_alias.a")["id"]
    assert stored(client, alias_id)["external_id"] == "auth0|alice2"
    assert_empty_plan(terraform)

    # drift: changed out of band, then deleted out of band
    assert client.post(f"identity/entity-alias/id/{alias_id}", json={"name": "mallory"}).status_code == 200
    assert_plans(terraform, "update in-place", '"mallory" -> "alice"')
    apply(terraform)
    assert stored(client, alias_id)["name"] == "alice"
    assert client.delete(f"identity/entity-alias/id/{alias_id}").status_code == 204
    assert_plans(terraform, "will be created")
    apply(terraform)
    alias_id = state_values(terraform, "vault_identity_entity_alias.a")["id"]
    assert stored(client, alias_id)["name"] == "alice"

    # terraform import by id, and an import {} block; the plan is empty after each
    ok(terraform("state", "rm", "vault_identity_entity_alias.a"))
    ok(terraform("import", "vault_identity_entity_alias.a", alias_id))
    assert_empty_plan(terraform)
    ok(terraform("state", "rm", "vault_identity_entity_alias.a"))
    terraform.write("imports.tf", f'import {{\n  to = vault_identity_entity_alias.a\n  id = "{alias_id}"\n}}\n')
    assert_plans(terraform, "1 to import, 0 to add, 0 to change, 0 to destroy")
    apply(terraform)
    assert_empty_plan(terraform)
    (terraform.workdir / "imports.tf").unlink()

    # destroy, and it is gone
    ok(terraform("destroy", "-auto-approve"))
    assert stored(client, alias_id) is None

    # plan-time validation, with the service unreachable
    point_at_unreachable_service(terraform)
    terraform.write("main.tf", config('  name = "x"'))
    fails(terraform("plan"), "Missing required argument", "Set issuer")
    terraform.write("main.tf", config(f'  name = "x"\n  mount_accessor = "{accessor}"\n  external_id = "y"'))
    fails(terraform("validate"), "Invalid value for external_id", "external_id requires issuer")
    terraform.write("main.tf", config(f'  name = ""\n  issuer = "{ISSUER}"'))
    fails(terraform("validate"), "Invalid value for name", "name must not be empty")


def test_an_alias_by_mount_accessor_gets_its_issuer_and_goes_away_with_its_entity(terraform, service, namespace):
    client = service.client(namespace)
    config_id = make_profile(client, "idp", ISSUER)
    namespace_id = client.get(f"sys/namespaces/{namespace}", headers={"X-Vault-Namespace": ""}).json()["data"]["id"]
    accessor = f"oauth-resource-server_{namespace_id}_{config_id}"
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", config(f'  name           = "bob"\n  mount_accessor = "{accessor}"'))
    ok(terraform("init"))

    # the server fills in issuer and external_id from the profile behind the accessor
    apply(terraform)
    state = state_values(terraform, "vault_identity_entity_alias.a")
    assert (state["issuer"], state["external_id"], state["mount_accessor"]) == (ISSUER, "bob", accessor)
    assert_empty_plan(terraform)

    # deleting the entity out of band takes the alias with it (DECISIONS.md#d11): Terraform plans both anew ...
    entity_id = state_values(terraform, "vault_identity_entity.human")["id"]
    assert client.delete(f"identity/entity/id/{entity_id}").status_code == 204
    assert stored(client, state["id"]) is None
    assert_plans(terraform, "2 to add, 0 to change, 0 to destroy")
    # ... and destroying without a refresh deletes the already-gone alias and entity without an error
    ok(terraform("destroy", "-auto-approve", "-refresh=false"))
    assert "vault_identity_entity_alias" not in (terraform.workdir / "terraform.tfstate").read_text()
