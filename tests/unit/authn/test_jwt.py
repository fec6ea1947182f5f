"""JWT validation against static-key profiles: every check, each reason code, the result cache."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from security.jwt_forge import (
    AUDIENCE,
    ISSUER,
    NOW,
    Clock,
    b64url,
    claims,
    ecdsa_variants,
    encode_part,
    finder,
    header,
    hmac_token,
    jwk,
    public_pem,
    resign_ecdsa,
    sign,
    static_profile,
    token,
)

from vaultguard.service.authn.jwt import (
    MAX_AUTHORIZATION_DETAILS,
    REASONS,
    JWTValidator,
    TokenRejected,
    ValidatedToken,
    looks_like_jwt,
)
from vaultguard.service.authn.profiles import PublicKey

ALL_KEYS = {"k1": "rsa", "e256": "p256", "e384": "p384", "e521": "p521", "ed": "ed25519"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def validator(clock: Clock) -> JWTValidator:
    return JWTValidator(clock=clock)


@pytest.fixture
def profile():
    return static_profile()


def validate(validator: JWTValidator, tok, *profiles) -> ValidatedToken:
    return validator.validate(tok, finder(*(profiles or (static_profile(),))))


def rejection(validator: JWTValidator, tok, *profiles) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        validate(validator, tok, *profiles)
    return caught.value


def reason(validator: JWTValidator, tok, *profiles) -> str:
    return rejection(validator, tok, *profiles).reason


def with_claims(**overrides) -> str:
    return token(payload=claims(**overrides))


def with_header(**members) -> str:
    head = header()
    for name, value in members.items():
        if value is None:
            head.pop(name, None)
        else:
            head[name] = value
    return token(head=head, alg="RS256")


class TestValidTokens:
    @pytest.mark.parametrize(
        ("alg", "kid", "key"),
        [
            ("RS256", "k1", "rsa"),
            ("RS384", "k1", "rsa"),
            ("RS512", "k1", "rsa"),
            ("PS256", "k1", "rsa"),
            ("PS384", "k1", "rsa"),
            ("PS512", "k1", "rsa"),
            ("ES256", "e256", "p256"),
            ("ES384", "e384", "p384"),
            ("ES512", "e521", "p521"),
            ("EdDSA", "ed", "ed25519"),
        ],
    )
    def test_every_supported_algorithm_is_accepted_with_its_key(self, validator, alg, kid, key):
        profile = static_profile(ALL_KEYS)
        result = validate(validator, token(key, head=header(alg, kid=kid)), profile)
        assert result.subject == "alice"
        assert result.header["alg"] == alg

    def test_the_result_carries_the_identities_and_times(self, validator, profile):
        payload = claims(
            act={"sub": "agent-7", "act": {"sub": "earlier-agent"}},
            nbf=NOW - 5,
            txn="txn-42",
            authorization_details=[{"type": "vault:path_access", "path": "secret/data/a"}],
        )
        result = validate(validator, token(payload=payload), profile)
        assert result.profile is profile
        assert result.issuer == ISSUER
        assert result.subject == "alice"
        assert result.actor == "agent-7"
        assert result.unique_id == "token-1"
        assert result.audiences == (AUDIENCE,)
        assert (result.expires_at, result.issued_at, result.not_before) == (NOW + 300, NOW, NOW - 5)
        assert result.transaction == "txn-42"
        assert result.authorization_details == ({"type": "vault:path_access", "path": "secret/data/a"},)
        assert result.claims["client_id"] == "agent-1"

    def test_the_result_is_read_only(self, validator):
        result = validate(validator, with_claims(authorization_details=[{"type": "x"}]))
        with pytest.raises(TypeError):
            result.claims["sub"] = "mallory"  # type: ignore[index]
        with pytest.raises(TypeError):
            result.authorization_details[0]["type"] = "y"  # type: ignore[index]
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.subject = "mallory"  # type: ignore[misc]

    def test_optional_claims_are_none_when_absent(self, validator):
        result = validate(validator, with_claims(iat=None, txn=None))
        assert result.issued_at is None and result.not_before is None
        assert result.actor is None and result.authorization_details is None and result.transaction is None

    def test_a_non_string_txn_is_not_reported(self, validator):
        assert validate(validator, with_claims(txn=7)).transaction is None

    @pytest.mark.parametrize("iss", [ISSUER + "/", "HTTPS://IDP.EXAMPLE.COM", "https://IdP.example.com/"])
    def test_the_issuer_is_normalized_before_the_profile_lookup(self, validator, iss):
        assert validate(validator, with_claims(iss=iss)).issuer == ISSUER

    def test_float_times_are_numeric_dates(self, validator):
        result = validate(validator, with_claims(exp=NOW + 300.5, iat=NOW - 0.25))
        assert (result.expires_at, result.issued_at) == (NOW + 300, NOW - 1)  # whole seconds, floored

    def test_a_profile_without_audiences_checks_no_audience(self, validator):
        open_profile = static_profile(audiences=())
        assert validate(validator, with_claims(aud=None), open_profile).audiences == ()
        assert validate(validator, with_claims(aud="anything"), open_profile).audiences == ("anything",)

    def test_an_aud_array_containing_ours_is_accepted(self, validator):
        result = validate(validator, with_claims(aud=["https://other.example", AUDIENCE]))
        assert result.audiences == ("https://other.example", AUDIENCE)

    def test_any_configured_audience_matches(self, validator):
        profile = static_profile(audiences=("https://a.example", AUDIENCE))
        assert validate(validator, with_claims(aud="https://a.example"), profile).subject == "alice"

    def test_key_material_headers_are_ignored_not_used(self, validator):
        attacker = {
            "jku": "http://127.0.0.1:1/attacker-jwks.json",
            "x5u": "http://127.0.0.1:1/cert.pem",
            "jwk": jwk("rsa_attacker"),
            "x5c": ["MIIB"],
        }
        honest = token(head=header(**attacker), alg="RS256")
        assert validate(validator, honest).subject == "alice"
        forged = token("rsa_attacker", head=header(**attacker), alg="RS256")
        assert reason(validator, forged) == "signature_invalid"

    def test_an_unknown_cty_is_ignored(self, validator):
        assert validate(validator, with_header(cty="application/json")).subject == "alice"

    def test_validate_async_gives_the_same_result_without_a_jwks(self, validator, profile):
        result = asyncio.run(validator.validate_async(token(), finder(profile)))
        assert result.subject == "alice"


class TestTyp:
    @pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "at+JWT", "application/at+jwt", "Application/At+Jwt", "JWT"])
    def test_access_token_profiles_accept_the_d1_values_in_any_case(self, validator, typ):
        assert validate(validator, with_header(typ=typ)).subject == "alice"

    @pytest.mark.parametrize(
        "typ", ["txntoken+jwt", "id_token+jwt", "dpop+jwt", "application/jwt", "at+jwt ", "", "JOSE"]
    )
    def test_access_token_profiles_refuse_other_types(self, validator, typ):
        assert reason(validator, with_header(typ=typ)) == "typ_invalid"

    def test_a_missing_typ_is_refused(self, validator):
        assert reason(validator, with_header(typ=None)) == "typ_invalid"

    @pytest.mark.parametrize("typ", [["at+jwt"], 1, None])
    def test_a_typ_that_is_not_a_string_is_refused(self, validator, typ):
        head = {**header(), "typ": typ}
        assert reason(validator, token(head=head, alg="RS256")) == "typ_invalid"

    def test_transaction_token_profiles_require_txntoken_jwt(self, validator):
        profile = static_profile(jwt_type="transaction_token")
        assert validate(validator, with_header(typ="txntoken+jwt"), profile).subject == "alice"
        assert validate(validator, with_header(typ="TxnToken+JWT"), profile).subject == "alice"
        assert reason(validator, with_header(typ="at+jwt"), profile) == "typ_invalid"
        assert reason(validator, with_header(typ="JWT"), profile) == "typ_invalid"


class TestShape:
    def test_a_token_over_the_size_cap_is_refused_before_decoding(self, clock):
        validator = JWTValidator(clock=clock, max_token_bytes=1000)
        assert reason(validator, "x" * 1001) == "too_large"
        assert reason(validator, with_claims(pad="p" * 1000)) == "too_large"

    def test_a_token_exactly_at_the_size_cap_is_accepted(self, clock):
        base = with_claims(pad="")
        validator = JWTValidator(clock=clock, max_token_bytes=len(base) + 40)
        for extra in range(0, 40):
            candidate = with_claims(pad="p" * extra)
            if len(candidate) == len(base) + 40:
                assert validate(validator, candidate).subject == "alice"
                return
        pytest.fail("no padding length hit the cap exactly")

    def test_the_default_cap_is_8_kib(self, validator):
        assert reason(validator, "a" * 8193) == "too_large"
        assert reason(validator, "a" * 8192) == "malformed"

    def test_five_segments_are_an_encrypted_token(self, validator):
        assert reason(validator, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d") == "encrypted_token"

    def test_an_enc_header_is_an_encrypted_token(self, validator):
        assert reason(validator, with_header(enc="A256GCM")) == "encrypted_token"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "a..c",
            ".b.c",
            "a.b.c.d.e.f",
            '{"payload":"e30","signatures":[]}',
            "a b.c.d",
            "a.b.c\n",
            " a.b.c",
        ],
    )
    def test_text_that_is_not_three_base64url_segments_is_malformed(self, validator, text):
        assert reason(validator, text) == "malformed"

    @pytest.mark.parametrize("value", [None, 123, b"a.b.c", ["a.b.c"]])
    def test_a_non_string_token_is_malformed(self, validator, value):
        assert reason(validator, value) == "malformed"

    def test_a_non_ascii_token_is_malformed(self, validator):
        head, payload, sig = token().split(".")
        assert reason(validator, f"{head}.{payload}é.{sig}") == "malformed"

    @pytest.mark.parametrize("segment", [0, 1])
    def test_padding_and_standard_base64_characters_are_malformed(self, validator, segment):
        parts = token().split(".")
        for bad in (parts[segment] + "=", parts[segment].replace("-", "+").replace("_", "/") + "+/"):
            altered = list(parts)
            altered[segment] = bad
            assert reason(validator, ".".join(altered)) == "malformed"

    def test_one_extra_base64_character_in_the_header_or_payload_is_malformed(self, validator):
        for segment in (0, 1):
            parts = token().split(".")
            parts[segment] += "A"
            assert reason(validator, ".".join(parts)) in ("malformed", "signature_invalid")

    def test_a_non_canonical_final_character_is_malformed(self, validator):
        """Lenient decoders read 'e30' and 'e31' as the same bytes; only the canonical one is base64url."""
        payload = json.dumps(claims(), separators=(",", ":")).encode()
        while len(b64url(payload)) % 4 != 2:
            payload = payload[:-1] + b" }"
        encoded = b64url(payload)
        last = "AQgw".index(encoded[-1])
        variant = encoded[:-1] + "BRhx"[last]  # same 8 significant bits, a non-zero unused bit
        head = encode_part(header())
        signing_input = f"{head}.{variant}".encode()
        forged = f"{head}.{variant}.{b64url(sign('RS256', 'rsa', signing_input))}"
        assert reason(validator, forged) == "malformed"

    @pytest.mark.parametrize(
        "payload",
        [
            b"\xff\xfe{}",
            "\ufeff{}".encode(),
            b"[]",
            b'"text"',
            b"null",
            b"{",
            b'{"exp": NaN}',
            b'{"exp": Infinity}',
            b'{"sub": "\\ud800"}',
            json.dumps(claims()).encode("utf-16"),
        ],
    )
    def test_a_payload_that_is_not_a_utf8_json_object_is_malformed(self, validator, payload):
        assert reason(validator, token(payload=payload)) == "malformed"

    def test_a_header_that_is_not_a_json_object_is_malformed(self, validator):
        assert reason(validator, token(head='["RS256"]', alg="RS256")) == "malformed"

    def test_deeply_nested_json_is_malformed(self, validator):
        nested: object = "x"
        for _ in range(40):
            nested = [nested]
        assert reason(validator, with_claims(deep=nested)) == "malformed"
        assert reason(validator, token(payload=b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}")) == "malformed"

    def test_a_valid_surrogate_pair_escape_is_accepted(self, validator):
        payload = json.dumps(claims(sub="\U0001f600")).encode()  # json.dumps writes "\ud83d\ude00"
        assert validate(validator, token(payload=payload)).subject == "\U0001f600"

    def test_duplicate_payload_members_are_refused(self, validator):
        body = json.dumps(claims())[:-1] + ', "iss": "https://evil.example"}'
        assert reason(validator, token(payload=body)) == "duplicate_member"

    def test_duplicate_members_in_nested_objects_are_refused(self, validator):
        body = json.dumps(claims())[:-1] + ', "act": {"sub": "a", "sub": "b"}}'
        assert reason(validator, token(payload=body)) == "duplicate_member"

    def test_duplicate_header_members_are_refused(self, validator):
        head = '{"alg":"RS256","typ":"at+jwt","kid":"k1","kid":"k2"}'
        assert reason(validator, token(head=head, alg="RS256")) == "duplicate_member"


class TestAlgorithm:
    def test_a_missing_alg_is_refused(self, validator):
        assert reason(validator, token(head={"typ": "at+jwt", "kid": "k1"}, alg="RS256")) == "header_invalid"

    @pytest.mark.parametrize("alg", [["RS256"], 256, None, True])
    def test_an_alg_that_is_not_a_string_is_refused(self, validator, alg):
        assert reason(validator, token(head={**header(), "alg": alg}, alg="RS256")) == "header_invalid"

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    @pytest.mark.parametrize("signature", ["", "e30"])
    def test_alg_none_is_refused_in_any_case(self, validator, alg, signature):
        unsigned = f"{encode_part(header(alg))}.{encode_part(claims())}.{signature}"
        assert reason(validator, unsigned) == "alg_none"

    @pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "hs256"])
    def test_hmac_is_refused_even_keyed_with_the_public_key(self, validator, alg):
        secret = public_pem("rsa").encode()
        head = header("HS256" if alg == "hs256" else alg)
        head["alg"] = alg
        tok = hmac_token(secret, "HS256" if alg == "hs256" else alg, head=head)
        assert reason(validator, tok) == "hmac_not_allowed"

    @pytest.mark.parametrize("alg", ["rs256", "RS1", "ES256K", "ES521", "Ed25519", "RSA-OAEP", "PS256 "])
    def test_an_algorithm_outside_d22_is_refused(self, validator, alg):
        assert reason(validator, token(head={**header(), "alg": alg}, alg="RS256")) == "alg_not_allowed"

    def test_an_algorithm_the_profile_does_not_list_is_refused(self, validator):
        profile = static_profile(supported_algorithms=("RS256",))
        assert validate(validator, token(), profile).subject == "alice"
        assert reason(validator, token(alg="RS384"), profile) == "alg_not_allowed"
        assert reason(validator, token(alg="PS256"), profile) == "alg_not_allowed"

    def test_an_empty_supported_algorithms_allows_every_d22_algorithm(self, validator):
        profile = static_profile(supported_algorithms=())
        assert validate(validator, token(alg="PS512"), profile).subject == "alice"

    @pytest.mark.parametrize("crit", [["exp"], ["x-unknown"], [], "b64"])
    def test_any_crit_header_is_refused(self, validator, crit):
        assert reason(validator, with_header(crit=crit, **{"x-unknown": True})) == "crit_unsupported"

    @pytest.mark.parametrize("cty", ["JWT", "jwt", "application/jwt", "Application/JWT"])
    def test_a_nested_jwt_is_refused(self, validator, cty):
        assert reason(validator, with_header(cty=cty)) == "nested_token"

    def test_a_non_string_cty_or_kid_is_refused(self, validator):
        assert reason(validator, with_header(cty=["JWT"])) == "header_invalid"
        assert reason(validator, with_header(kid=1)) == "header_invalid"


class TestIssuer:
    def test_a_missing_iss_is_refused(self, validator):
        assert reason(validator, with_claims(iss=None)) == "issuer_missing"

    @pytest.mark.parametrize("iss", [["https://idp.example.com"], 1, {"iss": ISSUER}, None])
    def test_a_non_string_iss_is_refused(self, validator, iss):
        body = json.dumps({**claims(), "iss": iss})
        assert reason(validator, token(payload=body)) == "claim_type_invalid"

    @pytest.mark.parametrize(
        "iss",
        [
            "https://idp.example.co",
            "https://idp.example.com.evil.example",
            "https://idp.example.com/tenant",
            "https://evil.example/https://idp.example.com",
            "http://idp.example.com",
            "https://idp.example.com//",
            "idp.example.com",
            "",
        ],
    )
    def test_only_the_exact_normalized_issuer_finds_the_profile(self, validator, iss):
        assert reason(validator, with_claims(iss=iss)) == "no_profile"

    def test_a_disabled_profile_is_not_found(self, validator):
        assert reason(validator, token(), static_profile(enabled=False)) == "no_profile"

    def test_a_disabled_profile_handed_over_anyway_is_refused(self, validator):
        disabled = static_profile(enabled=False)
        with pytest.raises(TokenRejected) as caught:
            validator.validate(token(), lambda issuer: disabled)
        assert caught.value.reason == "profile_disabled"

    def test_a_profile_for_another_issuer_is_never_used(self, validator):
        other = static_profile(issuer_id="https://other.example")
        with pytest.raises(TokenRejected) as caught:
            validator.validate(token(), lambda issuer: other)
        assert caught.value.reason == "no_profile"

    def test_find_profile_receives_the_normalized_issuer(self, validator, profile):
        seen = []
        validator.validate(with_claims(iss="HTTPS://IDP.example.com/"), lambda i: seen.append(i) or profile)
        assert seen == [ISSUER]


class TestKeySelection:
    @pytest.mark.parametrize(
        "kid", ["k2", "", "../../dev/null", "' OR 1=1--", "https://evil.example/jwks.json", "K1", "k1 "]
    )
    def test_an_unknown_kid_is_refused(self, validator, kid):
        assert reason(validator, token(head=header(kid=kid))) == "kid_unknown"

    def test_a_token_without_kid_uses_the_one_key_that_fits_its_alg(self, validator):
        profile = static_profile({"rsa-key": "rsa", "ec-key": "p256"})
        assert validate(validator, token(head=header(kid=None)), profile).subject == "alice"
        assert validate(validator, token("p256", head=header("ES256", kid=None)), profile).subject == "alice"

    def test_a_token_without_kid_is_refused_when_several_keys_fit(self, validator):
        profile = static_profile({"a": "rsa", "b": "rsa_other"})
        assert reason(validator, token(head=header(kid=None)), profile) == "kid_ambiguous"

    def test_a_token_without_kid_is_refused_when_no_key_fits(self, validator):
        assert reason(validator, token("p256", head=header("ES256", kid=None))) == "kid_unknown"

    def test_the_kid_never_selects_a_key_of_another_type(self, validator):
        profile = static_profile({"k1": "rsa", "ec": "p256", "ed": "ed25519"})
        assert reason(validator, token("p256", head=header("ES256", kid="k1")), profile) == "key_alg_mismatch"
        assert reason(validator, token(head=header("RS256", kid="ec")), profile) == "key_alg_mismatch"
        assert reason(validator, token(head=header("PS256", kid="ed")), profile) == "key_alg_mismatch"

    def test_an_ec_key_verifies_only_the_algorithm_of_its_curve(self, validator):
        profile = static_profile({"k384": "p384"})
        assert reason(validator, token("p256", head=header("ES256", kid="k384")), profile) == "key_alg_mismatch"

    def test_a_stored_key_that_no_longer_loads_verifies_nothing(self, validator, caplog):
        profile = static_profile({"weak": "rsa1024", "k1": "rsa"})
        assert reason(validator, token("rsa1024", head=header(kid="weak")), profile) == "kid_unknown"
        assert '"weak" is not used' in caplog.text and "2048" in caplog.text
        assert validate(validator, token(), profile).subject == "alice"

    def test_keys_are_matched_by_key_id_among_several(self, validator):
        profile = static_profile({"old": "rsa_other", "k1": "rsa"})
        assert validate(validator, token(), profile).subject == "alice"
        assert validate(validator, token("rsa_other", head=header(kid="old")), profile).subject == "alice"
        assert reason(validator, token("rsa_other"), profile) == "signature_invalid"


class TestSignature:
    def test_a_signature_by_another_key_is_refused(self, validator):
        assert reason(validator, token("rsa_attacker")) == "signature_invalid"

    def test_an_empty_signature_is_refused(self, validator):
        assert reason(validator, token().rsplit(".", 1)[0] + ".") == "signature_invalid"

    def test_a_truncated_signature_is_refused(self, validator):
        tok = token()
        for cut in (1, 2, 4, 100):
            assert reason(validator, tok[:-cut]) in ("signature_invalid", "malformed")

    def test_one_extra_base64_character_in_the_signature_is_refused(self, validator):
        tok = token()
        for extra in "AQgw_-":
            assert reason(validator, tok + extra) == "signature_invalid"

    def test_a_changed_payload_breaks_the_signature(self, validator):
        head, _, sig = token().split(".")
        assert reason(validator, f"{head}.{encode_part(claims(sub='mallory'))}.{sig}") == "signature_invalid"

    def test_a_pkcs1_signature_does_not_pass_as_pss(self, validator):
        head = encode_part(header("PS256"))
        signing_input = f"{head}.{encode_part(claims())}".encode()
        forged = f"{signing_input.decode()}.{b64url(sign('RS256', 'rsa', signing_input))}"
        assert reason(validator, forged) == "signature_invalid"

    @pytest.mark.parametrize("variant", ["zero", "r_is_n", "s_is_n", "s_above_n", "der"])
    @pytest.mark.parametrize(("alg", "kid", "key"), [("ES256", "e256", "p256"), ("ES384", "e384", "p384")])
    def test_out_of_range_or_der_ecdsa_signatures_are_refused(self, validator, variant, alg, kid, key):
        profile = static_profile(ALL_KEYS)
        forged = resign_ecdsa(token(key, head=header(alg, kid=kid)), key, ecdsa_variants()[variant])
        assert reason(validator, forged, profile) == "signature_invalid"

    @pytest.mark.parametrize(
        ("alg", "kid", "key"),
        [("ES256", "e256", "p256"), ("ES384", "e384", "p384"), ("ES512", "e521", "p521")],
    )
    def test_the_malleated_ecdsa_signature_is_valid_and_names_the_same_token_id(self, validator, alg, kid, key):
        profile = static_profile(ALL_KEYS)
        original = token(key, head=header(alg, kid=kid))
        malleated = resign_ecdsa(original, key, ecdsa_variants()["malleated"])
        assert malleated != original
        first, second = validate(validator, original, profile), validate(validator, malleated, profile)
        assert first.unique_id == second.unique_id == "token-1"

    def test_an_eddsa_signature_of_the_wrong_length_is_refused(self, validator):
        profile = static_profile(ALL_KEYS)
        tok = token("ed25519", head=header("EdDSA", kid="ed"))
        assert reason(validator, tok[:-4], profile) == "signature_invalid"


class TestTimeClaims:
    def test_a_missing_exp_is_refused(self, validator):
        assert reason(validator, with_claims(exp=None)) == "exp_missing"

    @pytest.mark.parametrize("exp", ["1800000300", True, None, [NOW + 300], {"t": 1}, 1e300, 2**60])
    def test_an_exp_that_is_not_a_numeric_date_is_refused(self, validator, exp):
        body = json.dumps({**claims(), "exp": exp})
        assert reason(validator, token(payload=body)) == "claim_type_invalid"

    def test_an_exp_of_1e400_is_refused(self, validator):
        body = json.dumps(claims())[:-1] + ', "nbf": 1e400}'
        assert reason(validator, token(payload=body)) == "claim_type_invalid"

    @pytest.mark.parametrize("name", ["nbf", "iat"])
    @pytest.mark.parametrize("value", ["0", False, None, [0]])
    def test_nbf_and_iat_must_be_numeric_dates_when_present(self, validator, name, value):
        body = json.dumps({**claims(), name: value})
        assert reason(validator, token(payload=body)) == "claim_type_invalid"

    @pytest.mark.parametrize(
        ("offset", "accepted"),
        [(-1, True), (0, False), (1, False)],
    )
    def test_without_leeway_a_token_expires_at_exp(self, validator, clock, offset, accepted):
        tok = token()
        clock.now = NOW + 300 + offset
        self._expect(validator, tok, accepted, "expired")

    @pytest.mark.parametrize(
        ("offset", "accepted"),
        [(0, True), (29, True), (29.999, True), (30, False), (31, False)],
    )
    def test_the_leeway_extends_exp_exactly(self, validator, clock, offset, accepted):
        profile = static_profile(clock_skew_leeway=30)
        tok = token()
        clock.now = NOW + 300 + offset
        self._expect(validator, tok, accepted, "expired", profile)

    @pytest.mark.parametrize(("offset", "accepted"), [(0, True), (1, False)])
    def test_nbf_may_be_up_to_the_leeway_in_the_future(self, validator, offset, accepted):
        profile = static_profile(clock_skew_leeway=30)
        self._expect(validator, with_claims(nbf=NOW + 30 + offset), accepted, "not_yet_valid", profile)

    @pytest.mark.parametrize(("offset", "accepted"), [(0, True), (1, False)])
    def test_iat_may_be_up_to_the_leeway_in_the_future(self, validator, offset, accepted):
        profile = static_profile(clock_skew_leeway=30)
        self._expect(validator, with_claims(iat=NOW + 30 + offset), accepted, "issued_in_future", profile)

    def test_without_leeway_nbf_and_iat_equal_to_now_are_accepted(self, validator):
        assert validate(validator, with_claims(nbf=NOW, iat=NOW)).subject == "alice"
        assert reason(validator, with_claims(nbf=NOW + 1)) == "not_yet_valid"
        assert reason(validator, with_claims(iat=NOW + 1)) == "issued_in_future"

    @pytest.mark.parametrize(("lifetime", "accepted"), [(86400, True), (86401, False)])
    def test_a_lifetime_over_24_hours_is_refused(self, validator, lifetime, accepted):
        self._expect(validator, with_claims(iat=NOW - 10, exp=NOW - 10 + lifetime), accepted, "lifetime_too_long")

    @pytest.mark.parametrize(("distance", "accepted"), [(86400, True), (86401, False)])
    def test_without_iat_an_exp_more_than_24_hours_away_is_refused(self, validator, distance, accepted):
        self._expect(validator, with_claims(iat=None, exp=NOW + distance), accepted, "lifetime_too_long")

    def test_the_maximum_lifetime_is_configurable(self, clock):
        validator = JWTValidator(clock=clock, max_lifetime=600)
        assert validate(validator, with_claims(exp=NOW + 600)).subject == "alice"
        assert reason(validator, with_claims(exp=NOW + 601)) == "lifetime_too_long"

    def test_an_expired_token_is_refused_before_its_lifetime_is_judged(self, validator, clock):
        clock.now = NOW + 10**6
        assert reason(validator, with_claims(exp=NOW + 10**5)) == "expired"

    @staticmethod
    def _expect(validator, tok, accepted, code, profile=None):
        profiles = (profile,) if profile else ()
        if accepted:
            assert validate(validator, tok, *profiles).subject == "alice"
        else:
            assert reason(validator, tok, *profiles) == code


class TestAudience:
    @pytest.mark.parametrize(
        "aud",
        [
            "https://other.example",
            ["https://other.example"],
            [],
            AUDIENCE.upper(),
            AUDIENCE + "/",
            "https://vault.example",
        ],
    )
    def test_an_aud_without_our_audience_is_refused(self, validator, aud):
        assert reason(validator, with_claims(aud=aud)) == "audience_mismatch"

    def test_a_missing_aud_is_refused_when_audiences_are_configured(self, validator):
        assert reason(validator, with_claims(aud=None)) == "audience_mismatch"

    @pytest.mark.parametrize("aud", [{"aud": AUDIENCE}, 1, [AUDIENCE, 1], [[AUDIENCE]], None, True])
    def test_an_aud_of_the_wrong_type_is_refused(self, validator, aud):
        body = json.dumps({**claims(), "aud": aud})
        assert reason(validator, token(payload=body)) == "claim_type_invalid"

    def test_the_aud_type_is_checked_even_without_configured_audiences(self, validator):
        body = json.dumps({**claims(), "aud": {"x": 1}})
        assert reason(validator, token(payload=body), static_profile(audiences=())) == "claim_type_invalid"


class TestIdentityClaims:
    @pytest.mark.parametrize("sub", [None, ""])
    def test_a_missing_or_empty_subject_is_refused(self, validator, sub):
        assert reason(validator, with_claims(sub=sub)) == "subject_missing"

    @pytest.mark.parametrize("sub", [1, ["alice"], {"id": "alice"}, True])
    def test_a_non_string_subject_is_refused(self, validator, sub):
        assert reason(validator, with_claims(sub=sub)) == "claim_type_invalid"

    def test_the_subject_comes_from_user_claim(self, validator):
        profile = static_profile(user_claim="email")
        assert validate(validator, with_claims(email="a@example.com"), profile).subject == "a@example.com"
        assert reason(validator, token(), profile) == "subject_missing"
        assert reason(validator, with_claims(email=["a@example.com"]), profile) == "claim_type_invalid"

    def test_a_non_string_sub_is_refused_even_when_user_claim_is_another(self, validator):
        profile = static_profile(user_claim="email")
        assert reason(validator, with_claims(email="a@example.com", sub=5), profile) == "claim_type_invalid"

    def test_jti_is_the_default_unique_id(self, validator):
        assert validate(validator, with_claims(jti="abc")).unique_id == "abc"

    def test_uti_is_used_only_when_jti_is_absent(self, validator):
        assert validate(validator, with_claims(jti=None, uti="entra-uti")).unique_id == "entra-uti"
        assert validate(validator, with_claims(uti="entra-uti")).unique_id == "token-1"
        assert reason(validator, with_claims(jti="", uti="entra-uti")) == "unique_id_missing"

    def test_a_token_without_unique_id_is_refused(self, validator):
        assert reason(validator, with_claims(jti=None)) == "unique_id_missing"
        assert reason(validator, with_claims(jti=None, uti="")) == "unique_id_missing"

    @pytest.mark.parametrize("jti", [1, ["a"], True])
    def test_a_non_string_unique_id_is_refused(self, validator, jti):
        assert reason(validator, with_claims(jti=jti)) == "claim_type_invalid"
        assert reason(validator, with_claims(jti=None, uti=jti)) == "claim_type_invalid"

    def test_a_configured_unique_id_claim_has_no_fallback(self, validator):
        profile = static_profile(unique_id_claim="uti")
        assert validate(validator, with_claims(uti="u-1"), profile).unique_id == "u-1"
        assert reason(validator, token(), profile) == "unique_id_missing"
        other = static_profile(unique_id_claim="token_id")
        assert reason(validator, with_claims(uti="u-1"), other) == "unique_id_missing"

    def test_only_the_outermost_actor_is_read(self, validator):
        chain = {"sub": "agent-b", "act": {"sub": "agent-a"}}
        assert validate(validator, with_claims(act=chain)).actor == "agent-b"

    def test_the_actor_path_is_configurable(self, validator):
        profile = static_profile(actor_claim="act.client_id")
        assert validate(validator, with_claims(act={"client_id": "c-9"}), profile).actor == "c-9"
        assert validate(validator, token(), static_profile(actor_claim="azp")).actor is None
        assert validate(validator, with_claims(azp="app"), static_profile(actor_claim="azp")).actor == "app"

    @pytest.mark.parametrize(
        "act", ["agent", ["agent"], {}, {"client_id": "x"}, {"sub": ""}, {"sub": 1}, {"sub": None}, None]
    )
    def test_a_started_but_unusable_actor_path_is_refused(self, validator, act):
        body = json.dumps({**claims(), "act": act})
        assert reason(validator, token(payload=body)) == "actor_invalid"


class TestGroupsClaim:
    def test_the_profiles_groups_claim_is_read_deduplicated_and_sorted(self, validator):
        profile = static_profile(groups_claim="groups")
        assert validate(validator, with_claims(groups=["ops", "devs", "ops"]), profile).groups == ("devs", "ops")
        assert validate(validator, with_claims(groups=[]), profile).groups == ()
        assert validate(validator, token(), profile).groups == ()  # absent: no groups, still valid

    def test_without_groups_claim_on_the_profile_nothing_is_read(self, validator):
        assert validate(validator, with_claims(groups=7)).groups == ()

    def test_only_the_top_level_claim_is_read_never_the_actors(self, validator):
        profile = static_profile(groups_claim="groups")
        tok = with_claims(act={"sub": "agent", "groups": ["devs"]})
        assert validate(validator, tok, profile).groups == ()

    @pytest.mark.parametrize(
        "value",
        ["devs", {"devs": 1}, 7, None, True, ["devs", 1], ["devs", None], [""], [["devs"]], ["x" * 1025],
         [f"g{i}" for i in range(257)]],
    )  # fmt: skip
    def test_anything_but_a_bounded_array_of_strings_is_refused(self, validator, value):
        body = json.dumps({**claims(), "groups": value})
        assert reason(validator, token(payload=body), static_profile(groups_claim="groups")) == "groups_invalid"

    def test_the_limits_themselves_are_accepted(self, validator):
        values = ["x" * 1024] + [f"g{i}" for i in range(255)]
        tok = token(payload=json.dumps({**claims(), "groups": values}))
        assert len(validate(validator, tok, static_profile(groups_claim="groups")).groups) == 256


class TestAuthorizationDetails:
    @pytest.mark.parametrize("details", [{"type": "vault:path_access"}, "read", 1, None, True])
    def test_a_claim_that_is_not_an_array_is_refused(self, validator, details):
        body = json.dumps({**claims(), "authorization_details": details})
        assert reason(validator, token(payload=body)) == "authorization_details_invalid"

    @pytest.mark.parametrize("entry", ["vault:path_access", 1, None, ["type"], True])
    def test_entries_that_are_not_objects_are_refused(self, validator, entry):
        details = [{"type": "vault:path_access"}, entry]
        assert reason(validator, with_claims(authorization_details=details)) == "authorization_details_invalid"

    def test_an_empty_array_is_present_and_empty(self, validator):
        assert validate(validator, with_claims(authorization_details=[])).authorization_details == ()

    def test_entries_without_type_are_left_to_the_rar_evaluation(self, validator):
        details = [{"path": "secret/data/a"}, {"type": "unknown:type"}]
        assert validate(validator, with_claims(authorization_details=details)).authorization_details == tuple(details)

    def test_the_number_of_entries_is_capped(self, validator):
        at_cap = [{}] * MAX_AUTHORIZATION_DETAILS
        assert len(validate(validator, with_claims(authorization_details=at_cap)).authorization_details) == 256
        over = [{}] * (MAX_AUTHORIZATION_DETAILS + 1)
        assert reason(validator, with_claims(authorization_details=over)) == "authorization_details_invalid"

    def test_the_nesting_of_entries_is_capped(self, validator):
        entry: dict = {"type": "x"}
        for _ in range(7):
            entry = {"nested": entry}
        assert reason(validator, with_claims(authorization_details=[entry])) == "authorization_details_invalid"
        shallow = {"type": "x", "locations": ["a"], "actions": {"read": [1]}}
        assert validate(validator, with_claims(authorization_details=[shallow])).authorization_details


class TestResultCache:
    def test_the_same_token_again_returns_the_cached_result(self, validator, profile):
        tok = token()
        first = validator.validate(tok, finder(profile))
        assert validator.validate(tok, finder(profile)) is first

    def test_a_cached_token_still_expires(self, validator, clock, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        clock.now = NOW + 299
        assert validator.validate(tok, finder(profile)).subject == "alice"
        clock.now = NOW + 300
        assert rejection(validator, tok, profile).reason == "expired"

    def test_a_cached_token_expires_with_the_leeway(self, validator, clock):
        profile = static_profile(clock_skew_leeway=10)
        tok = token()
        validator.validate(tok, finder(profile))
        clock.now = NOW + 309
        assert validator.validate(tok, finder(profile)).subject == "alice"
        clock.now = NOW + 310
        assert reason(validator, tok, profile) == "expired"

    def test_a_clock_going_back_before_nbf_revalidates(self, validator, clock, profile):
        tok = with_claims(nbf=NOW)
        validator.validate(tok, finder(profile))
        clock.now = NOW - 1
        assert reason(validator, tok, profile) == "not_yet_valid"

    def test_a_changed_profile_revalidates_the_token(self, validator, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        changed = dataclasses.replace(profile, audiences=("https://elsewhere.example",))
        assert reason(validator, tok, changed) == "audience_mismatch"

    def test_a_profile_changed_in_place_revalidates_the_token(self, validator, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        profile.supported_algorithms = ("ES256",)
        assert reason(validator, tok, profile) == "alg_not_allowed"

    def test_a_removed_key_rejects_the_cached_token(self, validator, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        rotated = dataclasses.replace(profile, public_keys=(PublicKey("k2", public_pem("rsa_other")),))
        assert reason(validator, tok, rotated) == "kid_unknown"

    def test_a_disabled_or_deleted_profile_rejects_the_cached_token(self, validator, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        assert reason(validator, tok, dataclasses.replace(profile, enabled=False)) == "no_profile"
        with pytest.raises(TokenRejected) as caught:
            validator.validate(tok, lambda issuer: None)
        assert caught.value.reason == "no_profile"

    def test_a_profile_recreated_under_a_new_config_id_revalidates(self, validator, profile):
        tok = token()
        first = validator.validate(tok, finder(profile))
        recreated = dataclasses.replace(profile, config_id="cfg-new")
        second = validator.validate(tok, finder(recreated))
        assert second is not first and second.profile is recreated

    def test_an_equal_profile_object_is_returned_live(self, validator, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        reread = dataclasses.replace(profile, optional_authorization_details=True)
        result = validator.validate(tok, finder(reread))
        assert result.profile is reread and result.profile.optional_authorization_details

    def test_another_namespace_never_shares_a_cached_result(self, validator, profile):
        tok = token()
        validator.validate(tok, finder(profile))
        other_namespace = dataclasses.replace(profile, namespace_id="ns2", config_id="cfg-ns2", audiences=())
        assert validator.validate(tok, finder(other_namespace)).profile is other_namespace
        with pytest.raises(TokenRejected):
            validator.validate(tok, lambda issuer: None)

    def test_invalidate_forgets_results(self, validator, profile):
        tok = token()
        first = validator.validate(tok, finder(profile))
        validator.invalidate(profile.config_id)
        assert validator.validate(tok, finder(profile)) is not first
        second = validator.validate(tok, finder(profile))
        validator.invalidate()
        assert validator.validate(tok, finder(profile)) is not second

    def test_the_cache_is_bounded(self, clock, profile):
        validator = JWTValidator(clock=clock, cache_size=3)
        tokens = [with_claims(jti=f"t{i}") for i in range(5)]
        results = [validator.validate(tok, finder(profile)) for tok in tokens]
        assert validator.cached_results == 3
        assert validator.validate(tokens[4], finder(profile)) is results[4]
        assert validator.validate(tokens[0], finder(profile)) is not results[0]

    def test_rejections_are_not_cached(self, validator, clock, profile):
        tok = with_claims(nbf=NOW + 60)
        assert reason(validator, tok, profile) == "not_yet_valid"
        clock.now = NOW + 60
        assert validator.validate(tok, finder(profile)).subject == "alice"


class TestLooksLikeJwt:
    def test_a_compact_jws_looks_like_a_jwt(self):
        assert looks_like_jwt(token())
        assert looks_like_jwt(f"{encode_part(header('none'))}.{encode_part(claims())}.")

    @pytest.mark.parametrize(
        "text",
        [
            "hvs.CAESIJ1",
            "hvb.AAAAAQ",
            "s.abcdefgh",
            "hvs.a.b",
            "",
            "a.b",
            "a.b.c.d.e",
            f"{encode_part({'typ': 'JWT'})}.e30.sig",
            f"{encode_part('[1]')}.e30.sig",
            "not json.e30.sig",
            "e30.e30.sig",
        ],
    )
    def test_other_tokens_do_not(self, text):
        assert not looks_like_jwt(text)

    @pytest.mark.parametrize("value", [None, 1, b"a.b.c"])
    def test_non_strings_do_not(self, value):
        assert not looks_like_jwt(value)


class TestReasonTable:
    def test_every_reason_names_its_rule_and_source(self):
        for code, entry in REASONS.items():
            assert entry.code == code and entry.rule and entry.source

    def test_an_undocumented_reason_cannot_be_raised(self):
        with pytest.raises(ValueError):
            TokenRejected("made_up")

    def test_the_detail_defaults_to_the_rule(self):
        assert TokenRejected("expired").detail == REASONS["expired"].rule
