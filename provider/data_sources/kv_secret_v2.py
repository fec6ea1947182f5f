"""Data source `vault_kv_secret_v2`: read one version of a KV v2 secret (hashicorp/vault compatible)."""

from __future__ import annotations

import json
from typing import Any

from tf.iface import Config, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import Bool, Map, Number, String

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import (
    Between,
    NamespacePath,
    NotBlank,
    VaultDataSource,
    api_error,
    attribute_of_schema,
)

# ---- schema -------------------------------------------------------------------------------------------

SCHEMA = Schema(
    version=0,
    description="Reads the data and metadata of one version of a secret in a KV version 2 mount.",
    attributes=[
        Attribute("mount", String(), required=True, description="Path of the KV v2 mount, e.g. `secret`."),
        Attribute("name", String(), required=True, description="Name of the secret inside the mount."),
        Attribute("version", Number(), optional=True, description="Version to read; the latest when unset."),
        Attribute(
            "namespace",
            String(),
            optional=True,
            description="Namespace of the mount, relative to the provider's namespace.",
        ),
        Attribute("path", String(), computed=True, description="Full API path of the secret's data."),
        Attribute(
            "data_json",
            String(),
            computed=True,
            sensitive=True,
            description="The secret's data as a JSON object; `null` when the version is deleted or destroyed.",
        ),
        Attribute(
            "data",
            Map(String()),
            computed=True,
            sensitive=True,
            description="The secret's data; values that are not strings are JSON-encoded (compact, keys sorted). "
            "Empty when the version is deleted or destroyed.",
        ),
        Attribute(
            "custom_metadata", Map(String()), computed=True, description="The secret's custom metadata."
        ),
        Attribute("created_time", String(), computed=True, description="When this version was written."),
        Attribute(
            "deletion_time", String(), computed=True, description="When this version was deleted, if it was."
        ),
        Attribute("destroyed", Bool(), computed=True, description="Whether this version was destroyed."),
    ],
)

RULES = {
    "mount": [NotBlank()],
    "name": [NotBlank()],
    "version": [Between(minimum=0)],
    "namespace": [NamespacePath()],
}


class KvSecretV2DataSource(VaultDataSource):
    """`data "vault_kv_secret_v2"`."""

    NAME = "kv_secret_v2"
    SCHEMA = SCHEMA
    RULES = RULES

    # ---- read -----------------------------------------------------------------------------------------

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        path = api_path(config["mount"], config["name"])
        query = f"?version={int(config['version'])}" if config.get("version") is not None else ""
        try:
            body = self.client.read(path + query, namespace=config.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc, attribute_of=attribute_of_schema(SCHEMA))
        if body is None:
            # A deleted or destroyed version answers 404 too; hashicorp/vault reads it as no data.
            try:
                body = deleted_version(self.client, config)
            except ApiError:
                body = None  # e.g. no `read` on the metadata: reported as missing, below
        if body is None:
            ctx.diagnostics.add_error(
                f"Unable to read {ctx.type_name}",
                f"No secret at {path}" + (f" (version {int(config['version'])})" if query else "") + ".",
                path=["name"],
            )
            return None
        return {**config, **from_api(path, body)}


def api_path(mount: str, name: str, kind: str = "data") -> str:
    """`<mount>/<kind>/<name>` (kind `data` or `metadata`); slashes inside the name are kept (KV names are
    paths)."""
    return f"{mount.strip('/')}/{kind}/" + "/".join(path_segment(part) for part in name.strip("/").split("/"))


def deleted_version(client: Any, config: Config) -> dict[str, Any] | None:
    """A read response without data for the asked (or current) version when the secret's metadata shows it
    deleted or destroyed; None when there is no such version."""
    body = client.read(api_path(config["mount"], config["name"], "metadata"), namespace=config.get("namespace"))
    metadata = (body or {}).get("data") or {}
    version = int(config["version"]) if config.get("version") is not None else metadata.get("current_version")
    entry = (metadata.get("versions") or {}).get(str(version))
    if not entry or not (entry.get("deletion_time") or entry.get("destroyed")):
        return None
    version_metadata = {**entry, "custom_metadata": metadata.get("custom_metadata"), "version": version}
    return {"data": {"data": None, "metadata": version_metadata}}


def compact_json(value: Any) -> str:
    """JSON as hashicorp/vault writes it: sorted keys, no spaces (`{"riff":"raff"}`; `null` for no data)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def from_api(path: str, body: dict[str, Any]) -> State:
    """State attributes from a KV v2 read response (`data` is null for a deleted or destroyed version)."""
    envelope = body.get("data") or {}
    data = envelope.get("data") or {}
    metadata = envelope.get("metadata") or {}
    return {
        "path": path,
        "data_json": compact_json(envelope.get("data")),
        "data": {k: v if isinstance(v, str) else compact_json(v) for k, v in data.items()},
        "custom_metadata": {str(k): str(v) for k, v in (metadata.get("custom_metadata") or {}).items()},
        "created_time": metadata.get("created_time") or "",
        "deletion_time": metadata.get("deletion_time") or "",
        "destroyed": bool(metadata.get("destroyed", False)),
    }
