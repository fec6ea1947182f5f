"""The helpers the tf framework lacks: list nested blocks, validators, API-error diagnostics, upgrades."""

from __future__ import annotations

from typing import Any

import pytest
from tf.gen import tfplugin_pb2 as pb
from tf.iface import UpgradeContext
from tf.provider import _decode_state, _encode_state_d
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, List, String, Unknown
from tf.utils import Diagnostics

from vaultguard.provider.client import EnterpriseRequired, InvalidRequest, NotFound, Unreachable
from vaultguard.provider.framework import (
    Between,
    Each,
    EachBlock,
    HttpUrl,
    ListNestedBlock,
    Matches,
    NamespacePath,
    NotBlank,
    OneOf,
    Unique,
    VaultResource,
    api_error,
    attribute_of_schema,
    check,
    check_exclusive,
    render_path,
    same_or_prior,
)

KEYS = ListNestedBlock(
    "public_keys",
    Block(
        attributes=[
            Attribute("key_id", String(), required=True),
            Attribute("pem", String(), required=True),
        ]
    ),
)


def errors(diags: Diagnostics) -> list[tuple[str, str, Any]]:
    return [(d.summary, d.detail, d.path) for d in diags.diagnostics if d.severity == "error"]


# ---- list nested blocks -----------------------------------------------------------------------------


def test_list_block_is_declared_with_list_nesting() -> None:
    declared = KEYS.to_pb()

    assert declared.nesting == pb.Schema.NestedBlock.NestingMode.LIST
    assert [a.name for a in declared.block.attributes] == ["key_id", "pem"]


def test_list_block_round_trips_in_order() -> None:
    blocks = [{"key_id": "b", "pem": "P2"}, {"key_id": "a", "pem": "P1"}]

    assert KEYS.decode(KEYS.encode(blocks)) == blocks


def test_list_block_absent_is_an_empty_list() -> None:
    assert KEYS.encode(None) == []
    assert KEYS.decode(None) == []


def test_list_block_equality_respects_order_and_content() -> None:
    a = [{"key_id": "a", "pem": "1"}, {"key_id": "b", "pem": "2"}]

    assert KEYS.semantically_equal(a, [dict(x) for x in a])
    assert not KEYS.semantically_equal(a, list(reversed(a)))
    assert not KEYS.semantically_equal(a, a[:1])
    assert not KEYS.semantically_equal(a, [a[0], {"key_id": "b", "pem": "3"}])


def test_list_block_works_inside_tf_state_encoding() -> None:
    attrs = {"name": Attribute("name", String(), required=True)}
    blocks = {"public_keys": KEYS}
    state = {"name": "p", "public_keys": [{"key_id": "k", "pem": "PEM"}]}

    encoded = _encode_state_d(attrs, blocks, state, None)
    _, decoded = _decode_state(Diagnostics(), attrs, blocks, encoded)

    assert decoded == state


# ---- validators -------------------------------------------------------------------------------------


def test_one_of_names_the_field_the_rule_and_the_value() -> None:
    diags = Diagnostics()

    check(diags, {"jwt_type": "id_token"}, {"jwt_type": [OneOf(("access_token", "transaction_token"))]})

    [(summary, detail, path)] = errors(diags)
    assert summary == "Invalid value for jwt_type"
    assert detail == 'jwt_type must be one of access_token, transaction_token; got "id_token".'
    assert path == ["jwt_type"]


def test_one_of_description_lists_the_values_for_docs() -> None:
    assert OneOf(("a", "b")).description == "supported values are `a`, `b`"


def test_null_and_unknown_values_are_not_validated() -> None:
    diags = Diagnostics()

    check(diags, {"a": None, "b": Unknown}, {"a": [NotBlank()], "b": [NotBlank()], "c": [NotBlank()]})

    assert errors(diags) == []


def test_each_points_at_the_offending_element() -> None:
    diags = Diagnostics()
    rule = Each(OneOf(("RS256", "ES256")))

    check(diags, {"supported_algorithms": ["RS256", "HS256", Unknown]}, {"supported_algorithms": [rule]})

    [(summary, _, path)] = errors(diags)
    assert path == ["supported_algorithms", (1,)]
    assert summary == "Invalid value for supported_algorithms[1]"


