"""Resource `vault_namespace`: a child namespace (hashicorp/vault compatible).

A namespace is created one level at a time under its parent: the provider's namespace joined with the
resource's `namespace`. The server refuses to delete a namespace that still holds entities, aliases,
profiles, registrations or child namespaces; Terraform's dependency order deletes those first when they
are in the same configuration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tf.iface import ImportContext, State
from tf.types import Map, String, Unknown
from tf.utils import AttributePath

from vaultguard.provider.client import join_namespace, path_segment
from vaultguard.provider.framework import show
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field
from vaultguard.rules.names import NAME_RULE, namespace_name_problem


class NamespaceSegment:
    """One namespace name, by the rule the service applies (one place: vaultguard.rules.names)."""

    description = f"must be a single namespace name: {NAME_RULE}"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        problem = namespace_name_problem(value) if isinstance(value, str) else "is not a string"
        if problem:
            yield [], f"{show(value)} {problem}"


def _full_path(data: Mapping[str, Any]) -> str:
    return data.get("path") or ""  # from the root, with a trailing `/`: `team-a/ci/`


FIELDS = ResourceSpec(
    [
        Field(
            "path",
            String(),
            "Name of the namespace: one path segment (letters, digits, `-`, `_`, `.`; at most 64 characters; "
            "not a reserved name such as `sys` or `root`), without slashes. Changing it replaces the namespace.",
            required=True,
            replace=True,
            rules=[NamespaceSegment()],
            write=False,  # in the path
            read=lambda data: _full_path(data).rstrip("/").rsplit("/", 1)[-1],
        ),
        namespace_field(
            "Parent namespace, relative to the provider's namespace; the provider's namespace itself when "
            "unset. Changing it replaces the namespace."
        ),
        Field(
            "custom_metadata",
            Map(String()),
            "Custom metadata of the namespace, string to string.",
            optional=True,
            empty_keeps_null=True,
        ),
        Field(
            "id",
            String(),
            "Full path of the namespace from the root, with a trailing `/` (e.g. `team-a/ci/`).",
            computed=True,
            read=_full_path,
        ),
        Field("namespace_id", String(), "The namespace's ID, assigned by the server.", computed=True, api="id"),
        Field(
            "path_fq",
            String(),
            "Path of the namespace relative to the provider's namespace: `namespace/path`, or `path` when "
            "`namespace` is unset. Use it as another resource's `namespace`.",
            computed=True,
            api=None,  # from `namespace` and `path`
        ),
    ],
    description="Manages a namespace: an isolated tenant with its own policies, identities, profiles and "
    "registrations (nothing is inherited from the parent).",
)
SCHEMA = FIELDS.schema
to_api, from_api = FIELDS.to_api, FIELDS.from_api


def path_fq(namespace: str | None, path: str) -> str:
    return join_namespace(namespace, path) or path


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view (`fresh`), keeping what only the configuration knows (`prior`)."""
    state = FIELDS.reconcile(prior, fresh)
    state["path"] = prior.get("path") or fresh["path"]
    state["path_fq"] = path_fq(state["namespace"], state["path"])
    return state


class NamespaceResource(SpecResource):
    """`resource "vault_namespace"`. The server's write also updates an existing namespace: creating must
    never adopt one."""

    resource_name = "namespace"
    spec = FIELDS
    refuse_existing = True
    import_by = "its path, e.g. `team-a` or `team-a/ci`"
    noun = "namespace"

    read_after_create = False  # the create's answer is the new namespace, as a read returns it

    def object_path(self, state: State) -> str:
        return f"sys/namespaces/{path_segment(state['path'])}"

    def created_identity(self, planned: State, answer: Mapping[str, Any] | None) -> State | None:
        """What the plan left unknown, from the answer (nothing when the answer has no namespace in it: then
        the new namespace is read back)."""
        data = (answer or {}).get("data")
        if not data or not data.get("id"):
            return {}
        fresh = self.state_from_api(planned, data)
        return {name: fresh[name] for name, value in planned.items() if value is Unknown}

    def existing_message(self, planned: State) -> tuple[str, AttributePath]:
        where = path_fq(planned.get("namespace"), planned["path"])
        return (
            f'Namespace "{where}" already exists. Import it with `terraform import` (ID: {where}) to manage it here.',
            ["path"],
        )

    def state_from_api(self, prior: State, data: Mapping[str, Any]) -> State:
        return reconcile(prior, from_api(data))

    def imported(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's name
        """`terraform import vault_namespace.x <path>`: the name, or `parent/.../name` relative to the
        provider's namespace (and to `TERRAFORM_VAULT_NAMESPACE_IMPORT` when set)."""
        parent, _, name = id.strip().strip("/").rpartition("/")
        if not name:
            ctx.diagnostics.add_error("Invalid import ID", f"Import a {ctx.type_name} by {self.import_by}.")
            return None
        return self.import_state(id=id, path=name, namespace=join_namespace(self.import_namespace(), parent))


__all__ = ["NamespaceResource", "from_api", "to_api"]
