"""Hostile and malformed input: always a clear 4xx naming the field and the rule, never a 500.

A failed write must leave nothing behind (every admin write is one transaction).
"""

from __future__ import annotations

import json

import pytest
import requests
from api_objects import create_entity, create_profile, errors, field_errors, jwks_profile, registration, rsa_pem

MiB = 1024 * 1024
LIMIT = 32 * MiB

# Every admin write endpoint, with the fields it reads.
WRITE_ENDPOINTS = {
    "agent-registry/register": [
        "id", "display_name", "entity_id", "description", "owner", "ceiling_policies",
        "no_default_ceiling_policy", "optional_authorization_details",
    ],
    "agent-registry/registration/id/{reg}": ["display_name", "entity_id", "ceiling_policies", "owner"],
    "agent-registry/registration/display-name/agent": ["entity_id", "ceiling_policies", "description"],
    "sys/config/oauth-resource-server/prof": [
        "issuer_id", "use_jwks", "jwks_uri", "jwks_ca_pem", "public_keys", "audiences", "user_claim",
        "supported_algorithms", "jwt_type", "clock_skew_leeway", "enabled", "unique_id_claim", "actor_claim",
        "groups_claim",
    ],
    "identity/entity": ["id", "name", "policies", "metadata", "disabled"],
    "identity/entity/name/ent": ["policies", "metadata", "disabled"],
    "identity/entity-alias": [
        "name", "canonical_id", "mount_accessor", "issuer", "external_id", "custom_metadata",
    ],
    "identity/group": ["id", "name", "type", "policies", "metadata", "member_entity_ids", "member_group_ids"],
    "identity/group/name/grp": ["type", "policies", "metadata", "member_entity_ids", "member_group_ids"],
    "identity/group-alias": ["id", "name", "mount_accessor", "canonical_id"],
    "sys/policies/acl/pol": ["policy"],
    "sys/policy/pol": ["rules"],
    "sys/namespaces/child": ["custom_metadata"],
    "auth/token/create": [
        "policies", "ttl", "num_uses", "meta", "display_name", "no_default_policy", "period",
    ],
    "sys/capabilities-self": ["paths", "path"],
}  # fmt: skip
HOSTILE_VALUES = [
    None, True, False, 0, -1, 1.5, 10**30, 1e308, "", " ", "x" * 70_000, "\x00", "a\x00b", "[", "{", "[[[]]]",
    '{"a":', "\u202e\u0000", [], [None], [[]], [{}], [1, "a"], {}, {"a": None}, {"a": {"b": []}}, ["root"],
]  # fmt: skip


@pytest.fixture
def raw(api):
    """POST raw bytes as the body, with the test namespace and root token."""

    def post(path: str, body: bytes, **headers: str):
        hdrs = {"X-Vault-Token": api.token, "X-Vault-Namespace": api.namespace, **headers}
        return requests.post(f"{api.url}/v1/{path}", data=body, headers=hdrs, timeout=60)

    return post


@pytest.fixture
def targets(api):
    """The write endpoints with their placeholders filled, and the objects they refer to."""
    create_profile(api, "prof", **jwks_profile("https://bad-input.example.com"))
    record = registration(api, display_name="agent")
    create_entity(api, "ent")
    return {path.replace("{reg}", record["id"]): names for path, names in WRITE_ENDPOINTS.items()}


def assert_clean(resp) -> None:  # noqa: ANN001
    """Not a server error; an error response is Vault's JSON error envelope."""
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert isinstance(errors(resp), list)


# -- malformed bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b'{"a":}', b"{'a': 1}", b'{"a": tru}', b"\x00", b'{"a":1}}'])
def test_malformed_json_is_400(raw, body):
    resp = raw("agent-registry/register", body)
    assert resp.status_code == 400
    [message] = errors(resp)
    assert message.startswith("failed to parse JSON input: ")


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"true", b'[{"display_name": "x"}]'])
def test_a_body_that_is_not_a_json_object_is_400(raw, body):
    resp = raw("identity/entity", body)
    assert resp.status_code == 400
    assert errors(resp) == ["failed to parse JSON input: the body must be a JSON object"]