def test_unique_points_at_the_repeat() -> None:
    diags = Diagnostics()

    check(diags, {"audiences": ["a", "b", "a"]}, {"audiences": [Unique()]})

    assert [e[2] for e in errors(diags)] == [["audiences", (2,)]]


def test_each_block_points_inside_the_block() -> None:
    diags = Diagnostics()
    config = {"public_keys": [{"key_id": "k1", "pem": "ok"}, {"key_id": " ", "pem": Unknown}]}

    check(diags, config, {"public_keys": [EachBlock({"key_id": [NotBlank()], "pem": [NotBlank()]})]})

    assert [e[2] for e in errors(diags)] == [["public_keys", (1,), "key_id"]]


def test_the_diagnostic_path_reaches_terraform_as_steps() -> None:
    diags = Diagnostics()
    check(diags, {"public_keys": [{"key_id": ""}]}, {"public_keys": [EachBlock({"key_id": [NotBlank()]})]})

    steps = diags.to_pb()[0].attribute.steps

    assert [s.WhichOneof("selector") for s in steps] == [
        "attribute_name",
        "element_key_int",
        "attribute_name",
    ]
    assert (steps[0].attribute_name, steps[1].element_key_int, steps[2].attribute_name) == (
        "public_keys",
        0,
        "key_id",
    )


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (Between(0, 3600), 0, -1),
        (Between(minimum=1), 1, 0.5),
        (NotBlank(), "x", "  "),
        (Matches(r"[a-z]+", "must be lowercase letters"), "abc", "aBc"),
        (NamespacePath(), "team/agents", "team/"),
        (NamespacePath(), "a", "/a"),
        (NamespacePath(), "a/b", "a//b"),
        (HttpUrl(), "http://127.0.0.1:8200", "127.0.0.1:8200"),
        (HttpUrl(https_only=True), "https://issuer.example/", "http://issuer.example/"),
    ],
)
def test_rules_accept_good_values_and_reject_bad_ones(rule, good, bad) -> None:
    assert list(rule.errors(good)) == []
    assert len(list(rule.errors(bad))) == 1


def test_exclusive_arguments_are_reported_on_each_one_set() -> None:
    diags = Diagnostics()

    check_exclusive(
        diags, {"jwks_uri": "https://x", "public_keys": [{"key_id": "k"}]}, ["jwks_uri", "public_keys"]
    )

    assert [e[2] for e in errors(diags)] == [["jwks_uri"], ["public_keys"]]


def test_exclusive_treats_an_empty_block_list_as_unset_and_waits_for_unknowns() -> None:
    diags = Diagnostics()

    check_exclusive(diags, {"jwks_uri": "https://x", "public_keys": []}, ["jwks_uri", "public_keys"])
    check_exclusive(diags, {"jwks_uri": Unknown, "public_keys": [{}]}, ["jwks_uri", "public_keys"])

    assert errors(diags) == []


def test_exclusive_required_needs_one() -> None:
    diags = Diagnostics()

    check_exclusive(diags, {"jwks_uri": None, "public_keys": []}, ["jwks_uri", "public_keys"], required=True)

    assert errors(diags)[0][0] == "Missing required argument"


def test_paths_render_like_terraform_addresses() -> None:
    assert render_path(["public_keys", (0,), "pem"]) == "public_keys[0].pem"
    assert render_path(["labels", ("env",)]) == 'labels["env"]'


# ---- API errors as diagnostics ----------------------------------------------------------------------

PROFILE = Schema(
    attributes=[
        Attribute("issuer_id", String(), required=True),
        Attribute("jwks_uri", String(), optional=True),
    ],
    block_types=[KEYS],
)


def test_api_error_is_unable_to_verb_type_with_the_servers_messages() -> None:
    diags = Diagnostics()
    exc = NotFound(404, ["no such profile"], method="GET", path="sys/config/oauth-resource-server/p")

    assert api_error(diags, "read", "vault_oauth_resource_server_config_profile", exc) is None

    [(summary, detail, path)] = errors(diags)
    assert summary == "Unable to read vault_oauth_resource_server_config_profile"
    assert "* no such profile" in detail
    assert "GET /v1/sys/config/oauth-resource-server/p" in detail
    assert path is None


