"""Field coercion follows Vault's leniency and names the field in every error."""

import pytest

from vaultguard.service.api import fields as f
from vaultguard.service.errors import ApiError

SCHEMA = {
    "name": f.Field("string", 8),
    "flag": f.Field("bool"),
    "count": f.Field("int"),
    "ttl": f.Field("duration"),
    "items": f.Field("strings"),
    "meta": f.Field("map"),
    "objs": f.Field("objects"),
}


@pytest.mark.parametrize("raw,expected", [(True, True), ("true", True), ("1", True), (0, False), ("false", False)])
def test_booleans_accept_vault_spellings(raw, expected):
    assert f.parse({"flag": raw}, SCHEMA)[0]["flag"] is expected


@pytest.mark.parametrize("raw", ["yes", 2, [], {}])
def test_a_non_boolean_is_refused_naming_the_field(raw):
    with pytest.raises(ApiError) as err:
        f.parse({"flag": raw}, SCHEMA)
    assert err.value.status == 400 and 'field "flag"' in err.value.errors[0]


@pytest.mark.parametrize(
    "raw,expected",
    [(["a", "b"], ["a", "b"]), ("a, b", ["a", "b"]), ('["a","b"]', ["a", "b"]), ("", [])],
)
def test_lists_accept_arrays_comma_strings_and_json_strings(raw, expected):
    assert f.parse({"items": raw}, SCHEMA)[0]["items"] == expected


def test_a_list_with_a_non_string_item_names_the_index():
    with pytest.raises(ApiError) as err:
        f.parse({"items": ["a", 3]}, SCHEMA)
    assert 'field "items[1]"' in err.value.errors[0]


@pytest.mark.parametrize("raw,seconds", [(30, 30), ("45", 45), ("90s", 90), ("1h30m", 5400), ("2d", 172800)])
def test_durations_accept_seconds_and_go_style_strings(raw, seconds):
    assert f.parse({"ttl": raw}, SCHEMA)[0]["ttl"] == seconds


@pytest.mark.parametrize("raw", ["1x", "h", -5, "1h-", True])
def test_invalid_durations_are_refused(raw):
    with pytest.raises(ApiError):
        f.parse({"ttl": raw}, SCHEMA)


def test_strings_longer_than_the_limit_are_refused():
    with pytest.raises(ApiError) as err:
        f.parse({"name": "x" * 9}, SCHEMA)
    assert "longer than 8" in err.value.errors[0]


def test_nul_bytes_are_refused():
    with pytest.raises(ApiError):
        f.parse({"name": "a\x00b"}, SCHEMA)


def test_unknown_fields_are_ignored_with_vaults_warning():
    values, warnings = f.parse({"name": "a", "zeta": 1, "alpha": 2}, SCHEMA)
    assert values == {"name": "a"}
    assert warnings == ["Endpoint ignored these unrecognized parameters: [alpha zeta]"]


def test_absent_and_null_fields_stay_absent():
    assert f.parse({"name": None}, SCHEMA)[0] == {}


def test_maps_must_hold_strings():
    assert f.parse({"meta": {"a": "b"}}, SCHEMA)[0]["meta"] == {"a": "b"}
    with pytest.raises(ApiError) as err:
        f.parse({"meta": {"a": 1}}, SCHEMA)
    assert 'field "meta.a"' in err.value.errors[0]


def test_objects_must_be_a_list_of_objects():
    with pytest.raises(ApiError):
        f.parse({"objs": [1]}, SCHEMA)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("HTTPS://IdP.Example.com/", "https://idp.example.com"),
        ("https://idp.example.com", "https://idp.example.com"),
        ("https://idp.example.com//", "https://idp.example.com//"),  # no stored form: the route refuses it
        ("https://\u212aey.example.com", "https://\u212aey.example.com"),  # only ASCII letters are lowered
    ],
)
def test_an_issuer_is_coerced_to_its_stored_form(raw, expected):
    """THREATS.md#t27: the ACL's parameter check sees the issuer as stored (DECISIONS.md#d19)."""
    assert f.parse({"issuer": raw}, {"issuer": f.Field("issuer")})[0]["issuer"] == expected
