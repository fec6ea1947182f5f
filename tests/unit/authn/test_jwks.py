"""JWKS: JWK parsing, and the DECISIONS.md#d14 cache against a real HTTP(S) server on loopback."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from security.jwt_forge import (
    NOW,
    Clock,
    b64url,
    claims,
    finder,
    header,
    jwk,
    jwks_profile,
    jwks_server,
    tls_material,
)
from security.jwt_forge import token as signed_token

from vaultguard.service.authn.jwks import (
    MAX_JWKS_KEYS,
    JwksCache,
    JwksError,
    JwksUnavailable,
    KeyLookupError,
    KeySet,
    decode_base64url,
    parse_jwk,
    parse_jwks,
)
from vaultguard.service.authn.jwt import JWTValidator, TokenRejected


def token(*args, payload=None, **kwargs) -> str:
    """A signed token valid for about a day, so that tests can move the clock by hours."""
    return signed_token(*args, payload=payload if payload is not None else claims(exp=NOW + 86_000), **kwargs)


RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


# --- parsing ----------------------------------------------------------------------------------------------------------


class TestDecodeBase64url:
    @pytest.mark.parametrize(("text", "raw"), [("", b""), ("QQ", b"A"), ("QUI", b"AB"), ("QUJD", b"ABC")])
    def test_canonical_unpadded_base64url_decodes(self, text, raw):
        assert decode_base64url(text) == raw

    @pytest.mark.parametrize("text", ["QQ==", "QR", "QUJ", "Q", "QU+D", "QU/D", "QU D", "é", "QUJD\n"])
    def test_anything_else_is_refused(self, text):
        with pytest.raises(ValueError):
            decode_base64url(text)


class TestParseJwk:
    @pytest.mark.parametrize(
        ("name", "algorithms"),
        [
            ("rsa", RSA_ALGORITHMS),
            ("p256", {"ES256"}),
            ("p384", {"ES384"}),
            ("p521", {"ES512"}),
            ("ed25519", {"EdDSA"}),
        ],
    )
    def test_supported_keys_load_with_their_algorithms(self, name, algorithms):
        key = parse_jwk(jwk(name, kid="a"))
        assert key.kid == "a" and key.algorithms == algorithms

    def test_alg_binds_the_key_to_one_algorithm(self):
        assert parse_jwk(jwk("rsa", alg="PS256")).algorithms == {"PS256"}

    @pytest.mark.parametrize(
        ("name", "members", "message"),
        [
            ("rsa", {"use": "enc"}, "use"),
            ("rsa", {"key_ops": ["encrypt"]}, "key_ops"),
            ("rsa", {"alg": "HS256"}, "alg"),
            ("rsa", {"alg": "RSA-OAEP"}, "alg"),
            ("rsa", {"alg": "ES256"}, "does not fit"),
            ("p256", {"alg": "ES384"}, "does not fit"),
            ("rsa", {"kid": 7}, "kid"),
            ("rsa", {"kid": ""}, "kid"),
            ("rsa", {"kty": "oct"}, "kty"),
            ("rsa", {"kty": None}, "kty"),
            ("rsa", {"n": None}, "'n'"),
            ("rsa", {"e": 65537}, "'e'"),
            ("rsa1024", {}, "at least 2048"),
            ("p256", {"crv": "P-384"}, "coordinates"),
            ("p256", {"crv": "secp256k1"}, "not supported"),
            ("ed25519", {"crv": "Ed448"}, "not supported"),
            ("ed25519", {"crv": "X25519"}, "not supported"),
        ],
    )
    def test_unusable_keys_are_refused(self, name, members, message):
        with pytest.raises(ValueError, match=message):
            parse_jwk(jwk(name, **members))

    def test_a_point_off_the_curve_is_refused(self):
        bad = jwk("p256")
        bad["y"] = b64url(bytes(31) + b"\x01")
        with pytest.raises(ValueError):
            parse_jwk(bad)

    def test_short_ec_coordinates_are_refused(self):
        bad = jwk("p256")
        bad["x"] = b64url(decode_base64url(bad["x"])[1:])
        with pytest.raises(ValueError, match="32 bytes"):
            parse_jwk(bad)

    def test_non_canonical_base64url_members_are_refused(self):
        bad = jwk("rsa")
        bad["n"] += "="
        with pytest.raises(ValueError):
            parse_jwk(bad)

    def test_private_members_are_not_needed(self):
        assert parse_jwk(jwk("ed25519", d=b64url(bytes(32)))).algorithms == {"EdDSA"}


class TestParseJwks:
    def test_usable_keys_are_kept_and_the_rest_skipped_with_a_log_line(self, caplog):
        document = {"keys": [jwk("rsa", kid="good"), jwk("rsa1024", kid="weak"), {"kty": "oct", "k": "AA"}]}
        with caplog.at_level(logging.WARNING):
            keys = parse_jwks(json.dumps(document).encode(), label="test JWKS")
        assert [key.kid for key in keys] == ["good"]
        assert "weak" in caplog.text and "2048" in caplog.text

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"not json",
            b"[]",
            b'{"keys": {}}',
            b'{"key": []}',
            b'{"keys": [], "keys": []}',
            b"\xff",
            b'{"keys": [NaN]}',
        ],
    )
    def test_a_document_that_is_not_a_jwk_set_is_an_error(self, body):
        with pytest.raises(JwksError):
            parse_jwks(body)

    def test_too_many_keys_is_an_error(self):
        document = {"keys": [jwk("ed25519", kid=str(i)) for i in range(MAX_JWKS_KEYS + 1)]}
        with pytest.raises(JwksError, match="at most"):
            parse_jwks(json.dumps(document).encode())

    def test_duplicate_members_inside_a_key_skip_that_key_only_by_refusing_the_document(self):
        body = b'{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "x": "BB"}]}'
        with pytest.raises(JwksError):
            parse_jwks(body)


class TestKeySet:
    def test_duplicate_kids_are_ambiguous_but_other_kids_work(self):
        keys = KeySet([parse_jwk(jwk("rsa", kid="dup")), parse_jwk(jwk("rsa_other", kid="dup"))])
        keys = KeySet([*keys.keys, parse_jwk(jwk("p256", kid="ec"))])
        with pytest.raises(KeyLookupError) as caught:
            keys.select("dup", "RS256")
        assert caught.value.reason == "kid_ambiguous"
        assert keys.select("ec", "ES256").kid == "ec"

    def test_without_kid_exactly_one_fitting_key_is_chosen(self):
        keys = KeySet([parse_jwk(jwk("rsa", alg="RS256")), parse_jwk(jwk("rsa_other", alg="PS256"))])
        assert keys.select(None, "PS256").thumbprint == parse_jwk(jwk("rsa_other")).thumbprint
        with pytest.raises(KeyLookupError) as caught:
            keys.select(None, "ES256")
        assert caught.value.reason == "kid_unknown"


# --- the cache, with a real server ------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server():
    with jwks_server() as state:
        state.keys = [jwk("rsa", kid="k1")]
        yield state


@pytest.fixture
def cache(clock) -> JwksCache:
    return JwksCache(clock=clock, trust_env=False)


@pytest.fixture
def validator(cache, clock) -> JWTValidator:
    return JWTValidator(jwks=cache, clock=clock)


def check(validator, tok, profile) -> str:
    """'valid' or the rejection reason."""
    try:
        validator.validate(tok, finder(profile))
    except TokenRejected as rejected:
        return rejected.reason
    return "valid"


class TestFetching:
    def test_the_first_token_fetches_the_set_and_later_ones_use_it(self, validator, server):
        profile = jwks_profile(server.url)
        assert check(validator, token(), profile) == "valid"
        assert check(validator, token(head=header("PS256")), profile) == "valid"
        assert server.hits == 1 and server.paths == ["/.well-known/jwks.json"]

    def test_the_set_is_refetched_after_ten_minutes(self, validator, server, clock):
        profile = jwks_profile(server.url)
        check(validator, token(), profile)
        clock.advance(599)
        assert check(validator, token(head=header("PS256")), profile) == "valid"
        assert server.hits == 1
        clock.advance(1)
        assert check(validator, token(head=header("RS384")), profile) == "valid"
        assert server.hits == 2

    def test_a_cached_result_is_rechecked_after_the_ttl(self, validator, server, clock):
        profile = jwks_profile(server.url)
        tok = token()
        first = validator.validate(tok, finder(profile))
        clock.advance(200)
        assert validator.validate(tok, finder(profile)) is first
        server.keys = [jwk("rsa_other", kid="k2")]
        clock.advance(400)  # TTL reached: the next use refetches, and k1 is gone
        assert check(validator, tok, profile) == "kid_unknown"

    def test_an_unknown_kid_refetches_at_most_once_per_ten_seconds(self, validator, server, clock):
        profile = jwks_profile(server.url)
        check(validator, token(), profile)
        assert check(validator, token(head=header(kid="too-soon")), profile) == "kid_unknown"
        assert server.hits == 1  # the set was fetched 0 s ago: no refresh yet
        clock.advance(10)
        assert check(validator, token(head=header(kid="nope-1")), profile) == "kid_unknown"
        assert server.hits == 2
        for attempt in range(20):
            assert check(validator, token(head=header(kid=f"flood-{attempt}")), profile) == "kid_unknown"
        assert server.hits == 2
        clock.advance(10)
        assert check(validator, token(head=header(kid="nope-2")), profile) == "kid_unknown"
        assert server.hits == 3

    def test_a_new_kid_is_found_by_the_refresh(self, validator, server, clock):
        profile = jwks_profile(server.url)
        check(validator, token(), profile)
        server.keys = [jwk("rsa", kid="k1"), jwk("p256", kid="new")]
        clock.advance(11)
        assert check(validator, token("p256", head=header("ES256", kid="new")), profile) == "valid"

    def test_rotation_overlap_accepts_both_keys_and_a_removed_key_is_refused(self, validator, server, clock):
        profile = jwks_profile(server.url)
        old_token = token()
        assert check(validator, old_token, profile) == "valid"
        server.keys = [jwk("rsa", kid="k1"), jwk("rsa_other", kid="k2")]
        clock.advance(11)
        new_token = token("rsa_other", head=header(kid="k2"))
        assert check(validator, new_token, profile) == "valid"
        assert check(validator, old_token, profile) == "valid"
        server.keys = [jwk("rsa_other", kid="k2")]
        clock.advance(600)
        assert check(validator, new_token, profile) == "valid"  # refetched at the TTL: k1 is gone
        assert check(validator, old_token, profile) == "kid_unknown"

    def test_a_removed_key_with_a_reused_kid_is_refused(self, validator, server, clock):
        profile = jwks_profile(server.url)
        tok = token()
        assert check(validator, tok, profile) == "valid"
        server.keys = [jwk("rsa_other", kid="k1")]
        clock.advance(600)
        assert check(validator, tok, profile) == "signature_invalid"

    def test_an_unchanged_refetch_keeps_cached_results(self, validator, server, clock):
        profile = jwks_profile(server.url)
        tok = token()
        first = validator.validate(tok, finder(profile))
        clock.advance(600)
        check(validator, token(head=header("PS256")), profile)  # triggers the refetch
        assert server.hits == 2
        assert validator.validate(tok, finder(profile)) is first

    def test_a_duplicate_kid_refuses_tokens_naming_it(self, validator, server):
        server.keys = [jwk("rsa", kid="dup"), jwk("rsa_other", kid="dup"), jwk("p256", kid="ec")]
        profile = jwks_profile(server.url)
        assert check(validator, token(head=header(kid="dup")), profile) == "kid_ambiguous"
        assert check(validator, token("p256", head=header("ES256", kid="ec")), profile) == "valid"

    def test_a_token_without_kid_needs_exactly_one_fitting_key(self, validator, server, clock):
        profile = jwks_profile(server.url)
        assert check(validator, token(head=header(kid=None)), profile) == "valid"
        server.keys = [jwk("rsa", kid="k1"), jwk("rsa_other", kid="k2")]
        clock.advance(600)
        assert check(validator, token(head=header("RS384", kid=None)), profile) == "kid_ambiguous"

    def test_a_jwk_alg_binds_the_key(self, validator, server):
        server.keys = [jwk("rsa", kid="k1", alg="RS256")]
        profile = jwks_profile(server.url)
        assert check(validator, token(), profile) == "valid"
        assert check(validator, token(head=header("PS256")), profile) == "key_alg_mismatch"

    def test_short_rsa_keys_in_the_set_are_skipped(self, validator, server, caplog):
        server.keys = [jwk("rsa1024", kid="weak"), jwk("rsa", kid="k1")]
        profile = jwks_profile(server.url)
        with caplog.at_level(logging.WARNING):
            assert check(validator, token("rsa1024", head=header(kid="weak")), profile) == "kid_unknown"
        assert "2048" in caplog.text
        assert check(validator, token(), profile) == "valid"

    def test_encryption_keys_in_the_set_are_skipped(self, validator, server):
        server.keys = [jwk("rsa", kid="k1", use="enc")]
        assert check(validator, token(), jwks_profile(server.url)) == "kid_unknown"

    def test_a_jku_header_is_never_fetched(self, validator, server):
        with jwks_server() as attacker:
            attacker.keys = [jwk("rsa_attacker", kid="evil")]
            forged = token("rsa_attacker", head=header(kid="evil", jku=attacker.url, x5u=attacker.url))
            assert check(validator, forged, jwks_profile(server.url)) == "kid_unknown"
            assert attacker.hits == 0

    def test_a_changed_jwks_uri_drops_the_old_keys(self, validator, server):
        profile = jwks_profile(server.url)
        assert check(validator, token(), profile) == "valid"
        with jwks_server() as other:
            other.keys = [jwk("rsa_other", kid="k1")]
            moved = jwks_profile(other.url)
            assert check(validator, token(), moved) == "signature_invalid"
            assert other.hits == 1

    def test_status_reports_the_set(self, cache, server, clock):
        profile = jwks_profile(server.url)
        assert cache.status(profile.config_id) is None
        cache.key_set(profile)
        status = cache.status(profile.config_id)
        assert status.key_ids == ("k1",) and status.fetched_at == NOW and status.last_error == ""

    def test_invalidate_forgets_the_set(self, cache, server):
        profile = jwks_profile(server.url)
        cache.key_set(profile)
        cache.invalidate(profile.config_id)
        cache.key_set(profile)
        cache.invalidate()
        cache.key_set(profile)
        assert server.hits == 3


class TestFailures:
    def test_no_set_before_the_first_successful_fetch(self, validator, server, clock):
        server.status = 503
        profile = jwks_profile(server.url)
        assert check(validator, token(), profile) == "jwks_unavailable"
        assert check(validator, token(head=header("PS256")), profile) == "jwks_unavailable"
        assert server.hits == 1  # failures are retried no sooner than 10 s later
        server.status = 200
        clock.advance(10)
        assert check(validator, token(), profile) == "valid"
        assert server.hits == 2

    def test_the_last_good_set_serves_for_an_hour_while_fetches_fail(self, validator, server, clock):
        profile = jwks_profile(server.url)
        assert check(validator, token(), profile) == "valid"
        server.status = 500
        clock.advance(600)
        assert check(validator, token(head=header("PS256")), profile) == "valid"
        assert server.hits == 2
        clock.advance(3600 - 600 - 1)
        assert check(validator, token(head=header("PS384")), profile) == "valid"
        clock.advance(1)
        assert check(validator, token(head=header("PS512")), profile) == "jwks_unavailable"
        server.status = 200
        clock.advance(10)
        assert check(validator, token(head=header("RS512")), profile) == "valid"

    def test_a_cached_result_does_not_outlive_the_stale_window(self, validator, server, clock):
        profile = jwks_profile(server.url)
        long_lived = token(payload=claims(exp=NOW + 7200))
        assert check(validator, long_lived, profile) == "valid"
        server.status = 500
        clock.advance(1800)
        assert check(validator, long_lived, profile) == "valid"
        clock.advance(1800)
        assert check(validator, long_lived, profile) == "jwks_unavailable"

    @pytest.mark.parametrize(
        ("body", "status"),
        [(b"not json", 200), (b'{"keys": "none"}', 200), (b"{}", 404), (b'{"keys": []}', 302)],
    )
    def test_a_bad_response_is_a_failed_fetch(self, validator, server, body, status):
        server.body, server.status = body, status
        assert check(validator, token(), jwks_profile(server.url)) == "jwks_unavailable"

    def test_redirects_are_not_followed(self, validator, server):
        with jwks_server() as elsewhere:
            elsewhere.keys = [jwk("rsa", kid="k1")]
            server.status = 302
            server.headers = {"Location": elsewhere.url}
            assert check(validator, token(), jwks_profile(server.url)) == "jwks_unavailable"
            assert elsewhere.hits == 0

    def test_an_oversized_set_is_refused(self, clock, server):
        cache = JwksCache(clock=clock, trust_env=False, max_bytes=2000)
        validator = JWTValidator(jwks=cache, clock=clock)
        server.keys = [jwk("rsa", kid="k1"), *[jwk("ed25519", kid=f"pad-{i}") for i in range(30)]]
        assert check(validator, token(), jwks_profile(server.url)) == "jwks_unavailable"
        assert "2000" in cache.status("cfg-jwks").last_error

    def test_an_oversized_set_without_content_length_is_cut_off(self, clock, server):
        cache = JwksCache(clock=clock, trust_env=False, max_bytes=2000)
        server.keys = [jwk("rsa", kid="k1"), *[jwk("ed25519", kid=f"pad-{i}") for i in range(30)]]
        server.headers = {"Content-Length": "100"}  # lies; the reader counts what arrives
        with pytest.raises(JwksUnavailable):
            cache.key_set(jwks_profile(server.url))

    def test_the_default_size_cap_is_one_mebibyte(self, cache, server):
        server.body = json.dumps({"keys": [], "padding": "x" * (1024 * 1024)}).encode()
        with pytest.raises(JwksUnavailable):
            cache.key_set(jwks_profile(server.url))
        assert "1048576" in cache.status("cfg-jwks").last_error

    def test_a_slow_server_times_out(self, clock, server):
        cache = JwksCache(clock=clock, trust_env=False, timeout=0.3)
        server.delay = 1.0
        with pytest.raises(JwksUnavailable):
            cache.key_set(jwks_profile(server.url))
        assert "Timeout" in cache.status("cfg-jwks").last_error

    @pytest.mark.parametrize("uri", ["ftp://127.0.0.1/jwks.json", "http://exa mple.com/jwks", "not a url"])
    def test_a_jwks_uri_httpx_cannot_use_is_a_failed_fetch(self, validator, uri):
        assert check(validator, token(), jwks_profile(uri)) == "jwks_unavailable"

    def test_an_unreachable_server_is_a_failed_fetch(self, validator):
        profile = jwks_profile("http://127.0.0.1:9/jwks.json")
        assert check(validator, token(), profile) == "jwks_unavailable"

    def test_a_validator_without_a_cache_refuses_jwks_profiles(self, clock, server):
        assert check(JWTValidator(clock=clock), token(), jwks_profile(server.url)) == "jwks_unavailable"


class TestTls:
    def test_the_configured_ca_verifies_the_server(self, validator):
        material = tls_material()
        with jwks_server(tls=material.server_context) as server:
            server.keys = [jwk("rsa", kid="k1")]
            profile = jwks_profile(server.url, jwks_ca_pem=material.ca_pem)
            assert check(validator, token(), profile) == "valid"

    def test_without_the_ca_the_server_is_not_trusted(self, validator, cache):
        material = tls_material()
        with jwks_server(tls=material.server_context) as server:
            server.keys = [jwk("rsa", kid="k1")]
            assert check(validator, token(), jwks_profile(server.url)) == "jwks_unavailable"
            assert "certificate" in cache.status("cfg-jwks").last_error.lower()
            assert server.hits == 0

    def test_another_ca_does_not_verify_the_server(self, validator):
        material = tls_material()
        other_ca = tls_material("another CA").ca_pem
        with jwks_server(tls=material.server_context) as server:
            server.keys = [jwk("rsa", kid="k1")]
            assert check(validator, token(), jwks_profile(server.url, jwks_ca_pem=other_ca)) == "jwks_unavailable"


class TestAsync:
    def test_validate_async_fetches_without_blocking(self, validator, server):
        profile = jwks_profile(server.url)
        result = asyncio.run(validator.validate_async(token(), finder(profile)))
        assert result.subject == "alice" and server.hits == 1

    def test_concurrent_requests_share_one_fetch(self, validator, server):
        profile = jwks_profile(server.url)
        server.delay = 0.2
        tokens = [token(head=header(alg)) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")]

        async def run():
            return await asyncio.gather(*(validator.validate_async(t, finder(profile)) for t in tokens))

        results = asyncio.run(run())
        assert [r.subject for r in results] == ["alice"] * 6 and server.hits == 1

    def test_an_unknown_kid_refreshes_through_the_async_client(self, validator, server, clock):
        profile = jwks_profile(server.url)
        asyncio.run(validator.validate_async(token(), finder(profile)))
        server.keys = [jwk("rsa", kid="k1"), jwk("ed25519", kid="ed")]
        clock.advance(10)
        result = asyncio.run(
            validator.validate_async(token("ed25519", head=header("EdDSA", kid="ed")), finder(profile))
        )
        assert result.subject == "alice" and server.hits == 2

    def test_async_failures_are_jwks_unavailable(self, clock, server):
        cache = JwksCache(clock=clock, trust_env=False, timeout=0.3)
        validator = JWTValidator(jwks=cache, clock=clock)
        server.delay = 1.0
        with pytest.raises(TokenRejected) as caught:
            asyncio.run(validator.validate_async(token(), finder(jwks_profile(server.url))))
        assert caught.value.reason == "jwks_unavailable"

    def test_async_tls_with_the_configured_ca(self, validator):
        material = tls_material()
        with jwks_server(tls=material.server_context) as server:
            server.keys = [jwk("rsa", kid="k1")]
            profile = jwks_profile(server.url, jwks_ca_pem=material.ca_pem)
            assert asyncio.run(validator.validate_async(token(), finder(profile))).subject == "alice"
