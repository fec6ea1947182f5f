"""Field and SpecResource: what one declaration per attribute derives, and the shared CRUD/import beats, on a
small resource of the shape the module docstring shows (against a Vault-shaped fake server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_http import FakeVault
from tf.iface import CreateContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.types import Bool, List, Map, String, Unknown
from tf.utils import Diagnostics

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import NotBlank, OneOf
from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field

TYPE = "vault_thing"
FIELDS = ResourceSpec(
    [
        Field("name", String(), "Name.", required=True, rules=[NotBlank()]),
        Field("tags", List(String()), "Tags.", optional=True, same=lambda v: sorted(v), empty_keeps_null=True),
        Field("kind", String(), "Kind.", default="a", replace=True, rules=[OneOf(("a", "b"))]),
        Field("meta", Map(String()), "Meta.", optional=True, empty_keeps_null=True),
        Field("label", String(), "Label.", optional=True, computed=True, omit_unset=True, empty_is_null=True),
        Field("claim", String(), "Claim.", default="sub", absent_keeps_prior=True),
        Field("local_only", Bool(), "Not known to the server.", default=False, api=None),
        namespace_field("Namespace."),
        Field("id", String(), "ID.", computed=True),
        Field("ref", String(), "Server name of the id.", computed=True, api="reference"),
    ],
    description="A thing.",
)


class ThingResource(SpecResource):
    resource_name = "thing"
    spec = FIELDS
    create_path = "things"
    noun = "thing"

    def object_path(self, state):
        return f"things/id/{path_segment(state['id'])}"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    yield fake
    fake.close()


def resource(url: str = "http://127.0.0.1:1", **environ: str) -> ThingResource:
    provider = VaultProvider(environ={"HOME": "/nonexistent", **environ})
    diags = Diagnostics()
    provider.configure_provider(diags, {"address": url, "token": "t", "max_retries": 0, "headers": []})
    return ThingResource(provider)


def config(**values):
    return {**{a.name: None for a in FIELDS.schema.attributes}, **values}


# ---- derived from the fields --------------------------------------------------------------------------


def test_the_schema_comes_from_the_fields() -> None:
    attrs = {a.name: a for a in FIELDS.schema.attributes}
    assert (attrs["kind"].optional, attrs["kind"].computed, attrs["kind"].requires_replace) == (True, True, True)
    assert attrs["kind"].description == "Kind. Default: `\"a\"`."
    assert attrs["namespace"].requires_replace and attrs["id"].computed and not attrs["id"].optional
    assert attrs["tags"].type.semantically_equal(["b", "a"], ["a", "b"])
    assert not attrs["tags"].type.semantically_equal(["a"], ["a", "b"])
    assert FIELDS.rules == {"name": [NotBlank()], "kind": [OneOf(("a", "b"))], "namespace": FIELDS.rules["namespace"]}


def test_a_write_sends_what_the_server_knows_with_empty_values_spelled_out() -> None:
    body = FIELDS.to_api(config(name="n", kind="a", claim="sub", local_only=True, label=Unknown))
    assert body == {"name": "n", "tags": [], "kind": "a", "meta": {}, "claim": "sub"}
    assert FIELDS.to_api(config(name="n", label="x"))["label"] == "x"


def test_a_read_keeps_prior_spellings_nulls_and_what_the_server_does_not_know() -> None:
    data = {"id": "i-1", "name": "n", "tags": ["a", "b"], "kind": "b", "meta": {}, "label": "", "reference": "r"}
    prior = {"tags": ["b", "a"], "meta": None, "claim": "email", "local_only": True, "namespace": "team"}
    state = FIELDS.reconcile(prior, FIELDS.from_api(data, prior))
    assert state == {
        "name": "n",
        "tags": ["b", "a"],  # the prior spelling of the same set
        "kind": "b",
        "meta": None,  # empty on the server, left out of the configuration
        "label": None,  # the server's "" is null
        "claim": "email",  # an older server that does not answer it keeps the prior value
        "local_only": True,
        "namespace": "team",
        "id": "i-1",
        "ref": "r",
    }
    imported = FIELDS.reconcile({}, FIELDS.from_api({**data, "tags": ["c"]}, {}))
    assert (imported["tags"], imported["claim"], imported["local_only"]) == (["c"], "sub", False)


def test_a_service_field_maps_to_its_attribute() -> None:
    assert FIELDS.attribute_of(["tags", 2]) == ["tags", (2,)]
    assert FIELDS.attribute_of(["reference"]) == ["ref"]
    assert FIELDS.attribute_of(["unknown"]) is None and FIELDS.attribute_of([]) is None


# ---- the beats ----------------------------------------------------------------------------------------


def test_plans_take_defaults_leave_server_values_unknown_and_keep_equivalent_prior_values() -> None:
    thing = resource()
    created = thing.plan_with_config(PlanContext(Diagnostics(), TYPE, set()), None, config(name="n"), config(name="n"))
    assert (created["kind"], created["claim"], created["local_only"]) == ("a", "sub", False)
    assert created["id"] is Unknown and created["label"] is Unknown and created["tags"] is None

    prior = {**config(name="n", kind="b", claim="sub", local_only=False, tags=["b", "a"]), "id": "i-1"}
    written = config(name="n", tags=["a", "b"])  # kind taken out of the configuration
    proposed = {**prior, "tags": ["a", "b"]}  # Terraform's: the configuration, computed values carried over
    planned = thing.plan_with_config(PlanContext(Diagnostics(), TYPE, set()), prior, proposed, written)
    assert (planned["kind"], planned["tags"], planned["id"]) == ("a", ["b", "a"], "i-1")


def test_validation_runs_the_fields_rules() -> None:
    diags = Diagnostics()
    resource().validate(diags, TYPE, config(name=" ", kind="c", namespace="/x/"))
    assert [d.path for d in diags.diagnostics] == [["name"], ["kind"], ["namespace"]]


def test_create_writes_then_reads_back_and_fills_in_only_the_unknowns(vault: FakeVault) -> None:
    vault.on("POST", "things", (200, {"data": {"id": "i-1"}}))
    stored = {"id": "i-1", "name": "n", "tags": [], "kind": "a", "meta": {}, "label": "L", "claim": "sub"}
    vault.on("GET", "things/id/i-1", (200, {"data": {**stored, "reference": "r"}}))
    planned = resource().plan_with_config(
        PlanContext(Diagnostics(), TYPE, set()), None, config(name="n", namespace="team"), config(name="n")
    )
    diags = Diagnostics()

    state = resource(vault.url).create(CreateContext(diags, TYPE), planned)

    assert not diags.diagnostics
    assert (state["id"], state["label"], state["ref"], state["tags"], state["namespace"]) == (
        "i-1", "L", "r", None, "team"
    )  # fmt: skip
    assert {c.header("X-Vault-Namespace") for c in vault.requests if c.path.startswith("things")} == {"team"}


class AnsweredThingResource(ThingResource):
    """A thing whose create answer carries every value the server sets."""

    read_after_create = False

    def created_identity(self, planned, answer):
        data = (answer or {}).get("data") or {}
        return {k: data[v] for k, v in (("id", "id"), ("ref", "reference"), ("label", "label")) if v in data}


@pytest.mark.parametrize(
    ("answer", "reads"),
    [
        ({"id": "i-1", "reference": "r", "label": "L"}, 0),  # nothing left unknown: no read
        ({"id": "i-1", "reference": "r"}, 1),  # the label is still unknown: read back
    ],
)
def test_create_reads_back_only_what_the_answer_leaves_unknown(vault: FakeVault, answer: dict, reads: int) -> None:
    vault.on("POST", "things", (200, {"data": answer}))
    vault.on("GET", "things/id/i-1", (200, {"data": {"id": "i-1", "name": "n", "reference": "r", "label": "L"}}))
    provider = resource(vault.url).provider
    planned = resource().plan_with_config(PlanContext(Diagnostics(), TYPE, set()), None, config(name="n"), config())
    diags = Diagnostics()

    state = AnsweredThingResource(provider).create(CreateContext(diags, TYPE), planned)

    assert not diags.diagnostics
    assert (state["id"], state["ref"], state["label"]) == ("i-1", "r", "L")
    assert len(vault.calls("GET", "things/id/i-1")) == reads


def test_a_new_object_that_cannot_be_read_back_still_reaches_state(vault: FakeVault) -> None:
    vault.on("POST", "things", (200, {"data": {"id": "i-1"}}))
    vault.on("GET", "things/id/i-1", (403, {"errors": ["permission denied"]}))
    planned = resource().plan_with_config(PlanContext(Diagnostics(), TYPE, set()), None, config(name="n"), config())
    diags = Diagnostics()

    state = resource(vault.url).create(CreateContext(diags, TYPE), planned)

    assert state["id"] == "i-1" and state["ref"] == ""  # Terraform keeps it tainted: the next apply replaces it
    assert [d.summary for d in diags.diagnostics] == ["Unable to read back the new vault_thing"]


def test_a_refused_write_points_at_the_attribute_of_the_field_the_server_names(vault: FakeVault) -> None:
    message = 'field "tags[1]": expected a string, got a number'
    body = {"errors": [message], "field_errors": [{"field": ["tags", 1], "error": message}]}
    vault.on("PUT", "things/id/i-1", (400, body))
    current = {**config(name="n"), "id": "i-1"}
    diags = Diagnostics()

    assert resource(vault.url).update(UpdateContext(diags, TYPE), current, current) is None

    [d] = diags.diagnostics
    assert (d.summary, d.path) == ("Unable to update vault_thing", ["tags", (1,)])


def test_an_object_deleted_out_of_band_reads_as_gone(vault: FakeVault) -> None:
    vault.on("GET", "things/id/i-1", (404, {"errors": []}))
    diags = Diagnostics()
    assert resource(vault.url).read(ReadContext(diags, TYPE), {**config(name="n"), "id": "i-1"}) is None
    assert not diags.diagnostics


def test_import_takes_the_id_and_the_import_namespace() -> None:
    thing = resource(TERRAFORM_VAULT_NAMESPACE_IMPORT="team")
    state = thing.import_(ImportContext(Diagnostics(), TYPE), " i-1 ")
    assert (state["id"], state["namespace"], state["name"]) == ("i-1", "team", None)
    diags = Diagnostics()
    assert thing.import_(ImportContext(diags, TYPE), " ") is None
    [d] = diags.diagnostics
    assert (d.summary, d.detail) == ("Invalid import ID", "Import a vault_thing by its id.")
