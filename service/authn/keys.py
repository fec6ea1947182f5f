"""Public key material for OAuth resource server profiles: parsing, strength rules, algorithms.

This module is the one place that decides which keys the service trusts and which JWS algorithms each
can verify (DECISIONS.md#d22, THREATS.md#t2, #t3, #t20). Everything here is a pure function: parsing a key is
expensive, so callers (the profile write path, the JWT validator's key cache, the JWKS fetcher) call these
once and keep the result.

Stored PEM text is kept in one canonical spelling (see `normalize_pem`) so that what a client writes and
what it reads back differ at most by whitespace, and Terraform sees no drift.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from vaultguard.rules.oauth import ALGORITHMS

#: The key objects the service verifies signatures with.
VerifyingKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

MAX_PEM_BYTES = 16 * 1024
"""Upper bound for one public key or certificate PEM; real ones are under 4 KiB (RSA-8192 is ~1.5 KiB)."""

MAX_CA_BUNDLE_BYTES = 64 * 1024
"""Upper bound for `jwks_ca_pem`: room for a few CA certificates, not a whole system trust store."""

MIN_RSA_BITS = 2048  # DECISIONS.md#d22, RFC 8725 §3.5, RFC 7518 §3.3
MAX_RSA_BITS = (
    16384  # OPENSSL_RSA_MAX_MODULUS_BITS: OpenSSL loads bigger keys but refuses to verify with them
)
MAX_RSA_EXPONENT = (
    2**256
)  # FIPS 186-5 bound (e < 2^256); a huge exponent would make every verification costly

# RFC 7518 §3.4: each ES* algorithm is bound to exactly one curve, so the curve decides the algorithm.
_CURVE_ALGORITHMS: dict[str, tuple[str, str]] = {
    "secp256r1": ("P-256", "ES256"),
    "secp384r1": ("P-384", "ES384"),
    "secp521r1": ("P-521", "ES512"),
}
_RSA_ALGORITHMS = frozenset(a for a in ALGORITHMS if a[:2] in ("RS", "PS"))

_OTHER_KEY_NAMES: tuple[tuple[type, str], ...] = (
    (ed448.Ed448PublicKey, "Ed448"),
    (dsa.DSAPublicKey, "DSA"),
    (x25519.X25519PublicKey, "X25519"),
    (x448.X448PublicKey, "X448"),
)
_PUBLIC_KEY_LABELS = ("PUBLIC KEY", "RSA PUBLIC KEY")
_CERTIFICATE_LABEL = "CERTIFICATE"
_SUPPORTED_KEYS_HINT = "use RSA (2048 bits or more), EC on P-256, P-384 or P-521, or Ed25519"

# RFC 7468 §2: a block is "-----BEGIN label-----", base64 text, "-----END label-----" with the same label.
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9]+(?: [A-Z0-9]+)*)-----"
    r"(?P<body>.*?)"
    r"-----END (?P=label)-----",
    re.DOTALL,
)
_PRIVATE_KEY_LINE = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY)-----")
_BASE64_BODY = re.compile(r"[A-Za-z0-9+/=\s]*")
_PEM_LINE_WIDTH = 64  # RFC 7468 §2: generators wrap base64 lines at 64 characters


class InvalidKeyError(ValueError):
    """A key, certificate or CA bundle the service refuses; the message says which one and why.

    `reason` is the rule that failed; `label` names the key (e.g. 'public_keys[1] (key_id "k2")') and
    prefixes the message when given.
    """

    def __init__(self, reason: str, *, label: str = "") -> None:
        self.reason = reason
        self.label = label
        super().__init__(f"{label}: {reason}" if label else reason)


@dataclass(frozen=True)
class _PemBlock:
    label: str
    der: bytes


def normalize_pem(pem: str) -> str:
    """Return the canonical spelling of PEM text, so that texts differing only in whitespace compare equal.

    Canonical form (RFC 7468 "strict" encoding): for each block, its BEGIN line, the base64 body re-wrapped
    at 64 characters and its END line, each followed by one newline, blocks following each other directly.
    The text thus ends with exactly one newline, which is what `openssl`, `cryptography` and Terraform's
    `tls` provider emit. Line endings, indentation, blank lines and where the base64 body was broken into
    lines do not survive.

    Text that is not a clean sequence of PEM blocks (stray text, headers, non-base64 bodies) is only
    tidied line by line (CR/CRLF to LF, each line stripped, blank lines dropped, one trailing newline), so
    the function never fails and never changes anything but whitespace. Empty or blank text becomes "".
    The function is idempotent.
    """
    text = pem.replace("\r\n", "\n").replace("\r", "\n")
    blocks = _split_blocks(text)
    if blocks is not None and blocks:
        return "".join(_encode_block(label, "".join(body.split())) for label, body in blocks)
    lines = [line.strip() for line in text.split("\n")]
    kept = [line for line in lines if line]
    return "\n".join(kept) + "\n" if kept else ""


def load_public_key_pem(pem: str, *, label: str = "") -> VerifyingKey:
    """Parse one PEM public key (SPKI or PKCS#1 RSA) or one X.509 certificate (its public key is used).

    Accepted: RSA of 2048 to 16384 bits, EC on P-256/P-384/P-521, Ed25519. A certificate's validity dates and
    signature are not checked: it is only a container for a pinned key. Everything else raises
    `InvalidKeyError` with the reason: private keys, several blocks, text around the block, DSA, Ed448,
    X25519, other curves, short RSA keys, garbage. `label` names the key in the error message.
    """
    if not isinstance(pem, str):
        raise InvalidKeyError("PEM must be a string", label=label)
    size = len(pem.encode("utf-8", "surrogatepass"))
    if size > MAX_PEM_BYTES:
        raise InvalidKeyError(f"PEM is {size} bytes; at most {MAX_PEM_BYTES} are allowed", label=label)
    block = _single_block(pem, label=label)
    try:
        if block.label == _CERTIFICATE_LABEL:
            key = x509.load_der_x509_certificate(block.der).public_key()
        else:
            key = serialization.load_der_public_key(block.der)
    except UnsupportedAlgorithm:
        raise InvalidKeyError(f"unsupported key algorithm; {_SUPPORTED_KEYS_HINT}", label=label) from None
    except ValueError:
        what = "certificate" if block.label == _CERTIFICATE_LABEL else "public key"
        raise InvalidKeyError(f"the {block.label} block is not a valid {what}", label=label) from None
    return ensure_supported_key(key, label=label)


def ensure_supported_key(key: object, *, label: str = "") -> VerifyingKey:
    """Return `key` if the service accepts it for signature verification, else raise `InvalidKeyError`.

    The same rules as `load_public_key_pem`, for key objects obtained another way (a JWKS fetch, DECISIONS.md#d22).
    """
    if isinstance(key, rsa.RSAPublicKey):
        bits = key.key_size
        if bits < MIN_RSA_BITS:
            raise InvalidKeyError(
                f"RSA key is {bits} bits; at least {MIN_RSA_BITS} are required", label=label
            )
        if bits > MAX_RSA_BITS:
            raise InvalidKeyError(
                f"RSA key is {bits} bits; at most {MAX_RSA_BITS} are supported", label=label
            )
        if key.public_numbers().e >= MAX_RSA_EXPONENT:
            raise InvalidKeyError("RSA public exponent is larger than 2^256", label=label)
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVE_ALGORITHMS:
            raise InvalidKeyError(
                f"EC key is on curve {key.curve.name}; only P-256, P-384 and P-521 are supported", label=label
            )
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise InvalidKeyError(_unsupported_reason(key), label=label)


def algorithms_for_key(key: object) -> frozenset[str]:
    """The algorithms of `ALGORITHMS` that `key` can verify; empty for a key the service does not accept."""
    try:
        ensure_supported_key(key)
    except InvalidKeyError:
        return frozenset()
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        entry = _CURVE_ALGORITHMS.get(key.curve.name)
        return frozenset((entry[1],)) if entry else frozenset()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return frozenset(("EdDSA",))
    return frozenset()


def describe_key(key: object) -> str:
    """A short human name for a key, for messages and audit lines: "RSA-2048", "EC P-256", "Ed25519"."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        entry = _CURVE_ALGORITHMS.get(key.curve.name)
        return f"EC {entry[0] if entry else key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    for kind, name in _OTHER_KEY_NAMES:
        if isinstance(key, kind):
            return name
    return type(key).__name__


def load_ca_bundle_pem(pem: str, *, label: str = "jwks_ca_pem") -> list[x509.Certificate]:
    """Parse a bundle of one or more PEM X.509 certificates (the trust anchors for fetching a JWKS).

    Every block must be a CERTIFICATE: a private key or any other block pasted into the bundle is refused
    rather than silently stored and echoed back on read. Raises `InvalidKeyError` naming `label`.
    """
    if not isinstance(pem, str):
        raise InvalidKeyError("PEM must be a string", label=label)
    size = len(pem.encode("utf-8", "surrogatepass"))
    if size > MAX_CA_BUNDLE_BYTES:
        raise InvalidKeyError(f"PEM is {size} bytes; at most {MAX_CA_BUNDLE_BYTES} are allowed", label=label)
    blocks = _parse_blocks(pem, label=label)
    certificates = []
    for number, block in enumerate(blocks, start=1):
        if block.label != _CERTIFICATE_LABEL:
            raise InvalidKeyError(
                f"block {number} is {_article(block.label)}; only CERTIFICATE blocks are allowed", label=label
            )
        try:
            certificates.append(x509.load_der_x509_certificate(block.der))
        except ValueError:
            raise InvalidKeyError(f"certificate {number} could not be parsed", label=label) from None
    return certificates


# --- PEM structure -----------------------------------------------------------------------------------------


def _split_blocks(text: str) -> list[tuple[str, str]] | None:
    """(label, base64 body) for each block, or None unless `text` is only blocks and whitespace."""
    blocks: list[tuple[str, str]] = []
    position = 0
    for match in _PEM_BLOCK.finditer(text):
        if text[position : match.start()].strip():
            return None
        body = match.group("body")
        if not _BASE64_BODY.fullmatch(body):
            return None
        blocks.append((match.group("label"), body))
        position = match.end()
    if text[position:].strip():
        return None
    return blocks


def _encode_block(label: str, body: str) -> str:
    lines = [body[i : i + _PEM_LINE_WIDTH] for i in range(0, len(body), _PEM_LINE_WIDTH)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"


def _parse_blocks(pem: str, *, label: str) -> list[_PemBlock]:
    text = pem.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise InvalidKeyError("PEM is empty", label=label)
    private = _PRIVATE_KEY_LINE.search(text)
    if private:
        # Called out before any other rule: someone just pasted a secret into an admin API.
        raise InvalidKeyError(
            f"this is a private key ({private.group('label')}); provide only the public key or a certificate",
            label=label,
        )
    if "-----BEGIN " not in text:
        raise InvalidKeyError("PEM has no -----BEGIN ...----- line", label=label)
    blocks = _split_blocks(text)
    if blocks is None:
        raise InvalidKeyError(
            "PEM is malformed: only -----BEGIN/END----- blocks of base64 text are allowed, with matching "
            "labels, no text around them and no headers",
            label=label,
        )
    parsed = []
    for name, body in blocks:
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKeyError(f"the {name} block is not valid base64", label=label) from None
        parsed.append(_PemBlock(name, der))
    return parsed


def _single_block(pem: str, *, label: str) -> _PemBlock:
    blocks = _parse_blocks(pem, label=label)
    if len(blocks) != 1:
        raise InvalidKeyError(
            f"PEM contains {len(blocks)} blocks; exactly one public key or certificate is allowed",
            label=label,
        )
    block = blocks[0]
    if block.label not in (*_PUBLIC_KEY_LABELS, _CERTIFICATE_LABEL):
        raise InvalidKeyError(
            f"unsupported PEM block {json.dumps(block.label)}; "
            "expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE",
            label=label,
        )
    return block


def _unsupported_reason(key: object) -> str:
    if isinstance(key, ed448.Ed448PublicKey):
        # go-jose (Vault) and RFC 9864's fully-specified "Ed25519" cover Ed25519 only.
        return "Ed448 keys are not supported; EdDSA here means Ed25519"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA keys are not supported; {_SUPPORTED_KEYS_HINT}"
    if isinstance(key, x25519.X25519PublicKey | x448.X448PublicKey):
        return f"{describe_key(key)} keys are for key agreement and cannot verify signatures"
    return f"unsupported key type {describe_key(key)}; {_SUPPORTED_KEYS_HINT}"


def _article(label: str) -> str:
    return f"an {label}" if label[:1] in "AEIOU" else f"a {label}"