def test_api_error_points_at_the_attribute_of_the_one_field_a_400_is_about() -> None:
    diags = Diagnostics()
    exc = InvalidRequest(400, ["public_keys[1] (key_id \"k\"): not a key"], field_paths=[["public_keys", 1, "pem"]])

    api_error(diags, "create", "vault_x", exc, attribute_of=attribute_of_schema(PROFILE))

    assert errors(diags)[0][2] == ["public_keys", (1,), "pem"]


def test_api_error_reads_no_text_and_points_nowhere_without_one_field() -> None:
    diags = Diagnostics()
    about_two = InvalidRequest(400, ["a", "b"], field_paths=[["jwks_uri"], ["public_keys"]])
    unknown = InvalidRequest(400, ["c"], field_paths=[["no_such_attribute"]])
    text_only = InvalidRequest(400, ["jwks_uri must use https"])

    for exc in (about_two, unknown, text_only):
        api_error(diags, "create", "vault_x", exc, attribute_of=attribute_of_schema(PROFILE))

    assert [e[2] for e in errors(diags)] == [None, None, None]


def test_api_error_explicit_path_wins() -> None:
    diags = Diagnostics()
    exc = InvalidRequest(400, ["bad"], field_paths=[["jwks_uri"]])

    api_error(diags, "update", "vault_x", exc, path=["issuer_id"], attribute_of=attribute_of_schema(PROFILE))

    assert errors(diags)[0][2] == ["issuer_id"]


def test_enterprise_and_unreachable_errors_read_plainly() -> None:
    diags = Diagnostics()

    api_error(diags, "create", "vault_x", EnterpriseRequired("Enterprise Feature Required: ..."))
    api_error(diags, "read", "vault_x", Unreachable("could not reach http://127.0.0.1:1: refused"))

    assert [e[1] for e in errors(diags)] == [
        "Enterprise Feature Required: ...",
        "could not reach http://127.0.0.1:1: refused",
    ]


# ---- base resource ----------------------------------------------------------------------------------


class Widget(VaultResource):
    state_upgraders = {0: lambda s: {**s, "enabled": not s.pop("disabled", False)}}

    @classmethod
    def get_name(cls) -> str:
        return "widget"

    @classmethod
    def get_schema(cls) -> Schema:
        return Schema(
            version=1,
            attributes=[
                Attribute("name", String(), required=True),
                Attribute("enabled", Bool(), optional=True),
            ],
            block_types=[KEYS],
        )

    def create(self, ctx, planned):  # pragma: no cover - not exercised here
        return planned

    def read(self, ctx, current):  # pragma: no cover
        return current

    def update(self, ctx, current, planned):  # pragma: no cover
        return planned

    def delete(self, ctx, current):  # pragma: no cover
        return None


def test_upgrade_applies_upgraders_without_warning_and_drops_removed_attributes() -> None:
    diags = Diagnostics()
    widget = Widget(provider=None)  # type: ignore[arg-type]

    new = widget.upgrade(UpgradeContext(diags, "vault_widget"), 0, {"name": "w", "disabled": True, "gone": 1})

    assert new == {"name": "w", "enabled": False}
    assert diags.diagnostics == []


def test_upgrade_at_the_current_version_keeps_the_state() -> None:
    diags = Diagnostics()
    state = {"name": "w", "enabled": True, "public_keys": []}

    assert Widget(provider=None).upgrade(UpgradeContext(diags, "vault_widget"), 1, state) == state  # type: ignore[arg-type]
    assert diags.diagnostics == []


def test_resource_type_name_carries_the_provider_prefix() -> None:
    assert Widget.type_name() == "vault_widget"


def test_list_attribute_type_is_available_for_resources() -> None:
    assert List(String()).tf_type() == b'["list","string"]'


# ---- plan-time normalization ------------------------------------------------------------------------


def normalize_issuer(value: str) -> str:
    return value.lower().removesuffix("/")


def test_same_or_prior_keeps_the_users_spelling_when_equivalent() -> None:
    assert same_or_prior("https://Tenant.auth0.com/", "https://tenant.auth0.com", normalize_issuer) == (
        "https://Tenant.auth0.com/"
    )


def test_same_or_prior_reports_a_real_change() -> None:
    assert same_or_prior("https://a.example/", "https://b.example", normalize_issuer) == "https://b.example"
    assert same_or_prior(None, "https://b.example", normalize_issuer) == "https://b.example"
    assert same_or_prior(Unknown, "https://b.example", normalize_issuer) == "https://b.example"
