"""Resource `vault_agent_registration`: an AI agent's governance record (DECISIONS.md#d25, #d49; hashicorp/vault
compatible HCL).

What it does beyond the upstream resource (DECISIONS.md#d50):
- `last_updated_time` is unknown in the plan of an update and holds the server's new value after apply.
- `description` and `owner` can be cleared, `ceiling_policies` can be removed: every update sends every
  field (the server replaces them all, DECISIONS.md#d10), and the plan sees the configuration (`plan_with_config`), so
  an attribute taken out of the configuration returns to its default instead of keeping its old value.
- `ceiling_policies` holds what the configuration declares: the `default` and `default-ceiling` policies
  the server appends are left out, unless the configuration lists them itself; order, case and repeats that
  the server would store the same way cause no diff.
- Create never adopts: the service refuses a taken `display_name` (400) and the error says how to import
  the existing record. Once the server has created the record, its id reaches the state even when reading
  it back fails, so a re-run replaces it instead of tripping over it.
- Create and update ask for the record in the write's answer (`Prefer: return=representation`) and take it
  from there when the answer holds it whole, as the service's does (DECISIONS.md#d68); a server answering as
  Vault does, with the id and display name only, is read back.
- Import takes a display name or an id (UUID-shaped IDs are tried as ids first, then as names).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tf.iface import Config, ImportContext, PlanContext, State
from tf.types import Bool, List, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, InvalidRequest, path_segment
from vaultguard.provider.framework import Each, NotBlank, show
from vaultguard.provider.missing_policies import warn_missing_policies
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, looks_like_uuid, namespace_field
from vaultguard.rules.names import canonical_policy_names, has_control_characters
from vaultguard.rules.registry import DEFAULT_CEILING_POLICIES, MAX_DISPLAY_NAME, stored_ceiling


class DisplayName:
    """The service's rule for a display name: not blank, bounded, no control characters."""

    description = f"must be a non-empty name of at most {MAX_DISPLAY_NAME} characters without control characters"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if not isinstance(value, str) or not value.strip():
            yield [], f"must not be empty; got {show(value)}"
        elif len(value) > MAX_DISPLAY_NAME:
            yield [], f"must be at most {MAX_DISPLAY_NAME} characters; got {len(value)}"
        elif has_control_characters(value):
            yield [], f"must not contain control characters; got {show(value)}"


class NotRootCeiling:
    """`root` can never bound an agent (the server stores policy names trimmed and lowercased)."""

    description = 'must not be "root"'

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if isinstance(value, str) and value.strip().lower() == "root":
            yield [], 'must not be "root": the root policy cannot be a ceiling policy'


FIELDS = ResourceSpec(
    [
        Field(
            "display_name",
            String(),
            "Name of the agent, unique among registrations in the namespace. Changing it replaces the "
            "registration.",
            required=True,
            replace=True,
            rules=[DisplayName()],
        ),
        Field(
            "entity_id",
            String(),
            "ID of the identity entity the agent acts as. An entity has at most one registration. Changing it "
            "replaces the registration.",
            required=True,
            replace=True,
            rules=[NotBlank()],
        ),
        namespace_field(
            "Namespace of the registration, relative to the provider's namespace (no leading or trailing `/`). "
            "Changing it replaces the registration."
        ),
        Field(
            "ceiling_policies",
            List(String()),
            "Policies that bound what the agent may do, whatever its subject may do. Unless "
            "`no_default_ceiling_policy` is true the server also applies `default` and `default-ceiling`; those "
            "are not shown here unless listed explicitly. `root` is not allowed. Default: none.",
            default=[],
            rules=[Each(NotBlank()), Each(NotRootCeiling())],
        ),
        Field(
            "no_default_ceiling_policy",
            Bool(),
            "When true, `default` and `default-ceiling` are not added to the ceiling policies.",
            default=False,
        ),
        Field(
            "description",
            String(),
            "Free-text description of the agent.",
            optional=True,
            empty_keeps_null=True,
        ),
        Field(
            "owner",
            String(),
            "Person or team responsible for the agent.",
            optional=True,
            empty_keeps_null=True,
        ),
        Field(
            "optional_authorization_details",
            Bool(),
            "When true, the agent may present JWTs without an `authorization_details` claim (RFC 9396).",
            default=False,
        ),
        Field("id", String(), "ID of the registration (a UUID).", computed=True),
        Field("creation_time", String(), "When the registration was created (RFC 3339).", computed=True),
        Field("last_updated_time", String(), "When the registration was last changed (RFC 3339).", computed=True),
    ],
    description="Registers an AI agent in the agent registry: the identity entity it acts as, the ceiling "
    "policies that bound what it may ever do, and governance data (description, owner). An OAuth JWT is "
    "accepted for an agent only when its entity has a registration.",
)
SCHEMA = FIELDS.schema
to_api = FIELDS.to_api