def test_invalid_utf8_is_400(raw):
    resp = raw("identity/entity", b'{"name": "\xff\xfe"}')
    assert resp.status_code == 400
    assert errors(resp)[0].startswith("failed to parse JSON input: ")


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b'{"name":' + b"[" * 100_000])
def test_deeply_nested_json_is_400(raw, body):
    resp = raw("identity/entity", body)
    assert resp.status_code == 400
    assert errors(resp) == ["failed to parse JSON input: nesting too deep"]


@pytest.mark.parametrize(
    ("path", "field", "message"),
    [
        (
            "agent-registry/register",
            "ceiling_policies",
            'field "ceiling_policies": invalid JSON list: nesting too deep',
        ),
        ("identity/entity", "metadata", 'field "metadata": expected a map of strings'),
        (
            "sys/config/oauth-resource-server/deep",
            "public_keys",
            'field "public_keys": expected a list of objects',
        ),
        ("sys/capabilities-self", "paths", 'field "paths": invalid JSON list: nesting too deep'),
    ],
)
def test_deep_nesting_inside_a_json_string_field_is_400(api, path, field, message):
    resp = api.post(path, json={field: "[" * 100_000 if field != "metadata" else '{"a":' * 100_000})
    assert resp.status_code == 400
    assert errors(resp) == [message]


def test_an_empty_body_is_an_empty_object(raw):
    resp = raw("identity/entity", b"")
    assert resp.status_code == 200
    assert resp.json()["data"]["name"].startswith("entity-")


# -- wrong types, one field kind at a time ------------------------------------------------------------------


