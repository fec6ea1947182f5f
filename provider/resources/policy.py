"""Resource `vault_policy`: one ACL policy (hashicorp/vault compatible; DECISIONS.md#d39).

The policy text is checked at plan time by the service's own parser, so `terraform validate` rejects what
the server would reject, with the same message. The server stores the text exactly as sent; it stores the
name lowercased, and state keeps the name as the configuration spells it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tf.iface import ImportContext, State
from tf.types import Bool, String
from tf.utils import AttributePath

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import NotBlank, show
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field
from vaultguard.rules.names import POLICY_NAME_RULE, normalize_policy_name, policy_name_problem

# The stored form of a policy name: trimmed and lowercased (the service's rule, as Vault's policy store).
normalize_name = normalize_policy_name


class PolicyName:
    """A policy name the server accepts, and not `root`.

    The rule is the one the service applies (vaultguard.rules.names), to the normalized name.
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


FIELDS = ResourceSpec(
    [
        Field(
            "name",
            String(),
            "Name of the policy. The server stores it lowercased; letters, digits, `-`, `_`, `.` and `@`, at "
            "most 128 characters. `root` cannot be managed. Changing it replaces the policy.",
            required=True,
            replace=True,
            rules=[PolicyName()],
            same=normalize_name,
            write=False,  # in the path
        ),
        Field(
            "policy",
            String(),
            "The policy document, in HCL or JSON. It is parsed at plan time with the server's own parser, so "
            "an invalid document fails `terraform validate`.",
            required=True,
            rules=[NotBlank(), PolicyDocument()],
        ),
        Field(
            "allow_overwrite",
            Bool(),
            "Whether creating the resource may overwrite a policy of the same name that already exists "
            "(default `true`, as with hashicorp/vault). When `false`, creating fails instead and says how to "
            "import it. Only creation reads it.",
            optional=True,
            api=None,
        ),
        namespace_field(
            "Namespace of the policy, relative to the provider's namespace. Changing it replaces the policy."
        ),
        Field(
            "id",
            String(),
            "The policy's name as the server stores it (lowercased).",
            computed=True,
            api="name",
        ),
    ],
    description="Manages an ACL policy: the HCL (or JSON) document of `path` blocks that grants capabilities.",
)
SCHEMA = FIELDS.schema
to_api, from_api, reconcile = FIELDS.to_api, FIELDS.from_api, FIELDS.reconcile


class PolicyResource(SpecResource):
    """`resource "vault_policy"`. A policy that already exists is overwritten unless
    `allow_overwrite = false`, as with hashicorp/vault: that is how the built-in `default` policy is brought
    under Terraform."""

    resource_name = "policy"
    spec = FIELDS
    import_by = "its name"
    noun = "policy"

    read_after_create = False  # the server stores the text as sent, and the name in its stored form (the id)

    def created_identity(self, planned: State, answer: Mapping[str, Any] | None) -> State | None:
        return {"id": normalize_name(planned["name"])}

    def object_path(self, state: State) -> str:
        return f"sys/policies/acl/{path_segment(normalize_name(state.get('name') or state['id']))}"

    def must_not_exist(self, planned: State) -> bool:
        return planned.get("allow_overwrite") is False

    def existing_message(self, planned: State) -> tuple[str, AttributePath]:
        name = normalize_name(planned["name"])
        return (
            f'Policy "{name}" already exists. Import it with `terraform import` (ID: {name}) to manage it here, '
            "or set allow_overwrite = true to overwrite it.",
            ["name"],
        )

    def imported(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's name
        return self.import_state(id=normalize_name(id), name=id.strip(), namespace=self.import_namespace())


__all__ = ["PolicyResource", "from_api", "to_api"]
