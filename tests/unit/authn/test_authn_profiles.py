"""Profile writes: field rules, normalization, create vs update vs mode switch, warnings
(DECISIONS.md#d28, #d29)."""

from __future__ import annotations

import dataclasses

import pytest
from authn_keymaterial import certificate_pem, private_pem, self_signed_certificate
from hypothesis import event, given, settings
from hypothesis import strategies as st

from vaultguard.service.authn.keys import ALGORITHMS, normalize_pem
from vaultguard.service.authn.profiles import (
    JWT_TYPES,
    WARN_DISABLED_ON_CREATE,
    WARN_HTTP_ISSUER,
    WARN_HTTP_JWKS_URI,
    WARN_LONG_NAME,
    WARN_ONE_ALGORITHM_FAMILY,
    WARN_RS256_ONLY,
    WRITABLE_FIELDS,
    Profile,
    ProfileValidationError,
    PublicKey,
    apply_profile_write,
    duplicate_issuer_error,
    normalize_issuer,
)

ISSUER = "https://idp.example.com"
JWKS = {"issuer_id": ISSUER, "jwks_uri": "https://idp.example.com/jwks"}
NOT_ASCII_URL = (
    "issuer_id must be a URL of printable ASCII characters without spaces (percent-encode the rest)"
)


def errors_of(write, *args) -> list[str]:
    with pytest.raises(ProfileValidationError) as caught:
        write(*args)
    assert str(caught.value) == "; ".join(caught.value.errors)
    return caught.value.errors


def static(*keys: tuple[str, str], **fields) -> dict:
    return {
        "issuer_id": ISSUER,
        "use_jwks": False,
        "public_keys": [{"key_id": kid, "pem": pem} for kid, pem in keys],
        **fields,
    }


class TestIssuerNormalization:
    @pytest.mark.parametrize(
        "spelling",
        [
            "https://idp.example.com",
            "https://idp.example.com/",
            "HTTPS://IDP.EXAMPLE.COM",
            "https://IdP.Example.Com/",
        ],
    )
    def test_issuer_spellings_that_differ_by_case_or_one_trailing_slash_are_the_same_issuer(self, spelling):
        assert normalize_issuer(spelling) == "https://idp.example.com"

    def test_the_path_is_lowercased_too(self):
        assert (
            normalize_issuer("https://login.example.com/Tenant/V2.0/")
            == "https://login.example.com/tenant/v2.0"
        )

    def test_only_one_trailing_slash_is_stripped(self):
        assert normalize_issuer("https://idp.example.com//") == "https://idp.example.com/"

    def test_only_ascii_letters_are_lowercased_so_unicode_cannot_fold_into_another_issuer(self):
        kelvin = "https://\u212aeycloak.example.com"
        assert normalize_issuer(kelvin) == kelvin
        assert normalize_issuer(kelvin) != normalize_issuer("https://keycloak.example.com")

    @given(st.from_regex(r"https?://[A-Za-z0-9.-]{1,20}(/[A-Za-z0-9._-]{1,8}){0,3}/?", fullmatch=True))
    def test_normalizing_an_accepted_issuer_twice_changes_nothing(self, issuer):
        once = normalize_issuer(issuer)
        assert normalize_issuer(once) == once

    def test_a_created_profile_stores_the_normalized_issuer(self, create):
        profile, _ = create({**JWKS, "issuer_id": "HTTPS://Tenant.Auth0.com/"})
        assert profile.issuer_id == "https://tenant.auth0.com"


class TestCreate:
    def test_a_jwks_profile_gets_every_default(self, create):
        profile, warnings = create(JWKS)
        assert profile == Profile(
            name="idp",
            namespace_id="root",
            config_id="cfg-1",
            issuer_id=ISSUER,
            jwks_uri="https://idp.example.com/jwks",
        )
        assert warnings == []

    def test_a_profile_created_without_algorithms_stores_the_full_list_explicitly(self, create):
        profile, _ = create(JWKS)
        assert profile.supported_algorithms == ALGORITHMS
        assert profile.to_api()["supported_algorithms"] == list(ALGORITHMS)

    @pytest.mark.parametrize("empty", [[], None])
    def test_an_empty_algorithm_list_also_stores_the_full_list(self, create, empty):
        profile, _ = create({**JWKS, "supported_algorithms": empty})
        assert profile.supported_algorithms == ALGORITHMS

    def test_a_static_profile_stores_its_keys_in_canonical_pem(self, create, rsa_pem):
        messy = "  " + rsa_pem.replace("\n", "\r\n  ")
        profile, _ = create(static(("k1", messy)))
        assert profile.public_keys == (PublicKey("k1", rsa_pem),)
        assert profile.use_jwks is False and profile.jwks_uri == ""

    def test_every_field_a_client_sends_is_stored(self, create, ca_certificate_pem):
        profile, _ = create(
            {
                **JWKS,
                "local": True,
                "jwks_ca_pem": ca_certificate_pem,
                "audiences": ["https://vault.example.com"],
                "no_default_policy": True,
                "optional_authorization_details": True,
                "user_claim": "email",
                "supported_algorithms": ["PS256", "ES256"],
                "jwt_type": "transaction_token",
                "clock_skew_leeway": 30,
                "enabled": True,
                "unique_id_claim": "uti",
                "actor_claim": "act.client_id",
                "groups_claim": "groups",
            }
        )
        assert dataclasses.asdict(profile) == {
            "name": "idp",
            "namespace_id": "root",
            "config_id": "cfg-1",
            "issuer_id": ISSUER,
            "local": True,
            "use_jwks": True,
            "jwks_uri": "https://idp.example.com/jwks",
            "jwks_ca_pem": ca_certificate_pem,
            "public_keys": (),
            "audiences": ("https://vault.example.com",),
            "no_default_policy": True,
            "optional_authorization_details": True,
            "user_claim": "email",
            "supported_algorithms": ("PS256", "ES256"),
            "jwt_type": "transaction_token",
            "clock_skew_leeway": 30,
            "enabled": True,
            "unique_id_claim": "uti",
            "actor_claim": "act.client_id",
            "groups_claim": "groups",
        }

    def test_the_config_id_comes_from_the_generator_on_create(self):
        profile, _ = apply_profile_write(
            None, JWKS, name="a", namespace_id="ns1", new_config_id=lambda: "uuid-7"
        )
        assert (profile.config_id, profile.namespace_id, profile.name) == ("uuid-7", "ns1", "a")

    @pytest.mark.parametrize("data", [{}, {"issuer_id": ""}, {"issuer_id": None}])
    def test_issuer_id_is_required_on_create(self, create, data):
        assert errors_of(create, {**data, "jwks_uri": "https://idp.example.com/jwks"}) == [
            "issuer_id is required"
        ]