REG, ENT, PROF, TOK = (
    "agent-registry/register",
    "identity/entity",
    "sys/config/oauth-resource-server/p",
    "auth/token/create",
)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        # string
        (REG, {"display_name": {}}, 'field "display_name": expected a string, got an object'),
        (REG, {"display_name": ["a"]}, 'field "display_name": expected a string, got a list'),
        (REG, {"owner": True}, 'field "owner": expected a string, got a boolean'),
        ("identity/entity-alias", {"issuer": {"x": 1}}, 'field "issuer": expected a string, got an object'),
        # bool
        (REG, {"no_default_ceiling_policy": "maybe"},
         'field "no_default_ceiling_policy": expected a boolean (true/false), got "maybe"'),
        (REG, {"optional_authorization_details": 2},
         'field "optional_authorization_details": expected a boolean (true/false), got 2'),
        (ENT, {"disabled": []}, 'field "disabled": expected a boolean (true/false), got []'),
        (PROF, {"enabled": {}}, 'field "enabled": expected a boolean (true/false), got {}'),
        # int
        (TOK, {"num_uses": "many"}, 'field "num_uses": expected an integer, got "many"'),
        (TOK, {"num_uses": 1.5}, 'field "num_uses": expected an integer, got 1.5'),
        (TOK, {"num_uses": True}, 'field "num_uses": expected an integer, got a boolean'),
        (TOK, {"num_uses": 2**40}, 'field "num_uses": must be between -2147483647 and 2147483647'),
        # duration
        (TOK, {"ttl": "5 minutes"}, 'field "ttl": invalid duration "5 minutes"'),
        (TOK, {"ttl": []}, 'field "ttl": expected a duration, got a list'),
        (TOK, {"ttl": -5}, 'field "ttl": must not be negative'),
        (TOK, {"ttl": "1000000000h"}, 'field "ttl": longer than 100 years'),
        (TOK, {"ttl": 10**30}, 'field "ttl": longer than 100 years'),
        (PROF, {"clock_skew_leeway": "soon"}, 'field "clock_skew_leeway": invalid duration "soon"'),
        # list of strings
        (REG, {"ceiling_policies": 5}, 'field "ceiling_policies": expected a list of strings, got a number'),
        (REG, {"ceiling_policies": [1]}, 'field "ceiling_policies[0]": expected a string, got a number'),
        (REG, {"ceiling_policies": {"a": 1}},
         'field "ceiling_policies": expected a list of strings, got an object'),
        (REG, {"ceiling_policies": "[1,"}, 'field "ceiling_policies": invalid JSON list: Expecting value'),
        (ENT, {"policies": [["a"]]}, 'field "policies[0]": expected a string, got a list'),
        # map of strings
        (ENT, {"metadata": [1]}, 'field "metadata": expected a map of strings, got a list'),
        (ENT, {"metadata": {"k": 1}}, 'field "metadata.k": expected a string, got a number'),
        (ENT, {"metadata": "not json"}, 'field "metadata": expected a map of strings'),
        ("sys/namespaces/child", {"custom_metadata": {"k": {}}},
         'field "custom_metadata.k": expected a string, got an object'),
        # list of objects
        (PROF, {"public_keys": "nope"}, 'field "public_keys": expected a list of objects'),
        (PROF, {"public_keys": [1]}, 'field "public_keys": expected a list of objects, got a list'),
        (PROF, {"public_keys": {"key_id": "k"}},
         'field "public_keys": expected a list of objects, got an object'),
    ],
)  # fmt: skip
def test_a_wrong_type_is_400_naming_the_field_and_the_expected_type(api, path, body, message):
    resp = api.post(path, json=body)
    assert resp.status_code == 400
    assert errors(resp) == [message]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (ENT, {"metadata": {"k": 1}}, ["metadata", "k"]),
        (ENT, {"policies": ["a", 1]}, ["policies", 1]),
        (REG, {"display_name": "a\x01b", "entity_id": "e"}, ["display_name"]),
        ("identity/entity-alias", {"name": "a", "canonical_id": "missing", "mount_accessor": "m"}, ["canonical_id"]),
        (PROF, jwks_profile(audiences=["a", " b"]), ["audiences", 1]),
        (PROF, jwks_profile(supported_algorithms=["RS256", "HS256"]), ["supported_algorithms", 1]),
        (PROF, {"issuer_id": "https://i.example", "use_jwks": False, "public_keys": [{"key_id": "k", "pem": "x"}]},
         ["public_keys", 0, "pem"]),
        ("sys/policies/acl/pol", {"policy": 'path "a" { capabilities = ["reed"] }'}, ["policy"]),
    ],
)  # fmt: skip
def test_a_validation_error_says_which_field_it_is_about_as_data(api, path, body, field):
    """Beside Vault's `errors`, `field_errors` gives each message's field path (clients such as the
    Terraform provider point at the attribute from it, without reading the text)."""
    resp = api.post(path, json=body)
    assert resp.status_code == 400, resp.text
    assert list(field_errors(resp).values()) == [field], resp.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("auth/token/create", b'{"ttl": 1e999}', "ttl"),
        ("auth/token/create", b'{"ttl": NaN}', "ttl"),
        ("auth/token/create", b'{"ttl": -Infinity}', "ttl"),
        (
            "sys/config/oauth-resource-server/p",
            b'{"issuer_id": "https://x.example", "clock_skew_leeway": Infinity}',
            "clock_skew_leeway",
        ),
    ],
)
def test_non_finite_numbers_are_not_durations(raw, path, body, field):
    resp = raw(path, body)
    assert resp.status_code == 400
    [message] = errors(resp)
    assert message.startswith(f'field "{field}": invalid duration')


def test_null_fields_count_as_absent(api):
    entity = create_entity(api)
    resp = api.post("agent-registry/register", json={"display_name": "n", "entity_id": entity, "owner": None})
    assert resp.status_code == 200
    assert api.get("agent-registry/registration/display-name/n").json()["data"]["owner"] == ""


def test_no_write_endpoint_answers_a_hostile_value_with_a_server_error(api, targets):
    for path, names in targets.items():
        for name in names:
            for value in HOSTILE_VALUES:
                resp = api.post(path, json={name: value})
                assert resp.status_code < 500, (path, name, value, resp.text)
                if resp.status_code >= 400:
                    assert isinstance(errors(resp), list)


def test_no_write_endpoint_answers_a_whole_hostile_body_with_a_server_error(api, targets):
    for path, names in targets.items():
        for value in HOSTILE_VALUES:
            assert_clean(api.post(path, json=dict.fromkeys(names, value)))


# -- size limits --------------------------------------------------------------------------------------------


