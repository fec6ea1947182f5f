"""vault_agent_registration in-process: plan adjustments, state from the server, validation, and the
failure paths a real service rarely shows (read-back failure, 5xx), against a Vault-shaped HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from provider_http import FakeVault
from tf.gen import tfplugin_pb2 as pb
from tf.iface import CreateContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.types import Unknown
from tf.utils import Diagnostics, to_dynamic_value

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.agent_registration import (
    SCHEMA,
    AgentRegistrationResource,
    ceiling_in_state,
    from_api,
    looks_like_uuid,
    to_api,
)
from vaultguard.provider.servicer import VaultProviderServicer

TYPE = "vault_agent_registration"
REG_ID = "3f0c7d4e-9a41-4c3a-8c1e-0b5a2f9d7e61"
ENTITY = "ent-1"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    yield fake
    fake.close()


def resource(url: str = "http://127.0.0.1:1", **environ: str) -> AgentRegistrationResource:
    provider = VaultProvider(environ={"HOME": "/nonexistent", **environ})
    diags = Diagnostics()
    provider.configure_provider(diags, {"address": url, "token": "t", "max_retries": 0, "headers": []})
    assert not diags.diagnostics
    return AgentRegistrationResource(provider)


def config(**values: Any) -> dict[str, Any]:
    full: dict[str, Any] = {a.name: None for a in SCHEMA.attributes}
    full.update(values)
    return full


def record(**values: Any) -> dict[str, Any]:
    data = {
        "id": REG_ID,
        "display_name": "agent",
        "entity_id": ENTITY,
        "description": "",
        "owner": "",
        "ceiling_policies": ["default", "default-ceiling"],
        "no_default_ceiling_policy": False,
        "optional_authorization_details": False,
        "creation_time": "2026-01-01T00:00:00Z",
        "last_updated_time": "2026-01-01T00:00:00Z",
    }
    data.update(values)
    return data


def prior_state(**values: Any) -> dict[str, Any]:
    state = from_api(record(), {})
    state.update(values)
    return state


def errors(diags: Diagnostics) -> list[tuple[str, Any]]:
    return [(d.summary, d.path) for d in diags.diagnostics if d.severity == "error"]


def proposed_state(prior: dict | None, cfg: dict) -> dict:
    """Terraform's proposed new state: the configuration, with prior values where a computed attribute
    is not configured."""
    computed = {a.name for a in SCHEMA.attributes if a.computed}
    return {k: (prior or {}).get(k) if v is None and k in computed else v for k, v in cfg.items()}


def plan(prior: dict | None, cfg: dict) -> dict:
    """What plan_with_config plans, with Terraform's proposed state (config over prior) as input."""
    proposed = proposed_state(prior, cfg)
    diags = Diagnostics()
    planned = resource().plan_with_config(PlanContext(diags, TYPE, set()), prior, proposed, cfg)
    assert not diags.diagnostics
    return planned


# ---- plan ---------------------------------------------------------------------------------------------


def test_a_create_plan_fills_defaults_and_leaves_server_values_unknown() -> None:
    planned = plan(None, config(display_name="agent", entity_id=ENTITY))

    assert planned["ceiling_policies"] == []
    assert planned["no_default_ceiling_policy"] is False
    assert planned["optional_authorization_details"] is False
    assert planned["id"] is Unknown and planned["creation_time"] is Unknown
    assert planned["last_updated_time"] is Unknown


def test_arguments_taken_out_of_the_configuration_return_to_their_defaults() -> None:
    prior = prior_state(ceiling_policies=["reader"], optional_authorization_details=True, description="d")

    planned = plan(prior, config(display_name="agent", entity_id=ENTITY))

    assert planned["ceiling_policies"] == []
    assert planned["optional_authorization_details"] is False
    assert planned["description"] is None
    assert planned["last_updated_time"] is Unknown
    assert planned["id"] == REG_ID


@pytest.mark.parametrize(
    "written",
    [["b", "a"], ["A", "b"], ["a", "b", "a"], ["a", "b", "default"], ["a", "default-ceiling", "b"]],
)
def test_a_ceiling_list_the_server_stores_the_same_way_plans_no_change(written: list[str]) -> None:
    prior = prior_state(ceiling_policies=["a", "b"])

    planned = plan(prior, config(display_name="agent", entity_id=ENTITY, ceiling_policies=written))

    assert planned["ceiling_policies"] == ["a", "b"]
    assert planned["last_updated_time"] == prior["last_updated_time"]


