"""Rendering identity templates in path patterns."""

from __future__ import annotations

import pytest

from vaultguard.service.authz.templates import (
    AliasContext,
    GroupContext,
    IdentityContext,
    render_template,
    template_problem,
)

ALICE = IdentityContext(
    entity_id="ent-1",
    entity_name="alice",
    metadata={"team": "payments", "dotted.key": "yes", "blank": "", "wild": "a*", "slashy": "a/b"},
    aliases={
        "auth_jwt_123": AliasContext(
            id="alias-9", name="alice@idp", metadata={"region": "eu"}, custom_metadata={"tier": "gold"}
        )
    },
    groups=(
        GroupContext(id="g-1", name="engineers", metadata={"cc": "42"}),
        GroupContext(id="g-2", name="oncall"),
    ),
)


@pytest.mark.parametrize(
    ("pattern", "rendered"),
    [
        ("kv/{{identity.entity.id}}", "kv/ent-1"),
        ("kv/{{identity.entity.name}}/*", "kv/alice/*"),
        ("kv/{{identity.entity.metadata.team}}", "kv/payments"),
        ("kv/{{identity.entity.metadata.dotted.key}}", "kv/yes"),
        ("kv/{{identity.entity.aliases.auth_jwt_123.id}}", "kv/alias-9"),
        ("kv/{{identity.entity.aliases.auth_jwt_123.name}}", "kv/alice@idp"),
        ("kv/{{identity.entity.aliases.auth_jwt_123.metadata.region}}", "kv/eu"),
        ("kv/{{identity.entity.aliases.auth_jwt_123.custom_metadata.tier}}", "kv/gold"),
        ("kv/{{identity.groups.ids.g-1.name}}", "kv/engineers"),
        ("kv/{{identity.groups.ids.g-1.metadata.cc}}", "kv/42"),
        ("kv/{{identity.groups.names.oncall.id}}", "kv/g-2"),
        ("kv/{{identity.groups.names.engineers.metadata.cc}}", "kv/42"),
        ("kv/{{ identity.entity.id }}/{{identity.entity.name  }}", "kv/ent-1/alice"),
        ("kv/+/{{identity.entity.id}}-*", "kv/+/ent-1-*"),
    ],
)
def test_each_supported_placeholder_renders_from_the_identity(pattern: str, rendered: str):
    assert render_template(pattern, ALICE) == rendered


def test_a_pattern_without_placeholders_is_returned_as_is_even_without_identity():
    assert render_template("secret/*", None) == "secret/*"


@pytest.mark.parametrize(
    "pattern",
    [
        "kv/{{identity.entity.metadata.missing}}",
        "kv/{{identity.entity.aliases.auth_other.name}}",
        "kv/{{identity.entity.aliases.auth_jwt_123.metadata.missing}}",
        "kv/{{identity.groups.ids.g-404.name}}",
        "kv/{{identity.groups.names.admins.id}}",
        "kv/{{identity.groups.names.oncall.metadata.cc}}",
        "kv/{{identity.entity.unknown}}",
        "kv/{{something.else}}",
        "kv/{{identity.entity.id}",
        "kv/identity.entity.id}}",
        "kv/{{{{identity.entity.id}}}}",
    ],
)
def test_an_unresolvable_or_malformed_placeholder_renders_nothing(pattern: str):
    assert render_template(pattern, ALICE) is None


@pytest.mark.parametrize("key", ["wild", "slashy", "blank"])
def test_a_value_that_would_reshape_or_widen_the_pattern_renders_nothing(key: str):
    assert render_template(f"kv/{{{{identity.entity.metadata.{key}}}}}*", ALICE) is None


def test_a_name_with_a_plus_renders_nothing():
    assert render_template("kv/{{identity.entity.name}}", IdentityContext("e", "a+b")) is None


def test_without_an_identity_or_entity_a_template_renders_nothing():
    assert render_template("kv/{{identity.entity.id}}", None) is None
    assert (
        render_template("kv/{{identity.entity.id}}", IdentityContext(entity_id="", entity_name="x")) is None
    )


@pytest.mark.parametrize(
    "pattern",
    [
        "kv/{{identity.entity.id}}",
        "kv/{{ identity.groups.names.a.metadata.c.d }}",
        "kv/{{identity.entity.aliases.acc.custom_metadata.k}}",
        "plain/path/*",
    ],
)
def test_well_formed_templates_have_no_problem(pattern: str):
    assert template_problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("kv/{{identity.entity.ids}}", 'unknown template "{{identity.entity.ids}}"'),
        ("kv/{{identity.entity.aliases.acc}}", 'unknown template "{{identity.entity.aliases.acc}}"'),
        ("kv/{{identity.groups.ids.g.id}}", 'unknown template "{{identity.groups.ids.g.id}}"'),
        ("kv/{{identity.entity.metadata.}}", 'unknown template "{{identity.entity.metadata.}}"'),
        ("kv/{{}}", 'unknown template "{{}}"'),
        ("kv/{{identity.entity.id", "unbalanced template braces"),
        ("kv/}}{{identity.entity.id}}", "unbalanced template braces"),
    ],
)
def test_malformed_templates_are_described(pattern: str, problem: str):
    assert template_problem(pattern) == problem
