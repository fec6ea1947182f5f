"""vault_namespace in-process: the path rule (kept equal to the service's), import IDs, state from the server."""

from __future__ import annotations

from tf.iface import ImportContext
from tf.utils import Diagnostics

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.namespace import (
    SCHEMA,
    NamespaceResource,
    NamespaceSegment,
    from_api,
    reconcile,
    to_api,
)

TYPE = "vault_namespace"


def test_namespace_names_follow_the_services_rule_at_plan_time():
    for name in ("a", "team-a", "a.b_c", "A9", "x" * 64):
        assert not list(NamespaceSegment().errors(name)), name
    for name in ("x" * 65, "-a", ".", "..", "a/b", "a b"):
        [(_path, message)] = list(NamespaceSegment().errors(name))
        assert "is not a valid namespace name" in message, name
    for name in ("sys", "root", "identity", "secret"):
        [(_path, message)] = list(NamespaceSegment().errors(name))
        assert "is a reserved name" in message, name


def test_a_bad_path_or_parent_fails_validation_at_the_attribute():
    def paths(**values):
        diags = Diagnostics()
        cfg = {**{a.name: None for a in SCHEMA.attributes}, **values}
        NamespaceResource(VaultProvider(environ={})).validate(diags, TYPE, cfg)
        return [d.path for d in diags.diagnostics]

    assert paths(path="team-a", namespace="org/unit") == []
    assert paths(path="a/b") == [["path"]]
    assert paths(path="ok", namespace="/org/") == [["namespace"]]


def test_state_from_the_server_is_relative_to_the_provider_namespace():
    data = {"id": "Xy12", "path": "tf1/child/gc/", "custom_metadata": {}}
    state = reconcile({"path": "gc", "namespace": "child"}, from_api(data))
    assert state == {
        "id": "tf1/child/gc/",
        "path": "gc",
        "namespace": "child",
        "namespace_id": "Xy12",
        "custom_metadata": None,
        "path_fq": "child/gc",
    }
    assert to_api({"custom_metadata": None}) == {"custom_metadata": {}}


def test_import_splits_a_nested_path_and_honours_the_import_namespace_variable():
    def imported(id_, **environ):
        resource = NamespaceResource(VaultProvider(environ=environ))
        state = resource.import_(ImportContext(Diagnostics(), TYPE), id_)
        return state["path"], state["namespace"]

    assert imported("team-a") == ("team-a", None)
    assert imported("team-a/ci") == ("ci", "team-a")
    assert imported("ci", TERRAFORM_VAULT_NAMESPACE_IMPORT="team-a") == ("ci", "team-a")
