"""JWT access-token validation against an OAuth resource server profile (DECISIONS.md#d33, RFC 9068 §4, RFC 8725).

`JWTValidator.validate(token, find_profile)` returns a `ValidatedToken` or raises `TokenRejected` with a
stable reason code from `REASONS`; nothing else escapes it for any input. The order of the checks:

1. size, before any decoding (DECISIONS.md#d17); shape: exactly three segments (five is a JWE), base64url alphabet;
2. header: strict base64url (canonical, unpadded), UTF-8 JSON object without duplicate members; `alg`
   present, never `none` or HS*, one of DECISIONS.md#d22; no `crit`; no nested JWT (`cty`); `kid` a string;
3. payload: the same decoding rules; `iss` a string, normalized (DECISIONS.md#d19) and resolved to the enabled profile
   by `find_profile`;
4. per profile: `alg` in `supported_algorithms`, `typ` per `jwt_type` (DECISIONS.md#d1);
5. key: by `kid` among the profile's static keys or its JWKS (DECISIONS.md#d14), bound to the `alg` (never another key
   type); the signature verified over the exact `header.payload` bytes with PyJWT's algorithm objects;
6. claims, only after the signature: `exp` (required), `nbf`, `iat`, lifetime (DECISIONS.md#d4), `aud`, the unique id
   (DECISIONS.md#d3), the subject (`user_claim`), the actor (`actor_claim`, DECISIONS.md#d9),
   `authorization_details` (DECISIONS.md#d7).

Headers `jku`, `x5u`, `jwk` and `x5c` are ignored: keys come only from the profile (RFC 8725 §3.10), so
their presence neither selects a key nor rejects a token (THREATS.md#t8).

Costs: keys are parsed once per profile version; a validated token is kept in a bounded LRU keyed by the
exact token string, and a repeat presentation only re-checks the clock, the profile (same validation-
relevant fields) and, in JWKS mode, that the key set is unchanged and fresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, SECP384R1, SECP521R1
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

from ..memo import BoundedMemo
from .jwks import (
    STRICT_JSON,
    DuplicateMemberError,
    JwksCache,
    JwksUnavailable,
    KeyLookupError,
    KeySet,
    TrustedKey,
    decode_base64url_alphabet_checked,
)
from .keys import ALGORITHMS, InvalidKeyError, algorithms_for_key, load_public_key_pem
from .profiles import Profile, normalize_issuer

log = logging.getLogger(__name__)

MAX_TOKEN_BYTES = 8192  # DECISIONS.md#d17: 8 KiB, the same default as the HTTP header cap
MAX_LIFETIME = 86400  # DECISIONS.md#d4: exp - iat over 24 h is refused
MAX_JSON_DEPTH = 16  # nesting of header/payload JSON (THREATS.md#t16)
MAX_AUTHORIZATION_DETAILS = 256  # entries (THREATS.md#t16, THREATS.md#t23)
MAX_AUTHORIZATION_DETAILS_DEPTH = 8  # the array is level 1, an entry level 2
MAX_GROUPS_CLAIM_VALUES = 256  # values of a profile's groups_claim in one token
MAX_GROUPS_CLAIM_VALUE = 1024  # characters per value: the longest group alias name
RESULT_CACHE_SIZE = 10_000


# --- reason codes -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One way a token is refused: its stable code, the rule, and the RFC / decision that sets the rule."""

    code: str
    rule: str
    source: str


def _table(*reasons: Reason) -> Mapping[str, Reason]:
    return MappingProxyType({reason.code: reason for reason in reasons})


