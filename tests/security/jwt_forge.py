"""Test machinery for JWTs: real keys, honest and forged tokens, and a real JWKS server on loopback.

Nothing here validates anything; it builds what an identity provider (or an attacker) would send. Imported
as `security.jwt_forge` (the `tests/` folder is on `sys.path` through its conftest) by the unit tests of
`service/authn/jwt.py` and `jwks.py` and by the attack corpus runner.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.server
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

from vaultguard.service.authn.profiles import Profile, PublicKey

ISSUER = "https://idp.example.com"
AUDIENCE = "https://vault.example.com"
NOW = 1_800_000_000  # a fixed "now" for every test clock

# Group orders of the NIST curves (SEC 2), to build out-of-range and malleated ECDSA signatures.
CURVE_ORDER = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
    "secp521r1": int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
        "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}

SIGNERS = {
    "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
    "RS384": RSAAlgorithm(RSAAlgorithm.SHA384),
    "RS512": RSAAlgorithm(RSAAlgorithm.SHA512),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    "PS384": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA384),
    "PS512": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA512),
    "ES256": ECAlgorithm(ECAlgorithm.SHA256),
    "ES384": ECAlgorithm(ECAlgorithm.SHA384),
    "ES512": ECAlgorithm(ECAlgorithm.SHA512),
    "EdDSA": OKPAlgorithm(),
}
HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


# --- keys -------------------------------------------------------------------------------------------------------------


@cache
def private_key(name: str):
    """A private key by name, generated once per test session."""
    makers = {
        "rsa": lambda: rsa.generate_private_key(65537, 2048),
        "rsa_other": lambda: rsa.generate_private_key(65537, 2048),
        "rsa_attacker": lambda: rsa.generate_private_key(65537, 2048),
        "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
        "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p256_other": lambda: ec.generate_private_key(ec.SECP256R1()),
        "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
        "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
        "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }
    return makers[name]()


def public_pem(name: str) -> str:
    return (
        private_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value: int, size: int | None = None) -> str:
    size = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def jwk(name: str, **members: Any) -> dict[str, Any]:
    """The public JWK of a named key; `members` adds or overrides (None removes)."""
    public = private_key(name).public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        result: dict[str, Any] = {"kty": "RSA", "n": b64url_uint(numbers.n), "e": b64url_uint(numbers.e)}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(
            public.curve.name, public.curve.name
        )
        numbers = public.public_numbers()
        result = {
            "kty": "EC",
            "crv": crv,
            "x": b64url_uint(numbers.x, size),
            "y": b64url_uint(numbers.y, size),
        }
    else:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        result = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    for member, value in members.items():
        if value is None:
            result.pop(member, None)
        else:
            result[member] = value
    return result


# --- tokens -----------------------------------------------------------------------------------------------------------


def claims(now: int = NOW, **overrides: Any) -> dict[str, Any]:
    """A valid RFC 9068 claim set issued at `now`; an override of None removes the claim."""
    result: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "jti": "token-1",
        "client_id": "agent-1",
    }
    for name, value in overrides.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def header(alg: str = "RS256", kid: str | None = "k1", typ: str | None = "at+jwt", **extra: Any) -> dict:
    result: dict[str, Any] = {"alg": alg}
    if typ is not None:
        result["typ"] = typ
    if kid is not None:
        result["kid"] = kid
    result.update(extra)
    return result


def encode_part(value: dict[str, Any] | str | bytes) -> str:
    """A header or payload segment from a dict (compact JSON), raw JSON text or raw bytes."""
    if isinstance(value, dict):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        value = value.encode("utf-8")
    return b64url(value)


def sign(alg: str, key_name: str, signing_input: bytes) -> bytes:
    """A signature as an honest signer with `key_name` produces it (raw R||S for ECDSA)."""
    return SIGNERS[alg].sign(signing_input, private_key(key_name))


def token(
    key_name: str = "rsa",
    *,
    alg: str | None = None,
    head: dict[str, Any] | str | None = None,
    payload: dict[str, Any] | str | bytes | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact JWS. The header defaults to `header(alg)`, the payload to `claims()`; the signature is
    made by `key_name` with `alg` (default: the header's) unless given."""
    if head is None:
        head = header(alg or "RS256")
    signing_alg = alg or (head["alg"] if isinstance(head, dict) else "RS256")
    signing_input = (encode_part(head) + "." + encode_part(payload if payload is not None else claims())).encode()
    if signature is None:
        signature = sign(signing_alg, key_name, signing_input)
    return signing_input.decode() + "." + b64url(signature)


