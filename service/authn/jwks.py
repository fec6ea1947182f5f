"""Verification key sets: static profile keys and JWKS fetched from a profile's `jwks_uri`
(DECISIONS.md#d14, DECISIONS.md#d30).

A `KeySet` is the trusted keys of one profile, each bound to the JWS algorithms it may verify, and answers
one question: which key verifies a token with this `kid` and `alg` (THREATS.md#t4, #t7, #t22). The `kid`
is only ever an opaque lookup key into this in-memory set; nothing named in a token is fetched or opened
(RFC 8725 §3.10, THREATS.md#t8).

`JwksCache` keeps one key set per profile (by `config_id`) with the DECISIONS.md#d14 rules:

- a set is fresh for `JWKS_TTL` (10 min) after a successful fetch, then refetched on next use;
- an unknown `kid` triggers a refetch, but no two fetch attempts for one profile are closer than
  `MIN_FETCH_INTERVAL` (10 s), whatever triggered them, so a flood of bogus `kid`s costs one fetch per 10 s;
- when a refetch fails the last good set keeps serving until `MAX_STALE` (1 h) after the last successful
  fetch; after that, and before any successful fetch, the profile has no keys (`JwksUnavailable`);
- only the profile's own `jwks_uri` is fetched, without following redirects, within `FETCH_TIMEOUT` (5 s)
  overall, at most `MAX_JWKS_BYTES`, with TLS verified against `jwks_ca_pem` alone when it is set.

Parsing is strict and per key: a key the service would refuse anyway (RSA under 2048 bits, `use` other than
`sig`, an `alg` outside DECISIONS.md#d22 or unfit for the key, symmetric `oct` keys, malformed members) is skipped and
logged, and the rest of the set stays usable. Parsed key objects are reused across fetches by their RFC 7638
thumbprint, so a periodic refetch of an unchanged set parses nothing and keeps the same `KeySet` object.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .jwks_fetch_policy import FetchPolicy, FetchRefused
from .keys import ALGORITHMS, InvalidKeyError, VerifyingKey, algorithms_for_key, ensure_supported_key

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

JWKS_TTL = 600.0  # DECISIONS.md#d14: 10 minutes
MIN_FETCH_INTERVAL = 10.0  # DECISIONS.md#d14: at most one refresh per 10 s per profile
FETCH_TIMEOUT = 5.0  # DECISIONS.md#d14
MAX_STALE = 3600.0  # DECISIONS.md#d14: serve the last good set for up to 1 h (counted from its successful fetch)
MAX_JWKS_BYTES = 1024 * 1024  # a JWKS is a few KiB; anything near this is not a key set
MAX_JWKS_KEYS = 100  # the same bound as a profile's public_keys
MAX_KID_LENGTH = 1024

_JWKS_ACCEPT = "application/jwk-set+json, application/json;q=0.9"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
# A canonical encoding leaves the unused low bits of the last character zero (RFC 4648 §3.5), so the last
# character of a 2- or 3-character final group can only be one of these.
_LAST_CHAR_2 = frozenset("AQgw")
_LAST_CHAR_3 = frozenset("AEIMQUYcgkosw048")

# RFC 7518 §6.2.1.1 / RFC 8037 §2: curve names and the byte length of each coordinate.
_EC_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}
_ED25519_KEY_BYTES = 32


def decode_base64url(text: str) -> bytes:
    """Decode unpadded base64url strictly (RFC 7515 §2): alphabet only, no padding, canonical final bits.

    Raises ValueError otherwise, so that two different strings can never decode to the same bytes.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return decode_base64url_alphabet_checked(text)


def decode_base64url_alphabet_checked(text: str) -> bytes:
    """`decode_base64url` for text already known to hold only base64url characters (one regex scan of a
    whole compact JWS covers its three segments)."""
    rest = len(text) & 3
    if rest:
        if rest == 1:
            raise ValueError("not base64url: impossible length")
        if text[-1] not in (_LAST_CHAR_2 if rest == 2 else _LAST_CHAR_3):
            raise ValueError("not canonical base64url: unused bits set")
    try:
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STANDARD_ALPHABET) + _PADDING[rest])
    except binascii.Error as error:
        raise ValueError(f"not base64url: {error}") from None