REASONS: Mapping[str, Reason] = _table(
    # -- shape, before anything is trusted
    Reason("malformed", "not a compact JWS: wrong number of segments, characters outside base64url, "
           "non-canonical base64url, not UTF-8, not a JSON object, NaN/Infinity, lone surrogates, "
           "nesting deeper than MAX_JSON_DEPTH",
           "RFC 7515 §3.1, §5.2; RFC 7519 §7.2; RFC 8725 §3.7; THREATS.md#t5, THREATS.md#t16"),
    Reason("too_large", "longer than max_token_bytes; refused before any decoding",
           "DECISIONS.md#d17; RFC 8725 (DoS); THREATS.md#t16"),
    Reason("encrypted_token", "a JWE (five segments, or an `enc` header); encryption is not supported",
           "DECISIONS.md#d22; RFC 8725 §3.3; RFC 7516 §9; THREATS.md#t17"),
    Reason("duplicate_member", "a JSON member name appears twice in the header or the payload",
           "RFC 7515 §5.2; RFC 7519 §4; THREATS.md#t15"),
    # -- header
    Reason("header_invalid", "`alg` missing or not a string, or `kid`/`cty` not a string",
           "RFC 7515 §4.1.1, §4.1.4, §4.1.10"),
    Reason("alg_none", "`alg` is `none` in any spelling",
           "RFC 8725 §3.1; RFC 9068 §4; DECISIONS.md#d22; THREATS.md#t1"),
    Reason("hmac_not_allowed", "`alg` is HS*: symmetric algorithms are never accepted",
           "DECISIONS.md#d22; RFC 8725 §2.1, §3.1; THREATS.md#t3, THREATS.md#t6"),
    Reason("alg_not_allowed", "`alg` is not one of DECISIONS.md#d22 or not in the profile's supported_algorithms",
           "DECISIONS.md#d22; RFC 8725 §3.1; THREATS.md#t2"),
    Reason("crit_unsupported", "`crit` is present; no header extension is understood",
           "RFC 7515 §4.1.11; THREATS.md#t9"),
    Reason("nested_token", "`cty` is JWT: nested tokens are not accepted",
           "DECISIONS.md#d22; RFC 8725 §3.3; THREATS.md#t17"),
    Reason("typ_invalid", "`typ` missing or not allowed for the profile's jwt_type",
           "DECISIONS.md#d1; RFC 9068 §4; RFC 8725 §3.11; THREATS.md#t14"),
    # -- issuer and profile
    Reason("issuer_missing", "no `iss` claim", "RFC 9068 §2.2, §4"),
    Reason("no_profile", "no enabled profile for the normalized `iss` in the namespace (exact match only)",
           "DECISIONS.md#d33; DECISIONS.md#d19; RFC 8725 §3.8; THREATS.md#t12"),
    Reason("profile_disabled", "the profile found for `iss` is disabled", "DECISIONS.md#d28"),
    # -- key and signature
    Reason("jwks_unavailable", "JWKS mode and no usable key set: never fetched, or the last good set is "
           "older than 1 h, or the validator has no JWKS cache", "DECISIONS.md#d14"),
    Reason("kid_unknown", "no key with the token's `kid` (after at most one rate-limited refresh), or no "
           "`kid` and no key fits `alg`", "DECISIONS.md#d14; RFC 8725 §3.10; THREATS.md#t7, THREATS.md#t22"),
    Reason("kid_ambiguous", "several keys carry the `kid`, or no `kid` and several keys fit `alg`",
           "DECISIONS.md#d14; DECISIONS.md#d30"),
    Reason("key_alg_mismatch", "the key named by `kid` cannot verify `alg` (other key type or curve, or "
           "its JWK `alg` binds it to another algorithm)", "RFC 8725 §3.1; RFC 7518 §3.4; THREATS.md#t4, #t20"),
    Reason("signature_invalid", "the signature does not verify (also: empty, wrong length, not canonical "
           "base64url, ECDSA r or s outside [1, n-1])",
           "RFC 7515 §5.2; RFC 7518 §3.4; RFC 9068 §4; THREATS.md#t5, THREATS.md#t18"),
    # -- claims (all after the signature)
    Reason("claim_type_invalid", "a registered claim of the wrong JSON type (`exp`/`nbf`/`iat` not a "
           "finite number, `iss`/`sub`/`jti` not a string, `aud` not a string or array of strings), or the "
           "user or unique id claim not a string", "RFC 7519 §2, §4.1; THREATS.md#t24"),
    Reason("exp_missing", "no `exp` claim", "DECISIONS.md#d4; RFC 9068 §2.2; THREATS.md#t11"),
    Reason("expired", "now ≥ exp + leeway", "RFC 7519 §4.1.4; RFC 9068 §4; DECISIONS.md#d4; THREATS.md#t10"),
    Reason("not_yet_valid", "nbf > now + leeway", "RFC 7519 §4.1.5; DECISIONS.md#d4; THREATS.md#t10"),
    Reason("issued_in_future", "iat > now + leeway", "RFC 7519 §4.1.6; DECISIONS.md#d4; THREATS.md#t10"),
    Reason("lifetime_too_long", "exp - iat > max_lifetime, or without `iat`, exp - now > max_lifetime + "
           "leeway", "DECISIONS.md#d4"),
    Reason("audience_mismatch", "the profile has audiences and `aud` is absent, empty or holds none of them",
           "RFC 9068 §4; RFC 7519 §4.1.3; DECISIONS.md#d28; THREATS.md#t13"),
    Reason("unique_id_missing", "the unique_id_claim (jti, falling back to uti) is absent or empty",
           "DECISIONS.md#d3; THREATS.md#t11"),
    Reason("subject_missing", "the user_claim is absent or empty", "DECISIONS.md#d33; THREATS.md#t11"),
    Reason("actor_invalid", "the actor_claim path is started (its first member exists) but does not lead to "
           "a non-empty string", "DECISIONS.md#d9; RFC 8693 §4.1"),
    Reason("groups_invalid", "the profile's groups_claim is present but is not an array of non-empty strings, or "
           f"holds more than {MAX_GROUPS_CLAIM_VALUES} values or a value longer than {MAX_GROUPS_CLAIM_VALUE} "
           "characters", "DECISIONS.md#d62"),
    Reason("authorization_details_invalid", "`authorization_details` is not an array of JSON objects, has "
           f"more than {MAX_AUTHORIZATION_DETAILS} entries or nests deeper than "
           f"{MAX_AUTHORIZATION_DETAILS_DEPTH} levels", "DECISIONS.md#d7; RFC 9396 §2, §9.1; THREATS.md#t16, #t23"),
)  # fmt: skip


