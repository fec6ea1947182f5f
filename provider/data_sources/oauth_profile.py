"""Data source `vault_oauth_resource_server_config_profile`: read one profile by `profile_name`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tf.iface import Config, ReadDataContext, State
from tf.schema import Attribute, Schema
from tf.types import Bool, List, Number, String, TfType

from vaultguard.provider.client import ApiError
from vaultguard.provider.framework import NamespacePath, NotBlank, VaultDataSource, api_error, show
from vaultguard.provider.resources.oauth_profile import by_name


class Object(TfType):
    """A Terraform object type with fixed attributes (tf has none; a computed list of key objects needs it)."""

    def __init__(self, attributes: Mapping[str, TfType]):
        self.attributes = dict(attributes)

    def encode(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {k: t.encode(value.get(k)) for k, t in self.attributes.items()}

    def decode(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {k: t.decode(value.get(k)) for k, t in self.attributes.items()}

    def tf_type(self) -> bytes:
        types = {k: json.loads(t.tf_type()) for k, t in self.attributes.items()}
        return json.dumps(["object", types], separators=(",", ":")).encode()


# ---- schema -------------------------------------------------------------------------------------------

SCHEMA = Schema(
    version=0,
    description="Reads an OAuth resource server profile by its name.",
    attributes=[
        Attribute("profile_name", String(), required=True, description="Name of the profile to read."),
        Attribute(
            "namespace",
            String(),
            optional=True,
            description="Namespace of the profile, relative to the provider's namespace.",
        ),
        Attribute("id", String(), computed=True, description="Same as `config_id`."),
        Attribute("config_id", String(), computed=True, description="Stable ID of the profile."),
        Attribute("issuer_id", String(), computed=True, description="The issuer, as the server stores it."),
        Attribute("use_jwks", Bool(), computed=True, description="Whether keys come from `jwks_uri`."),
        Attribute("jwks_uri", String(), computed=True, description="URL of the issuer's JSON Web Key Set."),
        Attribute("jwks_ca_pem", String(), computed=True, description="CA bundle used to fetch `jwks_uri`."),
        Attribute(
            "public_keys",
            List(Object({"key_id": String(), "pem": String()})),
            computed=True,
            description="Static keys (`key_id`, `pem`), when `use_jwks` is false.",
        ),
        Attribute("audiences", List(String()), computed=True, description="Accepted audiences."),
        Attribute("no_default_policy", Bool(), computed=True, description="Whether `default` is withheld."),
        Attribute("user_claim", String(), computed=True, description="Claim naming the subject."),
        Attribute("supported_algorithms", List(String()), computed=True, description="Accepted signature algorithms."),
        Attribute("jwt_type", String(), computed=True, description="Kind of JWT accepted."),
        Attribute("clock_skew_leeway", Number(), computed=True, description="Clock skew tolerated, in seconds."),
        Attribute("enabled", Bool(), computed=True, description="Whether the profile is used."),
        Attribute(
            "optional_authorization_details",
            Bool(),
            computed=True,
            description="Whether tokens may omit `authorization_details`.",
        ),
        Attribute("unique_id_claim", String(), computed=True, description="Claim identifying a token."),
        Attribute("actor_claim", String(), computed=True, description="Claim path naming the acting agent."),
        Attribute("groups_claim", String(), computed=True,
                  description="Claim whose values name external groups through group aliases (an extension "
                  "beyond Vault); empty when unset."),  # fmt: skip
        Attribute("mount_accessor", String(), computed=True,
                  description="The profile's mount accessor, which entity and group aliases name."),  # fmt: skip
    ],
)

RULES = {"profile_name": [NotBlank()], "namespace": [NamespacePath()]}


def from_api(data: dict[str, Any]) -> State:
    """Every computed attribute from a read's `data`, as the server has it."""
    return {
        "id": data.get("config_id", ""),
        "config_id": data.get("config_id", ""),
        "issuer_id": data.get("issuer_id", ""),
        "use_jwks": bool(data.get("use_jwks", True)),
        "jwks_uri": data.get("jwks_uri") or "",
        "jwks_ca_pem": data.get("jwks_ca_pem") or "",
        "public_keys": [
            {"key_id": k.get("key_id", ""), "pem": k.get("pem", "")} for k in data.get("public_keys") or []
        ],
        "audiences": list(data.get("audiences") or []),
        "no_default_policy": bool(data.get("no_default_policy", False)),
        "user_claim": data.get("user_claim", ""),
        "supported_algorithms": list(data.get("supported_algorithms") or []),
        "jwt_type": data.get("jwt_type", ""),
        "clock_skew_leeway": int(data.get("clock_skew_leeway") or 0),
        "enabled": bool(data.get("enabled", True)),
        "optional_authorization_details": bool(data.get("optional_authorization_details", False)),
        "unique_id_claim": data.get("unique_id_claim", ""),
        "actor_claim": data.get("actor_claim", ""),
        "groups_claim": data.get("groups_claim", ""),
        "mount_accessor": data.get("mount_accessor", ""),
    }


class OAuthResourceServerConfigProfileDataSource(VaultDataSource):
    """`data "vault_oauth_resource_server_config_profile"`."""

    NAME = "oauth_resource_server_config_profile"
    SCHEMA = SCHEMA
    RULES = RULES

    # ---- read -----------------------------------------------------------------------------------------

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        name = config["profile_name"]
        try:
            body = self.client.read(by_name(name), namespace=config.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc, path=["profile_name"])
        if body is None or not body.get("data"):
            ctx.diagnostics.add_error(
                f"Unable to read {ctx.type_name}", f"No profile named {show(name)}.", path=["profile_name"]
            )
            return None
        return {**config, **from_api(body["data"])}
