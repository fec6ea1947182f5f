"""Data source `vault_agent_registration`: read one agent registration by `id` or by `display_name`."""

from __future__ import annotations

from typing import Any

from tf.iface import Config, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import Bool, List, String
from tf.utils import Diagnostics

from vaultguard.provider.client import ApiError
from vaultguard.provider.framework import (
    NamespacePath,
    NotBlank,
    VaultDataSource,
    api_error,
    check_exclusive,
    show,
)
from vaultguard.provider.resources.agent_registration import by_id, by_name

# ---- schema -------------------------------------------------------------------------------------------

SCHEMA = Schema(
    version=0,
    description="Reads an agent registration, by `id` or by `display_name` (exactly one of them).",
    attributes=[
        Attribute(
            "id",
            String(),
            optional=True,
            computed=True,
            description="ID of the registration to read; set this or `display_name`.",
        ),
        Attribute(
            "display_name",
            String(),
            optional=True,
            computed=True,
            description="Display name of the registration to read; set this or `id`.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            description="Namespace of the registration, relative to the provider's namespace.",
        ),
        Attribute("entity_id", String(), computed=True, description="ID of the identity entity the agent acts as."),
        Attribute(
            "ceiling_policies",
            List(String()),
            computed=True,
            description="The ceiling policies in force, as the server stores them: including `default` and "
            "`default-ceiling` unless `no_default_ceiling_policy` is true.",
        ),
        Attribute(
            "no_default_ceiling_policy",
            Bool(),
            computed=True,
            description="Whether `default` and `default-ceiling` are left out of the ceiling.",
        ),
        Attribute("description", String(), computed=True, description="Description of the agent."),
        Attribute("owner", String(), computed=True, description="Person or team responsible for the agent."),
        Attribute(
            "optional_authorization_details",
            Bool(),
            computed=True,
            description="Whether the agent may present JWTs without `authorization_details`.",
        ),
        Attribute("creation_time", String(), computed=True, description="When the registration was created."),
        Attribute("last_updated_time", String(), computed=True, description="When the registration was last changed."),
    ],
)

RULES = {"id": [NotBlank()], "display_name": [NotBlank()], "namespace": [NamespacePath()]}


def from_api(data: dict[str, Any]) -> State:
    """Every attribute from a read's `data`, as the server has it."""
    return {
        "id": data.get("id", ""),
        "display_name": data.get("display_name", ""),
        "entity_id": data.get("entity_id", ""),
        "ceiling_policies": list(data.get("ceiling_policies") or []),
        "no_default_ceiling_policy": bool(data.get("no_default_ceiling_policy", False)),
        "description": data.get("description") or "",
        "owner": data.get("owner") or "",
        "optional_authorization_details": bool(data.get("optional_authorization_details", False)),
        "creation_time": data.get("creation_time") or "",
        "last_updated_time": data.get("last_updated_time") or "",
    }


class AgentRegistrationDataSource(VaultDataSource):
    """`data "vault_agent_registration"`."""

    NAME = "agent_registration"
    SCHEMA = SCHEMA
    RULES = RULES

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)  # the schema and RULES
        check_exclusive(diags, config, ["id", "display_name"], required=True)

    # ---- read -----------------------------------------------------------------------------------------

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        if config.get("id"):
            key, value, path = "id", config["id"], by_id(config["id"])
        else:
            key, value, path = "display_name", config["display_name"], by_name(config["display_name"])
        try:
            body = self.client.read(path, namespace=config.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc, path=[key])
        if body is None or not body.get("data"):
            ctx.diagnostics.add_error(
                f"Unable to read {ctx.type_name}",
                f"No agent registration with {key} {show(value)}.",
                path=[key],
            )
            return None
        return {**config, **from_api(body["data"])}
