"""Data source `vault_activation_flags`: which gated features the server reports active (hashicorp/vault
compatible; root namespace, no arguments)."""

from __future__ import annotations

from tf.iface import Config, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import Set, String

from vaultguard.provider.client import ApiError
from vaultguard.provider.framework import VaultDataSource, api_error
from vaultguard.provider.resources.activation_flags import FLAGS_PATH, flags_from_api

SCHEMA = Schema(
    version=0,
    description="Reads the server's activation flags. On this service `oauth-resource-server` is always "
    "active and nothing is left to activate.",
    attributes=[
        Attribute("id", String(), computed=True, description="Always `sys/activation-flags`."),
        Attribute("activated_flags", Set(String()), computed=True, description="The active features."),
        Attribute(
            "unactivated_flags", Set(String()), computed=True, description="Features available but not active."
        ),
    ],
)


class ActivationFlagsDataSource(VaultDataSource):
    """`data "vault_activation_flags"`."""

    NAME = "activation_flags"
    SCHEMA = SCHEMA

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        try:
            activated, unactivated = flags_from_api(self.client.read(FLAGS_PATH, root=True))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        return {"id": FLAGS_PATH, "activated_flags": sorted(activated), "unactivated_flags": sorted(unactivated)}
