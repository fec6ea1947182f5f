"""tf's servicer as the provider serves it: a failing hook becomes a diagnostic, not a dead RPC."""

from __future__ import annotations

from tf.gen import tfplugin_pb2 as pb
from tf.schema import Attribute, Schema
from tf.types import String
from tf.utils import to_dynamic_value

from vaultguard.provider.framework import VaultResource
from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.servicer import VaultProviderServicer


class Exploding(VaultResource):
    @classmethod
    def get_name(cls) -> str:
        return "exploding"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(version=0, attributes=[Attribute("id", String(), computed=True)])

    def create(self, ctx, planned):  # pragma: no cover - not reached
        return planned

    def read(self, ctx, current):
        raise KeyError("id")

    def update(self, ctx, current, planned):  # pragma: no cover
        return planned

    def delete(self, ctx, current):  # pragma: no cover
        return None


class ProviderWithExploding(VaultProvider):
    def get_resources(self):
        return [Exploding]


def test_an_exception_in_a_resource_hook_becomes_an_error_diagnostic(capsys) -> None:
    servicer = VaultProviderServicer(ProviderWithExploding(environ={}))
    request = pb.ReadResource.Request(
        type_name="vault_exploding", current_state=to_dynamic_value({"id": "x"})
    )

    response = servicer.ReadResource(request, context=None)

    [diagnostic] = response.diagnostics
    assert diagnostic.severity == pb.Diagnostic.ERROR
    assert (
        diagnostic.summary == "Internal error in the vault provider during ReadResource for vault_exploding"
    )
    assert "KeyError: 'id'" in diagnostic.detail
    assert "Traceback" in capsys.readouterr().err  # the provider log keeps the traceback


def test_normal_rpcs_are_tfs_own() -> None:
    servicer = VaultProviderServicer(VaultProvider(environ={}))

    response = servicer.GetProviderSchema(pb.GetProviderSchema.Request(), context=None)

    assert "vault_kv_secret_v2" in response.data_source_schemas
    assert list(response.diagnostics) == []


def test_the_schema_answer_lets_terraform_reuse_it_in_the_other_provider_processes_of_a_command() -> None:
    """Terraform reads get_provider_schema_optional from the GetProviderSchema answer; without it every provider
    process of a command (three or four) answers the whole schema again (DECISIONS.md#d66). Destroy plans stay
    Terraform's own, as before."""
    servicer = VaultProviderServicer(VaultProvider(environ={}))

    response = servicer.GetProviderSchema(pb.GetProviderSchema.Request(), context=None)

    assert response.server_capabilities.get_provider_schema_optional is True
    assert response.server_capabilities.plan_destroy is False


# ---- equivalent spellings keep the prior value ----------------------------------------------------------------


def _plan_policy(prior: dict, config: dict) -> tuple[dict, list[str]]:
    import msgpack

    servicer = VaultProviderServicer(VaultProvider(environ={}))
    proposed = {**config, "id": prior["id"]}
    request = pb.PlanResourceChange.Request(
        type_name="vault_policy",
        prior_state=to_dynamic_value(prior),
        proposed_new_state=to_dynamic_value(proposed),
        config=to_dynamic_value(config),
    )
    response = servicer.PlanResourceChange(request, context=None)
    assert list(response.diagnostics) == []
    replaced = [step.attribute_name for path in response.requires_replace for step in path.steps]
    return msgpack.unpackb(response.planned_state.msgpack), replaced


def test_a_respelled_equivalent_value_plans_the_prior_spelling_without_replacement() -> None:
    # After `terraform import vault_policy.p ceiling-j`, state holds the server's spelling.
    prior = {"name": "ceiling-j", "policy": "x", "namespace": None, "id": "ceiling-j"}

    planned, replaced = _plan_policy(prior, {"name": "Ceiling-J", "policy": "x", "namespace": None, "id": None})

    assert planned["name"] == "ceiling-j"
    assert replaced == []


def test_a_different_value_is_planned_as_written_and_replaces() -> None:
    prior = {"name": "ceiling-j", "policy": "x", "namespace": None, "id": "ceiling-j"}

    planned, replaced = _plan_policy(prior, {"name": "ceiling-k", "policy": "y", "namespace": None, "id": None})

    assert (planned["name"], planned["policy"]) == ("ceiling-k", "y")
    assert replaced == ["name"]


def test_equivalent_sets_of_policy_names_keep_the_prior_spelling() -> None:
    from tf.types import String

    from vaultguard.provider.framework import EquivalentSet
    from vaultguard.provider.resources.identity_entity import normalize_policies
    from vaultguard.provider.servicer import equivalent_to_prior

    attrs = {"policies": Attribute("policies", EquivalentSet(String(), normalize_policies), optional=True)}

    assert equivalent_to_prior(attrs, {"policies": ["a", "b"]}, {"policies": ["B", " A"]}) == ["policies"]
    assert equivalent_to_prior(attrs, {"policies": ["a", "b"]}, {"policies": ["a", "c"]}) == []
    assert equivalent_to_prior(attrs, {"policies": None}, {"policies": ["a"]}) == []
