"""Resource `vault_agent_registration`: an AI agent's governance record (SPEC B §1, §7.1; hashicorp/vault
compatible HCL).

What it does beyond the upstream resource (SPEC B §7.4):
- `last_updated_time` is unknown in the plan of an update and holds the server's new value after apply.
- `description` and `owner` can be cleared, `ceiling_policies` can be removed: every update sends every
  field (the server replaces them all, D10), and the plan sees the configuration (`plan_with_config`), so
  an attribute taken out of the configuration returns to its default instead of keeping its old value.
- `ceiling_policies` holds what the configuration declares: the `default` and `default-ceiling` policies
  the server appends are left out, unless the configuration lists them itself; order, case and repeats that
  the server would store the same way cause no diff.
- Create never adopts: the service refuses a taken `display_name` (400) and the error says how to import
  the existing record. Once the server has created the record, its id reaches the state even when reading
  it back fails, so a re-run replaces it instead of tripping over it.
- Import takes a display name or an id (UUID-shaped IDs are tried as ids first, then as names).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
    PlanContext,
    ReadContext,
    State,
    UpdateContext,
)
from tf.schema import Attribute, Schema
from tf.types import Bool, List, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, InvalidRequest, path_segment
from vaultguard.provider.framework import (
    Each,
    NamespacePath,
    NotBlank,
    VaultResource,
    api_error,
    check,
    show,
)
from vaultguard.provider.missing_policies import warn_missing_policies
from vaultguard.service.registry.model import DEFAULT_CEILING_POLICIES
from vaultguard.service.registry.rules import MAX_DISPLAY_NAME, normalize_policy_names, stored_ceiling

# ---- schema -------------------------------------------------------------------------------------------

# Optional attributes with a default: the value planned when the configuration leaves them out.
DEFAULTS: dict[str, Any] = {
    "ceiling_policies": [],
    "no_default_ceiling_policy": False,
    "optional_authorization_details": False,
}

SCHEMA = Schema(
    version=0,
    description="Registers an AI agent in the agent registry: the identity entity it acts as, the ceiling "
    "policies that bound what it may ever do, and governance data (description, owner). An OAuth JWT is "
    "accepted for an agent only when its entity has a registration.",
    attributes=[
        Attribute(
            "display_name",
            String(),
            required=True,
            requires_replace=True,
            description="Name of the agent, unique among registrations in the namespace. Changing it "
            "replaces the registration.",
        ),
        Attribute(
            "entity_id",
            String(),
            required=True,
            requires_replace=True,
            description="ID of the identity entity the agent acts as. An entity has at most one "
            "registration. Changing it replaces the registration.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            requires_replace=True,
            description="Namespace of the registration, relative to the provider's namespace (no leading "
            "or trailing `/`). Changing it replaces the registration.",
        ),
        Attribute(
            "ceiling_policies",
            List(String()),
            optional=True,
            computed=True,
            description="Policies that bound what the agent may do, whatever its subject may do. Unless "
            "`no_default_ceiling_policy` is true the server also applies `default` and `default-ceiling`; "
            "those are not shown here unless listed explicitly. `root` is not allowed. Default: none.",
        ),
        Attribute(
            "no_default_ceiling_policy",
            Bool(),
            optional=True,
            computed=True,
            default=False,
            description="When true, `default` and `default-ceiling` are not added to the ceiling "
            "policies. Default: `false`.",
        ),
        Attribute("description", String(), optional=True, description="Free-text description of the agent."),
        Attribute("owner", String(), optional=True, description="Person or team responsible for the agent."),
        Attribute(
            "optional_authorization_details",
            Bool(),
            optional=True,
            computed=True,
            default=False,
            description="When true, the agent may present JWTs without an `authorization_details` "
            "claim (RFC 9396). Default: `false`.",
        ),
        Attribute("id", String(), computed=True, description="ID of the registration (a UUID)."),
        Attribute(
            "creation_time", String(), computed=True, description="When the registration was created (RFC 3339)."
        ),
        Attribute(
            "last_updated_time",
            String(),
            computed=True,
            description="When the registration was last changed (RFC 3339).",
        ),
    ],
)

# Fields whose change is an in-place update (and moves last_updated_time).
MUTABLE = (
    "ceiling_policies",
    "no_default_ceiling_policy",
    "description",
    "owner",
    "optional_authorization_details",
)


# ---- validation ---------------------------------------------------------------------------------------


class DisplayName:
    """The service's rule for a display name: not blank, bounded, no control characters."""

    description = f"must be a non-empty name of at most {MAX_DISPLAY_NAME} characters without control characters"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if not isinstance(value, str) or not value.strip():
            yield [], f"must not be empty; got {show(value)}"
        elif len(value) > MAX_DISPLAY_NAME:
            yield [], f"must be at most {MAX_DISPLAY_NAME} characters; got {len(value)}"
        elif any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            yield [], f"must not contain control characters; got {show(value)}"


