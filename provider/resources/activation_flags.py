"""Resource `vault_activation_flags`: activate one gated feature (hashicorp/vault compatible).

Vault Enterprise gates the OAuth resource server behind the `oauth-resource-server` activation flag, so the
hashicorp/vault provider's examples declare this resource and make profiles depend on it. The service has
that feature active from the start: creating the resource asks the server to activate it (which succeeds
and changes nothing) and records it in state; reading checks that the server still reports it active.
As in Vault, activation is one-way and root-namespace only: destroying the resource only forgets it, and
the calls go to the root namespace whatever the provider's `namespace` is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tf.iface import CreateContext, DeleteContext, ImportContext, ReadContext, State, UpdateContext
from tf.types import String
from tf.utils import AttributePath

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import api_error, show
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource
from vaultguard.rules.features import ACTIVATION_FLAGS

FLAGS_PATH = "sys/activation-flags"


class ActivationFlag:
    """One of the service's activation flags, spelled exactly (Vault compares the key as written)."""

    description = "must be an activation flag of the service: " + ", ".join(ACTIVATION_FLAGS)

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if value not in ACTIVATION_FLAGS:
            known = ", ".join(f'"{f}"' for f in ACTIVATION_FLAGS)
            yield [], f"must be an activation flag of the service ({known}); got {show(value)}"


FIELDS = ResourceSpec(
    [
        Field(
            "feature",
            String(),
            "The activation flag to activate, exactly as `GET sys/activation-flags` names it; "
            + ", ".join(f"`{f}`" for f in ACTIVATION_FLAGS)
            + " on this service. Changing it replaces the resource (the old flag stays active).",
            required=True,
            replace=True,
            rules=[ActivationFlag()],
        ),
        Field("id", String(), "The activated feature (same as `feature`).", computed=True),
    ],
    description="Activates one gated feature. The service has its one gated feature, `oauth-resource-server`, "
    "active from the start; this resource exists so that configurations written for Vault Enterprise (which "
    "activate it before declaring profiles) run unchanged. Activation cannot be undone: destroying the "
    "resource only removes it from state.",
)
SCHEMA = FIELDS.schema


def activate_path(feature: str) -> str:
    return f"{FLAGS_PATH}/{path_segment(feature)}/activate"


def flags_from_api(body: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(activated, unactivated) from a read of `sys/activation-flags`."""
    data = (body or {}).get("data") or {}
    return list(data.get("activated") or []), list(data.get("unactivated") or [])


class ActivationFlagsResource(SpecResource):
    """`resource "vault_activation_flags"`: not an object of its own but an entry of the root namespace's
    flag list, so create, read, update and delete are its own."""

    resource_name = "activation_flags"
    spec = FIELDS
    import_by = "its feature name"

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        feature = planned["feature"]
        try:
            self.client.write(activate_path(feature), {}, root=True)
            activated, _ = flags_from_api(self.client.read(FLAGS_PATH, root=True))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, path=["feature"])
        if feature not in activated:
            ctx.diagnostics.add_error(
                f"Unable to create {ctx.type_name}",
                f"The server accepted the activation of {show(feature)} but does not report it active.",
                path=["feature"],
            )
            return None
        return {**planned, "id": feature}

    def read(self, ctx: ReadContext, current: State) -> State | None:
        feature = current.get("feature") or current["id"]
        try:
            activated, unactivated = flags_from_api(self.client.read(FLAGS_PATH, root=True))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if feature in activated:
            return {"feature": feature, "id": feature}
        if feature not in unactivated:
            ctx.diagnostics.add_warning(
                "Activation flag no longer reported by the server",
                f"{show(feature)} is neither active nor inactive in GET {FLAGS_PATH}; it is removed from state.",
            )
        return None

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        return planned  # `feature` forces a replacement; `id` follows it

    def delete(self, ctx: DeleteContext, current: State) -> None:
        ctx.diagnostics.add_warning(
            "Activation flag remains active",
            f"Activation cannot be undone; {show(current.get('feature'))} stays active on the server and is "
            "only removed from Terraform state.",
        )
        return None

    def imported(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's name
        return self.import_state(id=id, feature=id)


__all__ = ["ActivationFlagsResource", "flags_from_api"]