def test_the_opt_out_makes_default_significant() -> None:
    prior = prior_state(ceiling_policies=["a", "default"], no_default_ceiling_policy=False)

    planned = plan(
        prior, config(display_name="agent", entity_id=ENTITY, ceiling_policies=["a"], no_default_ceiling_policy=True)
    )

    assert planned["ceiling_policies"] == ["a"]
    assert planned["last_updated_time"] is Unknown


def test_unknown_configuration_values_stay_unknown() -> None:
    prior = prior_state(ceiling_policies=["a"])

    planned = plan(prior, config(display_name="agent", entity_id=ENTITY, ceiling_policies=Unknown))

    assert planned["ceiling_policies"] is Unknown
    assert planned["last_updated_time"] is Unknown


# ---- state from the server ----------------------------------------------------------------------------


def test_imported_ceilings_leave_out_only_what_the_server_added() -> None:
    assert ceiling_in_state(None, ["reader", "default", "default-ceiling"], False) == ["reader"]
    assert ceiling_in_state(None, ["reader", "default"], True) == ["reader", "default"]


def test_declared_ceilings_are_kept_as_written_while_the_server_agrees() -> None:
    stored = ["reader", "default", "default-ceiling"]
    assert ceiling_in_state(["Reader", "default"], stored, False) == ["Reader", "default"]
    assert ceiling_in_state(["writer"], stored, False) == ["reader"]  # changed out of band


def test_empty_description_and_owner_stay_null_unless_written_empty() -> None:
    state = from_api(record(description="", owner="team"), {"description": None, "owner": ""})
    assert (state["description"], state["owner"]) == (None, "team")
    assert from_api(record(), {"description": ""})["description"] == ""
    assert from_api(record(description="set by hand"), {"description": None})["description"] == "set by hand"


def test_every_field_is_sent_with_empty_values_spelled_out() -> None:
    body = to_api(prior_state(description=None, owner=None, ceiling_policies=None))
    assert body == {
        "display_name": "agent",
        "entity_id": ENTITY,
        "description": "",
        "owner": "",
        "ceiling_policies": [],
        "no_default_ceiling_policy": False,
        "optional_authorization_details": False,
    }


# ---- validation ---------------------------------------------------------------------------------------


def test_invalid_arguments_are_errors_on_their_attribute() -> None:
    diags = Diagnostics()
    resource().validate(
        diags,
        TYPE,
        config(display_name="x\ny", entity_id=" ", namespace="a//b", ceiling_policies=["ok", "ROOT", ""]),
    )
    assert errors(diags) == [
        ("Invalid value for display_name", ["display_name"]),
        ("Invalid value for entity_id", ["entity_id"]),
        ("Invalid value for namespace", ["namespace"]),
        ("Invalid value for ceiling_policies[2]", ["ceiling_policies", (2,)]),
        ("Invalid value for ceiling_policies[1]", ["ceiling_policies", (1,)]),
    ]


def test_unknown_values_are_not_validated() -> None:
    diags = Diagnostics()
    resource().validate(diags, TYPE, config(display_name=Unknown, entity_id=Unknown, ceiling_policies=[Unknown]))
    assert diags.diagnostics == []


def test_uuids_are_recognized_in_any_case() -> None:
    assert looks_like_uuid(REG_ID) and looks_like_uuid(REG_ID.upper())
    assert not looks_like_uuid("agent-" + REG_ID) and not looks_like_uuid("team/agent")


# ---- against a Vault-shaped server --------------------------------------------------------------------


def test_a_record_that_cannot_be_read_back_still_reaches_state(vault: FakeVault) -> None:
    vault.on("POST", "agent-registry/register", (200, {"data": {"id": REG_ID, "display_name": "agent"}}))
    vault.on("GET", f"agent-registry/registration/id/{REG_ID}", (403, {"errors": ["permission denied"]}))
    planned = plan(None, config(display_name="agent", entity_id=ENTITY))
    diags = Diagnostics()

    state = resource(vault.url).create(CreateContext(diags, TYPE), planned)

    assert state["id"] == REG_ID  # Terraform keeps it (tainted): the next apply replaces, never duplicates
    assert errors(diags) == [("Unable to read back the new vault_agent_registration", None)]


