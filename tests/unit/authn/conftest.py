"""Real key material for the authn tests, generated once per session with `cryptography`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from authn_keymaterial import certificate_pem, public_pem, self_signed_certificate
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x25519

from vaultguard.service.authn.profiles import Profile, apply_profile_write


@dataclass(frozen=True)
class Keys:
    """Private keys by name; tests take whatever PEM form they need from them."""

    rsa2048: rsa.RSAPrivateKey
    rsa1024: rsa.RSAPrivateKey
    p256: ec.EllipticCurvePrivateKey
    p384: ec.EllipticCurvePrivateKey
    p521: ec.EllipticCurvePrivateKey
    secp256k1: ec.EllipticCurvePrivateKey
    ed25519: ed25519.Ed25519PrivateKey
    ed448: ed448.Ed448PrivateKey
    dsa: dsa.DSAPrivateKey
    x25519: x25519.X25519PrivateKey


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        rsa2048=rsa.generate_private_key(65537, 2048),
        rsa1024=rsa.generate_private_key(65537, 1024),
        p256=ec.generate_private_key(ec.SECP256R1()),
        p384=ec.generate_private_key(ec.SECP384R1()),
        p521=ec.generate_private_key(ec.SECP521R1()),
        secp256k1=ec.generate_private_key(ec.SECP256K1()),
        ed25519=ed25519.Ed25519PrivateKey.generate(),
        ed448=ed448.Ed448PrivateKey.generate(),
        dsa=dsa.generate_private_key(1024),
        x25519=x25519.X25519PrivateKey.generate(),
    )


@pytest.fixture(scope="session")
def rsa_pem(keys: Keys) -> str:
    return public_pem(keys.rsa2048)


@pytest.fixture(scope="session")
def ec_pem(keys: Keys) -> str:
    return public_pem(keys.p256)


@pytest.fixture(scope="session")
def ca_certificate_pem(keys: Keys) -> str:
    return certificate_pem(self_signed_certificate(keys.p256))


@pytest.fixture
def create():
    """Create a profile the way the write endpoint does: `create(data, name="idp")`."""

    def _create(data: dict, name: str = "idp", namespace_id: str = "root") -> tuple[Profile, list[str]]:
        return apply_profile_write(
            None, data, name=name, namespace_id=namespace_id, new_config_id=lambda: "cfg-1"
        )

    return _create


@pytest.fixture
def update():
    """Write `data` over an existing profile: `update(profile, data)`."""

    def _update(existing: Profile, data: dict) -> tuple[Profile, list[str]]:
        return apply_profile_write(
            existing,
            data,
            name=existing.name,
            namespace_id=existing.namespace_id,
            new_config_id=lambda: pytest.fail("an update must not generate a new config_id"),
        )

    return _update


@pytest.fixture
def jwks_profile(create) -> Profile:
    profile, _ = create({"issuer_id": "https://idp.example.com", "jwks_uri": "https://idp.example.com/jwks"})
    return profile


@pytest.fixture
def static_profile(create, rsa_pem) -> Profile:
    profile, _ = create(
        {
            "issuer_id": "https://idp.example.com",
            "use_jwks": False,
            "public_keys": [{"key_id": "k1", "pem": rsa_pem}],
        }
    )
    return profile


@pytest.fixture(scope="session")
def pem_of(keys: Keys):
    """The SubjectPublicKeyInfo PEM of a key in `keys`, by name: `pem_of("p384")`."""
    cache: dict[str, str] = {}

    def _pem_of(name: str) -> str:
        if name not in cache:
            cache[name] = public_pem(getattr(keys, name))
        return cache[name]

    return _pem_of