class TokenRejected(Exception):
    """A token that must not be used. `reason` is a code of `REASONS`; `detail` explains it for the audit
    log and the explain API, and is never sent to the caller (DECISIONS.md#d5)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason code {reason!r}")
        self.reason = reason
        self.detail = detail or REASONS[reason].rule
        super().__init__(f"{reason}: {self.detail}")


@dataclass(frozen=True, slots=True)
class ValidatedToken:
    """A token that passed every check, and the identities it names. Treat the mappings as read-only:
    the same object is returned for every presentation of the token."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    profile: Profile
    issuer: str  # normalized `iss` (DECISIONS.md#d19)
    subject: str  # the value of profile.user_claim
    actor: str | None  # the value at profile.actor_claim (outermost `act` only, DECISIONS.md#d9); None when absent
    unique_id: str  # DECISIONS.md#d3
    authorization_details: tuple[Mapping[str, Any], ...] | None  # None when the claim is absent
    groups: tuple[str, ...]  # the values of profile.groups_claim; () when the profile has none or it is absent
    audiences: tuple[str, ...]
    expires_at: int
    issued_at: int | None
    not_before: int | None
    transaction: str | None  # the `txn` claim when it is a string, for the audit log


# --- cheap recognition ------------------------------------------------------------------------------------------------

_VAULT_TOKEN_PREFIXES = ("hvs.", "hvb.", "s.", "b.")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MAX_RECOGNIZED_HEADER = 2048


def looks_like_jwt(token: str) -> bool:
    """DECISIONS.md#d32: three base64url segments whose first decodes to a JSON object with `alg`.

    Vault tokens (`hvs.`, `hvb.`, legacy `s.`/`b.`) never are. A True answer means "validate as a JWT", not
    that the token is valid. Cheap: one scan of the token, and the header's verdict is remembered (an
    issuer sends the same header segment on every token).
    """
    if not isinstance(token, str) or token.startswith(_VAULT_TOKEN_PREFIXES) or token.count(".") != 2:
        return False
    if not _COMPACT_JWS.fullmatch(token):
        return False
    head = token[: token.index(".")]
    verdict = _HEADER_VERDICTS.get(head)
    if verdict is None:
        verdict = _HEADER_VERDICTS.put(head, _header_names_alg(head))
    return verdict


# Bounded: a flood of distinct headers only costs re-decoding.
_HEADER_VERDICTS: BoundedMemo[str, bool] = BoundedMemo(1024)


def _header_names_alg(head: str) -> bool:
    if len(head) > _MAX_RECOGNIZED_HEADER:
        return False
    try:
        header = json.loads(decode_base64url_alphabet_checked(head))
    except (ValueError, RecursionError):
        return False
    return isinstance(header, dict) and "alg" in header


# --- signature verification -------------------------------------------------------------------------------------------

# PyJWT's vetted algorithm objects do the cryptography; the choice of key and algorithm is made here.
_VERIFIERS: Mapping[str, Any] = MappingProxyType({
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "RS384": RSAAlgorithm(RSAAlgorithm.SHA384),
    "RS512": RSAAlgorithm(RSAAlgorithm.SHA512),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "PS384": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA384),
    "PS512": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA512),
    "ES256": ECAlgorithm(ECAlgorithm.SHA256, SECP256R1),
    "ES384": ECAlgorithm(ECAlgorithm.SHA384, SECP384R1),
    "ES512": ECAlgorithm(ECAlgorithm.SHA512, SECP521R1),
    "EdDSA": OKPAlgorithm(),
})  # fmt: skip
assert set(_VERIFIERS) == set(ALGORITHMS)

# RFC 7518 §3.4: a JWS ECDSA signature is R || S, each exactly the curve's byte length. PyJWT checks only the
# total length; r and s must also lie in [1, n-1] (CVE-2022-21449 "psychic signatures", THREATS.md#t18).
# n is each curve's group order (SEC 2 / FIPS 186-5).
_ECDSA: Mapping[str, tuple[int, int]] = MappingProxyType({
    "ES256": (32, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "ES384": (48, int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16)),
    "ES512": (66, int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16)),
})  # fmt: skip


def _signature_verifies(alg: str, key: TrustedKey, signing_input: bytes, signature: bytes) -> bool:
    ecdsa = _ECDSA.get(alg)
    if ecdsa is not None:
        size, order = ecdsa
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        if not (0 < r < order and 0 < s < order):
            return False
    try:
        return bool(_VERIFIERS[alg].verify(signing_input, key.key, signature))
    except Exception:  # noqa: BLE001 - any failure inside the crypto library is a signature that did not verify
        return False


# --- per-profile rules ------------------------------------------------------------------------------------------------

# DECISIONS.md#d1: accepted header `typ` values per jwt_type, compared case-insensitively (media types,
# RFC 7515 §4.1.9).
_TYP_VALUES: Mapping[str, frozenset[str]] = MappingProxyType({
    "access_token": frozenset({"at+jwt", "application/at+jwt", "jwt"}),
    "transaction_token": frozenset({"txntoken+jwt"}),
})  # fmt: skip
_NESTED_CTY = frozenset({"jwt", "application/jwt"})  # RFC 7519 §5.2