# Fields whose change is an in-place update (and moves last_updated_time); the others replace the record.
MUTABLE = tuple(f.name for f in FIELDS.fields if f.is_written and not f.replace)
# What a read of a registration answers, every key of it: a write's answer holding them all is the record.
READ_KEYS = tuple(f.api_name for f in FIELDS.fields if f.api_name is not None)

def by_id(reg_id: str) -> str:
    return f"agent-registry/registration/id/{path_segment(reg_id)}"


def by_name(display_name: str) -> str:
    return f"agent-registry/registration/display-name/{path_segment(display_name)}"


def from_api(data: Mapping[str, Any], prior: State) -> State:
    """State from a read's `data`, keeping what only the configuration knows (`prior`: the state or plan
    the read refreshes; `{}` on import)."""
    state = FIELDS.reconcile(prior, FIELDS.from_api(data, prior))
    state["ceiling_policies"] = ceiling_in_state(
        prior.get("ceiling_policies"), data.get("ceiling_policies") or [], state["no_default_ceiling_policy"]
    )
    return state


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
    if _known_list(prior) and set(stored_ceiling(prior, no_default)) == set(canonical_policy_names(list(stored))):
        return list(prior)
    added = () if no_default else DEFAULT_CEILING_POLICIES
    return [p for p in stored if p not in added]


class AgentRegistrationResource(SpecResource):
    """`resource "vault_agent_registration"` (see the module docstring)."""

    resource_name = "agent_registration"
    spec = FIELDS
    create_path = "agent-registry/register"
    read_after_write = True
    write_representation = True  # the service answers with the record: no read back (DECISIONS.md#d68)
    enterprise = True
    import_by = "its display_name or its id"
    noun = "registration"

    def object_path(self, state: State) -> str:
        return by_id(state["id"])

    def state_from_api(self, prior: State, data: Mapping[str, Any]) -> State:
        return from_api(data, prior)

    def written_data(self, answer: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        """The record from the answer to `register` or an update, which the service gives whole when asked
        (`Prefer: return=representation`: its times, its stored ceiling list; DECISIONS.md#d68); None from a
        server that answers as Vault does, with the id and the display name only: the record is then read back."""
        data = (answer or {}).get("data")
        if isinstance(data, dict) and all(key in data for key in READ_KEYS):
            return data
        return None

    def adjust_plan(self, ctx: PlanContext, prior: State | None, planned: State, config: Config) -> State | None:
        """The prior spelling of an equivalent ceiling list; an unknown last_updated_time when the update
        changes the record."""
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
        if prior is not None and any(planned.get(k) != prior.get(k) for k in MUTABLE):
            planned["last_updated_time"] = Unknown
        return planned

    def failed(self, diags: Diagnostics, verb: str, type_name: str, exc: ApiError) -> None:
        super().failed(diags, verb, type_name, exc)
        if verb == "create" and isinstance(exc, InvalidRequest) and any(
            "already used by agent registration" in m for m in exc.errors
        ):
            # DECISIONS.md#d10: never adopt. Say how to bring the existing record under management instead.
            diags.diagnostics[-1].detail += (
                "\n\nA registration with this display_name already exists. Import it to manage it with "
                "Terraform (an import block, or `terraform import <address> <display_name>`), or choose another "
                "display_name."
            )

    def after_read(self, diags: Diagnostics, state: State) -> None:
        warn_missing_policies(diags, self.client, state, "ceiling_policies")

    def imported(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's name
        """`terraform import vault_agent_registration.x <display_name or id>`: a UUID-shaped ID is looked up
        as an id first, then as a display name; anything else as a display name (names with `/` work too)."""
        return self.import_by_id_or_name(ctx, id, by_id, by_name, "id", "display_name", "agent registration")


__all__ = ["AgentRegistrationResource", "from_api", "looks_like_uuid", "to_api"]
