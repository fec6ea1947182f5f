"""OAuth resource server profiles: the fields, their rules, and what a write does (DECISIONS.md#d28, #d29,
#d30).

A profile names one JWT issuer the service trusts, the keys that verify its tokens and the claims it checks.
`apply_profile_write` is the whole write path in domain terms: it merges the fields a client sent into the
stored profile (create, or partial update), checks every rule, and returns the new profile with the
warnings Vault would return. It never writes anything and never mutates its input; it raises
`ProfileValidationError` carrying every fatal error at once, as Vault's 400 responses do.

Uniqueness of `issuer_id` across profiles (`duplicate_issuer_error`) needs storage and is checked there.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from vaultguard.rules.oauth import JWT_TYPES, MAX_CLOCK_SKEW_LEEWAY, NAME_MAX_LENGTH, normalize_issuer

from ..identity.model import oauth_accessor
from .keys import (
    ALGORITHMS,
    InvalidKeyError,
    VerifyingKey,
    algorithms_for_key,
    describe_key,
    load_ca_bundle_pem,
    load_public_key_pem,
    normalize_pem,
)

# Fields a client may send on a write; `name` comes from the URL and `config_id` is generated.
WRITABLE_FIELDS: tuple[str, ...] = (
    "issuer_id", "local", "use_jwks", "jwks_uri", "jwks_ca_pem", "public_keys", "audiences",
    "no_default_policy", "optional_authorization_details", "user_claim", "supported_algorithms", "jwt_type",
    "clock_skew_leeway", "enabled", "unique_id_claim", "actor_claim", "groups_claim",
)  # fmt: skip
IMMUTABLE_FIELDS: tuple[str, ...] = ("issuer_id", "local", "unique_id_claim")  # DECISIONS.md#d28 (2.1+)

# user_claim values that need no warning: RFC 7519 `sub`, OIDC Core `email`/`preferred_username`,
# RFC 9068 `client_id`, OIDC `azp`, and Entra's `upn`.
STANDARD_USER_CLAIMS: frozenset[str] = frozenset(
    {"sub", "email", "preferred_username", "upn", "client_id", "azp"}
)

NAME_WARN_LENGTH = 64  # DECISIONS.md#d28: longer names only warn
MAX_STRING_LENGTH = 2048
MAX_LIST_ENTRIES = 100
MAX_PUBLIC_KEYS = MAX_LIST_ENTRIES
MAX_AUDIENCES = MAX_LIST_ENTRIES

# DECISIONS.md#d29, exact texts.
WARN_HTTP_JWKS_URI = (
    "JWKS URI uses HTTP instead of HTTPS. This is insecure and should only be used in development."
)
WARN_LONG_NAME = "Profile name exceeds 64 characters. Consider using a shorter name for better readability."
WARN_DISABLED_ON_CREATE = "Creating a disabled profile. Enable it with enabled=true when ready."
WARN_RS256_ONLY = 'algorithm "RS256" is functional but consider using PS256 (RSA-PSS) for better security'
WARN_ONE_ALGORITHM_FAMILY = (
    "profile supports only one algorithm family - consider supporting multiple families for flexibility"
)
WARN_NONSTANDARD_USER_CLAIM = (
    "user_claim {claim} is not a standard JWT claim - ensure this claim exists in your JWTs"
)
# DECISIONS.md#d29 says Vault warns on a non-HTTPS issuer without documenting the text; ours mirrors the JWKS one.
WARN_HTTP_ISSUER = (
    "issuer_id uses HTTP instead of HTTPS. This is insecure and should only be used in development."
)

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
_ALLOWED_ALGORITHMS_TEXT = ", ".join(ALGORITHMS)


@dataclass(frozen=True)
class PublicKey:
    """One static verification key: the JWT header `kid` it answers to and its canonical PEM."""

    key_id: str
    pem: str


@dataclass
class Profile:
    """A stored profile, every field already validated and normalized."""

    name: str
    namespace_id: str
    config_id: str
    issuer_id: str
    local: bool = False
    use_jwks: bool = True
    jwks_uri: str = ""
    jwks_ca_pem: str = ""
    public_keys: tuple[PublicKey, ...] = ()
    audiences: tuple[str, ...] = ()
    no_default_policy: bool = False
    optional_authorization_details: bool = False
    user_claim: str = "sub"
    supported_algorithms: tuple[str, ...] = ALGORITHMS
    jwt_type: str = "access_token"
    clock_skew_leeway: int = 0
    enabled: bool = True
    unique_id_claim: str = "jti"
    actor_claim: str = "act.sub"
    # An extension beyond Vault (DECISIONS.md#d62): the claim whose array of strings names
    # external groups through group aliases on this profile's mount accessor; "" reads no groups from tokens.
    groups_claim: str = ""

    def to_api(self) -> dict[str, Any]:
        """The `data` of a read response (DECISIONS.md#d28, DECISIONS.md#d15).

        Every field is always present, so clients see one shape: the fields of the mode not in use are
        empty (`jwks_uri: ""`, `jwks_ca_pem: ""` in static mode; `public_keys: []` in JWKS mode), which is
        also their documented default.
        """
        return {
            "config_id": self.config_id,
            "profile_name": self.name,
            "issuer_id": self.issuer_id,
            "local": self.local,
            "use_jwks": self.use_jwks,
            "jwks_uri": self.jwks_uri,
            "jwks_ca_pem": self.jwks_ca_pem,
            "public_keys": [{"key_id": k.key_id, "pem": k.pem} for k in self.public_keys],
            "audiences": list(self.audiences),
            "no_default_policy": self.no_default_policy,
            "optional_authorization_details": self.optional_authorization_details,
            "user_claim": self.user_claim,
            "supported_algorithms": list(self.supported_algorithms),
            "jwt_type": self.jwt_type,
            "clock_skew_leeway": self.clock_skew_leeway,
            "enabled": self.enabled,
            "unique_id_claim": self.unique_id_claim,
            "actor_claim": self.actor_claim,
            "groups_claim": self.groups_claim,
            "mount_accessor": oauth_accessor(self.namespace_id, self.config_id),
        }


FieldPath = tuple[str | int, ...]


class ProfileValidationError(ValueError):
    """A write the service refuses; `errors` holds every reason, each naming the field and the rule, and
    `fields[i]` the path of the request field `errors[i]` is about (None: no one field)."""

    def __init__(self, errors: Sequence[str], fields: Sequence[FieldPath | None] = ()) -> None:
        self.errors = list(errors)
        self.fields = list(fields) or [None] * len(self.errors)
        super().__init__("; ".join(self.errors))


def duplicate_issuer_error(issuer_id: str, other_profile: str) -> ProfileValidationError:
    """The error for an issuer already used by another profile in the namespace (DECISIONS.md#d29 text)."""
    return ProfileValidationError(
        [f"duplicate issuer_id {_quote(issuer_id)} found in profile {_quote(other_profile)}"], [("issuer_id",)]
    )


def apply_profile_write(
    existing: Profile | None,
    data: Mapping[str, Any],
    *,
    name: str,
    namespace_id: str,
    new_config_id: Callable[[], str],
) -> tuple[Profile, list[str]]:
    """Merge a write into `existing` (None: create) and return the resulting profile and its warnings.

    `data` holds only the fields the client sent, already type-coerced, keyed by `WRITABLE_FIELDS`.
    Create requires `issuer_id`; an update keeps every field not sent (DECISIONS.md#d29). Switching `use_jwks`
    clears the previous mode's fields. Raises `ProfileValidationError` with all fatal errors.
    """
    if existing is not None and (existing.name != name or existing.namespace_id != namespace_id):
        raise ValueError("the existing profile passed to apply_profile_write has another name or namespace")
    write = _Write(existing, data)
    write.check_name(name)
    write.check_unknown_fields()
    values = write.merge()
    if write.errors:
        raise ProfileValidationError(write.errors, write.fields)
    profile = Profile(
        name=name,
        namespace_id=namespace_id,
        config_id=existing.config_id if existing is not None else new_config_id(),
        **values,
    )
    return profile, _warnings(profile, created=existing is None)


# --- the write, field by field ------------------------------------------------------------------------------


class _Write:
    """Collects the errors of one write while computing the merged field values."""

    def __init__(self, existing: Profile | None, data: Mapping[str, Any]) -> None:
        self.existing = existing
        self.data = data
        self.errors: list[str] = []
        self.fields: list[FieldPath | None] = []

    def fail(self, field: FieldPath | str | None, message: str) -> None:
        """Note an error about the request field `field` (a name, or a path into a list)."""
        self.errors.append(message)
        self.fields.append((field,) if isinstance(field, str) else field)

    def failed_on(self, name: str) -> bool:
        return any(path and path[0] == name for path in self.fields)

    def sent(self, name: str) -> bool:
        return name in self.data

    def check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            self.fail("profile_name", "profile name is required")
        elif len(name) > NAME_MAX_LENGTH:
            self.fail("profile_name", f"profile name is {len(name)} characters; at most {NAME_MAX_LENGTH} are allowed")
        elif not _NAME_PATTERN.fullmatch(name):
            self.fail("profile_name", f"profile name {_quote(name)} may contain only letters, digits, '-', '_' and '.'")
        elif name == "." or ".." in name:
            self.fail("profile_name", f"profile name {_quote(name)} must not be '.' or contain '..'")

    def check_unknown_fields(self) -> None:
        for key in self.data:
            if key not in WRITABLE_FIELDS:
                self.fail(
                    None,
                    f"unknown field {_quote(str(key))}; writable fields are {', '.join(WRITABLE_FIELDS)}"
                )

    def merge(self) -> dict[str, Any]:
        """Every field's resulting value; errors are collected, never raised."""
        base = self.existing if self.existing is not None else _DEFAULTS
        v: dict[str, Any] = {
            f.name: getattr(base, f.name) for f in dataclasses.fields(Profile) if f.name in WRITABLE_FIELDS
        }
        v["issuer_id"] = self._issuer_id()
        v["local"] = (
            self._immutable_bool("local") if self.existing is not None else self._bool("local", False)
        )
        v["unique_id_claim"] = self._unique_id_claim()
        for flag in ("no_default_policy", "optional_authorization_details", "enabled"):
            v[flag] = self._bool(flag, v[flag])
        v["use_jwks"] = self._bool("use_jwks", v["use_jwks"])
        if self.existing is not None and v["use_jwks"] != self.existing.use_jwks:
            # DECISIONS.md#d29: toggling the mode drops the fields of the old mode.
            v["jwks_uri"], v["jwks_ca_pem"], v["public_keys"] = "", "", ()
        public_keys = self._key_source(v)
        v["audiences"] = self._audiences(v["audiences"])
        v["user_claim"] = self._claim_name("user_claim", v["user_claim"])
        v["actor_claim"] = self._actor_claim(v["actor_claim"])
        v["groups_claim"] = self._groups_claim(v["groups_claim"])
        v["supported_algorithms"] = self._supported_algorithms(v["supported_algorithms"])
        v["jwt_type"] = self._jwt_type(v["jwt_type"])
        v["clock_skew_leeway"] = self._clock_skew_leeway(v["clock_skew_leeway"])
        if not self.failed_on("supported_algorithms"):
            self._check_keys_usable(public_keys, v["supported_algorithms"])
        return v

    def _key_source(self, v: dict[str, Any]) -> list[_LoadedKey]:
        """DECISIONS.md#d28: `jwks_uri` iff use_jwks, `public_keys` iff not; `jwks_ca_pem` only with a JWKS.

        Fields of the mode not in use are refused without further checks, so each mistake is one error.
        """
        if v["use_jwks"]:
            v["jwks_uri"] = self._jwks_uri(v["jwks_uri"])
            v["jwks_ca_pem"] = self._jwks_ca_pem(v["jwks_ca_pem"])
            if self._sent_nonempty("public_keys"):
                self.fail(
                    "public_keys",
                    "public_keys must not be set when use_jwks=true; keys are fetched from jwks_uri",
                )
            if not v["jwks_uri"] and not self.failed_on("jwks_uri"):
                self.fail("jwks_uri", "jwks_uri is required when use_jwks=true")
            return []
        if self._sent_nonempty("jwks_uri"):
            self.fail("jwks_uri", "jwks_uri must not be set when use_jwks=false; use public_keys")
        if self._sent_nonempty("jwks_ca_pem"):
            self.fail(
                "jwks_ca_pem",
                "jwks_ca_pem must not be set when use_jwks=false; it only secures fetching jwks_uri",
            )
        loaded = self._public_keys(v["public_keys"])
        v["public_keys"] = tuple(entry.key for entry in loaded)
        if not loaded and not self.failed_on("public_keys"):
            self.fail("public_keys", "public_keys must hold at least one key when use_jwks=false")
        return loaded

    def _sent_nonempty(self, name: str) -> bool:
        return self.sent(name) and self.data[name] not in (None, "", [], ())

    # -- identity and immutable fields

    def _issuer_id(self) -> str:
        raw = self.data.get("issuer_id")
        if self.existing is not None:
            stored = self.existing.issuer_id
            if not self.sent("issuer_id") or raw == stored:
                return stored
            if not isinstance(raw, str) or normalize_issuer(raw) != stored:
                self.fail("issuer_id", _immutable_message("issuer_id", stored, raw))
            return stored
        if raw is None or raw == "":
            self.fail("issuer_id", "issuer_id is required")
            return ""
        if not self._url("issuer_id", raw, allow_query=False):
            return ""
        if raw.endswith("//"):
            # Keeps normalization idempotent, so a value read back can be written back unchanged.
            self.fail("issuer_id", "issuer_id must not end with more than one '/'")
            return ""
        return normalize_issuer(raw)

    def _immutable_bool(self, name: str) -> bool:
        stored = getattr(self.existing, name)
        if self.sent(name):
            raw = self.data[name]
            if not isinstance(raw, bool):
                self.fail(name, f"{name} must be a boolean")
            elif raw != stored:
                self.fail(name, _immutable_message(name, stored, raw))
        return stored

    def _unique_id_claim(self) -> str:
        if self.existing is None:
            return self._claim_name("unique_id_claim", _DEFAULTS.unique_id_claim)
        stored = self.existing.unique_id_claim
        if self.sent("unique_id_claim") and self.data["unique_id_claim"] != stored:
            self.fail("unique_id_claim", _immutable_message("unique_id_claim", stored, self.data["unique_id_claim"]))
        return stored

    # -- scalars

    def _bool(self, name: str, current: bool) -> bool:
        if not self.sent(name):
            return current
        raw = self.data[name]
        if not isinstance(raw, bool):
            self.fail(name, f"{name} must be a boolean")
            return current
        return raw

    def _text(self, name: str, raw: Any, path: FieldPath | None = None) -> str | None:
        """A non-empty, bounded, single-line string without surrounding whitespace, or None (error noted);
        `name` is how messages call the field, `path` where it is in the request (default: `name`)."""
        path = path or (name,)
        if not isinstance(raw, str):
            self.fail(path, f"{name} must be a string")
        elif not raw:
            self.fail(path, f"{name} must not be empty")
        elif len(raw) > MAX_STRING_LENGTH:
            self.fail(path, f"{name} is {len(raw)} characters; at most {MAX_STRING_LENGTH} are allowed")
        elif raw != raw.strip():
            self.fail(path, f"{name} {_quote(raw)} must not start or end with whitespace")
        elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
            self.fail(path, f"{name} must not contain control characters")
        else:
            return raw
        return None

    def _claim_name(self, name: str, current: str) -> str:
        if not self.sent(name):
            return current
        value = self._text(name, self.data[name])
        return current if value is None else value

    def _actor_claim(self, current: str) -> str:
        if not self.sent("actor_claim"):
            return current
        value = self._text("actor_claim", self.data["actor_claim"])
        if value is None:
            return current
        if any(not segment for segment in value.split(".")):
            self.fail(
                "actor_claim",
                f"actor_claim {_quote(value)} must be a dotted claim path of non-empty segments, "
                'like "act.sub"'
            )
            return current
        return value

    def _groups_claim(self, current: str) -> str:
        """A top-level claim name, or "" for none."""
        if not self.sent("groups_claim"):
            return current
        if self.data["groups_claim"] == "":
            return ""
        value = self._text("groups_claim", self.data["groups_claim"])
        return current if value is None else value

    def _jwt_type(self, current: str) -> str:
        if not self.sent("jwt_type"):
            return current
        raw = self.data["jwt_type"]
        if raw not in JWT_TYPES:
            shown = _quote(raw) if isinstance(raw, str) else "of the wrong type"
            self.fail("jwt_type", f"jwt_type {shown} is not supported; supported values are {', '.join(JWT_TYPES)}")
            return current
        return raw

    def _clock_skew_leeway(self, current: int) -> int:
        if not self.sent("clock_skew_leeway"):
            return current
        raw = self.data["clock_skew_leeway"]
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.fail("clock_skew_leeway", "clock_skew_leeway must be an integer number of seconds")
            return current
        if not 0 <= raw <= MAX_CLOCK_SKEW_LEEWAY:
            self.fail(
                "clock_skew_leeway",
                f"clock_skew_leeway must be between 0 and {MAX_CLOCK_SKEW_LEEWAY} seconds, got {raw}",
            )
            return current
        return raw

    # -- URLs and key material

    def _url(self, name: str, raw: Any, *, allow_query: bool) -> bool:
        """Check an absolute http(s) URL; note an error and return False when it is not one."""
        if not isinstance(raw, str):
            self.fail(name, f"{name} must be a string")
            return False
        if len(raw) > MAX_STRING_LENGTH:
            self.fail(name, f"{name} is {len(raw)} characters; at most {MAX_STRING_LENGTH} are allowed")
            return False
        if any(not 0x21 <= ord(c) <= 0x7E for c in raw):
            self.fail(
                name,
                f"{name} must be a URL of printable ASCII characters without spaces (percent-encode the rest)"
            )
            return False
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises ValueError on an invalid port
        except ValueError:
            self.fail(name, f"{name} {_quote(raw)} is not a valid URL")
            return False
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            self.fail(name, f"{name} {_quote(raw)} must be an absolute URL starting with https:// or http://")
            return False
        problems = []
        if not parts.hostname:
            problems.append("a host")
        if "@" in parts.netloc:
            problems.append("no user name or password")
        if parts.fragment or raw.endswith("#"):
            problems.append("no fragment ('#')")
        if not allow_query and (parts.query or raw.endswith("?")):
            problems.append("no query ('?')")
        if problems:
            self.fail(name, f"{name} {_quote(raw)} must have {' and '.join(problems)}")
            return False
        return True

    def _jwks_uri(self, current: str) -> str:
        if not self.sent("jwks_uri"):
            return current
        raw = self.data["jwks_uri"]
        if raw is None or raw == "":
            return ""
        return raw if self._url("jwks_uri", raw, allow_query=True) else current

    def _jwks_ca_pem(self, current: str) -> str:
        if not self.sent("jwks_ca_pem"):
            return current
        raw = self.data["jwks_ca_pem"]
        if raw is None or raw == "":
            return ""
        try:
            load_ca_bundle_pem(raw, label="jwks_ca_pem")
        except InvalidKeyError as error:
            self.fail("jwks_ca_pem", str(error))
            return current
        return normalize_pem(raw)

    def _public_keys(self, current: tuple[PublicKey, ...]) -> list[_LoadedKey]:
        """The resulting keys that loaded, each with its index and key object; failures are noted."""
        if not self.sent("public_keys"):
            # Stored keys are parsed again: the usability check below needs the key objects.
            loaded = (self._load(index, key) for index, key in enumerate(current))
            return [entry for entry in loaded if entry is not None]
        raw = self.data["public_keys"]
        if raw is None:
            raw = []
        if not isinstance(raw, list | tuple):
            self.fail("public_keys", "public_keys must be a list of {key_id, pem} objects")
            return []
        if len(raw) > MAX_PUBLIC_KEYS:
            self.fail("public_keys", f"public_keys has {len(raw)} entries; at most {MAX_PUBLIC_KEYS} are allowed")
            return []
        result: list[_LoadedKey] = []
        first_index: dict[str, int] = {}
        for index, entry in enumerate(raw):
            where = f"public_keys[{index}]"
            if not isinstance(entry, Mapping):
                self.fail(("public_keys", index), f"{where} must be an object with key_id and pem")
                continue
            extra = sorted(str(k) for k in entry if k not in ("key_id", "pem"))
            if extra:
                self.fail(
                    ("public_keys", index),
                    f"{where} has unknown fields {', '.join(extra)}; only key_id and pem are allowed",
                )
            key_id = self._text(f"{where}.key_id", entry.get("key_id"), ("public_keys", index, "key_id"))
            if key_id is None:
                continue
            if key_id in first_index:
                self.fail(
                    ("public_keys", index, "key_id"),
                    f"{where}: duplicate key_id {_quote(key_id)} "
                    f"(already used by public_keys[{first_index[key_id]}])"
                )
                continue
            first_index[key_id] = index
            pem = entry.get("pem")
            if pem is None or pem == "":
                self.fail(("public_keys", index, "pem"), f"{_key_label(index, key_id)}: pem is required")
                continue
            loaded = self._load(index, PublicKey(key_id=key_id, pem=pem))
            if loaded is not None:
                result.append(loaded)
        return result

    def _load(self, index: int, key: PublicKey) -> _LoadedKey | None:
        """Parse one key (once per write); the stored PEM is its canonical spelling."""
        try:
            loaded = load_public_key_pem(key.pem, label=_key_label(index, key.key_id))
        except InvalidKeyError as error:
            self.fail(("public_keys", index, "pem"), str(error))
            return None
        return _LoadedKey(index, PublicKey(key_id=key.key_id, pem=normalize_pem(key.pem)), loaded)

    def _audiences(self, current: tuple[str, ...]) -> tuple[str, ...]:
        if not self.sent("audiences"):
            return current
        raw = self.data["audiences"]
        if raw is None:
            return ()
        if not isinstance(raw, list | tuple):
            self.fail("audiences", "audiences must be a list of strings")
            return current
        if len(raw) > MAX_AUDIENCES:
            self.fail("audiences", f"audiences has {len(raw)} entries; at most {MAX_AUDIENCES} are allowed")
            return current
        kept: dict[str, None] = {}  # an ordered set: duplicates dropped, first position kept
        for index, audience in enumerate(raw):
            value = self._text(f"audiences[{index}]", audience, ("audiences", index))
            if value is not None:
                kept.setdefault(value)
        return tuple(kept)

    def _supported_algorithms(self, current: tuple[str, ...]) -> tuple[str, ...]:
        if not self.sent("supported_algorithms"):
            return current
        raw = self.data["supported_algorithms"]
        if raw is None:
            raw = []
        if not isinstance(raw, list | tuple):
            self.fail("supported_algorithms", "supported_algorithms must be a list of strings")
            return current
        if not raw:
            return ALGORITHMS  # DECISIONS.md#d22: "any algorithm the key supports" is stored as the explicit full list
        if len(raw) > MAX_LIST_ENTRIES:
            self.fail(
                "supported_algorithms",
                f"supported_algorithms has {len(raw)} entries; at most {MAX_LIST_ENTRIES} are allowed",
            )
            return current
        seen: list[str] = []
        ok = True
        for index, algorithm in enumerate(raw):
            problem = _algorithm_problem(algorithm)
            if problem is None and algorithm in seen:
                problem = f"supported_algorithms lists {_quote(algorithm)} more than once"
            if problem is not None:
                self.fail(("supported_algorithms", index), problem)
                ok = False
            else:
                seen.append(algorithm)
        return tuple(seen) if ok else current

    # -- rules across fields

    def _check_keys_usable(self, keys: list[_LoadedKey], algorithms: tuple[str, ...]) -> None:
        """Each static key must verify at least one allowed algorithm, or it could never be used."""
        for entry in keys:
            usable = algorithms_for_key(entry.loaded)
            if not usable & set(algorithms):
                names = ", ".join(a for a in ALGORITHMS if a in usable)
                self.fail(
                    ("public_keys", entry.index),
                    f"{_key_label(entry.index, entry.key.key_id)}: an {describe_key(entry.loaded)} key can "
                    f"only be used with {names}; supported_algorithms allows none of them"
                )


@dataclass(frozen=True)
class _LoadedKey:
    index: int
    key: PublicKey
    loaded: VerifyingKey


_DEFAULTS = Profile(name="", namespace_id="", config_id="", issuer_id="")


def _algorithm_problem(algorithm: Any) -> str | None:
    if not isinstance(algorithm, str):
        return "supported_algorithms entries must be strings"
    if algorithm in ALGORITHMS:
        return None
    shown = _quote(algorithm)
    if algorithm.strip().lower() == "none":
        # RFC 8725 §3.1, RFC 9068 §4: an unsigned token proves nothing.
        return f"supported_algorithms: {shown} is never allowed; tokens must be signed"
    if algorithm.strip().upper().startswith("HS"):
        # RFC 8725 §2.1, §3.1: a shared secret must never be confused with an issuer's public key.
        return (
            f"supported_algorithms: {shown} is never allowed; HMAC algorithms need a shared secret and only "
            "asymmetric signatures are accepted"
        )
    return f"supported_algorithms: {shown} is not supported; supported values are {_ALLOWED_ALGORITHMS_TEXT}"


def _warnings(profile: Profile, *, created: bool) -> list[str]:
    """DECISIONS.md#d29 warnings about the resulting profile; only the disabled one is specific to create."""
    warnings = []
    if len(profile.name) > NAME_WARN_LENGTH:
        warnings.append(WARN_LONG_NAME)
    if created and not profile.enabled:
        warnings.append(WARN_DISABLED_ON_CREATE)
    if profile.issuer_id.startswith("http://"):
        warnings.append(WARN_HTTP_ISSUER)
    if profile.use_jwks and profile.jwks_uri.lower().startswith("http://"):
        warnings.append(WARN_HTTP_JWKS_URI)
    if profile.supported_algorithms == ("RS256",):
        warnings.append(WARN_RS256_ONLY)
    if len({_algorithm_family(a) for a in profile.supported_algorithms}) == 1:
        warnings.append(WARN_ONE_ALGORITHM_FAMILY)
    if profile.user_claim not in STANDARD_USER_CLAIMS:
        warnings.append(WARN_NONSTANDARD_USER_CLAIM.format(claim=_quote(profile.user_claim)))
    return warnings


def _algorithm_family(algorithm: str) -> str:
    """RFC 7518 §3.1 families: RSASSA-PKCS1-v1_5 (RS*), RSASSA-PSS (PS*), ECDSA (ES*); RFC 8037 EdDSA."""
    return "EdDSA" if algorithm == "EdDSA" else algorithm[:2]


def _key_label(index: int, key_id: str) -> str:
    return f"public_keys[{index}] (key_id {_quote(key_id)})"


def _immutable_message(name: str, stored: Any, sent: Any) -> str:
    return (
        f"{name} cannot be changed after the profile is created "
        f"(stored {_quote(stored)}, sent {_quote(sent)}); delete and recreate the profile to change it"
    )


def _quote(value: Any, limit: int = 100) -> str:
    """JSON-quote a value for an error message: escaped, so it can neither break a log line nor spoof text."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit] + "..."
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"