class TestReadShape:
    def test_a_jwks_profile_reads_back_every_field_with_empty_static_fields(self, create):
        profile, _ = create({**JWKS, "audiences": ["a"]})
        assert profile.to_api() == {
            "config_id": "cfg-1",
            "profile_name": "idp",
            "issuer_id": ISSUER,
            "local": False,
            "use_jwks": True,
            "jwks_uri": "https://idp.example.com/jwks",
            "jwks_ca_pem": "",
            "public_keys": [],
            "audiences": ["a"],
            "no_default_policy": False,
            "optional_authorization_details": False,
            "user_claim": "sub",
            "supported_algorithms": list(ALGORITHMS),
            "jwt_type": "access_token",
            "clock_skew_leeway": 0,
            "enabled": True,
            "unique_id_claim": "jti",
            "actor_claim": "act.sub",
            "groups_claim": "",
            "mount_accessor": "oauth-resource-server_root_cfg-1",
        }

    def test_a_static_profile_reads_back_its_keys_and_empty_jwks_fields(self, static_profile, rsa_pem):
        data = static_profile.to_api()
        assert data["public_keys"] == [{"key_id": "k1", "pem": rsa_pem}]
        assert (data["use_jwks"], data["jwks_uri"], data["jwks_ca_pem"]) == (False, "", "")

    def test_every_writable_field_is_in_the_read_response(self, jwks_profile):
        assert set(WRITABLE_FIELDS) | {"profile_name", "config_id", "mount_accessor"} == set(jwks_profile.to_api())

    def test_what_was_read_can_be_written_back_unchanged(self, static_profile, update):
        data = static_profile.to_api()
        written = {k: v for k, v in data.items() if k in WRITABLE_FIELDS}
        profile, _ = update(static_profile, written)
        assert profile == static_profile


class TestPartialUpdate:
    def test_fields_not_sent_keep_their_stored_values(self, create, update):
        original, _ = create({**JWKS, "audiences": ["a"], "clock_skew_leeway": 10, "user_claim": "email"})
        profile, _ = update(original, {"enabled": False})
        assert profile == dataclasses.replace(original, enabled=False)

    def test_an_update_keeps_the_config_id(self, jwks_profile, update):
        profile, _ = update(jwks_profile, {"audiences": ["b"]})
        assert profile.config_id == jwks_profile.config_id == "cfg-1"

    def test_an_update_never_changes_the_profile_it_was_given(self, static_profile, update, ec_pem):
        before = dataclasses.replace(static_profile)
        update(static_profile, {"public_keys": [{"key_id": "k2", "pem": ec_pem}], "audiences": ["x"]})
        assert static_profile == before

    def test_a_failed_update_changes_nothing_either(self, jwks_profile, update):
        before = dataclasses.replace(jwks_profile)
        errors_of(update, jwks_profile, {"audiences": ["x"], "clock_skew_leeway": -1})
        assert jwks_profile == before

    def test_sending_public_keys_replaces_the_whole_list(self, static_profile, update, ec_pem):
        profile, _ = update(static_profile, {"public_keys": [{"key_id": "k2", "pem": ec_pem}]})
        assert [k.key_id for k in profile.public_keys] == ["k2"]

    def test_an_empty_algorithm_list_on_update_means_all_algorithms(self, create, update):
        original, _ = create({**JWKS, "supported_algorithms": ["ES256"]})
        profile, _ = update(original, {"supported_algorithms": []})
        assert profile.supported_algorithms == ALGORITHMS

    def test_audiences_can_be_cleared(self, create, update):
        original, _ = create({**JWKS, "audiences": ["a", "b"]})
        assert update(original, {"audiences": []})[0].audiences == ()

    def test_an_existing_profile_under_another_name_is_a_caller_bug(self, jwks_profile):
        with pytest.raises(ValueError, match="another name or namespace"):
            apply_profile_write(jwks_profile, {}, name="other", namespace_id="root", new_config_id=str)


