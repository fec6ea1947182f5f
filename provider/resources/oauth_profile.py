"""Resource `vault_oauth_resource_server_config_profile`: a trusted JWT issuer (DECISIONS.md#d28, #d49;
hashicorp/vault compatible HCL).

What it does beyond the upstream resource (DECISIONS.md#d50):
- Every rule is checked at plan time, without the service: first rule by rule (each error on its
  attribute, unknown values skipped), then, once the whole configuration is known and passed, by the
  service's own write path (`apply_profile_write`, pure code), so plan and apply can never disagree.
- `config_id`, `unique_id_claim` and `actor_claim` are attributes; `EdDSA` is an algorithm like the rest;
  import takes a `profile_name` or a `config_id`.
- Values the server stores in a canonical form keep the configuration's spelling in state: `issuer_id`
  (lowercased, one trailing `/` dropped, DECISIONS.md#d19), PEM text (whitespace), `audiences` and
  `supported_algorithms` (order, and `[]` meaning every algorithm), and `public_keys` (order). An empty
  server value stays null when the configuration leaves the attribute out.
- The plan sees the configuration (`plan_with_config`): an optional attribute taken out of the
  configuration returns to its default, and every write sends every field (profile writes are partial
  updates on the server, so an omitted field would otherwise keep its old value).
- Create never overwrites a profile that already exists under the same name (the API would: a write to a
  name is create-or-update); the error says how to import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tf.iface import Config, ImportContext, PlanContext, State
from tf.schema import Attribute, Block
from tf.types import Bool, List, Number, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import (
    Between,
    Each,
    EachBlock,
    HttpUrl,
    ListNestedBlock,
    Matches,
    NotBlank,
    OneOf,
    Unique,
    is_unset,
    render_path,
    same_or_prior,
    show,
    wholly_known,
)
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field
from vaultguard.rules.oauth import ALGORITHMS, JWT_TYPES, MAX_CLOCK_SKEW_LEEWAY, NAME_MAX_LENGTH, normalize_issuer

# The service's key and profile modules load `cryptography`: imported where used, so a provider process that
# never validates or writes a profile (most of them) does not pay for it on every Terraform command.


def normalize_pem(pem: str) -> str:
    """The service's normalized form of a PEM text."""
    from vaultguard.service.authn.keys import normalize_pem

    return normalize_pem(pem)


_ALGORITHMS = OneOf(ALGORITHMS)
_JWT_TYPES = OneOf(JWT_TYPES)

# ---- validation ---------------------------------------------------------------------------------------


class PemPublicKey:
    """A public key or certificate the service accepts (parsed with the service's own rules)."""

    description = "must be a PEM public key the service accepts"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        from vaultguard.service.authn.keys import InvalidKeyError, load_public_key_pem

        try:
            load_public_key_pem(value)
        except InvalidKeyError as exc:
            yield [], f"is not a usable public key: {exc.reason}"


class CaBundle:
    """A PEM bundle of CA certificates."""

    description = "must be a PEM bundle of CA certificates"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if value == "":
            return
        from vaultguard.service.authn.keys import InvalidKeyError, load_ca_bundle_pem

        try:
            load_ca_bundle_pem(value, label="")
        except InvalidKeyError as exc:
            yield [], f"is not a usable CA bundle: {exc.reason}"


class WholeSeconds:
    """A whole number of seconds in [0, maximum]."""

    def __init__(self, maximum: int):
        self.range = Between(0, maximum)
        self.description = f"must be a whole number of seconds {self.range.description}"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if isinstance(value, float) and not value.is_integer():
            yield [], f"must be a whole number of seconds; got {value:g}"
            return
        yield from self.range.errors(value)


# ---- equivalence: values the server stores the same way -------------------------------------------------


def all_if_empty(algorithms: list[str]) -> frozenset[str]:
    """`[]` stands for every algorithm (DECISIONS.md#d22); order does not matter."""
    return frozenset(algorithms) or frozenset(ALGORITHMS)


