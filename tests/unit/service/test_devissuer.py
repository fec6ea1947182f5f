"""Unit tests of the development issuer's tokens and keys (service/devissuer.py): RFC 9068 claims and
header, unique `jti`, the 24 h lifetime cap (DECISIONS.md#d4), rotation with overlap and key persistence."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vaultguard.service import devissuer
from vaultguard.service.devissuer import DevIssuer, DevIssuerError, KeyRing, OAuthError

ISSUER = "http://127.0.0.1:8400"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    issuer = DevIssuer("127.0.0.1:0", key_dir=tmp_path_factory.mktemp("keys"), audience="aud-1", log=False)
    yield issuer
    issuer.httpd.server_close()  # never started: the tests call `issue` directly


def decode(dev: DevIssuer, token: str) -> tuple[dict, dict]:
    header = jwt.get_unverified_header(token)
    jwk = next(k for k in dev.keys.jwks()["keys"] if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    return header, jwt.decode(token, key, algorithms=[header["alg"]], audience="aud-1", issuer=dev.issuer)


def test_tokens_carry_the_rfc_9068_header_and_claims(dev):
    details = [{"type": "vault:path_access", "path": "secret/data/x", "capabilities": ["read"]}]
    answer = dev.issue(
        {"grant_type": "client_credentials", "client_id": "bot", "actor": "agent", "authorization_details": details}
    )
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == devissuer.DEFAULT_TTL
    header, claims = decode(dev, answer["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == dev.issuer and claims["sub"] == "bot" and claims["client_id"] == "bot"
    assert claims["aud"] == "aud-1" and claims["act"] == {"sub": "agent"}
    assert claims["authorization_details"] == details
    assert claims["exp"] - claims["iat"] == devissuer.DEFAULT_TTL


def test_subject_overrides_client_id_and_es256_is_available(dev):
    answer = dev.issue({"grant_type": "client_credentials", "client_id": "c", "subject": "alice", "alg": "ES256"})
    header, claims = decode(dev, answer["access_token"])
    assert header["alg"] == "ES256" and claims["sub"] == "alice" and claims["client_id"] == "c"
    assert "act" not in claims and "authorization_details" not in claims


def test_every_token_has_a_fresh_jti(dev):
    jtis = {
        decode(dev, dev.issue({"grant_type": "client_credentials", "client_id": "c"})["access_token"])[1]["jti"]
        for _ in range(20)
    }
    assert len(jtis) == 20 and all(jtis)


@pytest.mark.parametrize(
    "ttl, seconds", [(60, 60), ("90", 90), ("30s", 30), ("5m", 300), ("24h", 86400), ("1d", 86400)]
)
def test_ttl_is_parsed_and_capped_at_24_hours(ttl, seconds):
    payload = devissuer.claims(issuer=ISSUER, subject="s", ttl=ttl, now=1000)
    assert payload["exp"] - payload["iat"] == seconds


@pytest.mark.parametrize("ttl", [86401, "25h", "2d", 0, "-5", "5 minutes", True])
def test_a_lifetime_over_24_hours_or_not_a_duration_is_refused(ttl):
    with pytest.raises(DevIssuerError):
        devissuer.parse_ttl(ttl)


def test_the_token_endpoint_refuses_a_long_ttl_and_bad_rar(dev):
    with pytest.raises(OAuthError) as caught:
        dev.issue({"grant_type": "client_credentials", "client_id": "c", "ttl": 86401})
    assert caught.value.error == "invalid_request"
    for bad in ("[1]", '{"a": 1}', "nope"):
        with pytest.raises(OAuthError) as caught:
            dev.issue({"grant_type": "client_credentials", "client_id": "c", "authorization_details": bad})
        assert caught.value.error == "invalid_authorization_details"


def test_rotation_publishes_new_keys_and_keeps_the_configured_overlap(tmp_path):
    ring = KeyRing(tmp_path, keep=1)
    first = [k["kid"] for k in ring.jwks()["keys"]]
    assert [k["alg"] for k in ring.jwks()["keys"]] == ["RS256", "ES256"]
    second = ring.rotate()
    assert second[2:] == first and ring.signing_key("RS256").kid == second[0]
    third = ring.rotate()
    assert third[2:] == second[:2] and not set(first) & set(third), "only --keep old generations stay"
    assert sorted(p.name for p in tmp_path.glob("*.pem")) == sorted(f"{kid}.pem" for kid in third)
    assert [k["kid"] for k in KeyRing(tmp_path, keep=1).jwks()["keys"]] == third, "reloaded from the key dir"
    jwk = ring.jwks()["keys"][0]
    assert jwk["use"] == "sig" and jwk["kty"] == "RSA" and "d" not in jwk, "public members only"


def test_mint_signs_offline_and_checks_its_key(tmp_path):
    key = rsa.generate_private_key(65537, 2048)
    path = tmp_path / "k.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    token = devissuer.mint(key_file=path, issuer=ISSUER, kid="k1", subject="bot", actor="a", ttl="1h")
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"], audience=devissuer.DEFAULT_AUDIENCE)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}
    assert claims["exp"] - claims["iat"] == 3600 and claims["act"] == {"sub": "a"} and claims["jti"]
    with pytest.raises(DevIssuerError, match="cannot sign EdDSA"):
        devissuer.mint(key_file=path, issuer=ISSUER, kid="k1", subject="bot", alg="EdDSA")
    small = tmp_path / "small.pem"
    small.write_bytes(
        rsa.generate_private_key(65537, 1024).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(DevIssuerError, match="2048"):
        devissuer.mint(key_file=small, issuer=ISSUER, kid="k1", subject="bot")