class TestImmutableFields:
    @pytest.mark.parametrize("spelling", [ISSUER, ISSUER + "/", ISSUER.upper(), "https://IDP.example.com/"])
    def test_resending_the_stored_issuer_in_any_equivalent_spelling_is_accepted(
        self, jwks_profile, update, spelling
    ):
        profile, _ = update(jwks_profile, {"issuer_id": spelling, "clock_skew_leeway": 5})
        assert profile.issuer_id == ISSUER and profile.clock_skew_leeway == 5

    def test_changing_the_issuer_is_refused_naming_the_field(self, jwks_profile, update):
        assert errors_of(update, jwks_profile, {"issuer_id": "https://other.example.com"}) == [
            'issuer_id cannot be changed after the profile is created (stored "https://idp.example.com", '
            'sent "https://other.example.com"); delete and recreate the profile to change it'
        ]

    def test_changing_local_is_refused(self, jwks_profile, update):
        assert errors_of(update, jwks_profile, {"local": True}) == [
            "local cannot be changed after the profile is created (stored false, sent true); "
            "delete and recreate the profile to change it"
        ]

    def test_changing_unique_id_claim_is_refused(self, jwks_profile, update):
        assert errors_of(update, jwks_profile, {"unique_id_claim": "uti"}) == [
            'unique_id_claim cannot be changed after the profile is created (stored "jti", sent "uti"); '
            "delete and recreate the profile to change it"
        ]

    def test_resending_the_stored_immutable_values_is_accepted(self, jwks_profile, update):
        profile, _ = update(jwks_profile, {"issuer_id": ISSUER, "local": False, "unique_id_claim": "jti"})
        assert profile == jwks_profile

    def test_all_immutable_changes_are_reported_together(self, jwks_profile, update):
        errors = errors_of(
            update,
            jwks_profile,
            {"issuer_id": "https://x.example.com", "local": True, "unique_id_claim": "uti"},
        )
        assert [e.split(" ")[0] for e in errors] == ["issuer_id", "local", "unique_id_claim"]


class TestModes:
    def test_jwks_mode_requires_a_jwks_uri(self, create):
        assert errors_of(create, {"issuer_id": ISSUER}) == ["jwks_uri is required when use_jwks=true"]

    def test_jwks_mode_refuses_public_keys(self, create, rsa_pem):
        assert errors_of(create, {**JWKS, "public_keys": [{"key_id": "k1", "pem": rsa_pem}]}) == [
            "public_keys must not be set when use_jwks=true; keys are fetched from jwks_uri"
        ]

    def test_jwks_mode_accepts_an_empty_public_key_list(self, create):
        profile, _ = create({**JWKS, "public_keys": []})
        assert profile.public_keys == ()

    def test_static_mode_requires_at_least_one_key(self, create):
        assert errors_of(create, static()) == ["public_keys must hold at least one key when use_jwks=false"]

    def test_static_mode_refuses_a_jwks_uri(self, create, rsa_pem):
        assert errors_of(create, static(("k1", rsa_pem), jwks_uri="https://idp.example.com/jwks")) == [
            "jwks_uri must not be set when use_jwks=false; use public_keys"
        ]

    def test_static_mode_refuses_a_jwks_ca_pem_because_nothing_is_fetched(
        self, create, rsa_pem, ca_certificate_pem
    ):
        assert errors_of(create, static(("k1", rsa_pem), jwks_ca_pem=ca_certificate_pem)) == [
            "jwks_ca_pem must not be set when use_jwks=false; it only secures fetching jwks_uri"
        ]

    def test_static_mode_accepts_empty_jwks_fields(self, create, rsa_pem):
        profile, _ = create(static(("k1", rsa_pem), jwks_uri="", jwks_ca_pem=""))
        assert (profile.jwks_uri, profile.jwks_ca_pem) == ("", "")

    def test_switching_to_static_keys_drops_the_jwks_fields(
        self, create, update, rsa_pem, ca_certificate_pem
    ):
        original, _ = create({**JWKS, "jwks_ca_pem": ca_certificate_pem})
        profile, _ = update(original, {"use_jwks": False, "public_keys": [{"key_id": "k1", "pem": rsa_pem}]})
        assert (profile.use_jwks, profile.jwks_uri, profile.jwks_ca_pem) == (False, "", "")
        assert profile.public_keys == (PublicKey("k1", rsa_pem),)

    def test_switching_to_jwks_drops_the_static_keys(self, static_profile, update):
        profile, _ = update(static_profile, {"use_jwks": True, "jwks_uri": "https://idp.example.com/jwks"})
        assert (profile.use_jwks, profile.public_keys) == (True, ())

    def test_switching_to_jwks_without_a_uri_is_refused(self, static_profile, update):
        assert errors_of(update, static_profile, {"use_jwks": True}) == [
            "jwks_uri is required when use_jwks=true"
        ]

    def test_switching_to_static_keys_without_keys_is_refused(self, jwks_profile, update):
        assert errors_of(update, jwks_profile, {"use_jwks": False}) == [
            "public_keys must hold at least one key when use_jwks=false"
        ]

    def test_sending_the_current_mode_again_is_not_a_switch(self, static_profile, update):
        profile, _ = update(static_profile, {"use_jwks": False})
        assert profile.public_keys == static_profile.public_keys

    def test_adding_a_jwks_uri_to_a_static_profile_is_refused(self, static_profile, update):
        assert errors_of(update, static_profile, {"jwks_uri": "https://idp.example.com/jwks"}) == [
            "jwks_uri must not be set when use_jwks=false; use public_keys"
        ]

    def test_clearing_the_jwks_uri_of_a_jwks_profile_is_refused(self, jwks_profile, update):
        assert errors_of(update, jwks_profile, {"jwks_uri": ""}) == [
            "jwks_uri is required when use_jwks=true"
        ]


