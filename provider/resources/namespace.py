"""Resource `vault_namespace`: a child namespace (hashicorp/vault compatible).

A namespace is created one level at a time under its parent: the provider's namespace joined with the
resource's `namespace`. The server refuses to delete a namespace that still holds entities, aliases,
profiles, registrations or child namespaces; Terraform's dependency order deletes those first when they
are in the same configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tf.iface import Config, CreateContext, DeleteContext, ImportContext, ReadContext, State, UpdateContext
from tf.schema import Attribute, Schema
from tf.types import Map, String
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, join_namespace, path_segment
from vaultguard.provider.framework import NamespacePath, VaultResource, api_error, check, keep_null, show
from vaultguard.service.identity.namespaces import NAME_RULE, namespace_name_problem

# ---- schema -------------------------------------------------------------------------------------------

SCHEMA = Schema(
    version=0,
    description="Manages a namespace: an isolated tenant with its own policies, identities, profiles and "
    "registrations (nothing is inherited from the parent).",
    attributes=[
        Attribute(
            "path",
            String(),
            required=True,
            requires_replace=True,
            description="Name of the namespace: one path segment (letters, digits, `-`, `_`, `.`; at most "
            "64 characters; not a reserved name such as `sys` or `root`), without slashes. Changing it "
            "replaces the namespace.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            requires_replace=True,
            description="Parent namespace, relative to the provider's namespace; the provider's namespace "
            "itself when unset. Changing it replaces the namespace.",
        ),
        Attribute(
            "custom_metadata",
            Map(String()),
            optional=True,
            description="Custom metadata of the namespace, string to string.",
        ),
        Attribute(
            "id",
            String(),
            computed=True,
            description="Full path of the namespace from the root, with a trailing `/` (e.g. `team-a/ci/`).",
        ),
        Attribute(
            "namespace_id",
            String(),
            computed=True,
            description="The namespace's ID, assigned by the server.",
        ),
        Attribute(
            "path_fq",
            String(),
            computed=True,
            description="Path of the namespace relative to the provider's namespace: `namespace/path`, or "
            "`path` when `namespace` is unset. Use it as another resource's `namespace`.",
        ),
    ],
)


# ---- validation ---------------------------------------------------------------------------------------

class NamespaceSegment:
    """One namespace name, by the service's own rule (one place: vaultguard.service.identity.namespaces)."""

    description = f"must be a single namespace name: {NAME_RULE}"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        problem = namespace_name_problem(value) if isinstance(value, str) else "is not a string"
        if problem:
            yield [], f"{show(value)} {problem}"


RULES = {
    "path": [NamespaceSegment()],
    "namespace": [NamespacePath()],
}


# ---- API mapping --------------------------------------------------------------------------------------


def api_path(path: str) -> str:
    return f"sys/namespaces/{path_segment(path)}"


def to_api(state: State) -> dict[str, Any]:
    """The request body of a create or update."""
    return {"custom_metadata": dict(state.get("custom_metadata") or {})}


def from_api(data: dict[str, Any]) -> State:
    """State attributes from a read's `data` (`path` there is the full path, e.g. `team-a/ci/`)."""
    full_path = data.get("path") or ""
    return {
        "id": full_path,
        "path": full_path.rstrip("/").rsplit("/", 1)[-1],
        "namespace_id": data.get("id") or "",
        "custom_metadata": {str(k): str(v) for k, v in (data.get("custom_metadata") or {}).items()},
    }


def path_fq(namespace: str | None, path: str) -> str:
    return join_namespace(namespace, path) or path


# ---- plan adjustments ---------------------------------------------------------------------------------
# None at plan time: the computed attributes plan unknown on create and keep their values on update (a
# change of `path` or `namespace` replaces the namespace). After the server answers, `reconcile` keeps
# null for metadata left out of the configuration.


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view (`fresh`), keeping what only the configuration knows (`prior`)."""
    namespace = prior.get("namespace")
    return {
        **fresh,
        "path": prior.get("path") or fresh["path"],
        "namespace": namespace,
        "custom_metadata": keep_null(prior.get("custom_metadata"), fresh["custom_metadata"]),
        "path_fq": path_fq(namespace, prior.get("path") or fresh["path"]),
    }


class NamespaceResource(VaultResource):
    """`resource "vault_namespace"`."""

    @classmethod
    def get_name(cls) -> str:
        return "namespace"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        check(diags, config, RULES)

    # ---- create -------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        path, parent = planned["path"], planned.get("namespace")
        try:
            # The server's write also updates an existing namespace; creating must never adopt one.
            if self.client.read(api_path(path), namespace=parent) is not None:
                ctx.diagnostics.add_error(
                    f"Unable to create {ctx.type_name}",
                    f'Namespace "{path_fq(parent, path)}" already exists. Import it with '
                    f"`terraform import` (ID: {path_fq(parent, path)}) to manage it here.",
                    path=["path"],
                )
                return None
            body = self.client.write(api_path(path), to_api(planned), namespace=parent)
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
        fresh = reconcile(planned, from_api((body or {}).get("data") or {}))
        return {**planned, "id": fresh["id"], "namespace_id": fresh["namespace_id"], "path_fq": fresh["path_fq"]}

    # ---- read ---------------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            body = self.client.read(api_path(current["path"]), namespace=current.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if body is None or not body.get("data"):
            return None  # deleted out of band: Terraform plans to create it again
        return reconcile(current, from_api(body["data"]))

    # ---- update -------------------------------------------------------------------------------------

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        try:
            self.client.write(api_path(planned["path"]), to_api(planned), namespace=planned.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "update", ctx.type_name, exc, schema=SCHEMA)
        return planned

    # ---- delete -------------------------------------------------------------------------------------

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.client.delete(api_path(current["path"]), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    # ---- import -------------------------------------------------------------------------------------

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import vault_namespace.x <path>`: the name, or `parent/.../name` relative to the
        provider's namespace (and to `TERRAFORM_VAULT_NAMESPACE_IMPORT` when set)."""
        parent, _, name = id.strip().strip("/").rpartition("/")
        if not name:
            ctx.diagnostics.add_error(
                "Invalid import ID", "Import a vault_namespace by its path, e.g. `team-a` or `team-a/ci`."
            )
            return None
        return self.import_state(id=id, path=name, namespace=join_namespace(self.import_namespace(), parent))

    # upgrade: VaultResource.upgrade (schema version 0, no upgraders yet).


__all__ = ["NamespaceResource", "from_api", "to_api"]
