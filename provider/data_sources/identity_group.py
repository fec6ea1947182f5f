"""Data source `vault_identity_group`: one identity group, looked up as hashicorp/vault does (through
`identity/lookup/group`) by `group_name`, `group_id`, `alias_id`, or `alias_name` with `alias_mount_accessor`."""

from __future__ import annotations

import json
from typing import Any

from tf.iface import Config, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import List, Map, Number, String

from vaultguard.provider.client import ApiError
from vaultguard.provider.framework import NamespacePath, NotBlank, VaultDataSource, api_error

# (attribute, key in the lookup body): the criteria, each also read back.
CRITERIA = (("group_name", "name"), ("group_id", "id"), ("alias_id", "alias_id"), ("alias_name", "alias_name"),
            ("alias_mount_accessor", "alias_mount_accessor"))  # fmt: skip
_STRINGS = ("creation_time", "last_update_time", "namespace_id", "type")
_LISTS = ("member_entity_ids", "member_group_ids", "parent_group_ids", "policies")
_ALIAS_STRINGS = ("canonical_id", "creation_time", "last_update_time", "mount_path", "mount_type")

SCHEMA = Schema(
    version=0,
    description="Reads an identity group by `group_name`, `group_id`, `alias_id`, or `alias_name` together with "
    "`alias_mount_accessor`.",
    attributes=[
        *(Attribute(name, String(), optional=True, computed=True, description=f"Lookup criterion: {text}.")
          for name, text in (("group_name", "name of the group"), ("group_id", "ID of the group"),
                             ("alias_id", "ID of the group's alias"),
                             ("alias_name", "name of the group's alias, with `alias_mount_accessor`"),
                             ("alias_mount_accessor", "mount accessor of the alias, with `alias_name`"))),
        Attribute("namespace", String(), optional=True,
                  description="Namespace of the group, relative to the provider's namespace."),
        Attribute("data_json", String(), computed=True, description="The whole group as the server returns it, "
                  "as JSON."),
        *(Attribute(name, String(), computed=True, description=f"The group's `{name}`.") for name in _STRINGS),
        *(Attribute(name, List(String()), computed=True, description=f"The group's `{name}`.") for name in _LISTS),
        Attribute("metadata", Map(String()), computed=True, description="The group's metadata."),
        Attribute("modify_index", Number(), computed=True, description="How many times the group was written."),
        *(Attribute(f"alias_{name}", String(), computed=True, description=f"The alias's `{name}`.")
          for name in _ALIAS_STRINGS),
        Attribute("alias_merged_from_canonical_ids", List(String()), computed=True,
                  description="Always empty: aliases are never merged here."),
        Attribute("alias_metadata", Map(String()), computed=True, description="The alias's metadata (empty)."),
    ],
)  # fmt: skip
RULES = {**{name: [NotBlank()] for name, _ in CRITERIA}, "namespace": [NamespacePath()]}


def from_api(data: dict[str, Any]) -> State:
    alias = data.get("alias") or {}
    state: State = {
        "group_name": data.get("name", ""),
        "group_id": data.get("id", ""),
        "alias_id": alias.get("id", ""),
        "alias_name": alias.get("name", ""),
        "alias_mount_accessor": alias.get("mount_accessor", ""),
        "data_json": json.dumps(data, sort_keys=True),
        "metadata": {str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        "modify_index": int(data.get("modify_index") or 0),
        "alias_merged_from_canonical_ids": list(alias.get("merged_from_canonical_ids") or []),
        "alias_metadata": {str(k): str(v) for k, v in (alias.get("metadata") or {}).items()},
    }
    state.update({name: str(data.get(name) or "") for name in _STRINGS})
    state.update({name: list(data.get(name) or []) for name in _LISTS})
    state.update({f"alias_{name}": str(alias.get(name) or "") for name in _ALIAS_STRINGS})
    return state


class IdentityGroupDataSource(VaultDataSource):
    """`data "vault_identity_group"`."""

    NAME = "identity_group"
    SCHEMA = SCHEMA
    RULES = RULES

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        body = {key: config[name] for name, key in CRITERIA if config.get(name)}
        try:
            answer = self.client.write("identity/lookup/group", body, namespace=config.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if not answer or not answer.get("data"):
            shown = ", ".join(f"{name} = {json.dumps(config[name])}" for name, _ in CRITERIA if config.get(name))
            ctx.diagnostics.add_error(f"Unable to read {ctx.type_name}", f"No identity group with {shown}.")
            return None
        return {**config, **from_api(answer["data"])}