class TestUrls:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (
                "idp.example.com",
                'issuer_id "idp.example.com" must be an absolute URL starting with https:// or http://',
            ),
            (
                "ftp://idp.example.com",
                'issuer_id "ftp://idp.example.com" must be an absolute URL starting with https:// or http://',
            ),
            ("https://", 'issuer_id "https://" must be an absolute URL starting with https:// or http://'),
            ("https://:443/x", 'issuer_id "https://:443/x" must have a host'),
            ("https://idp.example.com:99999", 'issuer_id "https://idp.example.com:99999" is not a valid URL'),
            ("https://[::1", 'issuer_id "https://[::1" is not a valid URL'),
            (
                "https://idp.example.com/a b",
                NOT_ASCII_URL,
            ),
            (
                " https://idp.example.com",
                NOT_ASCII_URL,
            ),
            (
                "https://idp.exämple.com",
                NOT_ASCII_URL,
            ),
            (
                "https://user:pw@idp.example.com",
                'issuer_id "https://user:pw@idp.example.com" must have no user name or password',
            ),
            (
                "https://idp.example.com/?tenant=a",
                "issuer_id \"https://idp.example.com/?tenant=a\" must have no query ('?')",
            ),
            (
                "https://idp.example.com/#x",
                "issuer_id \"https://idp.example.com/#x\" must have no fragment ('#')",
            ),
            ("https://idp.example.com//", "issuer_id must not end with more than one '/'"),
            (42, "issuer_id must be a string"),
            ("https://e.com/" + "a" * 2048, "issuer_id is 2062 characters; at most 2048 are allowed"),
        ],
    )
    def test_an_issuer_that_is_not_an_absolute_http_url_is_refused(self, create, value, message):
        assert errors_of(create, {**JWKS, "issuer_id": value}) == [message]

    @pytest.mark.parametrize(
        "value",
        [
            "https://idp.example.com",
            "http://localhost:8080/realms/dev",
            "https://[2001:db8::1]:8443/",
            "https://a.b/c/",
        ],
    )
    def test_an_absolute_http_url_is_an_acceptable_issuer(self, create, value):
        assert create({**JWKS, "issuer_id": value})[0].issuer_id == normalize_issuer(value)

    def test_a_jwks_uri_may_carry_a_query(self, create):
        uri = "https://tenant.b2clogin.com/tenant.onmicrosoft.com/discovery/v2.0/keys?p=b2c_1_signin"
        assert create({**JWKS, "jwks_uri": uri})[0].jwks_uri == uri

    def test_a_jwks_uri_is_stored_exactly_as_sent(self, create):
        assert (
            create({**JWKS, "jwks_uri": "https://IdP.example.com/JWKS"})[0].jwks_uri
            == "https://IdP.example.com/JWKS"
        )

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("/jwks", 'jwks_uri "/jwks" must be an absolute URL starting with https:// or http://'),
            (
                "file:///etc/passwd",
                'jwks_uri "file:///etc/passwd" must be an absolute URL starting with https:// or http://',
            ),
            (
                "https://u:p@idp.example.com/jwks",
                'jwks_uri "https://u:p@idp.example.com/jwks" must have no user name or password',
            ),
            (
                "https://idp.example.com/jwks#k",
                "jwks_uri \"https://idp.example.com/jwks#k\" must have no fragment ('#')",
            ),
            (["https://idp.example.com/jwks"], "jwks_uri must be a string"),
        ],
    )
    def test_a_jwks_uri_that_is_not_an_absolute_http_url_is_refused(self, create, value, message):
        assert errors_of(create, {**JWKS, "jwks_uri": value}) == [message]


class TestJwksCaPem:
    def test_a_ca_certificate_is_stored_in_canonical_pem(self, create, ca_certificate_pem):
        profile, _ = create({**JWKS, "jwks_ca_pem": ca_certificate_pem.replace("\n", "\r\n") + "\n\n"})
        assert profile.jwks_ca_pem == ca_certificate_pem

    def test_a_bundle_of_several_certificates_is_accepted(self, create, keys, ca_certificate_pem):
        bundle = ca_certificate_pem + certificate_pem(self_signed_certificate(keys.rsa2048, "second"))
        assert create({**JWKS, "jwks_ca_pem": bundle})[0].jwks_ca_pem == bundle

    def test_a_public_key_is_not_a_ca_bundle(self, create, rsa_pem):
        assert errors_of(create, {**JWKS, "jwks_ca_pem": rsa_pem}) == [
            "jwks_ca_pem: block 1 is a PUBLIC KEY; only CERTIFICATE blocks are allowed"
        ]

    def test_garbage_is_not_a_ca_bundle(self, create):
        assert errors_of(create, {**JWKS, "jwks_ca_pem": "my CA"}) == [
            "jwks_ca_pem: PEM has no -----BEGIN ...----- line"
        ]

    def test_clearing_the_ca_bundle_is_allowed(self, create, update, ca_certificate_pem):
        original, _ = create({**JWKS, "jwks_ca_pem": ca_certificate_pem})
        assert update(original, {"jwks_ca_pem": ""})[0].jwks_ca_pem == ""


