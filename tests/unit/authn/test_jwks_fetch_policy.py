"""Where a JWKS may be fetched from outside dev mode: https only, internal addresses only inside the
operator's allowed networks, checked on the resolved address; failures never reach the caller in detail."""

from __future__ import annotations

import ipaddress

import pytest
from security.jwt_forge import NOW, Clock, claims, finder, jwk, jwks_profile, jwks_server, tls_material
from security.jwt_forge import token as signed_token

from vaultguard.service.authn.jwks import JwksCache
from vaultguard.service.authn.jwks_fetch_policy import FetchPolicy, is_internal, parse_networks
from vaultguard.service.authn.jwt import JWTValidator, TokenRejected

CLOSED = FetchPolicy(open=False)
LOOPBACK_ALLOWED = FetchPolicy(open=False, allowed_networks=parse_networks(["127.0.0.0/8"]))


def token() -> str:
    return signed_token(payload=claims(exp=NOW + 86_000))


def outcome(policy: FetchPolicy, profile) -> tuple[str, str, JwksCache]:  # noqa: ANN001
    """(reason or "valid", the detail a caller could see, the cache)."""
    cache = JwksCache(clock=Clock(), trust_env=False, fetch_policy=policy)
    try:
        JWTValidator(jwks=cache, clock=Clock()).validate(token(), finder(profile))
    except TokenRejected as rejected:
        return rejected.reason, rejected.detail, cache
    return "valid", "", cache


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::"],
)  # fmt: skip
def test_internal_addresses_are_recognized(address):
    assert is_internal(ipaddress.ip_address(address))
    assert not CLOSED.allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert not is_internal(ipaddress.ip_address(address)) and CLOSED.allowed(ipaddress.ip_address(address))


def test_an_allowed_network_admits_its_internal_addresses_only():
    policy = FetchPolicy(open=False, allowed_networks=parse_networks(["10.20.0.0/16"]))
    assert policy.allowed(ipaddress.ip_address("10.20.5.5"))
    assert not policy.allowed(ipaddress.ip_address("10.21.5.5"))


def test_a_bad_network_is_named():
    with pytest.raises(ValueError, match='"10.0.0.0/33" is not an IP network'):
        parse_networks(["10.0.0.0/8", "10.0.0.0/33"])


def test_plain_http_is_refused_outside_dev_mode_without_a_request():
    with jwks_server() as server:
        server.keys = [jwk("rsa", kid="k1")]
        reason, _, cache = outcome(LOOPBACK_ALLOWED, jwks_profile(server.url))
        assert reason == "jwks_unavailable" and server.hits == 0
        assert "must use https" in cache.status("cfg-jwks").last_error


def test_an_internal_address_is_refused_by_its_resolved_address_without_a_request():
    material = tls_material()
    with jwks_server(tls=material.server_context) as server:
        server.keys = [jwk("rsa", kid="k1")]
        by_name = server.url.replace("127.0.0.1", "localhost")  # the name is checked by what it resolves to
        for uri in (server.url, by_name):
            reason, _, cache = outcome(CLOSED, jwks_profile(uri, jwks_ca_pem=material.ca_pem))
            assert reason == "jwks_unavailable"
            assert "internal address outside jwks_allowed_networks" in cache.status("cfg-jwks").last_error
        assert server.hits == 0


def test_an_allowed_internal_network_is_fetched_over_verified_tls():
    material = tls_material()
    with jwks_server(tls=material.server_context) as server:
        server.keys = [jwk("rsa", kid="k1")]
        assert outcome(LOOPBACK_ALLOWED, jwks_profile(server.url, jwks_ca_pem=material.ca_pem))[0] == "valid"
        assert outcome(LOOPBACK_ALLOWED, jwks_profile(server.url))[0] == "jwks_unavailable", "TLS still verified"
        assert server.paths == ["/.well-known/jwks.json"]


def test_the_dev_policy_fetches_from_anywhere():
    with jwks_server() as server:
        server.keys = [jwk("rsa", kid="k1")]
        assert outcome(FetchPolicy(), jwks_profile(server.url))[0] == "valid"


@pytest.mark.parametrize("status", [404, 500, 302])
def test_what_a_failed_fetch_returned_stays_in_the_server_log(status, caplog):
    with jwks_server() as server:
        server.status = status
        reason, detail, cache = outcome(FetchPolicy(), jwks_profile(server.url))
    assert reason == "jwks_unavailable"
    assert str(status) in cache.status("cfg-jwks").last_error and str(status) in caplog.text
    assert str(status) not in detail and "HTTP" not in detail
    assert detail == f"no key set could be fetched yet from {server.url} (see the server log)"