def _stream(total: int, chunk: int = MiB):
    block = b" " * chunk
    sent = 0
    while sent < total:
        piece = block[: min(chunk, total - sent)]
        sent += len(piece)
        yield piece


def test_a_body_over_32_mib_is_413_when_streamed_without_a_length(raw):
    resp = raw("identity/entity", _stream(LIMIT + MiB))
    assert resp.status_code == 413
    assert errors(resp) == [f"request body larger than {LIMIT} bytes"]


def test_a_declared_length_over_32_mib_is_413_before_the_body_is_read(api):
    import socket

    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/identity/entity HTTP/1.1\r\n"
                f"Host: {host}\r\nX-Vault-Token: {api.token}\r\nX-Vault-Namespace: {api.namespace}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
            ).encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body) == {"errors": [f"request body larger than {LIMIT} bytes"]}


def test_a_body_at_the_limit_is_accepted(raw):
    resp = raw("identity/entity", _stream(LIMIT))
    assert resp.status_code == 200


def test_the_server_keeps_serving_after_an_oversized_body(api, raw):
    raw("identity/entity", _stream(LIMIT + MiB))
    assert api.get("sys/policies/acl/default").status_code == 200


# -- NUL, invalid Unicode, long names, traversal ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("agent-registry/register", {"display_name": "a\x00b"}, "display_name"),
        ("identity/entity", {"name": "a\x00b"}, "name"),
        ("identity/entity", {"metadata": {"k": "v\x00"}}, "metadata.k"),
        ("sys/config/oauth-resource-server/p", {"issuer_id": "https://x.example\x00"}, "issuer_id"),
        ("sys/policies/acl/p", {"policy": 'path "x\x00" { capabilities = ["read"] }'}, "policy"),
    ],
)
def test_nul_characters_in_fields_are_refused(api, path, body, field):
    resp = api.post(path, json=body)
    assert resp.status_code == 400
    assert errors(resp) == [f'field "{field}": must not contain NUL characters']


@pytest.mark.parametrize(
    "path",
    [
        "agent-registry/registration/id/a%00b",
        "agent-registry/registration/display-name/a%00b",
        "agent-registry/registration/entity-id/a%00b",
        "identity/entity/id/a%00b",
        "identity/entity/name/a%00b",
        "identity/entity-alias/id/a%00b",
        "sys/config/oauth-resource-server/a%00b",
        "sys/config/oauth-resource-server/id/a%00b",
        "sys/policies/acl/a%00b",
        "sys/namespaces/a%00b",
    ],
)
def test_nul_characters_in_the_path_are_400(api, path):
    for method in ("GET", "POST", "DELETE"):
        resp = api.request(method, path, json={})
        assert resp.status_code == 400, (method, resp.text)
        assert errors(resp) == ["invalid request path: control characters are not allowed"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("agent-registry/register", b'{"display_name": "\\ud800"}', "display_name"),
        ("identity/entity", b'{"metadata": {"\\udfff": "v"}}', "metadata key"),
        ("identity/entity", b'{"metadata": {"k": "\\ud800x"}}', "metadata.k"),
        ("sys/config/oauth-resource-server/p",
         b'{"issuer_id": "https://s.example", "use_jwks": false, '
         b'"public_keys": [{"key_id": "\\ud800", "pem": "x"}]}',
         "public_keys[0].key_id"),
        ("sys/config/oauth-resource-server/p", b'{"audiences": ["\\ud800"]}', "audiences[0]"),
    ],
)  # fmt: skip
def test_unpaired_surrogates_are_refused(raw, path, body, field):
    resp = raw(path, body)
    assert resp.status_code == 400
    assert errors(resp) == [f'field "{field}": must be valid Unicode text (no unpaired surrogates)']


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (REG, {"display_name": "a" * 513}, 'field "display_name": longer than 512 characters'),
        (REG, {"description": "d" * 4097}, 'field "description": longer than 4096 characters'),
        ("identity/entity", {"name": "e" * 513}, 'field "name": longer than 512 characters'),
        ("identity/entity/name/" + "e" * 513, {}, "name: longer than 512 characters"),
        ("sys/config/oauth-resource-server/" + "p" * 129, jwks_profile(),
         "profile name is 129 characters; at most 128 are allowed"),
    ],
)  # fmt: skip
def test_overlong_names_are_refused_with_the_limit(api, path, body, message):
    resp = api.post(path, json=body)
    assert resp.status_code == 400
    assert errors(resp) == [message]