class TestPublicKeys:
    def test_a_short_rsa_key_is_refused_naming_its_index_and_key_id(self, create, rsa_pem, pem_of):
        assert errors_of(create, static(("k1", rsa_pem), ("k2", pem_of("rsa1024")))) == [
            'public_keys[1] (key_id "k2"): RSA key is 1024 bits; at least 2048 are required'
        ]

    def test_a_private_key_is_refused(self, create, keys):
        assert errors_of(create, static(("k1", private_pem(keys.p256)))) == [
            'public_keys[0] (key_id "k1"): this is a private key (PRIVATE KEY); '
            "provide only the public key or a certificate"
        ]

    def test_a_certificate_is_accepted_as_a_static_key(self, create, ca_certificate_pem):
        profile, _ = create(static(("k1", ca_certificate_pem)))
        assert profile.public_keys[0].pem == ca_certificate_pem

    def test_every_supported_key_type_is_accepted_together(self, create, pem_of):
        names = ["rsa2048", "p256", "p384", "p521", "ed25519"]
        profile, _ = create(static(*[(n, pem_of(n)) for n in names]))
        assert [k.key_id for k in profile.public_keys] == names

    def test_a_duplicate_key_id_is_refused(self, create, rsa_pem, ec_pem):
        assert errors_of(create, static(("k1", rsa_pem), ("k1", ec_pem))) == [
            'public_keys[1]: duplicate key_id "k1" (already used by public_keys[0])'
        ]

    @pytest.mark.parametrize(
        ("key_id", "message"),
        [
            ("", "public_keys[0].key_id must not be empty"),
            (None, "public_keys[0].key_id must be a string"),
            (" k1", 'public_keys[0].key_id " k1" must not start or end with whitespace'),
            ("k\n1", "public_keys[0].key_id must not contain control characters"),
            ("k" * 2049, "public_keys[0].key_id is 2049 characters; at most 2048 are allowed"),
        ],
    )
    def test_a_key_id_must_be_a_clean_non_empty_string(self, create, rsa_pem, key_id, message):
        assert errors_of(create, static((key_id, rsa_pem))) == [message]

    def test_a_key_without_pem_is_refused(self, create):
        assert errors_of(create, static(("k1", ""))) == ['public_keys[0] (key_id "k1"): pem is required']

    def test_an_entry_that_is_not_an_object_is_refused(self, create):
        assert errors_of(create, {"issuer_id": ISSUER, "use_jwks": False, "public_keys": ["pem"]}) == [
            "public_keys[0] must be an object with key_id and pem"
        ]

    def test_an_entry_with_unknown_fields_is_refused(self, create, rsa_pem):
        data = {
            "issuer_id": ISSUER,
            "use_jwks": False,
            "public_keys": [{"key_id": "k", "pem": rsa_pem, "alg": "RS256"}],
        }
        assert errors_of(create, data) == [
            "public_keys[0] has unknown fields alg; only key_id and pem are allowed"
        ]

    def test_public_keys_that_are_not_a_list_are_refused(self, create):
        assert errors_of(create, {"issuer_id": ISSUER, "use_jwks": False, "public_keys": "k1"}) == [
            "public_keys must be a list of {key_id, pem} objects"
        ]

    def test_more_than_100_keys_are_refused(self, create, rsa_pem):
        keys = [(f"k{i}", rsa_pem) for i in range(101)]
        assert errors_of(create, static(*keys)) == ["public_keys has 101 entries; at most 100 are allowed"]

    def test_100_keys_are_accepted(self, create, rsa_pem):
        assert len(create(static(*[(f"k{i}", rsa_pem) for i in range(100)]))[0].public_keys) == 100

    def test_a_pem_over_16_kib_is_refused(self, create, rsa_pem):
        big = rsa_pem + " " * 16384
        assert errors_of(create, static(("k1", big))) == [
            f'public_keys[0] (key_id "k1"): PEM is {len(big)} bytes; at most 16384 are allowed'
        ]

    def test_a_key_that_no_allowed_algorithm_can_use_is_refused(self, create, pem_of):
        data = static(("ec", pem_of("p384")), ("rsa", pem_of("rsa2048")), supported_algorithms=["PS256"])
        assert errors_of(create, data) == [
            'public_keys[0] (key_id "ec"): an EC P-384 key can only be used with ES384; '
            "supported_algorithms allows none of them"
        ]

    def test_narrowing_algorithms_later_is_checked_against_the_stored_keys(self, static_profile, update):
        assert errors_of(update, static_profile, {"supported_algorithms": ["ES256"]}) == [
            'public_keys[0] (key_id "k1"): an RSA-2048 key can only be used with RS256, RS384, RS512, '
            "PS256, PS384, PS512; supported_algorithms allows none of them"
        ]

    def test_every_bad_key_is_reported_at_once(self, create, pem_of, keys):
        data = static(
            ("a", pem_of("rsa1024")), ("b", pem_of("secp256k1")), ("c", "junk"), ("d", pem_of("dsa"))
        )
        assert [e.split(":")[0] for e in errors_of(create, data)] == [
            'public_keys[0] (key_id "a")',
            'public_keys[1] (key_id "b")',
            'public_keys[2] (key_id "c")',
            'public_keys[3] (key_id "d")',
        ]