class NotRootCeiling:
    """`root` can never bound an agent (the server stores policy names trimmed and lowercased)."""

    description = 'must not be "root"'

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if isinstance(value, str) and value.strip().lower() == "root":
            yield [], 'must not be "root": the root policy cannot be a ceiling policy'


RULES = {
    "display_name": [DisplayName()],
    "entity_id": [NotBlank()],
    "namespace": [NamespacePath()],
    "ceiling_policies": [Each(NotBlank()), Each(NotRootCeiling())],
}


# ---- API mapping --------------------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def looks_like_uuid(value: str) -> bool:
    """Whether an import ID is an id (8-4-4-4-12 hex digits, any case) rather than a display name."""
    return _UUID.fullmatch(value) is not None


def by_id(reg_id: str) -> str:
    return f"agent-registry/registration/id/{path_segment(reg_id)}"


def by_name(display_name: str) -> str:
    return f"agent-registry/registration/display-name/{path_segment(display_name)}"


def to_api(state: State) -> dict[str, Any]:
    """The body of a register or update: every field, empty ones spelled out (updates replace them all)."""
    return {
        "display_name": state["display_name"],
        "entity_id": state["entity_id"],
        "description": state.get("description") or "",
        "owner": state.get("owner") or "",
        "ceiling_policies": list(state.get("ceiling_policies") or []),
        "no_default_ceiling_policy": bool(state.get("no_default_ceiling_policy")),
        "optional_authorization_details": bool(state.get("optional_authorization_details")),
    }


def from_api(data: dict[str, Any], prior: State) -> State:
    """State from a read's `data`, keeping what only the configuration knows (`prior`: the state or plan
    the read refreshes; `{}` on import)."""
    no_default = bool(data.get("no_default_ceiling_policy", False))
    return {
        "id": data["id"],
        "namespace": prior.get("namespace"),
        "display_name": data.get("display_name", ""),
        "entity_id": data.get("entity_id", ""),
        "ceiling_policies": ceiling_in_state(
            prior.get("ceiling_policies"), data.get("ceiling_policies") or [], no_default
        ),
        "no_default_ceiling_policy": no_default,
        "description": text_in_state(prior.get("description"), data.get("description") or ""),
        "owner": text_in_state(prior.get("owner"), data.get("owner") or ""),
        "optional_authorization_details": bool(data.get("optional_authorization_details", False)),
        "creation_time": data.get("creation_time") or "",
        "last_updated_time": data.get("last_updated_time") or "",
    }


# ---- plan adjustments (also used when reading back) ---------------------------------------------------


def _known_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def same_ceiling(a: Sequence[str], b: Sequence[str], no_default: bool) -> bool:
    """Whether two declared ceiling lists make the server store the same policies (order aside)."""
    return set(stored_ceiling(list(a), no_default)) == set(stored_ceiling(list(b), no_default))


def ceiling_in_state(prior: Any, stored: Sequence[str], no_default: bool) -> list[str]:
    """What state holds for the server's stored ceiling list.

    The prior (declared) list when it is what the server stores, so the user's order and spelling, and an
    explicit `default`, cause no diff; otherwise (a change out of band, an import) the stored list without
    the policies the server added itself.
    """
    if _known_list(prior) and set(stored_ceiling(prior, no_default)) == set(normalize_policy_names(list(stored))):
        return list(prior)
    added = () if no_default else DEFAULT_CEILING_POLICIES
    return [p for p in stored if p not in added]


def text_in_state(prior: Any, stored: str) -> str | None:
    """The server answers an unset description/owner as "": state keeps null (or "") as configured."""
    return None if stored == "" and prior is None else stored