def key_set(keys: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The same key ids with the same keys, whatever the order and PEM whitespace."""
    return sorted((k["key_id"], normalize_pem(k["pem"])) for k in keys)


# ---- fields ---------------------------------------------------------------------------------------------

PUBLIC_KEYS = ListNestedBlock(
    "public_keys",
    Block(
        attributes=[
            Attribute(
                "key_id",
                String(),
                required=True,
                description="Key ID: the JWT header `kid` this key verifies. Unique within the profile.",
            ),
            Attribute(
                "pem",
                String(),
                required=True,
                description="The public key (or a certificate holding it) in PEM: RSA of 2048 bits or "
                "more, EC on P-256, P-384 or P-521, or Ed25519.",
            ),
        ],
        description="A static key that verifies the issuer's tokens; only with `use_jwks = false`.",
    ),
)

# Servers before 2.1 know no unique_id_claim/actor_claim, and Vault's documented reads omit jwks_ca_pem:
# a field left out of the answer keeps its prior value rather than showing a diff no apply could remove.
FIELDS = ResourceSpec(
    [
        Field(
            "profile_name",
            String(),
            "Name of the profile: letters, digits, `-`, `_` and `.`. Changing it replaces the profile.",
            required=True,
            replace=True,
            rules=[
                Matches(
                    rf"(?!\.$)(?!.*\.\.)[A-Za-z0-9_.-]{{1,{NAME_MAX_LENGTH}}}",
                    f"must be 1 to {NAME_MAX_LENGTH} letters, digits, '-', '_' or '.', other than '.' and "
                    "without '..'",
                )
            ],
            write=False,  # in the path
        ),
        Field(
            "issuer_id",
            String(),
            "The issuer (`iss` claim) whose tokens this profile validates, e.g. `https://idp.example.com/`. "
            "Compared case-insensitively and without a trailing `/`; unique per namespace. Changing it to "
            "another issuer replaces the profile.",
            required=True,
            replace=True,
            rules=[HttpUrl()],
            same=normalize_issuer,  # DECISIONS.md#d19
        ),
        namespace_field(
            "Namespace of the profile, relative to the provider's namespace (no leading or trailing `/`). "
            "Changing it replaces the profile."
        ),
        Field(
            "use_jwks",
            Bool(),
            "Fetch verification keys from `jwks_uri` (true) or use the static `public_keys` (false).",
            default=True,
        ),
        Field(
            "jwks_uri",
            String(),
            "URL of the issuer's JSON Web Key Set. Required when `use_jwks` is true; not allowed otherwise.",
            optional=True,
            rules=[HttpUrl()],
            empty_keeps_null=True,
        ),
        Field(
            "jwks_ca_pem",
            String(),
            "PEM bundle of CA certificates to verify the TLS certificate of `jwks_uri` with. Only with "
            "`use_jwks = true`.",
            optional=True,
            rules=[CaBundle()],
            same=normalize_pem,
            absent_keeps_prior=True,
            empty_keeps_null=True,
        ),
        Field(
            "public_keys",
            PUBLIC_KEYS,
            "",  # the block's own description
            optional=True,
            rules=[EachBlock({"key_id": [NotBlank()], "pem": [PemPublicKey()]})],
        ),
        Field(
            "audiences",
            List(String()),
            "When set, a token's `aud` must contain at least one of these. Order does not matter.",
            optional=True,
            rules=[Each(NotBlank())],
            same=frozenset,
            empty_keeps_null=True,
        ),
        Field(
            "no_default_policy",
            Bool(),
            "When true, requests made with these tokens do not get the `default` policy.",
            default=False,
        ),
        Field(
            "user_claim",
            String(),
            "Claim naming the human subject (matched to an entity alias's `external_id`).",
            default="sub",
            rules=[NotBlank()],
        ),
        Field(
            "supported_algorithms",
            List(String()),
            f"Signature algorithms accepted; {_ALGORITHMS.description}. Order does not matter; `[]` means all "
            "of them.",
            default=list(ALGORITHMS),
            rules=[Each(_ALGORITHMS), Unique()],
            same=all_if_empty,
        ),
        Field(
            "jwt_type",
            String(),
            f"Kind of JWT accepted; {_JWT_TYPES.description}. Vault Enterprise 2.1 and later accept only "
            "`access_token`.",
            default="access_token",
            rules=[_JWT_TYPES],
        ),
        Field(
            "clock_skew_leeway",
            Number(),
            f"Seconds of clock skew tolerated on `exp`, `nbf` and `iat`, between 0 and {MAX_CLOCK_SKEW_LEEWAY}.",
            default=0,
            rules=[WholeSeconds(MAX_CLOCK_SKEW_LEEWAY)],
        ),
        Field("enabled", Bool(), "Disabled profiles are ignored when validating tokens.", default=True),
        Field(
            "optional_authorization_details",
            Bool(),
            "When true, tokens validated by this profile may omit the `authorization_details` claim.",
            default=False,
        ),
        Field(
            "unique_id_claim",
            String(),
            "Claim that uniquely identifies a token (Entra ID uses `uti`). Cannot change after creation: "
            "changing it replaces the profile.",
            default="jti",
            replace=True,
            rules=[NotBlank()],
            absent_keeps_prior=True,
        ),
        Field(
            "actor_claim",
            String(),
            "Dotted path of the claim naming the acting agent in a delegated token.",
            default="act.sub",
            rules=[NotBlank()],
            absent_keeps_prior=True,
        ),
        Field(
            "groups_claim",
            String(),
            "An extension beyond Vault: the token claim (an array of strings) whose values name external identity "
            'groups through group aliases on this profile\'s mount accessor; `""` reads no groups from tokens.',
            default="",
            absent_keeps_prior=True,
        ),
        Field(
            "mount_accessor",
            String(),
            "The profile's mount accessor, `oauth-resource-server_<namespace_id>_<config_id>`: what entity and "
            "group aliases name (an extension beyond Vault).",
            computed=True,
            absent_keeps_prior=True,
        ),
        Field("config_id", String(), "Stable ID of the profile (a UUID).", computed=True),
        Field(
            "id", String(), "Same as `config_id`.", computed=True, read=lambda data: data.get("config_id") or ""
        ),
    ],
    description="Trusts a JWT issuer as an OAuth resource server profile: which issuer, which keys verify "
    "its tokens and which claims are checked, so that its JWTs can be used directly as request tokens.",
)
SCHEMA = FIELDS.schema
DEFAULTS = FIELDS.defaults
to_api = FIELDS.to_api


def from_api(data: Mapping[str, Any], prior: State) -> State:
    """State from a read's `data`, keeping the configuration's spelling of equivalent values (`prior`: the
    state or plan being refreshed; `{}` on import)."""
    state = FIELDS.reconcile(prior, FIELDS.from_api(data, prior))
    state["public_keys"] = keys_in_state(prior.get("public_keys"), data.get("public_keys") or [])
    return state


def keys_in_state(prior: Any, stored: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The prior blocks when they hold the same keys; else the stored keys, each PEM in the prior spelling
    of the same key_id when equivalent."""
    stored = [{"key_id": k.get("key_id", ""), "pem": k.get("pem", "")} for k in stored]
    prior = prior if isinstance(prior, list) and wholly_known(prior) else []
    if prior and key_set(prior) == key_set(stored):
        return [dict(k) for k in prior]
    pem_of = {k["key_id"]: k["pem"] for k in prior}
    return [{**k, "pem": same_or_prior(pem_of.get(k["key_id"]), k["pem"], normalize_pem)} for k in stored]


def _prior_pem_spelling(prior: list[Mapping[str, Any]], keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each key whose prior block at the same position has the same key_id and an equivalent PEM keeps the
    prior PEM text (Terraform allows a plan to keep a prior value equivalent to the configuration's)."""
    planned = []
    for index, key in enumerate(keys):
        old = prior[index] if index < len(prior) else None
        if old is not None and old.get("key_id") == key["key_id"] and normalize_pem(old["pem"]) == normalize_pem(
            key["pem"]
        ):
            key = {**key, "pem": old["pem"]}
        planned.append(key)
    return planned


# ---- validation across fields ---------------------------------------------------------------------------


def check_key_source(diags: Diagnostics, config: Config) -> None:
    """`use_jwks` decides where keys come from: `jwks_uri` (and `jwks_ca_pem`) or `public_keys`."""
    written = config.get("use_jwks")
    if written is Unknown:
        return
    use_jwks = DEFAULTS["use_jwks"] if written is None else written
    mode = f"use_jwks = {str(use_jwks).lower()}" + (" (the default)" if written is None else "")
    keys, uri, ca = config.get("public_keys"), config.get("jwks_uri"), config.get("jwks_ca_pem")
    if use_jwks:
        if keys is not Unknown and not is_unset(keys):
            diags.add_error(
                "Conflicting configuration arguments",
                f"public_keys cannot be used with {mode}: keys are then fetched from jwks_uri. Set "
                "use_jwks = false to verify tokens with static keys.",
                path=["public_keys", (0,)],
            )
        if uri in (None, ""):
            diags.add_error(
                "Missing required argument",
                f"jwks_uri is required with {mode}: it is where the issuer's keys are fetched from.",
                path=["jwks_uri"],
            )
        return
    for name, value, why in (
        ("jwks_uri", uri, "use public_keys"),
        ("jwks_ca_pem", ca, "it only secures fetching jwks_uri"),
    ):
        if value not in (None, "", Unknown):
            diags.add_error(
                "Conflicting configuration arguments",
                f"{name} cannot be used with {mode}; {why}.",
                path=[name],
            )
    if keys is not Unknown and is_unset(keys):
        diags.add_error(
            "Missing required argument",
            f"At least one public_keys block is required with {mode}.",
            path=["use_jwks"],
        )


def check_unique_key_ids(diags: Diagnostics, config: Config) -> None:
    """Each `key_id` once: a token's `kid` must name exactly one key."""
    keys = config.get("public_keys")
    if not isinstance(keys, list):
        return
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        key_id = key.get("key_id") if isinstance(key, Mapping) else None
        if not isinstance(key_id, str):
            continue
        if key_id in first:
            path: AttributePath = ["public_keys", (index,), "key_id"]
            diags.add_error(
                f"Invalid value for {render_path(path)}",
                f"public_keys[{index}].key_id {show(key_id)} is already used by "
                f"public_keys[{first[key_id]}]; each key_id must be unique.",
                path=path,
            )
        else:
            first[key_id] = index


def check_with_service_rules(diags: Diagnostics, config: Config) -> None:
    """Run the service's own write validation on the configuration (pure code, nothing is contacted)."""
    from vaultguard.service.authn.profiles import ProfileValidationError, apply_profile_write

    planned = {**config, **{k: v for k, v in DEFAULTS.items() if config.get(k) is None}}
    try:
        apply_profile_write(
            None,
            to_api(planned),
            name=planned["profile_name"],
            namespace_id="",
            new_config_id=lambda: "",
        )
    except ProfileValidationError as exc:
        for message, field in zip(exc.errors, exc.fields, strict=True):
            path = FIELDS.attribute_of(field) if field else None
            where = render_path(path) if path else "configuration"
            diags.add_error(f"Invalid value for {where}", f"{message}.", path=path)


def by_name(profile_name: str) -> str:
    return f"sys/config/oauth-resource-server/{path_segment(profile_name)}"


def by_config_id(config_id: str) -> str:
    return f"sys/config/oauth-resource-server/id/{path_segment(config_id)}"


class OAuthResourceServerConfigProfileResource(SpecResource):
    """`resource "vault_oauth_resource_server_config_profile"` (see the module docstring)."""

    resource_name = "oauth_resource_server_config_profile"
    spec = FIELDS
    refuse_existing = True
    read_after_write = True
    enterprise = True
    import_by = "its profile_name or its config_id"
    noun = "profile"
    warn_summary = "The server warned about this profile"  # insecure http, a lone algorithm...

    def object_path(self, state: State) -> str:
        return by_name(state["profile_name"])

    def existing_message(self, planned: State) -> tuple[str, AttributePath]:
        # A write to an existing name would silently take the profile over: never adopt.
        return (
            f"A profile named {show(planned['profile_name'])} already exists. Import it to manage it with "
            "Terraform (an import block, or `terraform import <address> <profile_name>`), or choose another "
            "profile_name.",
            ["profile_name"],
        )

    def state_from_api(self, prior: State, data: Mapping[str, Any]) -> State:
        return from_api(data, prior)

    def check_config(self, diags: Diagnostics, config: Config) -> None:
        check_key_source(diags, config)
        check_unique_key_ids(diags, config)

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        """Rule by rule first (each error on its attribute, unknown values skipped); then, once the whole
        configuration is known and passed, the service's own write path."""
        super().validate(diags, type_name, config)
        if not diags.has_errors() and wholly_known(config):
            check_with_service_rules(diags, config)

    def adjust_plan(self, ctx: PlanContext, prior: State | None, planned: State, config: Config) -> State | None:
        """The prior blocks of the same keys; else each key's prior PEM spelling."""
        keys = planned.get("public_keys")
        if prior is None or not isinstance(keys, list) or not wholly_known(keys):
            return planned
        old = prior.get("public_keys")
        if isinstance(old, list) and wholly_known(old) and old != keys and key_set(old) == key_set(keys):
            planned["public_keys"] = old
        elif keys is not old:
            planned["public_keys"] = _prior_pem_spelling(old or [], keys)
        return planned

    def imported(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's name
        """`terraform import vault_oauth_resource_server_config_profile.x <profile_name or config_id>`."""
        return self.import_by_id_or_name(ctx, id, by_config_id, by_name, "config_id", "profile_name", "profile")


__all__ = ["OAuthResourceServerConfigProfileResource", "from_api", "to_api"]