def strict_json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` that refuses duplicate members (RFC 7515 §5.2, RFC 7519 §4; THREATS.md#t15)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateMemberError(name)
            seen.add(name)
    return obj


class DuplicateMemberError(ValueError):
    """A JSON object names the same member twice."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"duplicate member {json.dumps(name)}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


STRICT_JSON = json.JSONDecoder(object_pairs_hook=strict_json_object, parse_constant=_reject_constant)
"""A JSON decoder refusing duplicate members and the non-standard NaN/Infinity literals."""


# --- keys and key sets ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One verification key: the `kid` it answers to (None: none given) and the algorithms it may verify.

    `algorithms` is the key type's algorithms (RSA → RS*/PS*, P-256 → ES256, ...), narrowed to one when a
    JWK names its `alg` (RFC 7517 §4.4; THREATS.md#t4). `thumbprint` identifies the key material.
    """

    kid: str | None
    key: VerifyingKey
    algorithms: frozenset[str]
    thumbprint: str


class KeyLookupError(Exception):
    """No single key can verify the token; `reason` is a `TokenRejected` reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


class KeySet:
    """An immutable set of trusted keys with the selection rules of DECISIONS.md#d14."""

    __slots__ = ("keys", "identity", "_by_kid", "_by_alg")

    def __init__(self, keys: Iterable[TrustedKey]) -> None:
        self.keys: tuple[TrustedKey, ...] = tuple(keys)
        by_kid: dict[str, list[TrustedKey]] = {}
        by_alg: dict[str, list[TrustedKey]] = {}
        for key in self.keys:
            if key.kid is not None:
                by_kid.setdefault(key.kid, []).append(key)
            for alg in key.algorithms:
                by_alg.setdefault(alg, []).append(key)
        self._by_kid = {kid: tuple(found) for kid, found in by_kid.items()}
        self._by_alg = {alg: tuple(found) for alg, found in by_alg.items()}
        #: What the set contains, in order: two sets with equal identities select identically.
        self.identity: tuple[tuple[str | None, str, tuple[str, ...]], ...] = tuple(
            (key.kid, key.thumbprint, tuple(sorted(key.algorithms))) for key in self.keys
        )

    def __len__(self) -> int:
        return len(self.keys)

    def select(self, kid: str | None, alg: str) -> TrustedKey:
        """The one key for a token's `kid` and `alg`, or `KeyLookupError`.

        With a `kid`: exactly one key must carry it (a duplicate `kid` is ambiguous, DECISIONS.md#d14) and that key must
        be bound to `alg`; the header never picks a key of another type (RFC 8725 §3.1). Without a `kid`:
        exactly one key of the set may verify `alg` (DECISIONS.md#d14).
        """
        if kid is not None:
            found = self._by_kid.get(kid)
            if not found:
                raise KeyLookupError("kid_unknown", f"no key with kid {_shown(kid)}")
            if len(found) > 1:
                raise KeyLookupError("kid_ambiguous", f"{len(found)} keys share kid {_shown(kid)}")
            key = found[0]
            if alg not in key.algorithms:
                raise KeyLookupError(
                    "key_alg_mismatch",
                    f"key {_shown(kid)} verifies {', '.join(sorted(key.algorithms))}, not {alg}",
                )
            return key
        fitting = self._by_alg.get(alg, ())
        if len(fitting) == 1:
            return fitting[0]
        if not fitting:
            raise KeyLookupError("kid_unknown", f"token has no kid and no key verifies {alg}")
        raise KeyLookupError(
            "kid_ambiguous", f"token has no kid and {len(fitting)} keys verify {alg}; a kid is required"
        )


def _shown(value: str, limit: int = 80) -> str:
    """A bounded, quoted rendering of attacker-chosen text for details and logs."""
    return json.dumps(value if len(value) <= limit else value[:limit] + "...")


# --- JWK parsing ------------------------------------------------------------------------------------------------------


class JwksError(Exception):
    """A JWKS could not be fetched or is not a JWK Set document."""


def parse_jwks(
    document: bytes,
    *,
    label: str = "JWKS",
    reuse: Callable[[str], VerifyingKey | None] | None = None,
) -> list[TrustedKey]:
    """The usable keys of a JWK Set document (RFC 7517 §5); unusable keys are skipped and logged.

    Raises `JwksError` when the document itself is invalid: not UTF-8 JSON, duplicate members, not an object
    with a `keys` array, or more than `MAX_JWKS_KEYS` entries. `reuse(thumbprint)` may return an already
    parsed key for the same material, so a refetch of an unchanged set parses nothing.
    """
    try:
        parsed = STRICT_JSON.decode(document.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise JwksError(f"{label} is not valid JSON: {error}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("keys"), list):
        raise JwksError(f'{label} is not a JWK Set: expected an object with a "keys" array')
    entries = parsed["keys"]
    if len(entries) > MAX_JWKS_KEYS:
        raise JwksError(f"{label} has {len(entries)} keys; at most {MAX_JWKS_KEYS} are accepted")
    keys = []
    for index, entry in enumerate(entries):
        try:
            keys.append(parse_jwk(entry, reuse=reuse))
        except (InvalidKeyError, ValueError) as error:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            named = f" (kid {_shown(kid)})" if isinstance(kid, str) else ""
            log.warning("%s: skipping keys[%d]%s: %s", label, index, named, error)
    return keys


def parse_jwk(jwk: Any, *, reuse: Callable[[str], VerifyingKey | None] | None = None) -> TrustedKey:
    """One signature verification key from a JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).

    Raises ValueError (or `InvalidKeyError`, a ValueError) for anything the service does not verify with.
    """
    if not isinstance(jwk, dict):
        raise ValueError("not a JSON object")
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH):
        raise ValueError("kid must be a non-empty string")
    use = jwk.get("use")
    if use is not None and use != "sig":  # RFC 7517 §4.2: "enc" keys are for encryption
        raise ValueError(f'use is {_shown(str(use))}, not "sig"')
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError('key_ops does not include "verify"')
    alg = jwk.get("alg")
    if alg is not None and alg not in ALGORITHMS:  # DECISIONS.md#d22; also refuses HS*/none bound keys
        raise ValueError(f"alg {_shown(str(alg))} is not a supported signature algorithm")
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError(f"kty {_shown(str(kty))} is not supported (RSA, EC or OKP)")
    values = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise ValueError(f"{kty} key member {name!r} is missing or not a string")
        values[name] = value
    thumbprint = _thumbprint(kty, values)
    key = reuse(thumbprint) if reuse is not None else None
    if key is None:
        key = ensure_supported_key(_load(kty, values))
    algorithms = algorithms_for_key(key)
    if alg is not None:
        if alg not in algorithms:
            raise ValueError(f"alg {alg} does not fit this {kty} key")
        algorithms = frozenset((alg,))
    return TrustedKey(kid=kid, key=key, algorithms=algorithms, thumbprint=thumbprint)


# RFC 7638 §3.2: the required members of each key type, which define its thumbprint.
_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "RSA": ("e", "n"),
    "EC": ("crv", "x", "y"),
    "OKP": ("crv", "x"),
}


def _thumbprint(kty: str, values: Mapping[str, str]) -> str:
    canonical = json.dumps({"kty": kty, **values}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _load(kty: str, values: Mapping[str, str]) -> object:
    if kty == "RSA":
        n = int.from_bytes(decode_base64url(values["n"]), "big")
        e = int.from_bytes(decode_base64url(values["e"]), "big")
        if n < 3 or e < 3:
            raise ValueError("RSA modulus or exponent is too small")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if kty == "EC":
        curve_entry = _EC_CURVES.get(values["crv"])
        if curve_entry is None:
            raise ValueError(f"EC curve {_shown(values['crv'])} is not supported (P-256, P-384, P-521)")
        curve, size = curve_entry
        x, y = decode_base64url(values["x"]), decode_base64url(values["y"])
        if len(x) != size or len(y) != size:  # RFC 7518 §6.2.1.2: full-length coordinates
            raise ValueError(f"EC coordinates must be {size} bytes on {values['crv']}")
        # Refuses points not on the curve (invalid-curve attacks).
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + x + y)
    if values["crv"] != "Ed25519":
        raise ValueError(f"OKP curve {_shown(values['crv'])} is not supported (Ed25519)")
    x = decode_base64url(values["x"])
    if len(x) != _ED25519_KEY_BYTES:
        raise ValueError("Ed25519 public key must be 32 bytes")
    return ed25519.Ed25519PublicKey.from_public_bytes(x)


# --- the cache --------------------------------------------------------------------------------------------------------


class JwksUnavailable(Exception):
    """The profile has no usable key set: never fetched successfully, or the last good one is too old."""


class JwksProfile(Protocol):
    """What the cache reads from a profile."""

    config_id: str
    jwks_uri: str
    jwks_ca_pem: str


@dataclass(frozen=True)
class JwksStatus:
    """What an operator needs to see about one profile's key set (for the explain/admin API)."""

    jwks_uri: str
    key_ids: tuple[str | None, ...]
    fetched_at: float | None
    attempted_at: float | None
    last_error: str


class _Entry:
    """One profile's key set and fetch bookkeeping.

    The key set, `parsed` and `fetched_at` change together under `JwksCache._lock`; the other fields are
    single attribute writes.
    """

    __slots__ = (
        "source", "key_set", "parsed", "fetched_at", "attempted_at", "last_error", "fetch_lock", "inflight",
    )  # fmt: skip

    def __init__(self, source: tuple[str, str]) -> None:
        self.source = source
        self.key_set: KeySet | None = None
        self.parsed: dict[str, VerifyingKey] = {}  # thumbprint -> key, so an unchanged refetch parses nothing
        self.fetched_at = 0.0
        self.attempted_at: float | None = None
        self.last_error = ""
        self.fetch_lock = threading.Lock()  # one blocking fetch at a time per profile
        self.inflight: asyncio.Future[None] | None = None  # the async fetch other coroutines wait for


class JwksCache:
    """JWKS per profile (`config_id`) with the TTL, refresh rate limit and stale-if-error window of
    DECISIONS.md#d14.

    `key_set` (blocking, `httpx.Client`) and `key_set_async` (`httpx.AsyncClient`) share all state; use the
    async one inside an event loop. `clock` returns Unix seconds and is injectable for tests.
    `trust_env` is passed to httpx (proxy environment variables, `SSL_CERT_FILE` when no CA is set).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        ttl: float = JWKS_TTL,
        min_fetch_interval: float = MIN_FETCH_INTERVAL,
        max_stale: float = MAX_STALE,
        timeout: float = FETCH_TIMEOUT,
        max_bytes: int = MAX_JWKS_BYTES,
        trust_env: bool = True,
        fetch_policy: FetchPolicy | None = None,
    ) -> None:
        self._clock = clock
        self.ttl = ttl
        self.min_fetch_interval = min_fetch_interval
        self.max_stale = max_stale
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.trust_env = trust_env
        self.fetch_policy = fetch_policy or FetchPolicy()
        self._entries: dict[str, _Entry] = {}
        self._ssl_contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    # -- reading

    def key_set(self, profile: JwksProfile, *, unknown_kid: bool = False) -> KeySet:
        """The profile's key set, fetching (blocking) first when it is due.

        A fetch is due when there is no set yet, when the set is older than the TTL, or when `unknown_kid`
        is set (a token named a `kid` the set lacks); never sooner than `min_fetch_interval` after the
        previous attempt. Raises `JwksUnavailable` when no set may be used.
        """
        entry = self._entry(profile)
        if self._fetch_due(entry, unknown_kid):
            with entry.fetch_lock:
                # Another thread may have fetched while this one waited; its attempt counts.
                if self._fetch_due(entry, unknown_kid):
                    self._claim_attempt(entry)
                    try:
                        body, error = self._fetch_sync(profile), None
                    except JwksError as failure:
                        body, error = None, str(failure)
                    except Exception as failure:  # noqa: BLE001 - a failed fetch, whatever broke
                        body, error = None, f"fetching {profile.jwks_uri} failed: {failure!r}"
                    self._record(entry, profile, body, error)
        return self._usable(entry)

    async def key_set_async(self, profile: JwksProfile, *, unknown_kid: bool = False) -> KeySet:
        """`key_set` for async callers: the fetch uses `httpx.AsyncClient`; concurrent callers share it."""
        entry = self._entry(profile)
        loop = asyncio.get_running_loop()
        inflight = entry.inflight
        if inflight is not None and inflight.get_loop() is loop and not inflight.done():
            await asyncio.shield(inflight)
        elif self._fetch_due(entry, unknown_kid):
            self._claim_attempt(entry)
            future: asyncio.Future[None] = loop.create_future()
            entry.inflight = future
            try:
                try:
                    body = await asyncio.wait_for(self._fetch_async(profile), self.timeout)
                    error = None
                except TimeoutError:
                    body, error = None, f"fetching {profile.jwks_uri} took longer than {self.timeout:g} s"
                except JwksError as failure:
                    body, error = None, str(failure)
                except Exception as failure:  # noqa: BLE001 - a failed fetch, whatever broke
                    body, error = None, f"fetching {profile.jwks_uri} failed: {failure!r}"
                self._record(entry, profile, body, error)
            finally:
                entry.inflight = None
                future.set_result(None)
        return self._usable(entry)

    def current(self, config_id: str) -> KeySet | None:
        """The profile's key set if it is fresh (within the TTL) right now, without fetching; else None.

        The validator's result cache uses this to know a cached validation still stands: the same set
        object means the same keys (an unchanged refetch keeps the object).
        """
        entry = self._entries.get(config_id)
        if entry is None or entry.key_set is None or self._clock() - entry.fetched_at >= self.ttl:
            return None
        return entry.key_set

    def status(self, config_id: str) -> JwksStatus | None:
        """Fetch state of one profile's set, or None if it was never requested."""
        entry = self._entries.get(config_id)
        if entry is None:
            return None
        return JwksStatus(
            jwks_uri=entry.source[0],
            key_ids=tuple(k.kid for k in entry.key_set.keys) if entry.key_set else (),
            fetched_at=entry.fetched_at if entry.key_set is not None else None,
            attempted_at=entry.attempted_at,
            last_error=entry.last_error,
        )

    def invalidate(self, config_id: str | None = None) -> None:
        """Forget one profile's set (e.g. the profile was deleted), or every set when `config_id` is None."""
        with self._lock:
            if config_id is None:
                self._entries.clear()
            else:
                self._entries.pop(config_id, None)

    # -- bookkeeping

    def _entry(self, profile: JwksProfile) -> _Entry:
        source = (profile.jwks_uri, profile.jwks_ca_pem)
        entry = self._entries.get(profile.config_id)
        if entry is not None and entry.source == source:
            return entry
        with self._lock:
            entry = self._entries.get(profile.config_id)
            if entry is None or entry.source != source:
                # A new jwks_uri or CA: keys vouched for by the old source are not carried over.
                entry = _Entry(source)
                self._entries[profile.config_id] = entry
            return entry

    def _fetch_due(self, entry: _Entry, unknown_kid: bool) -> bool:
        now = self._clock()
        if entry.attempted_at is not None and now - entry.attempted_at < self.min_fetch_interval:
            return False
        return entry.key_set is None or now - entry.fetched_at >= self.ttl or unknown_kid

    def _claim_attempt(self, entry: _Entry) -> None:
        # Set before the fetch starts, so concurrent callers see the rate limit at once.
        entry.attempted_at = self._clock()

    def _record(self, entry: _Entry, profile: JwksProfile, body: bytes | None, error: str | None) -> None:
        label = f"JWKS {profile.jwks_uri} (profile {profile.config_id})"
        keys: list[TrustedKey] = []
        if body is not None:
            try:
                keys = parse_jwks(body, label=label, reuse=entry.parsed.get)
            except JwksError as failure:
                error = str(failure)
        if error is not None:
            with self._lock:
                entry.last_error = error
            log.warning("%s: fetch failed: %s", label, error)
            return
        new_set = KeySet(keys)
        with self._lock:
            entry.parsed = {key.thumbprint: key.key for key in keys}
            if entry.key_set is None or entry.key_set.identity != new_set.identity:
                entry.key_set = new_set
            entry.fetched_at = self._clock()
            entry.last_error = ""

    def _usable(self, entry: _Entry) -> KeySet:
        key_set = entry.key_set
        # What went wrong in a fetch (a refused address, the remote status code, a TLS or network error) is in
        # the server log and `status()`, never in this message: it reaches the caller's explain report and
        # would let a namespace administrator probe the network through jwks_uri.
        if key_set is None:
            raise JwksUnavailable(f"no key set could be fetched yet from {entry.source[0]} (see the server log)")
        age = self._clock() - entry.fetched_at
        if age >= self.max_stale:
            raise JwksUnavailable(
                f"the last key set from {entry.source[0]} is {age:.0f} s old and could not be fetched again "
                f"(see the server log); at most {self.max_stale:.0f} s is served"
            )
        return key_set

    # -- fetching

    def _ssl_verify(self, ca_pem: str) -> ssl.SSLContext | bool:
        if not ca_pem:
            return True
        context = self._ssl_contexts.get(ca_pem)
        if context is None:
            try:
                # Only the configured CAs are trusted for this fetch, not the system store.
                context = ssl.create_default_context(cadata=ca_pem)
            except (ssl.SSLError, ValueError) as error:
                raise JwksError(f"jwks_ca_pem cannot be used: {error}") from None
            self._ssl_contexts[ca_pem] = context
        return context

    def _client_options(self, profile: JwksProfile) -> dict[str, Any]:
        return {
            "verify": self._ssl_verify(profile.jwks_ca_pem),
            "timeout": self.timeout,
            "follow_redirects": False,  # only the configured jwks_uri is ever fetched
            "trust_env": self.trust_env,
            "headers": {"Accept": _JWKS_ACCEPT},
        }

    def _target(self, profile: JwksProfile) -> tuple[httpx.URL, dict[str, Any]]:
        """The URL to request and its options under the fetch policy: outside dev mode the host name is
        resolved and checked here, and the request goes to that checked address (Host header and TLS server
        name stay the configured host, so the certificate is verified for it)."""
        import httpx  # on the first fetch: most servers never fetch a JWKS, and the import costs 60 ms a process

        try:
            url = httpx.URL(profile.jwks_uri)
        except httpx.InvalidURL as error:
            raise JwksError(f"{profile.jwks_uri} is not a URL: {error}") from None
        policy = self.fetch_policy
        if policy.open:
            return url, {}
        try:
            policy.check_scheme(url.scheme, profile.jwks_uri)
            address = policy.checked_address(url.host, url.port or 443, profile.jwks_uri)
        except FetchRefused as refused:
            raise JwksError(f"refused: {refused}") from None
        host_header = url.netloc.decode("ascii")
        return url.copy_with(host=str(address)), {
            "headers": {"Host": host_header},
            "extensions": {"sni_hostname": url.host},
        }

    def _fetch_sync(self, profile: JwksProfile) -> bytes:
        import httpx

        deadline = time.monotonic() + self.timeout
        url, options = self._target(profile)
        try:
            with httpx.Client(**self._client_options(profile)) as client:
                with client.stream("GET", url, **options) as response:
                    self._check_response(profile, response)
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        self._check_progress(profile, len(body), deadline)
                    return bytes(body)
        except httpx.HTTPError as error:
            raise JwksError(f"fetching {profile.jwks_uri} failed: {type(error).__name__}: {error}") from None

    async def _fetch_async(self, profile: JwksProfile) -> bytes:
        # Name resolution blocks: off the event loop (the whole fetch is bounded by the caller's timeout).
        url, options = await asyncio.to_thread(self._target, profile)
        import httpx

        try:
            async with httpx.AsyncClient(**self._client_options(profile)) as client:
                async with client.stream("GET", url, **options) as response:
                    self._check_response(profile, response)
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        self._check_progress(profile, len(body), None)
                    return bytes(body)
        except httpx.HTTPError as error:
            raise JwksError(f"fetching {profile.jwks_uri} failed: {type(error).__name__}: {error}") from None

    def _check_response(self, profile: JwksProfile, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise JwksError(f"fetching {profile.jwks_uri} returned HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise JwksError(f"{profile.jwks_uri} is {declared} bytes; at most {self.max_bytes} are read")

    def _check_progress(self, profile: JwksProfile, size: int, deadline: float | None) -> None:
        if size > self.max_bytes:
            raise JwksError(f"{profile.jwks_uri} is over {self.max_bytes} bytes; at most that is read")
        if deadline is not None and time.monotonic() > deadline:
            # httpx timeouts are per read; a server trickling bytes is cut off here.
            raise JwksError(f"fetching {profile.jwks_uri} took longer than {self.timeout:g} s")
