"""OAuth resource server profiles over HTTP (DECISIONS.md#d28, #d29, #d14, #d15, #d16, #d19, #d22)."""

from __future__ import annotations

import pytest
from api_objects import (
    ALL_ALGORITHMS,
    UUID,
    ca_certificate_pem,
    create_profile,
    ec_pem,
    ed25519_pem,
    error_text,
    errors,
    jwks_profile,
    namespace_id,
    private_key_pem,
    rsa_pem,
    static_profile,
    unique,
)

BASE = "sys/config/oauth-resource-server"
PROFILE_FIELDS = {
    "config_id", "profile_name", "issuer_id", "local", "use_jwks", "jwks_uri", "jwks_ca_pem", "public_keys",
    "audiences", "no_default_policy", "optional_authorization_details", "user_claim", "supported_algorithms",
    "jwt_type", "clock_skew_leeway", "enabled", "unique_id_claim", "actor_claim", "groups_claim",
    "mount_accessor",
}  # fmt: skip
WARN_HTTP_JWKS = "JWKS URI uses HTTP instead of HTTPS. This is insecure and should only be used in development."
WARN_DISABLED = "Creating a disabled profile. Enable it with enabled=true when ready."
WARN_RS256 = 'algorithm "RS256" is functional but consider using PS256 (RSA-PSS) for better security'
WARN_ONE_FAMILY = "profile supports only one algorithm family - consider supporting multiple families for flexibility"
WARN_LONG_NAME = "Profile name exceeds 64 characters. Consider using a shorter name for better readability."


def write(api, name, body):  # noqa: ANN001, ANN201
    return api.post(f"{BASE}/{name}", json=body)


def read(api, name):  # noqa: ANN001, ANN201
    resp = api.get(f"{BASE}/{name}")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def refused(resp, *messages: str) -> bool:  # noqa: ANN001
    """400 and every expected message among the errors."""
    assert resp.status_code == 400, resp.text
    found = errors(resp)
    missing = [m for m in messages if m not in found]
    assert not missing, found
    return True


# -- create and read ----------------------------------------------------------------------------------------


def test_a_jwks_profile_is_created_with_204_and_reads_back_every_field(api, root):
    body = {
        "issuer_id": "https://token.actions.githubusercontent.com",
        "jwks_uri": "https://token.actions.githubusercontent.com/.well-known/jwks",
        "jwks_ca_pem": ca_certificate_pem(),
        "audiences": ["https://github.com/my-org"],
        "supported_algorithms": ["RS256", "ES256"],
        "clock_skew_leeway": 30,
        "unique_id_claim": "uti",
        "actor_claim": "act.client_id",
    }
    resp = write(api, "github-actions", body)
    assert resp.status_code == 204, resp.text
    data = read(api, "github-actions")
    assert set(data) == PROFILE_FIELDS
    assert UUID.match(data["config_id"])
    assert data == {
        "config_id": data["config_id"],
        "profile_name": "github-actions",
        "issuer_id": "https://token.actions.githubusercontent.com",
        "local": False,
        "use_jwks": True,
        "jwks_uri": "https://token.actions.githubusercontent.com/.well-known/jwks",
        "jwks_ca_pem": data["jwks_ca_pem"],
        "public_keys": [],
        "audiences": ["https://github.com/my-org"],
        "no_default_policy": False,
        "optional_authorization_details": False,
        "user_claim": "sub",
        "supported_algorithms": ["RS256", "ES256"],
        "jwt_type": "access_token",
        "clock_skew_leeway": 30,
        "enabled": True,
        "unique_id_claim": "uti",
        "actor_claim": "act.client_id",
        "groups_claim": "",
        "mount_accessor": data["mount_accessor"],
    }
    assert data["mount_accessor"] == f"oauth-resource-server_{namespace_id(root, api.namespace)}_{data['config_id']}"
    assert data["jwks_ca_pem"].strip() == ca_certificate_pem().strip()


def test_a_profile_created_with_only_issuer_and_jwks_uri_has_the_documented_defaults(api):
    data = create_profile(api, "defaults", **jwks_profile("https://defaults.example.com"))
    assert {k: data[k] for k in PROFILE_FIELDS - {"config_id", "jwks_uri", "mount_accessor"}} == {
        "profile_name": "defaults",
        "issuer_id": "https://defaults.example.com",
        "local": False,
        "use_jwks": True,
        "jwks_ca_pem": "",
        "public_keys": [],
        "audiences": [],
        "no_default_policy": False,
        "optional_authorization_details": False,
        "user_claim": "sub",
        "supported_algorithms": ALL_ALGORITHMS,
        "jwt_type": "access_token",
        "clock_skew_leeway": 0,
        "enabled": True,
        "unique_id_claim": "jti",
        "actor_claim": "act.sub",
        "groups_claim": "",
    }


