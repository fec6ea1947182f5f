"""Resource `vault_oauth_resource_server_config_profile`: a trusted JWT issuer (SPEC B §2, §7.2;
hashicorp/vault compatible HCL).

What it does beyond the upstream resource (SPEC B §7.4):
- Every rule is checked at plan time, without the service: first rule by rule (each error on its
  attribute, unknown values skipped), then, once the whole configuration is known and passed, by the
  service's own write path (`apply_profile_write`, pure code), so plan and apply can never disagree.
- `config_id`, `unique_id_claim` and `actor_claim` are attributes; `EdDSA` is an algorithm like the rest;
  import takes a `profile_name` or a `config_id`.
- Values the server stores in a canonical form keep the configuration's spelling in state: `issuer_id`
  (lowercased, one trailing `/` dropped, D19), PEM text (whitespace), `audiences` and
  `supported_algorithms` (order, and `[]` meaning every algorithm), and `public_keys` (order). An empty
  server value stays null when the configuration leaves the attribute out.
- The plan sees the configuration (`plan_with_config`): an optional attribute taken out of the
  configuration returns to its default, and every write sends every field (profile writes are partial
  updates on the server, so an omitted field would otherwise keep its old value).
- Create never overwrites a profile that already exists under the same name (the API would: a write to a
  name is create-or-update); the error says how to import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
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
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, Number, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import (
    Between,
    Each,
    EachBlock,
    HttpUrl,
    ListNestedBlock,
    Matches,
    NamespacePath,
    NotBlank,
    OneOf,
    Unique,
    VaultResource,
    api_error,
    check,
    is_unset,
    render_path,
    same_or_prior,
    show,
    wholly_known,
)
from vaultguard.provider.resources.agent_registration import looks_like_uuid
from vaultguard.service.authn.keys import (
    ALGORITHMS,
    InvalidKeyError,
    load_ca_bundle_pem,
    load_public_key_pem,
    normalize_pem,
)
from vaultguard.service.authn.profiles import (
    JWT_TYPES,
    MAX_CLOCK_SKEW_LEEWAY,
    NAME_MAX_LENGTH,
    ProfileValidationError,
    apply_profile_write,
    normalize_issuer,
)

# ---- schema -------------------------------------------------------------------------------------------

# Optional attributes with a default: the value planned when the configuration leaves them out.
DEFAULTS: dict[str, Any] = {
    "use_jwks": True,
    "no_default_policy": False,
    "user_claim": "sub",
    "supported_algorithms": list(ALGORITHMS),
    "jwt_type": "access_token",
    "clock_skew_leeway": 0,
    "enabled": True,
    "optional_authorization_details": False,
    "unique_id_claim": "jti",
    "actor_claim": "act.sub",
}

_ALGORITHMS = OneOf(ALGORITHMS)
_JWT_TYPES = OneOf(JWT_TYPES)


def _with_default(name: str, text: str) -> str:
    default = DEFAULTS[name]
    shown = ", ".join(f"`{v}`" for v in default) if isinstance(default, list) else f"`{show(default)}`"
    return f"{text} Default: {shown}."


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

SCHEMA = Schema(
    version=0,
    description="Trusts a JWT issuer as an OAuth resource server profile: which issuer, which keys verify "
    "its tokens and which claims are checked, so that its JWTs can be used directly as request tokens.",
    attributes=[
        Attribute(
            "profile_name",
            String(),
            required=True,
            requires_replace=True,
            description="Name of the profile: letters, digits, `-`, `_` and `.`. Changing it replaces the profile.",
        ),
        Attribute(
            "issuer_id",
            String(),
            required=True,
            requires_replace=True,
            description="The issuer (`iss` claim) whose tokens this profile validates, e.g. "
            "`https://idp.example.com/`. Compared case-insensitively and without a trailing `/`; unique "
            "per namespace. Changing it to another issuer replaces the profile.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            requires_replace=True,
            description="Namespace of the profile, relative to the provider's namespace (no leading or "
            "trailing `/`). Changing it replaces the profile.",
        ),
        Attribute(
            "use_jwks",
            Bool(),
            optional=True,
            computed=True,
            description=_with_default(
                "use_jwks",
                "Fetch verification keys from `jwks_uri` (true) or use the static `public_keys` (false).",
            ),
        ),
        Attribute(
            "jwks_uri",
            String(),
            optional=True,
            description="URL of the issuer's JSON Web Key Set. Required when `use_jwks` is true; not "
            "allowed otherwise.",
        ),
        Attribute(
            "jwks_ca_pem",
            String(),
            optional=True,
            description="PEM bundle of CA certificates to verify the TLS certificate of `jwks_uri` with. "
            "Only with `use_jwks = true`.",
        ),
        Attribute(
            "audiences",
            List(String()),
            optional=True,
            description="When set, a token's `aud` must contain at least one of these. Order does not matter.",
        ),
        Attribute(
            "no_default_policy",
            Bool(),
            optional=True,
            computed=True,
            description=_with_default(
                "no_default_policy", "When true, requests made with these tokens do not get the `default` policy."
            ),
        ),
        Attribute(
            "user_claim",
            String(),
            optional=True,
            computed=True,
            description=_with_default(
                "user_claim", "Claim naming the human subject (matched to an entity alias's `external_id`)."
            ),
        ),
        Attribute(
            "supported_algorithms",
            List(String()),
            optional=True,
            computed=True,
            description=_with_default(
                "supported_algorithms",
                f"Signature algorithms accepted; {_ALGORITHMS.description}. Order does not matter; `[]` "
                "means all of them.",
            ),
        ),
        Attribute(
            "jwt_type",
            String(),
            optional=True,
            computed=True,
            description=_with_default(
                "jwt_type",
                f"Kind of JWT accepted; {_JWT_TYPES.description}. Vault Enterprise 2.1 and later accept "
                "only `access_token`.",
            ),
        ),
        Attribute(
            "clock_skew_leeway",
            Number(),
            optional=True,
            computed=True,
            description=_with_default(
                "clock_skew_leeway",
                f"Seconds of clock skew tolerated on `exp`, `nbf` and `iat`, between 0 and {MAX_CLOCK_SKEW_LEEWAY}.",
            ),
        ),
        Attribute(
            "enabled",
            Bool(),
            optional=True,
            computed=True,
            description=_with_default("enabled", "Disabled profiles are ignored when validating tokens."),
        ),
        Attribute(
            "optional_authorization_details",
            Bool(),
            optional=True,
            computed=True,
            description=_with_default(
                "optional_authorization_details",
                "When true, tokens validated by this profile may omit the `authorization_details` claim.",
            ),
        ),
        Attribute(
            "unique_id_claim",
            String(),
            optional=True,
            computed=True,
            requires_replace=True,
            description=_with_default(
                "unique_id_claim",
                "Claim that uniquely identifies a token (Entra ID uses `uti`). Cannot change after "
                "creation: changing it replaces the profile.",
            ),
        ),
        Attribute(
            "actor_claim",
            String(),
            optional=True,
            computed=True,
            description=_with_default(
                "actor_claim", "Dotted path of the claim naming the acting agent in a delegated token."
            ),
        ),
        Attribute("config_id", String(), computed=True, description="Stable ID of the profile (a UUID)."),
        Attribute("id", String(), computed=True, description="Same as `config_id`."),
    ],
    block_types=[PUBLIC_KEYS],
)


# ---- validation ---------------------------------------------------------------------------------------


class PemPublicKey:
    """A public key or certificate the service accepts (parsed with the service's own rules)."""

    description = "must be a PEM public key the service accepts"

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
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


RULES = {
    "profile_name": [
        Matches(
            rf"(?!\.$)(?!.*\.\.)[A-Za-z0-9_.-]{{1,{NAME_MAX_LENGTH}}}",
            f"must be 1 to {NAME_MAX_LENGTH} letters, digits, '-', '_' or '.', other than '.' and without '..'",
        )
    ],
    "issuer_id": [HttpUrl()],
    "namespace": [NamespacePath()],
    "jwks_uri": [HttpUrl()],
    "jwks_ca_pem": [CaBundle()],
    "public_keys": [EachBlock({"key_id": [NotBlank()], "pem": [PemPublicKey()]})],
    "audiences": [Each(NotBlank())],
    "user_claim": [NotBlank()],
    "supported_algorithms": [Each(_ALGORITHMS), Unique()],
    "jwt_type": [_JWT_TYPES],
    "clock_skew_leeway": [WholeSeconds(MAX_CLOCK_SKEW_LEEWAY)],
    "unique_id_claim": [NotBlank()],
    "actor_claim": [NotBlank()],
}


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


# The service's messages start with what they are about: `jwks_uri ...`, `public_keys[1] (key_id "k"): ...`,
# `public_keys[0].key_id ...`, `profile name ...`.
_SUBJECT = re.compile(r"(?P<field>profile name|[a-z_]+)(?:\[(?P<index>\d+)\])?(?:\.(?P<sub>key_id|pem))?")
_PATHS = {a.name for a in SCHEMA.attributes} | {b.type_name for b in SCHEMA.block_types}


def check_with_service_rules(diags: Diagnostics, config: Config) -> None:
    """Run the service's own write validation on the configuration (pure code, nothing is contacted)."""
    planned = _with_defaults(config)
    try:
        apply_profile_write(
            None,
            to_api(planned),
            name=planned["profile_name"],
            namespace_id="",
            new_config_id=lambda: "",
        )
    except ProfileValidationError as exc:
        for message in exc.errors:
            path = _path_of(message)
            where = render_path(path) if path else "configuration"
            diags.add_error(f"Invalid value for {where}", f"{message}.", path=path)


def _path_of(message: str) -> AttributePath | None:
    match = _SUBJECT.match(message)
    if match is None:
        return None
    field = "profile_name" if match["field"] == "profile name" else match["field"]
    if field not in _PATHS:
        return None
    path: AttributePath = [field]
    if match["index"] is not None:
        path.append((int(match["index"]),))
        if match["sub"]:
            path.append(match["sub"])
    return path


# ---- API mapping --------------------------------------------------------------------------------------


def by_name(profile_name: str) -> str:
    return f"sys/config/oauth-resource-server/{path_segment(profile_name)}"


def by_config_id(config_id: str) -> str:
    return f"sys/config/oauth-resource-server/id/{path_segment(config_id)}"


def to_api(state: State) -> dict[str, Any]:
    """The body of a write: every field, empty ones spelled out (writes are partial updates)."""
    return {
        "issuer_id": state["issuer_id"],
        "use_jwks": bool(state.get("use_jwks")),
        "jwks_uri": state.get("jwks_uri") or "",
        "jwks_ca_pem": state.get("jwks_ca_pem") or "",
        "public_keys": [{"key_id": k["key_id"], "pem": k["pem"]} for k in state.get("public_keys") or []],
        "audiences": list(state.get("audiences") or []),
        "no_default_policy": bool(state.get("no_default_policy")),
        "optional_authorization_details": bool(state.get("optional_authorization_details")),
        "user_claim": state.get("user_claim"),
        "supported_algorithms": list(state.get("supported_algorithms") or []),
        "jwt_type": state.get("jwt_type"),
        "clock_skew_leeway": int(state.get("clock_skew_leeway") or 0),
        "enabled": bool(state.get("enabled")),
        "unique_id_claim": state.get("unique_id_claim"),
        "actor_claim": state.get("actor_claim"),
    }


def from_api(data: dict[str, Any], prior: State) -> State:
    """State from a read's `data`, keeping the configuration's spelling of equivalent values (`prior`: the
    state or plan being refreshed; `{}` on import).

    Fields a server may leave out of its answer (Vault's documented reads omit `jwks_ca_pem`; servers
    before 2.1 know no `unique_id_claim`/`actor_claim`) keep their prior value rather than showing a diff
    that no apply could remove.
    """
    config_id = data.get("config_id") or ""
    return {
        "id": config_id,
        "config_id": config_id,
        "namespace": prior.get("namespace"),
        "profile_name": data.get("profile_name", ""),
        "issuer_id": same_or_prior(prior.get("issuer_id"), data.get("issuer_id", ""), normalize_issuer),
        "use_jwks": bool(data.get("use_jwks", True)),
        "jwks_uri": _empty_stays_null(prior.get("jwks_uri"), data.get("jwks_uri") or ""),
        "jwks_ca_pem": ca_in_state(prior.get("jwks_ca_pem"), data),
        "public_keys": keys_in_state(prior.get("public_keys"), data.get("public_keys") or []),
        "audiences": _empty_stays_null(
            prior.get("audiences"), _prior_if(prior.get("audiences"), list(data.get("audiences") or []), _same_set)
        ),
        "no_default_policy": bool(data.get("no_default_policy", False)),
        "user_claim": data.get("user_claim", DEFAULTS["user_claim"]),
        "supported_algorithms": _prior_if(
            prior.get("supported_algorithms"), list(data.get("supported_algorithms") or []), same_algorithms
        ),
        "jwt_type": data.get("jwt_type", DEFAULTS["jwt_type"]),
        "clock_skew_leeway": int(data.get("clock_skew_leeway") or 0),
        "enabled": bool(data.get("enabled", True)),
        "optional_authorization_details": bool(data.get("optional_authorization_details", False)),
        "unique_id_claim": data.get("unique_id_claim", _prior_or_default(prior, "unique_id_claim")),
        "actor_claim": data.get("actor_claim", _prior_or_default(prior, "actor_claim")),
    }


def ca_in_state(prior: Any, data: Mapping[str, Any]) -> str | None:
    """`jwks_ca_pem` in the prior spelling when equivalent; the prior value when the server does not
    echo it."""
    if "jwks_ca_pem" not in data:
        return prior
    return _empty_stays_null(prior, same_or_prior(prior, data["jwks_ca_pem"] or "", _pem))


def _prior_or_default(prior: State, name: str) -> Any:
    value = prior.get(name)
    return DEFAULTS[name] if value is None or value is Unknown else value


# ---- equivalence: values the server stores the same way -------------------------------------------------


def _pem(value: str) -> str:
    return normalize_pem(value)


def _same_set(a: list[str], b: list[str]) -> bool:
    return set(a) == set(b)


def same_algorithms(a: list[str], b: list[str]) -> bool:
    """`[]` stands for every algorithm (D22); order does not matter."""
    return (set(a) or set(ALGORITHMS)) == (set(b) or set(ALGORITHMS))


def _key_set(keys: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return sorted((k["key_id"], normalize_pem(k["pem"])) for k in keys)


def same_keys(a: list[Mapping[str, Any]], b: list[Mapping[str, Any]]) -> bool:
    """The same key ids with the same keys, whatever the order and PEM whitespace."""
    return _key_set(a) == _key_set(b)


def _prior_if(prior: Any, new: Any, same: Callable[[Any, Any], bool]) -> Any:
    if isinstance(prior, list) and wholly_known(prior) and isinstance(new, list) and same(prior, new):
        return list(prior)
    return new


def _empty_stays_null(prior: Any, new: Any) -> Any:
    """The server answers an unset string or list as empty: state keeps null when it held null."""
    return None if prior is None and new in ("", []) else new


def keys_in_state(prior: Any, stored: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The prior blocks when they hold the same keys; else the stored keys, each PEM in the prior spelling
    of the same key_id when equivalent."""
    stored = [{"key_id": k.get("key_id", ""), "pem": k.get("pem", "")} for k in stored]
    prior = prior if isinstance(prior, list) and wholly_known(prior) else []
    if prior and same_keys(prior, stored):
        return [dict(k) for k in prior]
    pem_of = {k["key_id"]: k["pem"] for k in prior}
    return [{**k, "pem": same_or_prior(pem_of.get(k["key_id"]), k["pem"], _pem)} for k in stored]


def _prior_pem_spelling(prior: list[Mapping[str, Any]], keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each key whose prior block at the same position has the same key_id and an equivalent PEM keeps the
    prior PEM text (Terraform allows a plan to keep a prior value equivalent to the configuration's)."""
    planned = []
    for index, key in enumerate(keys):
        old = prior[index] if index < len(prior) else None
        if old is not None and old.get("key_id") == key["key_id"] and _pem(old["pem"]) == _pem(key["pem"]):
            key = {**key, "pem": old["pem"]}
        planned.append(key)
    return planned


# Attributes whose prior value is kept when the configuration's value is equivalent.
EQUIVALENT: dict[str, Callable[[Any, Any], bool]] = {
    "issuer_id": lambda a, b: normalize_issuer(a) == normalize_issuer(b),
    "jwks_ca_pem": lambda a, b: _pem(a) == _pem(b),
    "audiences": _same_set,
    "supported_algorithms": same_algorithms,
    "public_keys": same_keys,
}


def _with_defaults(config: Config) -> State:
    return {**config, **{k: v for k, v in DEFAULTS.items() if config.get(k) is None}}


class OAuthResourceServerConfigProfileResource(VaultResource):
    """`resource "vault_oauth_resource_server_config_profile"`."""

    @classmethod
    def get_name(cls) -> str:
        return "oauth_resource_server_config_profile"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    # ---- validation ---------------------------------------------------------------------------------

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        if diags.has_errors():
            return
        check(diags, config, RULES)
        check_key_source(diags, config)
        check_unique_key_ids(diags, config)
        if not diags.has_errors() and wholly_known(config):
            check_with_service_rules(diags, config)

    # ---- plan ---------------------------------------------------------------------------------------

    def plan_with_config(self, ctx: PlanContext, prior: State | None, proposed: State, config: Config) -> State | None:
        """Defaults for what the configuration leaves out; the prior spelling of equivalent values; an
        unknown config_id on create."""
        planned = dict(proposed)
        for name, default in DEFAULTS.items():
            if config.get(name) is None:
                planned[name] = list(default) if isinstance(default, list) else default
        if prior is None:
            planned["config_id"] = planned["id"] = Unknown
            return planned
        for name, same in EQUIVALENT.items():
            old, new = prior.get(name), planned.get(name)
            if old is None or new is None or not wholly_known(old) or not wholly_known(new):
                continue
            try:
                if old != new and same(old, new):
                    planned[name] = old
            except (KeyError, TypeError, AttributeError):
                continue
        keys = planned.get("public_keys")
        if isinstance(keys, list) and wholly_known(keys) and keys is not prior.get("public_keys"):
            planned["public_keys"] = _prior_pem_spelling(prior.get("public_keys") or [], keys)
        return planned

    # ---- create -------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        name, namespace = planned["profile_name"], planned.get("namespace")
        try:
            self.client.require_enterprise()
            if self.client.read(by_name(name), namespace=namespace) is not None:
                # A write to an existing name would silently take the profile over: never adopt.
                ctx.diagnostics.add_error(
                    f"Unable to create {ctx.type_name}",
                    f"A profile named {show(name)} already exists. Import it to manage it with Terraform "
                    "(an import block, or `terraform import <address> <profile_name>`), or choose another "
                    "profile_name.",
                    path=["profile_name"],
                )
                return None
            written = self.client.write(by_name(name), to_api(planned), namespace=namespace)
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
        self._warn(ctx.diagnostics, written)
        try:
            fresh = self.client.read(by_name(name), namespace=namespace)
        except ApiError as exc:
            fresh = None
            api_error(ctx.diagnostics, "read back the new", ctx.type_name, exc)
        if fresh is None or not fresh.get("data"):
            # The profile exists: keep it in state (Terraform taints it after an error) so the next apply
            # replaces it instead of refusing to overwrite it.
            if not ctx.diagnostics.has_errors():
                ctx.diagnostics.add_error(
                    f"Unable to read back the new {ctx.type_name}",
                    f"Profile {show(name)} was written but could not be read back.",
                )
            return {**planned, "config_id": "", "id": ""}
        return from_api(fresh["data"], planned)

    # ---- read ---------------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            body = self.client.read(by_name(current["profile_name"]), namespace=current.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if body is None or not body.get("data"):
            return None  # deleted out of band: Terraform plans to create it again
        return from_api(body["data"], current)

    # ---- update -------------------------------------------------------------------------------------

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        name, namespace = planned["profile_name"], planned.get("namespace")
        try:
            self.client.require_enterprise()
            written = self.client.write(by_name(name), to_api(planned), namespace=namespace)
            fresh = self.client.read(by_name(name), namespace=namespace)
        except ApiError as exc:
            # Terraform keeps the prior state; the next refresh shows whatever the server now holds.
            return api_error(ctx.diagnostics, "update", ctx.type_name, exc, schema=SCHEMA)
        self._warn(ctx.diagnostics, written)
        if fresh is None or not fresh.get("data"):
            ctx.diagnostics.add_error(
                f"Unable to update {ctx.type_name}", f"Profile {show(name)} was deleted while being updated."
            )
            return None
        return from_api(fresh["data"], planned)

    # ---- delete -------------------------------------------------------------------------------------

    def delete(self, ctx: DeleteContext, current: State) -> None:
        try:
            self.client.delete(by_name(current["profile_name"]), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    # ---- import -------------------------------------------------------------------------------------

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import vault_oauth_resource_server_config_profile.x <profile_name or config_id>`.

        A UUID-shaped ID is looked up as a config_id first, then as a name. The namespace is
        `TERRAFORM_VAULT_NAMESPACE_IMPORT`, if set.
        """
        if not id.strip():
            ctx.diagnostics.add_error(
                "Invalid import ID",
                "Import a vault_oauth_resource_server_config_profile by its profile_name or its config_id.",
            )
            return None
        namespace = self.import_namespace()
        paths = [by_config_id(id), by_name(id)] if looks_like_uuid(id) else [by_name(id)]
        missing = f"No profile with {'config_id or ' if len(paths) > 1 else ''}profile_name {show(id)}"
        data = self.read_first_for_import(ctx, paths, namespace, missing)
        return None if data is None else from_api(data, {"namespace": namespace})

    # upgrade: VaultResource.upgrade (schema version 0, no upgraders yet).

    @staticmethod
    def _warn(diags: Diagnostics, written: dict[str, Any] | None) -> None:
        """The service's warnings about a write (insecure http, a lone algorithm...) as Terraform warnings."""
        for warning in (written or {}).get("warnings") or []:
            diags.add_warning("The server warned about this profile", str(warning))


__all__ = ["OAuthResourceServerConfigProfileResource", "from_api", "to_api"]