def hmac_token(secret: bytes, alg: str = "HS256", head: dict | None = None, payload: dict | None = None) -> str:
    """An HS* token keyed with `secret` (e.g. the server's public key PEM, for key confusion)."""
    head = head if head is not None else header(alg)
    signing_input = (encode_part(head) + "." + encode_part(payload or claims())).encode()
    return signing_input.decode() + "." + b64url(hmac.new(secret, signing_input, HMAC_HASHES[alg]).digest())


def resign_ecdsa(tok: str, key_name: str, transform) -> str:
    """Replace an ES* token's raw R||S signature by `transform(r, s, n, size) -> bytes`."""
    head_b64, payload_b64, sig_b64 = tok.split(".")
    curve = private_key(key_name).curve
    size = (curve.key_size + 7) // 8
    raw = base64.urlsafe_b64decode(sig_b64 + "==")
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    new = transform(r, s, CURVE_ORDER[curve.name], size)
    return f"{head_b64}.{payload_b64}.{b64url(new)}"


def ecdsa_variants() -> dict[str, Any]:
    """Named ECDSA signature transforms for the corpus."""

    def raw(r: int, s: int, size: int) -> bytes:
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return {
        "zero": lambda r, s, n, size: bytes(2 * size),
        "r_is_n": lambda r, s, n, size: raw(n, s, size),
        "s_is_n": lambda r, s, n, size: raw(r, n, size),
        "s_above_n": lambda r, s, n, size: raw(r, n + 1, size),
        "der": lambda r, s, n, size: encode_dss_signature(r, s),
        "malleated": lambda r, s, n, size: raw(r, n - s, size),
    }


def der_to_raw(der: bytes, size: int) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# --- profiles and clocks ----------------------------------------------------------------------------------------------


def static_profile(keys: dict[str, str] | None = None, **fields: Any) -> Profile:
    """A static-key profile for ISSUER; `keys` maps key_id to key name (default {"k1": "rsa"})."""
    keys = keys if keys is not None else {"k1": "rsa"}
    values: dict[str, Any] = {
        "name": "idp",
        "namespace_id": "root",
        "config_id": "cfg-static",
        "issuer_id": ISSUER,
        "use_jwks": False,
        "public_keys": tuple(PublicKey(key_id=kid, pem=public_pem(name)) for kid, name in keys.items()),
        "audiences": (AUDIENCE,),
    }
    values.update(fields)
    return Profile(**values)


def jwks_profile(jwks_uri: str, **fields: Any) -> Profile:
    values: dict[str, Any] = {
        "name": "idp-jwks",
        "namespace_id": "root",
        "config_id": "cfg-jwks",
        "issuer_id": ISSUER,
        "use_jwks": True,
        "jwks_uri": jwks_uri,
        "audiences": (AUDIENCE,),
    }
    values.update(fields)
    return Profile(**values)


def finder(*profiles: Profile):
    """`find_profile` over fixed profiles: the enabled one whose issuer_id equals the normalized iss."""

    def find(issuer: str) -> Profile | None:
        for profile in profiles:
            if profile.issuer_id == issuer and profile.enabled:
                return profile
        return None

    return find


@dataclass
class Clock:
    """A settable clock: `clock()` returns `clock.now`."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- a real JWKS server -----------------------------------------------------------------------------------------------


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 served by `http.server` in a thread.

    Set `keys` (a list of JWK dicts) or `body` (raw bytes), `status`, `headers`; `hits` counts requests.
    """

    keys: list[dict[str, Any]] = field(default_factory=list)
    body: bytes | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    hits: int = 0
    paths: list[str] = field(default_factory=list)
    url: str = ""
    tls: ssl.SSLContext | None = None

    def document(self) -> bytes:
        return self.body if self.body is not None else json.dumps({"keys": self.keys}).encode()


@contextmanager
def jwks_server(tls: ssl.SSLContext | None = None) -> Iterator[JwksServer]:
    state = JwksServer(tls=tls)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.hits += 1
            state.paths.append(self.path)
            if state.delay:
                time.sleep(state.delay)
            body = state.document()
            self.send_response(state.status)
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **state.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients refusing the test certificate hang up mid-handshake; that is expected

    server = Server(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass(frozen=True)
class TlsMaterial:
    """A CA certificate (PEM) and a server SSL context whose certificate it issued for 127.0.0.1."""

    ca_pem: str
    server_context: ssl.SSLContext


@cache
def tls_material(common_name: str = "vaultguard test CA") -> TlsMaterial:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return TlsMaterial(ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(), server_context=context)