def test_a_profile_reads_the_same_by_config_id(api):
    data = create_profile(api, "by-id")
    resp = api.get(f"{BASE}/id/{data['config_id']}")
    assert resp.status_code == 200
    assert resp.json()["data"] == data


def test_a_static_key_profile_holds_rsa_ec_and_ed25519_keys(api):
    keys = [
        {"key_id": "rsa", "pem": rsa_pem()},
        {"key_id": "p256", "pem": ec_pem("P-256")},
        {"key_id": "p384", "pem": ec_pem("P-384")},
        {"key_id": "p521", "pem": ec_pem("P-521")},
        {"key_id": "ed", "pem": ed25519_pem()},
    ]
    resp = write(api, "static", {"issuer_id": "https://static.example.com", "use_jwks": False, "public_keys": keys})
    assert resp.status_code == 204, resp.text
    data = read(api, "static")
    assert data["use_jwks"] is False
    assert data["jwks_uri"] == "" and data["jwks_ca_pem"] == ""
    assert [k["key_id"] for k in data["public_keys"]] == ["rsa", "p256", "p384", "p521", "ed"]
    assert [k["pem"].strip() for k in data["public_keys"]] == [k["pem"].strip() for k in keys]


def test_public_keys_may_be_sent_as_a_json_string(api):
    import json

    keys = json.dumps([{"key_id": "k1", "pem": ec_pem()}])
    resp = write(api, "json-keys", {"issuer_id": "https://j.example.com", "use_jwks": "false", "public_keys": keys})
    assert resp.status_code == 204, resp.text
    assert read(api, "json-keys")["public_keys"][0]["key_id"] == "k1"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("HTTPS://Issuer.Example.COM/", "https://issuer.example.com"),
        ("https://issuer.example.com/tenant/", "https://issuer.example.com/tenant"),
        ("https://ISSUER.example.com/Tenant", "https://issuer.example.com/tenant"),
    ],
)
def test_issuer_id_is_lowercased_and_loses_one_trailing_slash(api, sent, stored):
    assert read_after_create(api, issuer_id=sent)["issuer_id"] == stored


def read_after_create(api, **fields):  # noqa: ANN001, ANN201
    name = unique("p")
    resp = write(api, name, {**jwks_profile(), **fields})
    assert resp.status_code in (200, 204), resp.text
    return read(api, name)


def test_a_missing_profile_is_404_profile_not_found(api):
    for path in (f"{BASE}/missing", f"{BASE}/id/0b7c1e42-0000-4000-8000-000000000000"):
        resp = api.get(path)
        assert resp.status_code == 404
        assert errors(resp) == ["profile not found"]


# -- issuer uniqueness --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["https://dup.example.com", "HTTPS://DUP.example.com/"])
def test_a_second_profile_for_the_same_issuer_is_refused_naming_the_first(api, spelling):
    create_profile(api, "first", **jwks_profile("https://dup.example.com"))
    resp = write(api, "second", jwks_profile(spelling))
    assert refused(resp, 'duplicate issuer_id "https://dup.example.com" found in profile "first"')
    assert api.get(f"{BASE}/second").status_code == 404


def test_the_same_issuer_may_be_trusted_in_another_namespace(api, root, server):
    create_profile(api, "here", **jwks_profile("https://shared.example.com"))
    other = unique("other")
    assert root.post(f"sys/namespaces/{other}").status_code == 200
    elsewhere = server.client(namespace=other)
    resp = write(elsewhere, "there", jwks_profile("https://shared.example.com"))
    assert resp.status_code == 204, resp.text
    assert read(elsewhere, "there")["config_id"] != read(api, "here")["config_id"]


def test_rewriting_a_profile_with_its_own_issuer_is_not_a_duplicate(api):
    create_profile(api, "self", **jwks_profile("https://self.example.com"))
    resp = write(api, "self", {"issuer_id": "https://SELF.example.com/", "audiences": ["a"]})
    assert resp.status_code == 204, resp.text
    assert read(api, "self")["audiences"] == ["a"]


# -- validation ---------------------------------------------------------------------------------------------


def test_issuer_id_is_required_on_create(api):
    assert refused(write(api, "p", {"jwks_uri": "https://x.example.com/jwks"}), "issuer_id is required")