class TestAlgorithms:
    @pytest.mark.parametrize("value", ["HS256", "HS384", "HS512", "hs256"])
    def test_hmac_algorithms_are_refused_with_a_specific_message(self, create, value):
        assert errors_of(create, {**JWKS, "supported_algorithms": [value]}) == [
            f'supported_algorithms: "{value}" is never allowed; '
            "HMAC algorithms need a shared secret and only asymmetric signatures are accepted"
        ]

    @pytest.mark.parametrize("value", ["none", "None", "NONE"])
    def test_none_is_refused_with_a_specific_message(self, create, value):
        assert errors_of(create, {**JWKS, "supported_algorithms": [value]}) == [
            f'supported_algorithms: "{value}" is never allowed; tokens must be signed'
        ]

    @pytest.mark.parametrize("value", ["rs256", "RSA-OAEP", "Ed25519", "ES256K"])
    def test_an_unknown_algorithm_is_refused_listing_the_allowed_values(self, create, value):
        assert errors_of(create, {**JWKS, "supported_algorithms": [value]}) == [
            f'supported_algorithms: "{value}" is not supported; supported values are '
            "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"
        ]

    def test_a_duplicate_algorithm_is_refused(self, create):
        assert errors_of(create, {**JWKS, "supported_algorithms": ["ES256", "PS256", "ES256"]}) == [
            'supported_algorithms lists "ES256" more than once'
        ]

    def test_the_order_a_client_gives_is_kept(self, create):
        profile, _ = create({**JWKS, "supported_algorithms": ["EdDSA", "ES384", "PS512"]})
        assert profile.supported_algorithms == ("EdDSA", "ES384", "PS512")

    def test_entries_that_are_not_strings_are_refused(self, create):
        assert errors_of(create, {**JWKS, "supported_algorithms": [256]}) == [
            "supported_algorithms entries must be strings"
        ]

    def test_algorithms_that_are_not_a_list_are_refused(self, create):
        assert errors_of(create, {**JWKS, "supported_algorithms": "RS256"}) == [
            "supported_algorithms must be a list of strings"
        ]


class TestScalarFields:
    @pytest.mark.parametrize("value", JWT_TYPES)
    def test_both_jwt_types_are_accepted(self, create, value):
        assert create({**JWKS, "jwt_type": value})[0].jwt_type == value

    def test_an_unknown_jwt_type_is_refused_listing_the_allowed_values(self, create):
        assert errors_of(create, {**JWKS, "jwt_type": "id_token"}) == [
            'jwt_type "id_token" is not supported; supported values are access_token, transaction_token'
        ]

    @pytest.mark.parametrize("value", [0, 1, 3600])
    def test_a_leeway_from_zero_to_one_hour_is_accepted(self, create, value):
        assert create({**JWKS, "clock_skew_leeway": value})[0].clock_skew_leeway == value

    @pytest.mark.parametrize("value", [-1, 3601, 10**9])
    def test_a_leeway_outside_zero_to_one_hour_is_refused(self, create, value):
        assert errors_of(create, {**JWKS, "clock_skew_leeway": value}) == [
            f"clock_skew_leeway must be between 0 and 3600 seconds, got {value}"
        ]

    @pytest.mark.parametrize("value", ["30", 1.5, True, None])
    def test_a_leeway_that_is_not_an_integer_is_refused(self, create, value):
        assert errors_of(create, {**JWKS, "clock_skew_leeway": value}) == [
            "clock_skew_leeway must be an integer number of seconds"
        ]

    @pytest.mark.parametrize(
        "field", ["use_jwks", "local", "no_default_policy", "optional_authorization_details", "enabled"]
    )
    def test_a_flag_that_is_not_a_boolean_is_refused(self, create, field):
        assert f"{field} must be a boolean" in errors_of(create, {**JWKS, field: "true"})

    def test_audiences_are_deduplicated_keeping_their_first_position(self, create):
        profile, _ = create({**JWKS, "audiences": ["b", "a", "b", "c", "a"]})
        assert profile.audiences == ("b", "a", "c")

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ([""], "audiences[0] must not be empty"),
            (["a", 7], "audiences[1] must be a string"),
            ("api", "audiences must be a list of strings"),
            (["x"] * 101, "audiences has 101 entries; at most 100 are allowed"),
        ],
    )
    def test_bad_audiences_are_refused(self, create, value, message):
        assert errors_of(create, {**JWKS, "audiences": value}) == [message]

    @pytest.mark.parametrize("field", ["user_claim", "unique_id_claim"])
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("", "{f} must not be empty"),
            (None, "{f} must be a string"),
            ("sub ", '{f} "sub " must not start or end with whitespace'),
        ],
    )
    def test_a_claim_name_must_be_a_clean_non_empty_string(self, create, field, value, message):
        assert errors_of(create, {**JWKS, field: value}) == [message.format(f=field)]

    @pytest.mark.parametrize("value", ["act.sub", "act", "act.client_id", "a.b.c"])
    def test_an_actor_claim_is_a_dotted_path(self, create, value):
        assert create({**JWKS, "actor_claim": value})[0].actor_claim == value

    @pytest.mark.parametrize("value", ["act..sub", ".sub", "act.", "."])
    def test_an_actor_claim_with_an_empty_segment_is_refused(self, create, value):
        assert errors_of(create, {**JWKS, "actor_claim": value}) == [
            f'actor_claim "{value}" must be a dotted claim path of non-empty segments, like "act.sub"'
        ]

    def test_an_unknown_field_is_refused_naming_it(self, create):
        assert errors_of(create, {**JWKS, "config_id": "mine"}) == [
            'unknown field "config_id"; writable fields are ' + ", ".join(WRITABLE_FIELDS)
        ]