def test_a_create_whose_answer_is_the_whole_record_is_not_read_back(vault: FakeVault) -> None:
    # The service answers register with the record as stored (DECISIONS.md#d68): state is what a read gives.
    stored = record(ceiling_policies=["ops", "default", "default-ceiling"], creation_time="2026-02-03T04:05:06Z",
                    last_updated_time="2026-02-03T04:05:06Z")  # fmt: skip
    vault.on("POST", "agent-registry/register", (200, {"data": stored}))
    planned = plan(None, config(display_name="agent", entity_id=ENTITY, ceiling_policies=["OPS"]))
    diags = Diagnostics()

    state = resource(vault.url).create(CreateContext(diags, TYPE), planned)

    assert not diags.diagnostics
    [write] = vault.calls("PUT", "agent-registry/register")
    assert write.header("Prefer") == "return=representation"
    assert vault.calls("GET", f"agent-registry/registration/id/{REG_ID}") == []
    assert state == {**from_api(stored, planned), "namespace": None}
    assert state["ceiling_policies"] == ["OPS"] and state["creation_time"] == "2026-02-03T04:05:06Z"


def test_a_create_whose_answer_names_only_the_id_reads_the_record_back(vault: FakeVault) -> None:
    # A server that answers with less (the id and the display name) is read back for the times it set.
    vault.on("POST", "agent-registry/register", (200, {"data": {"id": REG_ID, "display_name": "agent"}}))
    vault.on("GET", f"agent-registry/registration/id/{REG_ID}", (200, {"data": record()}))
    diags = Diagnostics()

    state = resource(vault.url).create(
        CreateContext(diags, TYPE), plan(None, config(display_name="agent", entity_id=ENTITY))
    )

    assert not diags.diagnostics
    assert len(vault.calls("GET", f"agent-registry/registration/id/{REG_ID}")) == 1
    assert state["creation_time"] == record()["creation_time"] and state["last_updated_time"] is not Unknown


def test_an_update_takes_the_record_from_the_answer_or_reads_it_back(vault: FakeVault) -> None:
    prior = prior_state()
    planned = plan(prior, config(display_name="agent", entity_id=ENTITY, owner="team"))
    assert planned["last_updated_time"] is Unknown
    path = f"agent-registry/registration/id/{REG_ID}"
    updated = record(owner="team", last_updated_time="2026-05-05T00:00:00Z")

    vault.on("POST", path, (200, {"data": updated}))
    state = resource(vault.url).update(UpdateContext(Diagnostics(), TYPE), prior, planned)
    assert vault.calls("GET", path) == [] and state["last_updated_time"] == "2026-05-05T00:00:00Z"

    vault.on("POST", path, (200, {"data": {"id": REG_ID, "display_name": "agent"}}))
    vault.on("GET", path, (200, {"data": updated}))
    state = resource(vault.url).update(UpdateContext(Diagnostics(), TYPE), prior, planned)
    assert len(vault.calls("GET", path)) == 1 and state["last_updated_time"] == "2026-05-05T00:00:00Z"


def test_a_taken_display_name_says_how_to_import(vault: FakeVault) -> None:
    message = f'display_name: "agent" is already used by agent registration "{REG_ID}"'
    vault.on(
        "POST",
        "agent-registry/register",
        (400, {"errors": [message], "field_errors": [{"field": ["display_name"], "error": message}]}),
    )
    diags = Diagnostics()

    state = resource(vault.url).create(
        CreateContext(diags, TYPE), plan(None, config(display_name="agent", entity_id=ENTITY))
    )

    assert state is None
    [d] = diags.diagnostics
    assert (d.summary, d.path) == ("Unable to create vault_agent_registration", ["display_name"])
    assert message in d.detail and "Import it" in d.detail


def test_a_server_error_is_a_diagnostic_with_its_message(vault: FakeVault) -> None:
    vault.on("GET", f"agent-registry/registration/id/{REG_ID}", (503, {"errors": ["storage is sealed"]}))
    diags = Diagnostics()

    assert resource(vault.url).read(ReadContext(diags, TYPE), prior_state()) is None

    [d] = diags.diagnostics
    assert d.summary == "Unable to read vault_agent_registration"
    assert "storage is sealed" in d.detail


def test_an_unreachable_server_is_a_diagnostic() -> None:
    diags = Diagnostics()
    resource("http://127.0.0.1:1").read(ReadContext(diags, TYPE), prior_state())
    [d] = diags.diagnostics
    assert d.summary == "Unable to read vault_agent_registration" and "could not reach" in d.detail