def test_jwks_uri_is_required_in_jwks_mode(api):
    assert refused(write(api, "p", {"issuer_id": "https://x.example.com"}), "jwks_uri is required when use_jwks=true")


def test_public_keys_are_refused_in_jwks_mode(api):
    body = jwks_profile(public_keys=[{"key_id": "k1", "pem": rsa_pem()}])
    assert refused(
        write(api, "p", body),
        "public_keys must not be set when use_jwks=true; keys are fetched from jwks_uri",
    )


def test_jwks_uri_is_refused_in_static_mode(api):
    body = static_profile(jwks_uri="https://x.example.com/jwks")
    assert refused(write(api, "p", body), "jwks_uri must not be set when use_jwks=false; use public_keys")


def test_jwks_ca_pem_is_refused_in_static_mode(api):
    body = static_profile(jwks_ca_pem=ca_certificate_pem())
    assert refused(
        write(api, "p", body),
        "jwks_ca_pem must not be set when use_jwks=false; it only secures fetching jwks_uri",
    )


def test_static_mode_needs_at_least_one_key(api):
    body = {"issuer_id": "https://x.example.com", "use_jwks": False}
    assert refused(write(api, "p", body), "public_keys must hold at least one key when use_jwks=false")


def test_several_problems_are_reported_together(api):
    body = {"use_jwks": False, "jwks_uri": "https://x.example.com/jwks", "jwt_type": "id_token"}
    assert refused(
        write(api, "p", body),
        "issuer_id is required",
        "jwks_uri must not be set when use_jwks=false; use public_keys",
        'jwt_type "id_token" is not supported; supported values are access_token, transaction_token',
    )


def test_a_key_id_may_appear_only_once(api):
    keys = [{"key_id": "k1", "pem": rsa_pem()}, {"key_id": "k1", "pem": ec_pem()}]
    assert refused(
        write(api, "p", static_profile(public_keys=keys)),
        'public_keys[1]: duplicate key_id "k1" (already used by public_keys[0])',
    )


def test_an_rsa_key_under_2048_bits_is_refused_naming_the_key(api):
    keys = [{"key_id": "good", "pem": rsa_pem()}, {"key_id": "weak", "pem": rsa_pem(1024)}]
    assert refused(
        write(api, "p", static_profile(public_keys=keys)),
        'public_keys[1] (key_id "weak"): RSA key is 1024 bits; at least 2048 are required',
    )


def test_a_private_key_is_refused_as_public_key_material(api):
    resp = write(api, "p", static_profile(public_keys=[{"key_id": "priv", "pem": private_key_pem()}]))
    assert resp.status_code == 400
    assert 'public_keys[0] (key_id "priv")' in error_text(resp)


def test_garbage_pem_is_refused_naming_the_key(api):
    resp = write(api, "p", static_profile(public_keys=[{"key_id": "junk", "pem": "not a pem"}]))
    assert resp.status_code == 400
    assert 'public_keys[0] (key_id "junk")' in error_text(resp)


def test_a_key_without_pem_is_refused(api):
    resp = write(api, "p", static_profile(public_keys=[{"key_id": "k"}]))
    assert refused(resp, 'public_keys[0] (key_id "k"): pem is required')


def test_a_key_its_algorithms_cannot_use_is_refused(api):
    body = static_profile(public_keys=[{"key_id": "ec", "pem": ec_pem()}], supported_algorithms=["RS256"])
    assert refused(
        write(api, "p", body),
        'public_keys[0] (key_id "ec"): an EC P-256 key can only be used with ES256; '
        "supported_algorithms allows none of them",
    )


def test_an_unknown_algorithm_is_refused_listing_the_supported_ones(api):
    assert refused(
        write(api, "p", jwks_profile(supported_algorithms=["RS256", "XY999"])),
        'supported_algorithms: "XY999" is not supported; supported values are ' + ", ".join(ALL_ALGORITHMS),
    )


@pytest.mark.parametrize("alg", ["HS256", "HS512", "hs384"])
def test_hmac_algorithms_are_never_allowed(api, alg):
    resp = write(api, "p", jwks_profile(supported_algorithms=[alg]))
    assert refused(
        resp,
        f'supported_algorithms: "{alg}" is never allowed; HMAC algorithms need a shared secret and only '
        "asymmetric signatures are accepted",
    )


def test_the_none_algorithm_is_never_allowed(api):
    resp = write(api, "p", jwks_profile(supported_algorithms=["none"]))
    assert refused(resp, 'supported_algorithms: "none" is never allowed; tokens must be signed')