class TestProfileName:
    @pytest.mark.parametrize("name", ["a", "github-actions", "Entra_ID.prod", "x" * 128])
    def test_names_of_letters_digits_dash_underscore_and_dot_are_accepted(self, create, name):
        assert create(JWKS, name=name)[0].name == name

    @pytest.mark.parametrize(
        ("name", "message"),
        [
            ("", "profile name is required"),
            ("x" * 129, "profile name is 129 characters; at most 128 are allowed"),
            ("a/b", "profile name \"a/b\" may contain only letters, digits, '-', '_' and '.'"),
            ("a b", "profile name \"a b\" may contain only letters, digits, '-', '_' and '.'"),
            (
                "ünïcode",
                "profile name \"\\u00fcn\\u00efcode\" may contain only letters, digits, '-', '_' and '.'",
            ),
            ("..", "profile name \"..\" must not be '.' or contain '..'"),
            ("a..b", "profile name \"a..b\" must not be '.' or contain '..'"),
            (".", "profile name \".\" must not be '.' or contain '..'"),
        ],
    )
    def test_unsafe_names_are_refused(self, create, name, message):
        assert errors_of(create, JWKS, name) == [message]


class TestWarnings:
    def test_a_plain_https_profile_has_no_warnings(self, create):
        assert create(JWKS)[1] == []

    def test_a_jwks_uri_over_http_warns(self, create):
        assert create({**JWKS, "jwks_uri": "http://idp.example.com/jwks"})[1] == [
            "JWKS URI uses HTTP instead of HTTPS. This is insecure and should only be used in development."
        ]
        assert WARN_HTTP_JWKS_URI.startswith("JWKS URI uses HTTP")

    def test_an_issuer_over_http_warns(self, create):
        assert create({**JWKS, "issuer_id": "http://localhost:8080/realms/dev"})[1] == [WARN_HTTP_ISSUER]

    def test_a_name_over_64_characters_warns(self, create):
        assert create(JWKS, name="n" * 65)[1] == [
            "Profile name exceeds 64 characters. Consider using a shorter name for better readability."
        ]
        assert create(JWKS, name="n" * 64)[1] == []
        assert WARN_LONG_NAME in create(JWKS, name="n" * 65)[1]

    def test_creating_a_disabled_profile_warns(self, create):
        assert create({**JWKS, "enabled": False})[1] == [
            "Creating a disabled profile. Enable it with enabled=true when ready."
        ]

    def test_disabling_an_existing_profile_does_not_warn_about_creating(self, jwks_profile, update):
        assert WARN_DISABLED_ON_CREATE not in update(jwks_profile, {"enabled": False})[1]

    def test_rs256_alone_suggests_ps256_and_warns_about_one_family(self, create):
        assert create({**JWKS, "supported_algorithms": ["RS256"]})[1] == [
            'algorithm "RS256" is functional but consider using PS256 (RSA-PSS) for better security',
            "profile supports only one algorithm family - "
            "consider supporting multiple families for flexibility",
        ]
        assert [WARN_RS256_ONLY, WARN_ONE_ALGORITHM_FAMILY] == create(
            {**JWKS, "supported_algorithms": ["RS256"]}
        )[1]

    @pytest.mark.parametrize("algorithms", [["ES256", "ES384"], ["PS256", "PS512"], ["EdDSA"], ["RS512"]])
    def test_algorithms_from_one_family_warn(self, create, algorithms):
        assert create({**JWKS, "supported_algorithms": algorithms})[1] == [WARN_ONE_ALGORITHM_FAMILY]

    @pytest.mark.parametrize("algorithms", [["RS256", "PS256"], ["ES256", "EdDSA"], list(ALGORITHMS)])
    def test_algorithms_from_several_families_do_not_warn(self, create, algorithms):
        assert create({**JWKS, "supported_algorithms": algorithms})[1] == []

    @pytest.mark.parametrize("claim", ["sub", "email", "preferred_username", "upn", "client_id", "azp"])
    def test_a_standard_user_claim_does_not_warn(self, create, claim):
        assert create({**JWKS, "user_claim": claim})[1] == []

    def test_a_non_standard_user_claim_warns_quoting_the_claim(self, create):
        assert create({**JWKS, "user_claim": "oid"})[1] == [
            'user_claim "oid" is not a standard JWT claim - ensure this claim exists in your JWTs'
        ]

    def test_warnings_describe_the_resulting_profile_on_update_too(self, create, update):
        original, _ = create({**JWKS, "jwks_uri": "http://idp.example.com/jwks"})
        assert update(original, {"audiences": ["x"]})[1] == [WARN_HTTP_JWKS_URI]

    def test_a_refused_write_returns_no_warnings_only_errors(self, create):
        errors = errors_of(
            create, {**JWKS, "jwks_uri": "http://idp.example.com/jwks", "clock_skew_leeway": -5}
        )
        assert errors == ["clock_skew_leeway must be between 0 and 3600 seconds, got -5"]


class TestErrors:
    def test_every_fatal_error_is_reported_in_one_response(self, create, pem_of):
        errors = errors_of(
            create,
            {
                "issuer_id": "not a url",
                "use_jwks": False,
                "public_keys": [{"key_id": "k", "pem": pem_of("rsa1024")}],
                "supported_algorithms": ["HS256"],
                "jwt_type": "x",
                "clock_skew_leeway": -1,
                "audiences": [""],
                "actor_claim": "a..b",
            },
            "bad/name",
        )
        assert [e.split(" ")[0] for e in errors] == [
            "profile",
            "issuer_id",
            "public_keys[0]",
            "audiences[0]",
            "actor_claim",
            "supported_algorithms:",
            "jwt_type",
            "clock_skew_leeway",
        ]

    def test_a_duplicate_issuer_error_uses_vaults_wording(self):
        error = duplicate_issuer_error("https://idp.example.com", "other")
        assert error.errors == ['duplicate issuer_id "https://idp.example.com" found in profile "other"']

    def test_a_validation_error_is_a_value_error(self):
        assert issubclass(ProfileValidationError, ValueError)

    def test_quoted_values_are_escaped_and_shortened(self, create):
        (error,) = errors_of(create, {**JWKS, "jwt_type": "x\n" + "y" * 500})
        assert "\n" not in error and "\\n" in error and len(error) < 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
