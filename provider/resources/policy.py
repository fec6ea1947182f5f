"""Resource `vault_policy`: one ACL policy (hashicorp/vault compatible; SPEC B §6.1).

The policy text is checked at plan time by the service's own parser, so `terraform validate` rejects what
the server would reject, with the same message. The server stores the text exactly as sent; it stores the
name lowercased, and state keeps the name as the configuration spells it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tf.iface import Config, CreateContext, DeleteContext, ImportContext, ReadContext, State, UpdateContext
from tf.schema import Attribute, Schema
from tf.types import Bool, String
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import (
    EquivalentString,
    NamespacePath,
    NotBlank,
    VaultResource,
    api_error,
    check,
    same_or_prior,
    show,
)
from vaultguard.service.authz.names import POLICY_NAME_RULE, normalize_policy_name, policy_name_problem

# ---- schema -------------------------------------------------------------------------------------------

SCHEMA = Schema(
    version=0,
    description="Manages an ACL policy: the HCL (or JSON) document of `path` blocks that grants capabilities.",
    attributes=[
        Attribute(
            "name",
            EquivalentString(normalize_policy_name),
            required=True,
            requires_replace=True,
            description="Name of the policy. The server stores it lowercased; letters, digits, `-`, `_`, `.` "
            "and `@`, at most 128 characters. `root` cannot be managed. Changing it replaces the policy.",
        ),
        Attribute(
            "policy",
            String(),
            required=True,
            description="The policy document, in HCL or JSON. It is parsed at plan time with the server's "
            "own parser, so an invalid document fails `terraform validate`.",
        ),
        Attribute(
            "allow_overwrite",
            Bool(),
            optional=True,
            description="Whether creating the resource may overwrite a policy of the same name that already "
            "exists (default `true`, as with hashicorp/vault). When `false`, creating fails instead and says "
            "how to import it. Only creation reads it.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            requires_replace=True,
            description="Namespace of the policy, relative to the provider's namespace. Changing it replaces "
            "the policy.",
        ),
        Attribute(
            "id",
            String(),
            computed=True,
            description="The policy's name as the server stores it (lowercased).",
        ),
    ],
)


# ---- validation ---------------------------------------------------------------------------------------


# The stored form of a policy name: trimmed and lowercased (the service's rule, as Vault's policy store).
normalize_name = normalize_policy_name


class PolicyName:
    """A policy name the server accepts, and not `root`.

    The rule is the service's own (vaultguard.service.authz.policy), applied to the normalized name.
    """

    description = f"must be a policy name: {POLICY_NAME_RULE}"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        problem = policy_name_problem(normalize_name(value)) if isinstance(value, str) else "is not a string"
        if problem:
            yield [], f"{show(value)} {problem}"
        elif value.lower() == "root":
            yield [], 'must not be "root": the root policy is built in and cannot be changed'


class PolicyDocument:
    """Policy text the server's parser accepts (the same function, so the same rules and messages)."""

    description = "must be a valid ACL policy document (HCL or JSON)"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        # Imported here, not at module level: the provider answers Terraform's handshake before anything
        # needs the parser, and only plan-time validation of this resource does.
        from vaultguard.service.authz.policy import PolicyError, parse_policy

        try:
            parse_policy("policy", value)
        except PolicyError as exc:
            yield [], f"is not a valid policy: {exc}"


RULES = {
    "name": [PolicyName()],
    "policy": [NotBlank(), PolicyDocument()],
    "namespace": [NamespacePath()],
}


# ---- API mapping --------------------------------------------------------------------------------------


def api_path(name: str) -> str:
    return f"sys/policies/acl/{path_segment(normalize_name(name))}"


def to_api(state: State) -> dict[str, Any]:
    """The request body of a write."""
    return {"policy": state["policy"]}


def from_api(data: dict[str, Any]) -> State:
    """State attributes from a read's `data`."""
    return {"name": data["name"], "policy": data.get("policy") or "", "id": data["name"]}


# ---- plan adjustments ---------------------------------------------------------------------------------
# None at plan time: nothing here is computed but `id`, which plans unknown on create and keeps its value
# on update. After the server answers, `reconcile` keeps the name as the configuration spells it.


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view (`fresh`), keeping what only the configuration knows (`prior`)."""
    return {
        **fresh,
        "name": same_or_prior(prior.get("name"), fresh["name"], normalize_name),
        "allow_overwrite": prior.get("allow_overwrite"),
        "namespace": prior.get("namespace"),
    }


class PolicyResource(VaultResource):
    """`resource "vault_policy"`."""

    @classmethod
    def get_name(cls) -> str:
        return "policy"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        check(diags, config, RULES)

    # ---- create -------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        # A policy that already exists is overwritten unless `allow_overwrite = false`, as with
        # hashicorp/vault: that is how the built-in `default` policy is brought under Terraform.
        name, namespace = normalize_name(planned["name"]), planned.get("namespace")
        try:
            if planned.get("allow_overwrite") is False and self.client.read(api_path(name), namespace=namespace):
                ctx.diagnostics.add_error(
                    f"Unable to create {ctx.type_name}",
                    f'Policy "{name}" already exists. Import it with `terraform import` (ID: {name}) to manage '
                    "it here, or set allow_overwrite = true to overwrite it.",
                    path=["name"],
                )
                return None
            self.client.write(api_path(name), to_api(planned), namespace=namespace)
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
        return {**planned, "id": name}

    # ---- read ---------------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, current: State) -> State | None:
        name = current.get("name") or current["id"]
        try:
            body = self.client.read(api_path(name), namespace=current.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if body is None or not body.get("data"):
            return None  # deleted out of band: Terraform plans to create it again
        return reconcile(current, from_api(body["data"]))

    # ---- update -------------------------------------------------------------------------------------

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        try:
            self.client.write(api_path(planned["name"]), to_api(planned), namespace=planned.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "update", ctx.type_name, exc, schema=SCHEMA)
        return planned

    # ---- delete -------------------------------------------------------------------------------------

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.client.delete(api_path(current["name"]), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    # ---- import -------------------------------------------------------------------------------------

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import vault_policy.x <name>`; Terraform then reads the rest."""
        if not id.strip():
            ctx.diagnostics.add_error("Invalid import ID", "Import a vault_policy by its name.")
            return None
        return self.import_state(id=normalize_name(id), name=id.strip(), namespace=self.import_namespace())

    # upgrade: VaultResource.upgrade (schema version 0, no upgraders yet).


__all__ = ["PolicyResource", "from_api", "to_api"]