def _fingerprint(profile: Profile) -> tuple[Any, ...]:
    """The profile fields that decide whether a token validates; equal fingerprints validate alike."""
    return (
        profile.config_id, profile.namespace_id, profile.issuer_id, profile.enabled, profile.use_jwks,
        profile.jwks_uri, profile.jwks_ca_pem, tuple(profile.public_keys), tuple(profile.audiences),
        profile.user_claim, tuple(profile.supported_algorithms), profile.jwt_type, profile.clock_skew_leeway,
        profile.unique_id_claim, profile.actor_claim, profile.groups_claim,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Rules:
    """A profile compiled for validation: computed once per profile version."""

    fingerprint: tuple[Any, ...]
    algorithms: frozenset[str]
    typ_values: frozenset[str]
    audiences: frozenset[str]
    leeway: int
    user_claim: str
    unique_id_claim: str
    actor_path: tuple[str, ...]
    groups_claim: str
    static_keys: KeySet | None  # None in JWKS mode


@dataclass(slots=True)
class _Parsed:
    """A token after the checks that need no key."""

    header: dict[str, Any]
    claims: dict[str, Any]
    profile: Profile
    rules: _Rules
    issuer: str
    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes


@dataclass(slots=True)
class _CachedResult:
    validated: ValidatedToken
    fingerprint: tuple[Any, ...]
    key_set: KeySet | None  # the JWKS set the signature was verified with; None for static keys
    expires: float  # exp + leeway
    earliest: float  # max(nbf, iat) - leeway


_MISSING: Any = object()
_MAX_NUMERIC_DATE = 2**53


class JWTValidator:
    """Validates JWTs against profiles; one instance per process, shared by all requests (thread-safe).

    `validate` may block on a JWKS fetch (at most `jwks.timeout`, DECISIONS.md#d14) when a profile's key set is missing,
    expired or lacks the token's `kid`; inside an event loop use `validate_async`, which awaits the fetch
    instead. Both share the caches.
    """

    def __init__(
        self,
        *,
        jwks: JwksCache | None = None,
        clock: Callable[[], float] = time.time,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        max_lifetime: int = MAX_LIFETIME,
        cache_size: int = RESULT_CACHE_SIZE,
    ) -> None:
        self._jwks = jwks
        self._clock = clock
        self.max_token_bytes = max_token_bytes
        self.max_lifetime = max_lifetime
        self._cache_size = cache_size
        self._results: OrderedDict[str, _CachedResult] = OrderedDict()
        self._rules: dict[str, _Rules] = {}  # config_id -> rules of the latest version seen
        self._static_keys: dict[tuple[str, str], TrustedKey | None] = {}  # (config_id, pem) -> parsed
        self._lock = threading.Lock()

    # -- public API

    def validate(self, token: str, find_profile: Callable[[str], Profile | None]) -> ValidatedToken:
        """Validate `token`; `find_profile(normalized_iss)` returns the enabled profile or None.

        Raises `TokenRejected` and nothing else (an exception raised by `find_profile` itself passes
        through). May block on a JWKS fetch (see the class docstring).
        """
        ready = self._validate_without_fetch(token, find_profile)
        if isinstance(ready, ValidatedToken):
            return ready
        parsed, jwks = ready
        try:
            key_set = jwks.key_set(parsed.profile)
            try:
                return self._complete(token, parsed, key_set, key_set, may_refresh=True)
            except _UnknownKid as unknown:
                refreshed = jwks.key_set(parsed.profile, unknown_kid=True)
                return self._complete_after_refresh(token, parsed, key_set, refreshed, unknown)
        except JwksUnavailable as error:
            raise TokenRejected("jwks_unavailable", str(error)) from None

    async def validate_async(self, token: str, find_profile: Callable[[str], Profile | None]) -> ValidatedToken:
        """`validate` for the async server: a JWKS fetch is awaited, never blocking the event loop."""
        ready = self._validate_without_fetch(token, find_profile)
        if isinstance(ready, ValidatedToken):
            return ready
        parsed, jwks = ready
        try:
            key_set = await jwks.key_set_async(parsed.profile)
            try:
                return self._complete(token, parsed, key_set, key_set, may_refresh=True)
            except _UnknownKid as unknown:
                refreshed = await jwks.key_set_async(parsed.profile, unknown_kid=True)
                return self._complete_after_refresh(token, parsed, key_set, refreshed, unknown)
        except JwksUnavailable as error:
            raise TokenRejected("jwks_unavailable", str(error)) from None

    def invalidate(self, config_id: str | None = None) -> None:
        """Forget cached validations and compiled rules (of one profile, or all).

        Not needed for correctness after a profile change (a changed profile never matches a cached
        result), but frees memory when a profile is deleted and lets callers force re-validation.
        """
        with self._lock:
            if config_id is None:
                self._results.clear()
                self._rules.clear()
                self._static_keys.clear()
                return
            for token in [t for t, e in self._results.items() if e.fingerprint[0] == config_id]:
                del self._results[token]
            self._rules.pop(config_id, None)
            for cached in [c for c in self._static_keys if c[0] == config_id]:
                del self._static_keys[cached]

    @property
    def cached_results(self) -> int:
        """How many validated tokens are cached now (never more than `cache_size`)."""
        return len(self._results)

    def _validate_without_fetch(
        self, token: str, find_profile: Callable[[str], Profile | None]
    ) -> ValidatedToken | tuple[_Parsed, JwksCache]:
        """Everything that needs no JWKS fetch: the result, or the parsed token and the cache to ask."""
        cached = self._from_cache(token, find_profile)
        if cached is not None:
            return cached
        parsed = self._parse(token, find_profile)
        static_keys = parsed.rules.static_keys
        if static_keys is not None:
            return self._complete(token, parsed, static_keys, None, may_refresh=False)
        if self._jwks is None:
            raise TokenRejected(
                "jwks_unavailable", f"profile {_shown(parsed.profile.name)} uses a JWKS and no cache is set"
            )
        return parsed, self._jwks

    # -- the warm path

    def _from_cache(self, token: str, find_profile: Callable[[str], Profile | None]) -> ValidatedToken | None:
        if type(token) is not str:
            return None
        entry = self._results.get(token)
        if entry is None:
            return None
        validated = entry.validated
        profile = find_profile(validated.issuer)
        now = self._clock()
        if (
            profile is None
            or _fingerprint(profile) != entry.fingerprint
            or (entry.key_set is not None and self._jwks_current(profile) is not entry.key_set)
            or not entry.earliest <= now < entry.expires
        ):
            # Anything changed: forget the result and let the full path give the precise reason.
            self._forget(token)
            return None
        if validated.profile is not profile:
            # Same validation rules, another profile object: return the live one (its other settings,
            # e.g. optional_authorization_details, are read by later stages on every request).
            validated = dataclasses.replace(validated, profile=profile)
            entry.validated = validated
        try:
            self._results.move_to_end(token)
        except KeyError:  # evicted meanwhile by another thread
            pass
        return validated

    def _jwks_current(self, profile: Profile) -> KeySet | None:
        return self._jwks.current(profile.config_id) if self._jwks is not None else None

    def _forget(self, token: str) -> None:
        with self._lock:
            self._results.pop(token, None)

    def _remember(self, token: str, entry: _CachedResult) -> None:
        with self._lock:
            self._results[token] = entry
            while len(self._results) > self._cache_size:
                self._results.popitem(last=False)

    # -- parsing and the checks that need no key

    def _parse(self, token: Any, find_profile: Callable[[str], Profile | None]) -> _Parsed:
        if type(token) is not str:
            raise TokenRejected("malformed", f"the token is a {type(token).__name__}, not a string")
        if len(token) > self.max_token_bytes:  # DECISIONS.md#d17: before any decoding
            raise TokenRejected("too_large", f"{len(token)} characters; at most {self.max_token_bytes}")
        dots = token.count(".")
        if dots == 4:
            raise TokenRejected("encrypted_token", "five segments: a JWE")
        if dots != 2 or not _COMPACT_JWS.fullmatch(token):
            raise TokenRejected(
                "malformed", "not three base64url segments (header.payload.signature) of ASCII characters"
            )
        header_end = token.index(".")
        payload_end = token.index(".", header_end + 1)
        header = _decode_json(token[:header_end], "header")
        alg, kid = _check_header(header)
        claims = _decode_json(token[header_end + 1 : payload_end], "payload")

        issuer_claim = claims.get("iss", _MISSING)
        if issuer_claim is _MISSING:
            raise TokenRejected("issuer_missing")
        if type(issuer_claim) is not str:
            raise TokenRejected("claim_type_invalid", "`iss` is not a string")
        issuer = normalize_issuer(issuer_claim)  # DECISIONS.md#d19
        profile = find_profile(issuer)
        if profile is None or profile.issuer_id != issuer:
            raise TokenRejected("no_profile", f"no enabled profile for issuer {_shown(issuer)}")
        if not profile.enabled:
            raise TokenRejected("profile_disabled", f"profile {_shown(profile.name)} is disabled")
        rules = self._rules_for(profile)
        if alg not in rules.algorithms:
            raise TokenRejected(
                "alg_not_allowed",
                f"{alg} is not in the supported_algorithms of profile {_shown(profile.name)}",
            )
        typ = header.get("typ", _MISSING)
        if typ is _MISSING:
            raise TokenRejected("typ_invalid", f"no typ header; jwt_type is {profile.jwt_type}")
        if type(typ) is not str or typ.lower() not in rules.typ_values:
            raise TokenRejected(
                "typ_invalid", f"typ {_shown(str(typ))} is not accepted for jwt_type {profile.jwt_type}"
            )
        try:
            signature = decode_base64url_alphabet_checked(token[payload_end + 1 :])
        except ValueError:
            raise TokenRejected("signature_invalid", "the signature is not canonical base64url") from None
        if not signature:
            raise TokenRejected("signature_invalid", "the signature is empty")
        return _Parsed(
            header=header,
            claims=claims,
            profile=profile,
            rules=rules,
            issuer=issuer,
            alg=alg,
            kid=kid,
            signing_input=token[:payload_end].encode("ascii"),
            signature=signature,
        )

    def _rules_for(self, profile: Profile) -> _Rules:
        fingerprint = _fingerprint(profile)
        rules = self._rules.get(profile.config_id)
        if rules is not None and rules.fingerprint == fingerprint:
            return rules
        # An empty supported_algorithms means every algorithm of DECISIONS.md#d22 (DECISIONS.md#d28), although
        # profile writes store the full list anyway.
        allowed = frozenset(profile.supported_algorithms or ALGORITHMS) & frozenset(ALGORITHMS)
        rules = _Rules(
            fingerprint=fingerprint,
            algorithms=allowed,
            typ_values=_TYP_VALUES.get(profile.jwt_type, frozenset()),
            audiences=frozenset(profile.audiences),
            leeway=profile.clock_skew_leeway,
            user_claim=profile.user_claim,
            unique_id_claim=profile.unique_id_claim,
            actor_path=tuple(profile.actor_claim.split(".")),
            groups_claim=profile.groups_claim,
            static_keys=None if profile.use_jwks else self._static_key_set(profile),
        )
        with self._lock:
            self._rules[profile.config_id] = rules
        return rules

    def _static_key_set(self, profile: Profile) -> KeySet:
        keys = []
        for public_key in profile.public_keys:
            cache_key = (profile.config_id, public_key.pem)
            if cache_key not in self._static_keys:
                self._static_keys[cache_key] = _load_static_key(public_key.pem, profile, public_key.key_id)
            loaded = self._static_keys[cache_key]
            if loaded is not None:
                keys.append(dataclasses.replace(loaded, kid=public_key.key_id))
        return KeySet(keys)

    # -- key, signature, claims

    def _complete(
        self, token: str, parsed: _Parsed, keys: KeySet, jwks_set: KeySet | None, *, may_refresh: bool
    ) -> ValidatedToken:
        try:
            key = keys.select(parsed.kid, parsed.alg)
        except KeyLookupError as error:
            rejection = TokenRejected(error.reason, error.detail)
            if error.reason == "kid_unknown" and may_refresh:
                raise _UnknownKid(rejection) from None
            raise rejection from None
        if not _signature_verifies(parsed.alg, key, parsed.signing_input, parsed.signature):
            raise TokenRejected("signature_invalid", f"{parsed.alg} signature does not verify")
        validated, expires, earliest = self._check_claims(parsed)
        self._remember(token, _CachedResult(validated, parsed.rules.fingerprint, jwks_set, expires, earliest))
        return validated

    def _complete_after_refresh(
        self, token: str, parsed: _Parsed, before: KeySet, after: KeySet, unknown: _UnknownKid
    ) -> ValidatedToken:
        # DECISIONS.md#d14: an unknown kid may mean the issuer rotated keys; the refetch is rate limited, so an
        # unchanged
        # set means no fetch happened (or it brought nothing new) and the first answer stands.
        if after is before:
            raise unknown.rejection from None
        return self._complete(token, parsed, after, after, may_refresh=False)

    def _check_claims(self, parsed: _Parsed) -> tuple[ValidatedToken, float, float]:
        claims, rules = parsed.claims, parsed.rules
        now = self._clock()
        leeway = rules.leeway

        # DECISIONS.md#d4, RFC 7519 §4.1.4: exp is required and now must be before it (with the leeway).
        exp = claims.get("exp", _MISSING)
        if exp is _MISSING:
            raise TokenRejected("exp_missing")
        _require_numeric_date(exp, "exp")
        if not now < exp + leeway:
            raise TokenRejected("expired", f"exp {exp} + leeway {leeway} s is not after now ({now:.0f})")
        # RFC 7519 §4.1.5: nbf, when present, must not be after now (with the leeway).
        nbf = claims.get("nbf", _MISSING)
        if nbf is _MISSING:
            nbf = None
        else:
            _require_numeric_date(nbf, "nbf")
            if nbf > now + leeway:
                raise TokenRejected("not_yet_valid", f"nbf {nbf} is after now ({now:.0f}) + {leeway} s")
        # RFC 7519 §4.1.6, DECISIONS.md#d4: iat, when present, must not be in the future.
        iat = claims.get("iat", _MISSING)
        if iat is _MISSING:
            iat = None
            if exp - now > self.max_lifetime + leeway:
                # DECISIONS.md#d4 without iat: the token was issued at the latest now, so it lives at least exp - now.
                raise TokenRejected("lifetime_too_long", f"no iat and exp is {exp - now:.0f} s away")
        else:
            _require_numeric_date(iat, "iat")
            if iat > now + leeway:
                raise TokenRejected("issued_in_future", f"iat {iat} is after now ({now:.0f}) + {leeway} s")
            if exp - iat > self.max_lifetime:  # DECISIONS.md#d4
                raise TokenRejected("lifetime_too_long", f"exp - iat is {exp - iat} s; max {self.max_lifetime}")

        audiences = _audiences(claims.get("aud", _MISSING))
        if rules.audiences and rules.audiences.isdisjoint(audiences):  # RFC 9068 §4: must contain ours
            raise TokenRejected("audience_mismatch", f"aud {_shown(str(list(audiences)))} holds no audience")
        for name in ("sub", "jti"):  # RFC 7519 §4.1.2, §4.1.7: StringOrURI / case-sensitive string
            if type(claims.get(name, "")) is not str:
                raise TokenRejected("claim_type_invalid", f"`{name}` is not a string")

        unique_id = _unique_id(claims, rules.unique_id_claim)
        subject = claims.get(rules.user_claim, _MISSING)
        if subject is _MISSING or subject == "":
            raise TokenRejected("subject_missing", f"user_claim `{rules.user_claim}` is absent or empty")
        if type(subject) is not str:
            raise TokenRejected("claim_type_invalid", f"user_claim `{rules.user_claim}` is not a string")
        actor = _actor(claims, rules.actor_path)
        groups = _groups(claims, rules.groups_claim)
        details = _authorization_details(claims.get("authorization_details", _MISSING))
        txn = claims.get("txn")

        validated = ValidatedToken(
            header=MappingProxyType(parsed.header),
            claims=MappingProxyType(claims),
            profile=parsed.profile,
            issuer=parsed.issuer,
            subject=subject,
            actor=actor,
            unique_id=unique_id,
            authorization_details=details,
            groups=groups,
            audiences=audiences,
            expires_at=int(exp),
            issued_at=None if iat is None else int(iat),
            not_before=None if nbf is None else int(nbf),
            transaction=txn if type(txn) is str else None,
        )
        earliest = max(nbf if nbf is not None else -math.inf, iat if iat is not None else -math.inf) - leeway
        return validated, exp + leeway, earliest


class _UnknownKid(Exception):
    """Internal: the key set lacks the `kid`; the caller may refresh the JWKS once and retry."""

    def __init__(self, rejection: TokenRejected) -> None:
        self.rejection = rejection


# --- helpers of the checks above --------------------------------------------------------------------------------------


def _decode_json(segment: str, part: str) -> dict[str, Any]:
    """A segment as a JSON object: strict base64url, UTF-8 (RFC 8725 §3.7), no duplicate members."""
    try:
        text = decode_base64url_alphabet_checked(segment).decode("utf-8")
        value = STRICT_JSON.decode(text)
    except DuplicateMemberError as error:
        raise TokenRejected("duplicate_member", f"the {part} repeats member {_shown(error.name)}") from None
    except (ValueError, RecursionError) as error:
        raise TokenRejected("malformed", f"the {part} is not base64url-encoded UTF-8 JSON: {error}") from None
    if type(value) is not dict:
        raise TokenRejected("malformed", f"the {part} is not a JSON object")
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise TokenRejected("malformed", f"the {part} nests JSON deeper than {MAX_JSON_DEPTH} levels")
    if "\\u" in text:
        # json accepts escaped lone surrogates ("\ud800"), which are not Unicode text (RFC 8259 §8.2).
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise TokenRejected("malformed", f"the {part} contains a lone surrogate escape") from None
    return value


def _check_header(header: dict[str, Any]) -> tuple[str, str | None]:
    """The profile-independent header checks; returns (`alg`, `kid`)."""
    alg = header.get("alg")
    if type(alg) is not str:
        raise TokenRejected("header_invalid", "`alg` is missing or not a string")
    if alg.lower() == "none":
        raise TokenRejected("alg_none", f"alg {_shown(alg)}")  # RFC 8725 §3.1
    if alg[:2].upper() == "HS":
        raise TokenRejected("hmac_not_allowed", f"alg {_shown(alg)}")  # DECISIONS.md#d22, RFC 8725 §2.1
    if alg not in _VERIFIERS:
        raise TokenRejected("alg_not_allowed", f"alg {_shown(alg)} is not a supported algorithm (DECISIONS.md#d22)")
    if "crit" in header:
        raise TokenRejected("crit_unsupported", "the crit header is present")  # RFC 7515 §4.1.11
    if "enc" in header:
        raise TokenRejected("encrypted_token", "the header has `enc`: a JWE header")  # RFC 7516 §9
    cty = header.get("cty")
    if cty is not None:
        if type(cty) is not str:
            raise TokenRejected("header_invalid", "`cty` is not a string")
        if cty.lower() in _NESTED_CTY:
            raise TokenRejected("nested_token", f"cty {_shown(cty)}")
    kid = header.get("kid")
    if kid is not None and type(kid) is not str:
        raise TokenRejected("header_invalid", "`kid` is not a string")
    return alg, kid


def _require_numeric_date(value: Any, name: str) -> None:
    """RFC 7519 §2 NumericDate: a JSON number (not a boolean), here also within ±2^53 (exact as a float,
    and far beyond any real date) so that time arithmetic can never overflow."""
    kind = type(value)
    if (kind is int or kind is float) and -_MAX_NUMERIC_DATE <= value <= _MAX_NUMERIC_DATE:
        return
    raise TokenRejected("claim_type_invalid", f"`{name}` is not a NumericDate")


def _audiences(raw: Any) -> tuple[str, ...]:
    """RFC 7519 §4.1.3: `aud` is a string or an array of strings."""
    if raw is _MISSING:
        return ()
    if type(raw) is str:
        return (raw,)
    if type(raw) is list and all(type(item) is str for item in raw):
        return tuple(raw)
    raise TokenRejected("claim_type_invalid", "`aud` is not a string or an array of strings")


def _unique_id(claims: Mapping[str, Any], claim: str) -> str:
    """DECISIONS.md#d3: the configured claim; `jti` falls back to `uti` (Entra) only when `jti` is absent."""
    value = claims.get(claim, _MISSING)
    if value is _MISSING and claim == "jti":
        claim = "uti"
        value = claims.get("uti", _MISSING)
    if value is _MISSING or value == "":
        raise TokenRejected("unique_id_missing", f"`{claim}` is absent or empty")
    if type(value) is not str:
        raise TokenRejected("claim_type_invalid", f"unique id claim `{claim}` is not a string")
    return value


def _actor(claims: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    """DECISIONS.md#d9: the value at the dotted actor_claim path. Only that path is read, so for `act.sub` a nested
    `act.act` (earlier actors, RFC 8693 §4.1) is never consulted. Absent first member: no actor; a path
    that starts but does not end in a non-empty string is refused rather than read as "no delegation"."""
    value = claims.get(path[0], _MISSING)
    if value is _MISSING:
        return None
    for member in path[1:]:
        if type(value) is not dict or member not in value:
            raise TokenRejected("actor_invalid", f"actor_claim `{'.'.join(path)}` does not resolve")
        value = value[member]
    if type(value) is not str or not value:
        raise TokenRejected("actor_invalid", f"actor_claim `{'.'.join(path)}` is not a non-empty string")
    return value


def _groups(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The subject's groups from the token: only the top-level `claim` (the token's own subject), never one
    inside `act`. Absent: none. Anything but a bounded array of non-empty strings makes the token invalid, so
    a malformed claim can neither grant nor silently drop groups."""
    if not claim:
        return ()
    raw = claims.get(claim, _MISSING)
    if raw is _MISSING:
        return ()
    if type(raw) is not list:
        raise TokenRejected("groups_invalid", f"groups_claim `{claim}` is not an array")
    if len(raw) > MAX_GROUPS_CLAIM_VALUES:
        raise TokenRejected("groups_invalid", f"groups_claim `{claim}` holds {len(raw)} values; at most "
                            f"{MAX_GROUPS_CLAIM_VALUES}")  # fmt: skip
    for index, value in enumerate(raw):
        if type(value) is not str or not value or len(value) > MAX_GROUPS_CLAIM_VALUE:
            raise TokenRejected("groups_invalid", f"groups_claim `{claim}` value {index} is not a non-empty string "
                                f"of at most {MAX_GROUPS_CLAIM_VALUE} characters")  # fmt: skip
    return tuple(sorted(set(raw)))


def _authorization_details(raw: Any) -> tuple[Mapping[str, Any], ...] | None:
    """DECISIONS.md#d7, RFC 9396 §2: absent → None; otherwise an array of JSON objects, bounded in length and depth.

    The entries' members (type, path, capabilities) are judged later by the RAR evaluation, where an
    unknown type or an unusable entry never grants (DECISIONS.md#d7).
    """
    if raw is _MISSING:
        return None
    if type(raw) is not list:
        raise TokenRejected("authorization_details_invalid", "`authorization_details` is not an array")
    if len(raw) > MAX_AUTHORIZATION_DETAILS:
        raise TokenRejected("authorization_details_invalid", f"{len(raw)} entries; at most {MAX_AUTHORIZATION_DETAILS}")
    for index, entry in enumerate(raw):
        if type(entry) is not dict:
            raise TokenRejected("authorization_details_invalid", f"entry {index} is not a JSON object")
    if _deeper_than(raw, MAX_AUTHORIZATION_DETAILS_DEPTH):
        raise TokenRejected(
            "authorization_details_invalid", f"nests deeper than {MAX_AUTHORIZATION_DETAILS_DEPTH} levels"
        )
    return tuple(MappingProxyType(entry) for entry in raw)


def _deeper_than(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether JSON containers nest more than `limit` levels (`value` itself is level 1)."""
    if limit < 1:
        return True
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if (kind is dict or kind is list) and _deeper_than(item, limit - 1):
            return True
    return False


def _load_static_key(pem: str, profile: Profile, key_id: str) -> TrustedKey | None:
    """A profile's stored PEM as a trusted key (kid filled in by the caller); None if it no longer loads."""
    try:
        key = load_public_key_pem(pem)
    except InvalidKeyError as error:
        # Stored keys were validated at write time; one failing now (stricter rules) verifies nothing.
        log.warning("profile %s: public key %s is not used: %s", profile.name, _shown(key_id), error)
        return None
    return TrustedKey(
        kid=None,
        key=key,
        algorithms=algorithms_for_key(key),
        thumbprint=hashlib.sha256(pem.encode()).hexdigest(),
    )


def _shown(value: str, limit: int = 80) -> str:
    """A bounded, quoted rendering of token-supplied text for details."""
    return json.dumps(value if len(value) <= limit else value[:limit] + "...")