def test_empty_supported_algorithms_stores_the_full_list(api):
    assert read_after_create(api, supported_algorithms=[])["supported_algorithms"] == ALL_ALGORITHMS


@pytest.mark.parametrize("jwt_type", ["access_token", "transaction_token"])
def test_jwt_type_accepts_the_two_token_kinds(api, jwt_type):
    assert read_after_create(api, jwt_type=jwt_type)["jwt_type"] == jwt_type


def test_jwt_type_refuses_anything_else(api):
    assert refused(
        write(api, "p", jwks_profile(jwt_type="id_token")),
        'jwt_type "id_token" is not supported; supported values are access_token, transaction_token',
    )


def test_a_negative_clock_skew_leeway_is_refused(api):
    resp = write(api, "p", jwks_profile(clock_skew_leeway=-1))
    assert refused(resp, 'field "clock_skew_leeway": must not be negative')


def test_a_clock_skew_leeway_over_an_hour_is_refused(api):
    resp = write(api, "p", jwks_profile(clock_skew_leeway=3601))
    assert refused(resp, "clock_skew_leeway must be between 0 and 3600 seconds, got 3601")


@pytest.mark.parametrize(("raw", "seconds"), [("45s", 45), ("2m", 120), ("90", 90), (15, 15)])
def test_clock_skew_leeway_accepts_seconds_and_durations(api, raw, seconds):
    assert read_after_create(api, clock_skew_leeway=raw)["clock_skew_leeway"] == seconds


@pytest.mark.parametrize("uri", ["ftp://x.example.com/jwks", "not a url", "/relative/jwks", "https://"])
def test_jwks_uri_must_be_an_absolute_http_url(api, uri):
    resp = write(api, "p", jwks_profile(jwks_uri=uri))
    assert resp.status_code == 400
    assert error_text(resp).startswith("jwks_uri")


@pytest.mark.parametrize("name", ["has space", "semi;colon", "x" * 129])
def test_an_invalid_profile_name_is_refused(api, name):
    resp = write(api, name, jwks_profile())
    assert resp.status_code == 400
    assert "profile name" in error_text(resp)


def test_a_failed_write_stores_nothing(api):
    keys = [{"key_id": "ok", "pem": rsa_pem()}, {"key_id": "weak", "pem": rsa_pem(1024)}]
    assert write(api, "atomic", static_profile(public_keys=keys)).status_code == 400
    assert api.get(f"{BASE}/atomic").status_code == 404
    assert api.list(BASE).status_code == 404


# -- update -------------------------------------------------------------------------------------------------


def test_a_partial_update_keeps_every_field_not_sent(api):
    before = create_profile(api, "partial", **jwks_profile(audiences=["a1"], user_claim="email", clock_skew_leeway=5))
    resp = write(api, "partial", {"enabled": False})
    assert resp.status_code == 204, resp.text
    assert read(api, "partial") == {**before, "enabled": False}


def test_an_update_keeps_the_config_id(api):
    before = create_profile(api, "stable")
    write(api, "stable", {"audiences": ["x"]})
    assert read(api, "stable")["config_id"] == before["config_id"]


def test_switching_to_static_keys_clears_the_jwks_fields(api):
    create_profile(api, "toggle", **jwks_profile(jwks_ca_pem=ca_certificate_pem()))
    resp = write(api, "toggle", {"use_jwks": False, "public_keys": [{"key_id": "k1", "pem": ed25519_pem()}]})
    assert resp.status_code == 204, resp.text
    data = read(api, "toggle")
    assert data["use_jwks"] is False
    assert data["jwks_uri"] == "" and data["jwks_ca_pem"] == ""
    assert [k["key_id"] for k in data["public_keys"]] == ["k1"]


def test_switching_to_jwks_clears_the_static_keys(api):
    create_profile(api, "toggle", **static_profile())
    resp = write(api, "toggle", {"use_jwks": True, "jwks_uri": "https://idp.example.com/jwks"})
    assert resp.status_code == 204, resp.text
    data = read(api, "toggle")
    assert data["public_keys"] == [] and data["jwks_uri"] == "https://idp.example.com/jwks"


def test_switching_mode_without_the_new_mode_s_fields_is_refused(api):
    create_profile(api, "toggle", **static_profile())
    assert refused(write(api, "toggle", {"use_jwks": True}), "jwks_uri is required when use_jwks=true")
    assert read(api, "toggle")["use_jwks"] is False