def test_import_tries_a_uuid_shaped_display_name_as_a_name_too(vault: FakeVault) -> None:
    vault.on("GET", f"agent-registry/registration/display-name/{REG_ID}", (200, {"data": record(display_name=REG_ID)}))
    diags = Diagnostics()

    state = resource(vault.url, TERRAFORM_VAULT_NAMESPACE_IMPORT="team").import_(ImportContext(diags, TYPE), REG_ID)

    assert not diags.diagnostics
    assert (state["display_name"], state["namespace"], state["ceiling_policies"]) == (REG_ID, "team", [])
    assert [c.header("X-Vault-Namespace") for c in vault.requests if "agent-registry" in c.path] == ["team", "team"]


def test_import_of_a_missing_registration_is_an_error(vault: FakeVault) -> None:
    diags = Diagnostics()
    assert resource(vault.url).import_(ImportContext(diags, TYPE), "nobody") is None
    assert errors(diags) == [("Cannot import vault_agent_registration", None)]


# ---- through the servicer (what Terraform receives) ---------------------------------------------------


def _dv(value: dict | None) -> pb.DynamicValue:
    return to_dynamic_value(value)


def _plan_rpc(prior: dict | None, cfg: dict) -> Any:
    servicer = VaultProviderServicer(VaultProvider(environ={}))
    proposed = proposed_state(prior, cfg)
    request = pb.PlanResourceChange.Request(
        type_name=TYPE, prior_state=_dv(prior), proposed_new_state=_dv(proposed), config=_dv(cfg)
    )
    return servicer.PlanResourceChange(request, context=None)


def _wire(**values: Any) -> dict[str, Any]:
    return {a.name: values.get(a.name) for a in SCHEMA.attributes}


def test_the_servicer_plans_with_the_configuration_and_marks_replacements() -> None:
    prior = _wire(**prior_state(ceiling_policies=["a"]))
    cfg = _wire(display_name="renamed", entity_id=ENTITY, ceiling_policies=["A"])

    response = _plan_rpc(prior, cfg)

    assert list(response.diagnostics) == []
    planned = msgpack.unpackb(response.planned_state.msgpack, ext_hook=lambda c, d: "<unknown>")
    assert planned["ceiling_policies"] == ["a"]  # the prior spelling of an equivalent list
    assert planned["no_default_ceiling_policy"] is False
    assert [step.attribute_name for path in response.requires_replace for step in path.steps] == ["display_name"]


def test_the_servicer_plans_a_destroy_as_null() -> None:
    servicer = VaultProviderServicer(VaultProvider(environ={}))
    request = pb.PlanResourceChange.Request(
        type_name=TYPE, prior_state=_dv(_wire(**prior_state())), proposed_new_state=_dv(None), config=_dv(None)
    )

    response = servicer.PlanResourceChange(request, context=None)

    assert list(response.diagnostics) == []
    assert not response.planned_state.msgpack or msgpack.unpackb(response.planned_state.msgpack) is None


# ---- Enterprise check ---------------------------------------------------------------------------------


def _configured(url: str, **settings: Any) -> AgentRegistrationResource:
    provider = VaultProvider(environ={"HOME": "/nonexistent"})
    diags = Diagnostics()
    provider.configure_provider(diags, {"address": url, "token": "t", "max_retries": 0, "headers": [], **settings})
    assert not diags.diagnostics
    return AgentRegistrationResource(provider)


def test_a_server_that_is_not_enterprise_is_refused_before_any_write(vault: FakeVault) -> None:
    vault.version = "2.1.0"
    diags = Diagnostics()

    _configured(vault.url).create(CreateContext(diags, TYPE), plan(None, config(display_name="a", entity_id=ENTITY)))

    [d] = diags.diagnostics
    assert d.summary == "Unable to create vault_agent_registration" and "Enterprise Feature Required" in d.detail
    assert vault.calls("POST", "agent-registry/register") == []


def test_skipping_the_version_check_without_an_override_trusts_the_user(vault: FakeVault) -> None:
    vault.on("POST", "agent-registry/register", (200, {"data": {"id": REG_ID, "display_name": "a"}}))
    vault.on("GET", f"agent-registry/registration/id/{REG_ID}", (200, {"data": record(display_name="a")}))
    diags = Diagnostics()

    state = _configured(vault.url, skip_get_vault_version=True).create(
        CreateContext(diags, TYPE), plan(None, config(display_name="a", entity_id=ENTITY))
    )

    assert not diags.diagnostics and state["id"] == REG_ID
    assert vault.calls("GET", "sys/seal-status") == []
