"""vault_identity_entity in-process: plan-time validation, request bodies, and state from the server."""

from __future__ import annotations

from tf.iface import PlanContext
from tf.types import Unknown
from tf.utils import Diagnostics

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.identity_entity import (
    SCHEMA,
    IdentityEntityResource,
    from_api,
    reconcile,
    to_api,
)

TYPE = "vault_identity_entity"
SERVER = {
    "id": "e-1",
    "name": "app-1",
    "policies": ["reader"],
    "metadata": None,
    "disabled": False,
    "aliases": [],
}


def config(**values):
    return {**{a.name: None for a in SCHEMA.attributes}, **values}


def validate(cfg) -> Diagnostics:
    diags = Diagnostics()
    IdentityEntityResource(VaultProvider(environ={})).validate(diags, TYPE, cfg)
    return diags


def test_blank_names_root_policy_and_policies_with_external_policies_are_refused():
    assert not validate(config(name="a", policies=["reader", Unknown], metadata={"k": "v"})).has_errors()
    assert [d.path for d in validate(config(name=" ")).diagnostics] == [["name"]]
    assert [d.path for d in validate(config(policies=["ok", "Root"])).diagnostics] == [["policies", (1,)]]
    assert [d.path for d in validate(config(policies=[], external_policies=True)).diagnostics] == [["policies"]]
    assert not validate(config(policies=Unknown, external_policies=True)).has_errors()


def test_every_managed_field_is_sent_so_a_merge_on_the_server_clears_what_the_config_dropped():
    assert to_api(config(name="a")) == {"name": "a", "metadata": {}, "disabled": False, "policies": []}
    assert to_api(config(name=Unknown, policies=["b", "a"], disabled=True)) == {
        "metadata": {},
        "disabled": True,
        "policies": ["a", "b"],
    }
    assert "policies" not in to_api(config(name="a", external_policies=True))


def test_state_keeps_nulls_and_policy_spelling_from_the_configuration():
    prior = config(id="e-1", name="app-1", policies=["Reader"], namespace="team")
    state = reconcile(prior, from_api(SERVER))
    assert state == {**prior, "policies": ["Reader"], "disabled": False, "external_policies": False}
    # imported (no prior): empty values are null, the flags false, the rest as the server says
    imported = reconcile({"id": "e-1"}, from_api(SERVER))
    assert (imported["metadata"], imported["disabled"], imported["external_policies"]) == (None, False, False)
    assert imported["policies"] == ["reader"]
    # an explicit empty map and false stay as written
    state = reconcile(config(metadata={}, disabled=False, policies=[]), from_api({**SERVER, "policies": []}))
    assert (state["metadata"], state["disabled"], state["policies"]) == ({}, False, [])


def test_a_change_out_of_band_shows_in_state():
    prior = config(id="e-1", name="app-1", policies=["reader"])
    state = reconcile(prior, from_api({**SERVER, "policies": ["ops"], "disabled": True, "metadata": {"a": "b"}}))
    assert (state["policies"], state["disabled"], state["metadata"]) == (["ops"], True, {"a": "b"})


def test_with_external_policies_the_servers_policies_are_not_read():
    prior = config(id="e-1", name="app-1", external_policies=True)
    assert reconcile(prior, from_api({**SERVER, "policies": ["ops"]}))["policies"] is None


def test_flags_left_out_of_the_configuration_are_planned_false():
    resource = IdentityEntityResource(VaultProvider(environ={}))
    prior = config(id="e-1", name="app-1", disabled=True, external_policies=True)
    proposed = {**prior}  # Terraform proposes the prior value of a computed attribute the config leaves out
    planned = resource.plan_with_config(PlanContext(Diagnostics(), TYPE, set()), prior, proposed, config(name="app-1"))
    assert (planned["disabled"], planned["external_policies"]) == (False, False)
    written = config(name="app-1", disabled=True, external_policies=False)
    planned = resource.plan_with_config(PlanContext(Diagnostics(), TYPE, set()), None, written, written)
    assert (planned["disabled"], planned["external_policies"]) == (True, False)
    assert (planned["id"], planned["name"]) == (Unknown, "app-1")