valid_values = {
    "local": st.booleans(),
    "audiences": st.lists(st.sampled_from(["a", "b", "https://vault"]), max_size=4),
    "no_default_policy": st.booleans(),
    "optional_authorization_details": st.booleans(),
    "user_claim": st.sampled_from(["sub", "oid", "email"]),
    "supported_algorithms": st.sampled_from([[], ["PS256", "ES256"], ["RS256"], list(ALGORITHMS)]),
    "jwt_type": st.sampled_from(JWT_TYPES),
    "clock_skew_leeway": st.integers(0, 3600),
    "enabled": st.booleans(),
    "unique_id_claim": st.sampled_from(["jti", "uti"]),
    "actor_claim": st.sampled_from(["act.sub", "act.client_id"]),
}
issuers = st.sampled_from([ISSUER, "HTTPS://IdP.Example.com/", "http://localhost:8080/r"])
creates = st.fixed_dictionaries(
    {
        "issuer_id": issuers,
        "jwks_uri": st.sampled_from(["https://idp.example.com/jwks", "http://idp/jwks?x=1"]),
    },
    optional={"jwks_ca_pem": st.just("CA"), **valid_values},
) | st.fixed_dictionaries(
    {
        "issuer_id": issuers,
        "use_jwks": st.just(False),
        "public_keys": st.lists(st.just("rsa2048"), min_size=1),
    },
    optional=valid_values,
)
claim_names = st.sampled_from(["sub", "oid", "act.sub", "", "a..b", " x"])
plausible_values = {
    "issuer_id": st.sampled_from([ISSUER, "HTTPS://IdP.Example.com/", "http://localhost:8080/r", "nope", ""]),
    "local": st.booleans(),
    "use_jwks": st.booleans(),
    "jwks_uri": st.sampled_from(["https://idp.example.com/jwks", "http://idp/jwks?x=1", "", "jwks"]),
    "jwks_ca_pem": st.sampled_from(["", "CA", "junk"]),
    "public_keys": st.lists(st.sampled_from(["rsa2048", "p256", "ed25519", "rsa1024", "junk"]), max_size=3),
    "audiences": st.lists(st.sampled_from(["a", "b", "", "https://vault"]), max_size=4),
    "no_default_policy": st.booleans(),
    "optional_authorization_details": st.booleans(),
    "user_claim": claim_names,
    "supported_algorithms": st.lists(st.sampled_from([*ALGORITHMS, "HS256", "none"]), max_size=4),
    "jwt_type": st.sampled_from([*JWT_TYPES, "id_token"]),
    "clock_skew_leeway": st.integers(-5, 4000),
    "enabled": st.booleans(),
    "unique_id_claim": claim_names,
    "actor_claim": claim_names,
    "groups_claim": claim_names,
}
updates = st.fixed_dictionaries(
    {}, optional={field: plausible_values[field] | json_values for field in WRITABLE_FIELDS}
)


@settings(max_examples=400, deadline=None)
@given(data=creates, sequel=updates)
def test_any_write_gives_a_valid_profile_or_a_validation_error_and_reads_back_unchanged(
    data, sequel, pem_of, ca_certificate_pem
):
    """Fuzzed create then update: only ProfileValidationError escapes; a stored profile round-trips."""

    def materialize(write: dict) -> dict:
        write = dict(write)
        if write.get("jwks_ca_pem") == "CA":
            write["jwks_ca_pem"] = ca_certificate_pem
        keys = write.get("public_keys")
        if isinstance(keys, list) and all(
            k in ("rsa2048", "p256", "ed25519", "rsa1024", "junk") for k in keys
        ):
            write["public_keys"] = [
                {"key_id": f"{name}-{i}", "pem": "junk" if name == "junk" else pem_of(name)}
                for i, name in enumerate(keys)
            ]
        return write

    existing = None
    for write in (materialize(data), materialize(sequel)):
        name = existing.name if existing else "p"
        try:
            profile, warnings = apply_profile_write(
                existing, write, name=name, namespace_id="root", new_config_id=lambda: "c"
            )
        except ProfileValidationError as error:
            assert error.errors and all(isinstance(e, str) and e for e in error.errors)
            event("write refused")
            continue
        event("write stored" if existing is None else "update stored")
        assert all(isinstance(w, str) for w in warnings)
        assert bool(profile.jwks_uri) == profile.use_jwks != bool(profile.public_keys)
        read = profile.to_api()
        again, _ = apply_profile_write(
            profile,
            {k: v for k, v in read.items() if k in WRITABLE_FIELDS},
            name=name,
            namespace_id="root",
            new_config_id=lambda: "unused",
        )
        assert again == profile
        existing = profile


def test_stored_pem_is_what_normalize_pem_gives(create, rsa_pem):
    messy = rsa_pem.replace("\n", "\n\n")
    profile, _ = create(static(("k1", messy)))
    assert profile.public_keys[0].pem == normalize_pem(messy) == rsa_pem