def test_issuer_id_cannot_change(api):
    before = create_profile(api, "immutable", **jwks_profile("https://one.example.com"))
    resp = write(api, "immutable", {"issuer_id": "https://two.example.com"})
    assert refused(
        resp,
        'issuer_id cannot be changed after the profile is created (stored "https://one.example.com", '
        'sent "https://two.example.com"); delete and recreate the profile to change it',
    )
    assert read(api, "immutable") == before


def test_unique_id_claim_cannot_change_but_may_be_resent(api):
    create_profile(api, "uid", **jwks_profile(unique_id_claim="uti"))
    assert write(api, "uid", {"unique_id_claim": "uti"}).status_code == 204
    resp = write(api, "uid", {"unique_id_claim": "jti"})
    assert refused(
        resp,
        'unique_id_claim cannot be changed after the profile is created (stored "uti", sent "jti"); '
        "delete and recreate the profile to change it",
    )


def test_local_cannot_change(api):
    create_profile(api, "loc")
    resp = write(api, "loc", {"local": True})
    assert resp.status_code == 400
    assert error_text(resp).startswith("local cannot be changed after the profile is created")


# -- warnings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        ({"jwks_uri": "http://idp.example.com/jwks"}, WARN_HTTP_JWKS),
        ({"enabled": False}, WARN_DISABLED),
        ({"supported_algorithms": ["RS256"]}, WARN_RS256),
        ({"supported_algorithms": ["ES256", "ES384"]}, WARN_ONE_FAMILY),
        (
            {"user_claim": "oid"},
            'user_claim "oid" is not a standard JWT claim - ensure this claim exists in your JWTs',
        ),
        (
            {"issuer_id": "http://plain.example.com"},
            "issuer_id uses HTTP instead of HTTPS. This is insecure and should only be used in development.",
        ),
    ],
)
def test_risky_but_valid_settings_are_stored_with_a_warning_and_200(api, fields, warning):
    resp = write(api, "warned", {**jwks_profile(), **fields})
    assert resp.status_code == 200, resp.text
    assert warning in resp.json()["warnings"]
    assert read(api, "warned")["profile_name"] == "warned"


def test_a_name_over_64_characters_only_warns(api):
    name = "n" * 70
    resp = write(api, name, jwks_profile())
    assert resp.status_code == 200
    assert resp.json()["warnings"] == [WARN_LONG_NAME]


def test_the_disabled_warning_is_only_given_on_create(api):
    create_profile(api, "dis", **jwks_profile(enabled=False))
    assert write(api, "dis", {"enabled": False}).status_code == 204


def test_unknown_parameters_are_ignored_with_a_warning(api):
    resp = write(api, "extra", jwks_profile(name="x", bogus=1))
    assert resp.status_code == 200
    assert resp.json()["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus name]"]


# -- delete and LIST ----------------------------------------------------------------------------------------


def test_delete_removes_the_profile(api):
    data = create_profile(api, "gone")
    assert api.delete(f"{BASE}/gone").status_code == 204
    assert api.get(f"{BASE}/gone").status_code == 404
    assert api.get(f"{BASE}/id/{data['config_id']}").status_code == 404


def test_deleting_a_missing_profile_is_204(api):
    assert api.delete(f"{BASE}/never-existed").status_code == 204


def test_a_deleted_profile_s_issuer_can_be_trusted_again(api):
    create_profile(api, "old", **jwks_profile("https://again.example.com"))
    api.delete(f"{BASE}/old")
    assert write(api, "new", jwks_profile("https://again.example.com")).status_code == 204


@pytest.mark.parametrize("style", ["LIST", "GET?list=true"])
def test_list_returns_the_profile_names(api, style):
    create_profile(api, "b-profile")
    create_profile(api, "a-profile")
    resp = api.list(BASE) if style == "LIST" else api.get(BASE, params={"list": "true"})
    assert resp.status_code == 200
    assert resp.json()["data"]["keys"] == ["a-profile", "b-profile"]


def test_an_empty_profile_list_is_404(api):
    assert api.list(BASE).status_code == 404
    assert api.list(BASE + "/").status_code == 404


def test_groups_claim_is_set_read_back_and_cleared(api):
    create_profile(api, "groups", **jwks_profile("https://groups.example.com", groups_claim="groups"))
    assert read(api, "groups")["groups_claim"] == "groups"
    assert write(api, "groups", {"groups_claim": ""}).status_code == 204
    assert read(api, "groups")["groups_claim"] == ""
    resp = write(api, "groups", {"groups_claim": " groups"})
    assert resp.status_code == 400
    assert errors(resp) == ['groups_claim " groups" must not start or end with whitespace']