def test_a_display_name_of_512_characters_is_fine(api):
    record = registration(api, display_name="a" * 512)
    assert record["display_name"] == "a" * 512


@pytest.mark.parametrize("length", [7_000, 60_000])
def test_a_very_long_url_is_not_a_server_error(api, length):
    for path in (
        "agent-registry/registration/id/",
        "agent-registry/registration/display-name/",
        "identity/entity/name/",
        "sys/config/oauth-resource-server/",
        "sys/policies/acl/",
        "sys/namespaces/",
    ):
        resp = api.get(path + "a" * length)
        assert resp.status_code in (400, 404, 414, 431), (path, resp.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "agent-registry/registration/display-name/..%2F..%2Fsys%2Fpolicy%2Fdefault",
        "agent-registry/registration/id/%2e%2e/%2e%2e/sys/policy/default",
        "identity/entity/name/%2E",
        "sys/config/oauth-resource-server/%2e%2e",
    ],
)
def test_path_traversal_is_refused(api, path):
    resp = requests.get(
        f"{api.url}/v1/{path}",
        headers={"X-Vault-Token": api.token, "X-Vault-Namespace": api.namespace},
        timeout=10,
    )
    assert resp.status_code == 400
    assert errors(resp) == ["invalid request path: '.' and '..' segments are not allowed"]


# -- nothing half-written -----------------------------------------------------------------------------------


def test_a_registration_that_fails_validation_leaves_nothing(api):
    entity = create_entity(api)
    for body in (
        {"display_name": "x", "entity_id": entity, "ceiling_policies": ["root"]},
        {"display_name": "x", "entity_id": "missing"},
        {"display_name": "x" * 513, "entity_id": entity},
        {"display_name": "x", "entity_id": entity, "no_default_ceiling_policy": "perhaps"},
    ):
        assert api.post("agent-registry/register", json=body).status_code == 400
    assert api.list("agent-registry/registration/id").status_code == 404
    assert api.list("agent-registry/registration/display-name").status_code == 404


def test_a_failed_update_leaves_the_record_as_it_was(api):
    record = registration(api, owner="before", ceiling_policies=["c"])
    resp = api.post(
        f"agent-registry/registration/id/{record['id']}",
        json={"entity_id": record["entity_id"], "owner": "after", "ceiling_policies": ["root"]},
    )
    assert resp.status_code == 400
    assert api.get(f"agent-registry/registration/id/{record['id']}").json()["data"] == record


def test_failed_identity_writes_leave_nothing(api):
    assert api.post("identity/entity", json={"name": "x", "policies": ["root"]}).status_code == 400
    assert api.list("identity/entity/id").status_code == 404
    entity = create_entity(api, "kept")
    assert (
        api.post(
            "identity/entity-alias", json={"name": "a", "canonical_id": entity, "issuer": "https://none"}
        ).status_code
        == 400
    )
    assert api.list("identity/entity-alias/id").status_code == 404


def test_a_failed_profile_write_leaves_nothing(api):
    keys = [{"key_id": "good", "pem": rsa_pem()}, {"key_id": "bad", "pem": "garbage"}]
    body = {"issuer_id": "https://half.example.com", "use_jwks": False, "public_keys": keys}
    assert api.post("sys/config/oauth-resource-server/half", json=body).status_code == 400
    assert api.list("sys/config/oauth-resource-server").status_code == 404
    # the issuer is still free
    assert (
        api.post("sys/config/oauth-resource-server/whole", json=jwks_profile("https://half.example.com")).status_code
        == 204
    )


def test_a_failed_policy_or_namespace_write_leaves_nothing(api):
    assert (
        api.post("sys/policies/acl/broken", json={"policy": 'path "x" { capabilities = ["fly"] }'}).status_code == 400
    )
    assert api.get("sys/policies/acl/broken").status_code == 404
    assert api.post("sys/namespaces/sys").status_code == 400
    assert api.list("sys/namespaces").status_code == 404