class AgentRegistrationResource(VaultResource):
    """`resource "vault_agent_registration"`."""

    @classmethod
    def get_name(cls) -> str:
        return "agent_registration"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    # ---- validation ---------------------------------------------------------------------------------

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        check(diags, config, RULES)

    # ---- plan ---------------------------------------------------------------------------------------

    def plan_with_config(self, ctx: PlanContext, prior: State | None, proposed: State, config: Config) -> State | None:
        """Defaults for what the configuration leaves out; the prior spelling of an equivalent ceiling
        list; unknown timestamps and id where the apply will set them."""
        planned = dict(proposed)
        for name, default in DEFAULTS.items():
            if config.get(name) is None:
                planned[name] = list(default) if isinstance(default, list) else default
        ceiling = planned["ceiling_policies"]
        no_default = planned["no_default_ceiling_policy"]
        if (
            prior is not None
            and _known_list(ceiling)
            and _known_list(prior.get("ceiling_policies"))
            and isinstance(no_default, bool)
            and same_ceiling(prior["ceiling_policies"], ceiling, no_default)
        ):
            planned["ceiling_policies"] = prior["ceiling_policies"]
        if prior is None:
            for name in ("id", "creation_time", "last_updated_time"):
                planned[name] = Unknown
        elif any(planned.get(k) != prior.get(k) for k in MUTABLE):
            planned["last_updated_time"] = Unknown
        return planned

    # ---- create -------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        namespace = planned.get("namespace")
        try:
            self.client.require_enterprise()
            body = self.client.write("agent-registry/register", to_api(planned), namespace=namespace)
        except InvalidRequest as exc:
            api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
            if any("already used by agent registration" in m for m in exc.errors):
                # D10: never adopt. Say how to bring the existing record under management instead.
                ctx.diagnostics.diagnostics[-1].detail += (
                    "\n\nA registration with this display_name already exists. Import it to manage it "
                    "with Terraform (an import block, or `terraform import <address> <display_name>`), "
                    "or choose another display_name."
                )
            return None
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
        reg_id = ((body or {}).get("data") or {}).get("id")
        if not isinstance(reg_id, str) or not reg_id:
            ctx.diagnostics.add_error(
                f"Unable to create {ctx.type_name}", "The server answered without the new registration's id."
            )
            return None
        try:
            fresh = self.client.read(by_id(reg_id), namespace=namespace)
        except ApiError as exc:
            fresh = None
            api_error(ctx.diagnostics, "read back the new", ctx.type_name, exc)
        if fresh is None or not fresh.get("data"):
            # The record exists: keep its id in state (Terraform marks it tainted after an error), so the
            # next apply replaces it rather than registering the same display_name again.
            if not ctx.diagnostics.has_errors():
                ctx.diagnostics.add_error(
                    f"Unable to read back the new {ctx.type_name}",
                    f"Registration {reg_id} was created but could not be read back.",
                )
            return {**planned, "id": reg_id, "creation_time": "", "last_updated_time": ""}
        return from_api(fresh["data"], planned)

    # ---- read ---------------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            body = self.client.read(by_id(current["id"]), namespace=current.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if body is None or not body.get("data"):
            return None  # deleted out of band: Terraform plans to create it again
        state = from_api(body["data"], current)
        warn_missing_policies(ctx.diagnostics, self.client, state, "ceiling_policies")
        return state

    # ---- update -------------------------------------------------------------------------------------

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        namespace = planned.get("namespace")
        try:
            self.client.require_enterprise()
            self.client.write(by_id(current["id"]), to_api(planned), namespace=namespace)
            fresh = self.client.read(by_id(current["id"]), namespace=namespace)
        except ApiError as exc:
            # Terraform keeps the prior state; the next refresh shows whatever the server now holds.
            return api_error(ctx.diagnostics, "update", ctx.type_name, exc, schema=SCHEMA)
        if fresh is None or not fresh.get("data"):
            ctx.diagnostics.add_error(
                f"Unable to update {ctx.type_name}",
                f"Registration {current['id']} no longer exists: it was deleted while being updated.",
            )
            return None
        return from_api(fresh["data"], planned)

    # ---- delete -------------------------------------------------------------------------------------

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.client.delete(by_id(current["id"]), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    # ---- import -------------------------------------------------------------------------------------

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import vault_agent_registration.x <display_name or id>`.

        A UUID-shaped ID is looked up as an id first, then as a display name; anything else as a display
        name (names with `/` work too). The namespace is `TERRAFORM_VAULT_NAMESPACE_IMPORT`, if set.
        """
        if not id.strip():
            ctx.diagnostics.add_error(
                "Invalid import ID", "Import a vault_agent_registration by its display_name or its id."
            )
            return None
        namespace = self.import_namespace()
        paths = [by_id(id), by_name(id)] if looks_like_uuid(id) else [by_name(id)]
        missing = f"No agent registration with {'id or ' if len(paths) > 1 else ''}display_name {show(id)}"
        data = self.read_first_for_import(ctx, paths, namespace, missing)
        return None if data is None else from_api(data, {"namespace": namespace})

    # upgrade: VaultResource.upgrade (schema version 0, no upgraders yet).


__all__ = ["AgentRegistrationResource", "from_api", "looks_like_uuid", "to_api"]
