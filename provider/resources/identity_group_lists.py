"""Resources `vault_identity_group_policies`, `vault_identity_group_member_entity_ids` and
`vault_identity_group_member_group_ids`: one list of a group, managed apart from `vault_identity_group`
(hashicorp/vault compatible; set the group's matching `external_*` flag so the two do not fight).

With `exclusive = true` (the default) the resource owns the whole list: it sets it to the configuration and
empties it on destroy, and a value added out of band shows as drift. With `exclusive = false` it owns only
the values it names: it adds them, and removes only those on update and destroy, so several resources can
share one group. The server has no "add one member" call, so each change reads the list and writes it back,
one change per group at a time within this provider process (Terraform applies resources in parallel).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from tf.iface import Config, CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, State, UpdateContext
from tf.schema import Attribute, Schema
from tf.types import Bool, Set, String, Unknown

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import (
    Declared,
    Each,
    NamespacePath,
    NotBlank,
    VaultResource,
    api_error,
    attribute_of_schema,
    equivalent_type,
)
from vaultguard.provider.resources.identity_entity import NotRootPolicy, normalize_policies
from vaultguard.rules.names import normalize_policy_name

_LOCKS: dict[tuple[str | None, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _group_lock(namespace: str | None, group_id: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((namespace, group_id), threading.Lock())


def api_path(group_id: str) -> str:
    return f"identity/group/id/{path_segment(group_id)}"


def _identity(value: str) -> str:
    return value


def _schema(field: str, element: Any, required: bool, what: str, extra: list[Attribute]) -> Schema:
    return Schema(
        version=0,
        description=f"Manages the {what} of an identity group, apart from the `vault_identity_group` resource.",
        attributes=[
            Attribute(field, element, required=required, optional=not required,
                      description=f"The {what} this resource manages."),
            Attribute("group_id", String(), required=True, requires_replace=True,
                      description="ID of the group. Changing it replaces the resource."),
            Attribute("exclusive", Bool(), optional=True, computed=True, default=True,
                      description=f"When true, this resource owns the group's whole list of {what} and removes "
                      "what it does not name; when false, only the values it names (other resources may add "
                      "more). Default: `true`."),
            *extra,
            Attribute("namespace", String(), optional=True, requires_replace=True,
                      description="Namespace of the group, relative to the provider's namespace."),
            Attribute("id", String(), computed=True, description="The group's ID."),
        ],
    )  # fmt: skip


# The rules every group list shares, after the list's own (see each subclass's RULES).
_GROUP_RULES = {"group_id": [NotBlank()], "namespace": [NamespacePath()]}


class _GroupListResource(Declared, VaultResource):
    """One list `FIELD` of a group; subclasses name it and how its values compare."""

    FIELD: ClassVar[str]
    normalize: ClassVar[Callable[[str], str]] = staticmethod(_identity)

    def plan_with_config(self, ctx: PlanContext, prior: State | None, proposed: State, config: Config) -> State | None:
        planned = dict(proposed)
        if config.get("exclusive") is None:
            planned["exclusive"] = True
        planned["id"] = planned.get("group_id")
        return planned

    # ---- the list on the server ------------------------------------------------------------------------

    def _read_group(self, state: State) -> dict[str, Any] | None:
        body = self.client.read(api_path(state["group_id"]), namespace=state.get("namespace"))
        return (body or {}).get("data") or None

    def _write(self, state: State, values: list[str]) -> None:
        self.client.write(api_path(state["group_id"]), {self.FIELD: sorted(values)}, namespace=state.get("namespace"))

    def _without(self, values: list[str], removed: list[str]) -> list[str]:
        gone = {self.normalize(v) for v in removed}
        return [v for v in values if self.normalize(v) not in gone]

    def _change(self, ctx: Any, verb: str, state: State, keep: Callable[[list[str]], list[str]]) -> bool:
        """Read the group's list, write back `keep(list)`; False (with an error) when that fails."""
        with _group_lock(state.get("namespace"), state["group_id"]):
            try:
                group = self._read_group(state)
                if group is None:
                    if verb == "delete":
                        return True  # the group is gone, and its list with it
                    ctx.diagnostics.add_error(f"Unable to {verb} {ctx.type_name}",
                                              f'No identity group with id "{state["group_id"]}".')  # fmt: skip
                    return False
                self._write(state, keep(list(group.get(self.FIELD) or [])))
            except ApiError as exc:
                api_error(ctx.diagnostics, verb, ctx.type_name, exc, attribute_of=attribute_of_schema(self.SCHEMA))
                return False
        return True

    # ---- CRUD --------------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        ours = list(planned.get(self.FIELD) or [])
        if not self._change(ctx, "create", planned, lambda current: ours if planned["exclusive"] else
                            self._without(current, ours) + ours):  # fmt: skip
            return None
        return self.read(ctx, {**planned, "id": planned["group_id"]})  # type: ignore[arg-type]

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            group = self._read_group(current)
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if group is None:
            return None
        on_server = list(group.get(self.FIELD) or [])
        prior = current.get(self.FIELD)
        if current.get("exclusive") is False:  # only ours, as far as they are still there
            server = {self.normalize(v) for v in on_server}
            values = [v for v in prior or [] if self.normalize(v) in server]
        else:  # the whole list, in the configuration's spelling where equivalent
            spelled = {self.normalize(v): v for v in prior or []}
            values = [spelled.get(self.normalize(v), v) for v in on_server]
        state = {**current, "id": current["group_id"], self.FIELD: values if values or prior is not None else None}
        if current.get("exclusive") is None:
            state["exclusive"] = True
        return self.with_group(state, group)

    def with_group(self, state: State, group: dict[str, Any]) -> State:
        return state

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        ours, before = list(planned.get(self.FIELD) or []), list(current.get(self.FIELD) or [])
        if not self._change(ctx, "update", planned, lambda now: ours if planned["exclusive"] else
                            self._without(self._without(now, before), ours) + ours):  # fmt: skip
            return None
        return self.read(ctx, planned)  # type: ignore[arg-type]

    def delete(self, ctx: DeleteContext, current: State) -> None:
        ours = list(current.get(self.FIELD) or [])
        exclusive = current.get("exclusive") is not False
        self._change(ctx, "delete", current, lambda now: [] if exclusive else self._without(now, ours))
        return None

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import <type>.x <group id>`: exclusive, so the whole list is read."""
        if not id.strip():
            ctx.diagnostics.add_error("Invalid import ID", f"Import a {ctx.type_name} by its group's id.")
            return None
        return self.import_state(id=id.strip(), group_id=id.strip(), exclusive=True, namespace=self.import_namespace())


class IdentityGroupPoliciesResource(_GroupListResource):
    """`resource "vault_identity_group_policies"`."""

    FIELD, NAME = "policies", "identity_group_policies"
    SCHEMA = _schema("policies", equivalent_type(Set(String()), normalize_policies), True, "policies",
                     [Attribute("group_name", String(), computed=True, description="Name of the group.")])  # fmt: skip
    RULES: ClassVar[dict[str, list[Any]]] = {"policies": [Each(NotBlank()), Each(NotRootPolicy())], **_GROUP_RULES}
    normalize = staticmethod(normalize_policy_name)

    def plan_with_config(self, ctx: PlanContext, prior: State | None, proposed: State, config: Config) -> State | None:
        planned = super().plan_with_config(ctx, prior, proposed, config)
        if prior is None or prior.get("group_id") != planned.get("group_id"):
            planned["group_name"] = Unknown
        return planned

    def with_group(self, state: State, group: dict[str, Any]) -> State:
        return {**state, "group_name": group.get("name") or ""}


class IdentityGroupMemberEntityIdsResource(_GroupListResource):
    """`resource "vault_identity_group_member_entity_ids"`."""

    FIELD, NAME = "member_entity_ids", "identity_group_member_entity_ids"
    SCHEMA = _schema("member_entity_ids", Set(String()), False, "member entities", [])
    RULES: ClassVar[dict[str, list[Any]]] = {"member_entity_ids": [Each(NotBlank())], **_GROUP_RULES}


class IdentityGroupMemberGroupIdsResource(_GroupListResource):
    """`resource "vault_identity_group_member_group_ids"`."""

    FIELD, NAME = "member_group_ids", "identity_group_member_group_ids"
    SCHEMA = _schema("member_group_ids", Set(String()), False, "member groups", [])
    RULES: ClassVar[dict[str, list[Any]]] = {"member_group_ids": [Each(NotBlank())], **_GROUP_RULES}


__all__ = [
    "IdentityGroupMemberEntityIdsResource",
    "IdentityGroupMemberGroupIdsResource",
    "IdentityGroupPoliciesResource",
]
