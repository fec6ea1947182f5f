"""Objects the API tests create over HTTP, and the key material profiles need.

Keys are generated once per test session with `cryptography` (RSA generation is the slow part).
"""

from __future__ import annotations

import datetime
import functools
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

import vgtest

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ALL_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
PERMISSION_DENIED = {"errors": ["permission denied"]}
ENTERPRISE_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+\+ent(\.[0-9A-Za-z.-]+)?$")  # DECISIONS.md#d23


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def errors(resp) -> list[str]:  # noqa: ANN001
    """The `errors` of a Vault error response (asserting that it has that shape: Vault's `errors`, and for a
    validation error the `field_errors` that say which field each message is about)."""
    body = resp.json()
    assert set(body) in ({"errors"}, {"errors", "field_errors"}), body
    for about in body.get("field_errors", []):
        assert set(about) == {"field", "error"} and about["error"] in body["errors"], body
        assert about["field"] and all(isinstance(step, str | int) for step in about["field"]), body
    return body["errors"]


def field_errors(resp) -> dict[str, list]:  # noqa: ANN001
    """Each message of an error response about one request field, with that field's path."""
    errors(resp)
    return {about["error"]: about["field"] for about in resp.json().get("field_errors", [])}


def error_text(resp) -> str:  # noqa: ANN001
    return "\n".join(errors(resp))


# -- key material -------------------------------------------------------------------------------------------


def _public_pem(private_key: Any) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@functools.cache
def rsa_private_key(bits: int = 2048, slot: int = 0) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, bits)


def rsa_pem(bits: int = 2048, slot: int = 0) -> str:
    """A real RSA public key PEM; `slot` picks a different key of the same size."""
    return _public_pem(rsa_private_key(bits, slot))


@functools.cache
def ec_pem(curve: str = "P-256") -> str:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    return _public_pem(ec.generate_private_key(curves[curve]))


@functools.cache
def ed25519_pem() -> str:
    return _public_pem(ed25519.Ed25519PrivateKey.generate())


@functools.cache
def ca_certificate_pem() -> str:
    """A self-signed CA certificate, as a `jwks_ca_pem` would hold."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vaultguard test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@functools.cache
def private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# -- objects over HTTP --------------------------------------------------------------------------------------


def create_entity(client: vgtest.Client, name: str | None = None, **fields: Any) -> str:
    """A new identity entity; returns its id."""
    resp = client.post("identity/entity", json={"name": name or unique("entity"), **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def register(
    client: vgtest.Client,
    display_name: str | None = None,
    entity_id: str | None = None,
    headers: dict[str, str] | None = None,
    **fields: Any,
):
    """POST agent-registry/register (a new entity unless one is given); returns the response."""
    body = {"display_name": display_name or unique("agent"), "entity_id": entity_id or create_entity(client)}
    body.update(fields)
    return client.post("agent-registry/register", json=body, headers=headers)


def registration(client: vgtest.Client, **fields: Any) -> dict:
    """A new registration; returns its record as read back by id."""
    resp = register(client, **fields)
    assert resp.status_code == 200, resp.text
    read = client.get(f"agent-registry/registration/id/{resp.json()['data']['id']}")
    assert read.status_code == 200, read.text
    return read.json()["data"]


def jwks_profile(issuer: str | None = None, **fields: Any) -> dict:
    return {
        "issuer_id": issuer or f"https://{unique('idp')}.example.com",
        "jwks_uri": "https://idp.example.com/.well-known/jwks.json",
        **fields,
    }


def static_profile(issuer: str | None = None, **fields: Any) -> dict:
    return {
        "issuer_id": issuer or f"https://{unique('idp')}.example.com",
        "use_jwks": False,
        "public_keys": [{"key_id": "k1", "pem": rsa_pem()}],
        **fields,
    }


def create_profile(client: vgtest.Client, name: str | None = None, **body: Any) -> dict:
    """A new JWKS-mode profile (unless `body` says otherwise); returns it as read back."""
    name = name or unique("profile")
    resp = client.post(f"sys/config/oauth-resource-server/{name}", json=body or jwks_profile())
    assert resp.status_code in (200, 204), resp.text
    read = client.get(f"sys/config/oauth-resource-server/{name}")
    assert read.status_code == 200, read.text
    return read.json()["data"]


def namespace_id(root: vgtest.Client, path: str) -> str:
    """The id of the namespace at `path` (read from its parent, the root namespace)."""
    resp = root.get(f"sys/namespaces/{path}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def child_token(client: vgtest.Client, policies: list[str], **fields: Any) -> str:
    """A token created by `client`'s token in `client`'s namespace."""
    resp = client.post("auth/token/create", json={"policies": policies, **fields})
    assert resp.status_code == 200, resp.text
    return resp.json()["auth"]["client_token"]


def put_policy(client: vgtest.Client, name: str, text: str) -> None:
    resp = client.post(f"sys/policies/acl/{name}", json={"policy": text})
    assert resp.status_code == 204, resp.text


def race(sends: list[tuple[vgtest.Client, str, str, Any]]) -> list[requests.Response]:
    """Send every (client, method, path, body) at the same moment, each on a new connection of its own (so any
    worker of the client's server may take it); the responses in the same order."""
    barrier = threading.Barrier(len(sends))

    def send(item: tuple[vgtest.Client, str, str, Any]) -> requests.Response:
        client, method, path, body = item
        headers = {"X-Vault-Token": client.token, "X-Vault-Namespace": client.namespace}
        with requests.Session() as session:
            barrier.wait()
            return session.request(method, f"{client.url}/v1/{path}", json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(len(sends)) as pool:
        return list(pool.map(send, sends))
