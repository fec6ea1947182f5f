"""vault_policy in-process: plan-time validation by the service's own parser, state from the server."""

from __future__ import annotations

from tf.types import Unknown
from tf.utils import Diagnostics

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.policy import SCHEMA, PolicyResource, from_api, reconcile, to_api

TYPE = "vault_policy"


def config(**values):
    return {**{a.name: None for a in SCHEMA.attributes}, **values}


def validate(cfg) -> Diagnostics:
    diags = Diagnostics()
    PolicyResource(VaultProvider(environ={})).validate(diags, TYPE, cfg)
    return diags


def test_a_valid_policy_passes_validation():
    diags = validate(config(name="App-Reader", policy='path "secret/*" { capabilities = ["read"] }'))
    assert not diags.has_errors()


def test_an_invalid_policy_is_reported_with_the_parsers_message_at_policy():
    [error] = validate(config(name="p", policy='path "a" { capabilities = ["reed"] }')).diagnostics
    assert (error.summary, error.path) == ("Invalid value for policy", ["policy"])
    assert 'path "a": unknown capability "reed" (did you mean "read"?)' in error.detail


def test_unknown_values_are_left_for_apply_time():
    assert not validate(config(name=Unknown, policy=Unknown)).has_errors()


def test_root_and_malformed_names_are_refused():
    for name in ("root", "ROOT", "has space", "-lead", "x" * 129, ""):
        assert validate(config(name=name, policy="# empty")).has_errors(), name


def test_policy_names_follow_the_services_rule_at_plan_time():
    from vaultguard.provider.resources.policy import PolicyName

    for name in ("a", "a.b@c-d_e", "9", "x" * 128, "App-Reader"):
        assert not list(PolicyName().errors(name)), name
    for name in ("x" * 129, "-a", "a b", "a/b", "Ä"):
        [(_path, message)] = list(PolicyName().errors(name))
        assert "is not a valid policy name" in message, name


def test_state_keeps_the_configured_name_and_the_exact_text():
    fresh = from_api({"name": "app-reader", "policy": 'path "a" {}\n'})
    state = reconcile({"name": "App-Reader", "namespace": "team", "allow_overwrite": False}, fresh)
    assert state == {
        "name": "App-Reader",
        "policy": 'path "a" {}\n',
        "id": "app-reader",
        "namespace": "team",
        "allow_overwrite": False,
    }
    assert reconcile({"name": "other"}, fresh)["name"] == "app-reader"
    assert to_api({"policy": "  text  "}) == {"policy": "  text  "}
