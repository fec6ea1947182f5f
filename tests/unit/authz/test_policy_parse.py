"""Parsing policy text (HCL and JSON) into Policy objects, and every way it can be refused."""

from __future__ import annotations

import pytest

from vaultguard.service.authz.policy import (
    CAPABILITIES,
    PathRule,
    Policy,
    PolicyError,
    merge_rules,
    normalize_policy_name,
    parse_policy,
)


def only_rule(text: str) -> PathRule:
    policy = parse_policy("p", text)
    assert len(policy.rules) == 1
    return policy.rules[0]


def refusal(text: str, name: str = "p") -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(name, text)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------------------
# Valid policies
# ---------------------------------------------------------------------------------------------------------


def test_a_full_hcl_path_block_is_read_into_a_path_rule():
    rule = only_rule(
        """
        # comments of every kind are fine
        path "secret/data/app/*" {
          capabilities = ["create", "read", "update"]   // trailing comment
          allowed_parameters = {
            "Name" = ["app-*", "web"]
            "ttl"  = []
          }
          denied_parameters = {
            "force" = []
          }
          required_parameters = ["Name", "ttl"]
          min_wrapping_ttl = "1m"
          max_wrapping_ttl = 3600
          comment = "written by the platform team"
        }
        """
    )
    assert rule == PathRule(
        pattern="secret/data/app/*",
        capabilities=frozenset({"create", "read", "update"}),
        allowed_parameters={"name": ("app-*", "web"), "ttl": ()},
        denied_parameters={"force": ()},
        required_parameters=("name", "ttl"),
        min_wrapping_ttl=60,
        max_wrapping_ttl=3600,
    )


def test_a_json_policy_reads_the_same_as_its_hcl_twin():
    hcl = parse_policy(
        "p",
        'path "kv/*" { capabilities = ["read", "list"] allowed_parameters = { "v" = ["1"] } }\n'
        'path "kv/x" { capabilities = ["deny"] }',
    )
    json = parse_policy(
        "p",
        '{"path": {"kv/*": {"capabilities": ["read", "list"], "allowed_parameters": {"v": ["1"]}},'
        ' "kv/x": {"capabilities": ["deny"]}}}',
    )
    assert hcl == json


def test_a_json_policy_may_list_its_path_blocks():
    policy = parse_policy(
        "p", '{"path": [{"a": {"capabilities": ["read"]}}, {"b": {"capabilities": ["list"]}}]}'
    )
    assert [r.pattern for r in policy.rules] == ["a", "b"]


def test_json_values_hcl_cannot_write_are_kept_for_parameter_checks():
    rule = only_rule(
        '{"path": {"x": {"capabilities": ["update"],'
        ' "allowed_parameters": {"b": [true, 1.5, null, ["n"], {"k": "v"}]}}}}'
    )
    assert rule.allowed_parameters["b"] == (True, 1.5, None, ("n",), {"k": "v"})


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", 'name = "documented"'])
def test_a_policy_without_path_blocks_is_valid_and_grants_nothing(text: str):
    assert parse_policy("empty", text) == Policy(name="empty", rules=(), templated=False)


def test_the_policy_name_is_trimmed_and_lowercased():
    assert parse_policy("  Dev-Team ", "").name == "dev-team"
    assert normalize_policy_name("\tROOT\n") == "root"


def test_a_leading_slash_is_stripped_from_the_pattern():
    assert only_rule('path "/secret/x" { capabilities = ["read"] }').pattern == "secret/x"


def test_patterns_with_templates_mark_the_policy_templated():
    assert parse_policy("p", 'path "kv/{{identity.entity.id}}" { capabilities = ["read"] }').templated
    assert not parse_policy("p", 'path "kv/x" { capabilities = ["read"] }').templated


def test_a_block_without_capabilities_is_kept_with_none():
    assert only_rule('path "kv/x" {}').capabilities == frozenset()


def test_deny_in_a_block_drops_every_other_capability_and_parameter_rule():
    rule = only_rule(
        'path "kv/*" { capabilities = ["read", "sudo", "deny"] allowed_parameters = { "a" = [] } '
        'required_parameters = ["a"] }'
    )
    assert rule == PathRule(pattern="kv/*", capabilities=frozenset({"deny"}))


@pytest.mark.parametrize(
    ("shorthand", "capabilities"),
    [
        ("deny", {"deny"}),
        ("read", {"read", "list"}),
        ("write", {"create", "read", "update", "delete", "list"}),
        ("sudo", {"create", "read", "update", "delete", "list", "sudo"}),
    ],
)
def test_the_legacy_policy_shorthand_maps_to_capabilities(shorthand: str, capabilities: set[str]):
    assert only_rule(f'path "x" {{ policy = "{shorthand}" }}').capabilities == capabilities


def test_the_legacy_shorthand_adds_to_listed_capabilities():
    assert only_rule('path "x" { policy = "read" capabilities = ["update"] }').capabilities == {
        "read",
        "list",
        "update",
    }


def test_every_documented_capability_is_accepted():
    caps = ", ".join(f'"{c}"' for c in sorted(CAPABILITIES - {"deny"}))
    assert only_rule(f'path "x" {{ capabilities = [{caps}] }}').capabilities == CAPABILITIES - {"deny"}


@pytest.mark.parametrize(
    ("written", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), (0, 0)],
)
def test_wrapping_ttls_accept_seconds_and_duration_strings(written: object, seconds: int):
    value = f'"{written}"' if isinstance(written, str) else written
    assert only_rule(f'path "x" {{ max_wrapping_ttl = {value} }}').max_wrapping_ttl == seconds


def test_duplicate_path_blocks_in_one_policy_are_merged():
    rule = only_rule(
        'path "kv/*" { capabilities = ["read"] allowed_parameters = { "a" = ["1"] } }\n'
        'path "kv/*" { capabilities = ["list"] allowed_parameters = { "a" = ["2"] }\n'
        '  required_parameters = ["a"] }\n'
        'path "/kv/*" { capabilities = ["update"] }'
    )
    assert rule.capabilities == {"read", "list", "update"}
    assert rule.allowed_parameters == {"a": ("1", "2")}
    assert rule.required_parameters == ("a",)


def test_a_duplicate_path_block_with_deny_makes_the_pattern_deny_only():
    rule = only_rule('path "kv/*" { capabilities = ["read"] }\npath "kv/*" { capabilities = ["deny"] }')
    assert rule == PathRule(pattern="kv/*", capabilities=frozenset({"deny"}))


def test_path_rules_keep_the_order_they_were_first_written_in():
    policy = parse_policy("p", 'path "b" {}\npath "a" {}\npath "b" { capabilities = ["read"] }')
    assert [r.pattern for r in policy.rules] == ["b", "a"]


def test_merging_takes_the_smaller_wrapping_ttl_that_is_set():
    a = PathRule("x", frozenset({"read"}), min_wrapping_ttl=60, max_wrapping_ttl=0)
    b = PathRule("x", frozenset({"read"}), min_wrapping_ttl=30, max_wrapping_ttl=600)
    merged = merge_rules(a, b)
    assert (merged.min_wrapping_ttl, merged.max_wrapping_ttl) == (30, 600)


def test_merging_a_key_listed_with_any_value_keeps_any_value():
    a = PathRule("x", frozenset({"update"}), denied_parameters={"a": ("1",)})
    b = PathRule("x", frozenset({"update"}), denied_parameters={"a": ()})
    assert merge_rules(a, b).denied_parameters == {"a": ()}
    assert merge_rules(b, a).denied_parameters == {"a": ()}


def test_parsed_rules_are_hashable_and_immutable():
    rule = only_rule('path "x" { capabilities = ["read"] allowed_parameters = { "a" = [] } }')
    assert hash(rule) == hash(rule)
    with pytest.raises(TypeError):
        rule.allowed_parameters["b"] = ()  # type: ignore[index]


# ---------------------------------------------------------------------------------------------------------
# Refusals: every message names the block (where there is one) and the problem
# ---------------------------------------------------------------------------------------------------------


def test_a_hcl_syntax_error_names_the_line_and_column():
    assert refusal('path "a" {\n  capabilities = ["read"\n}\n') == (
        "failed to parse policy: line 3: unexpected '}' at column 1; expected ',' or ']' or ')' or '[' or '('"
    )


def test_a_hcl_illegal_character_names_the_line_and_column():
    assert refusal('path "a" {\n  capabilities = ["read"]\n  @\n}') == (
        "failed to parse policy: line 3: Illegal character '@' at column 3"
    )


def test_a_syntax_error_leaves_the_parser_ready_for_the_next_policy():
    refusal('path "a" { capabilities = [ }')
    assert only_rule('path "b" { capabilities = ["read"] }').pattern == "b"


def test_an_unterminated_hcl_string_is_reported():
    assert refusal('\npath "a {').startswith(
        "failed to parse policy: line 2: EOF before closing string quote"
    )


def test_a_truncated_hcl_policy_reports_the_end_of_input():
    message = refusal('path "a" {\n  capabilities = ["read"]')
    assert message.startswith("failed to parse policy: line 2: unexpected end of input; expected '}'")


def test_a_json_syntax_error_names_the_line():
    assert refusal('{"path": {"a": {\n"capabilities": ["read"]}}') == (
        "failed to parse policy: line 2: Expecting ',' delimiter (column 27)"
    )


def test_a_json_document_that_is_not_an_object_is_refused():
    assert (
        refusal(' {"path": 1} ') == '"path" must be a block, e.g. path "secret/*" { capabilities = ["read"] }'
    )


def test_an_unknown_top_level_key_is_refused_with_a_suggestion():
    assert (
        refusal('paths "a" { capabilities = ["read"] }')
        == 'unknown top-level key "paths" (did you mean "path"?)'
    )


def test_an_unknown_key_in_a_path_block_names_the_block():
    assert refusal('path "secret/*" { capabilites = ["read"] }') == (
        'path "secret/*": unknown key "capabilites" (did you mean "capabilities"?)'
    )


def test_an_unknown_capability_names_the_block():
    assert refusal('path "secret/*" { capabilities = ["reed"] }') == (
        'path "secret/*": unknown capability "reed" (did you mean "read"?)'
    )


def test_capabilities_are_case_sensitive():
    assert refusal('path "x" { capabilities = ["Read"] }').startswith('path "x": unknown capability "Read"')


@pytest.mark.parametrize("key", ["mfa_methods", "control_group", "subscribe_event_types"])
def test_enterprise_keys_vaultguard_cannot_enforce_are_refused_by_name(key: str):
    assert refusal(f'path "x" {{ {key} = [] }}') == f'path "x": "{key}" is not supported by vaultguard'


@pytest.mark.parametrize("pattern", ["a*b", "*a", "secret/*/x", "**"])
def test_a_star_anywhere_but_last_is_refused(pattern: str):
    assert refusal(f'path "{pattern}" {{}}') == (
        f'path "{pattern}": "*" is only allowed as the last character of a pattern'
    )


def test_a_plus_directly_before_the_final_star_is_refused():
    assert refusal('path "secret/+*" {}') == (
        'path "secret/+*": "+*" is not allowed; use "+" for one segment or "*" for any suffix'
    )


def test_a_duplicate_attribute_in_a_block_is_refused_as_vault_2_0_4_does():
    assert refusal('path "a" {\n  capabilities = ["read"]\n  capabilities = ["list"]\n}') == (
        'path "a": duplicate attribute "capabilities"'
    )


def test_a_repeated_legacy_policy_line_is_a_duplicate_attribute():
    assert (
        refusal('path "a" {\n policy = "read"\n policy = "write"\n}')
        == 'path "a": duplicate attribute "policy"'
    )


def test_a_duplicate_parameter_block_is_refused():
    assert refusal('path "a" {\n allowed_parameters { "x" = [] }\n allowed_parameters { "y" = [] }\n}') == (
        'path "a": duplicate attribute "allowed_parameters"'
    )


def test_a_duplicate_top_level_attribute_is_refused():
    assert refusal('name = "a"\nname = "b"') == 'duplicate top-level attribute "name"'


def test_a_duplicate_attribute_in_json_is_refused_too():
    assert refusal('{"path": {"a": {"capabilities": ["read"], "capabilities": ["list"]}}}') == (
        'path "a": duplicate attribute "capabilities"'
    )


def test_parameter_names_that_differ_only_in_case_are_refused():
    assert refusal('path "a" { allowed_parameters = { "ttl" = [] \n "TTL" = ["1"] } }') == (
        'path "a": allowed_parameters has "TTL" more than once (names are case-insensitive)'
    )


def test_a_block_with_two_labels_is_refused():
    assert (
        refusal('path "a" "b" { capabilities = ["read"] }')
        == 'path "a": a path block takes exactly one label'
    )


def test_path_must_be_a_block():
    assert (
        refusal('path = "secret/*"')
        == '"path" must be a block, e.g. path "secret/*" { capabilities = ["read"] }'
    )


def test_a_path_block_body_must_be_an_object():
    assert refusal('{"path": {"a": ["read"]}}') == 'path "a": the block body must be an object'


def test_capabilities_must_be_a_list_of_strings():
    assert refusal('path "a" { capabilities = "read" }') == (
        'path "a": capabilities must be a list of strings, e.g. ["read", "list"]'
    )


def test_an_unknown_legacy_shorthand_is_refused():
    assert refusal('path "a" { policy = "admin" }') == (
        'path "a": invalid policy "admin" (expected one of "deny", "read", "sudo", "write")'
    )


def test_allowed_parameters_must_be_a_map():
    assert refusal('path "a" { allowed_parameters = ["x"] }') == (
        'path "a": allowed_parameters must be a map of parameter name to a list of values,'
        ' e.g. { "ttl" = [] }'
    )


def test_each_parameter_must_list_its_values():
    assert refusal('path "a" { denied_parameters = { "x" = "y" } }') == (
        'path "a": denied_parameters "x" must be a list of values ([] means any value)'
    )


def test_required_parameters_must_be_a_list_of_names():
    assert refusal('path "a" { required_parameters = "x" }') == (
        'path "a": required_parameters must be a list of parameter names'
    )


@pytest.mark.parametrize("ttl", ['"1x"', '"h"', '"-5m"', '""', '"1h 30m"'])
def test_an_unreadable_wrapping_ttl_is_refused(ttl: str):
    assert refusal(f'path "a" {{ min_wrapping_ttl = {ttl} }}') == (
        f'path "a": min_wrapping_ttl: invalid duration {ttl} (use seconds or a form like "90s", "5m", "1h")'
    )


def test_a_negative_wrapping_ttl_is_refused():
    assert refusal('path "a" { max_wrapping_ttl = -5 }') == 'path "a": max_wrapping_ttl must not be negative'


def test_a_boolean_wrapping_ttl_is_refused():
    assert refusal('{"path": {"a": {"max_wrapping_ttl": true}}}') == (
        'path "a": max_wrapping_ttl must be a number of seconds or a duration such as "1h"'
    )


def test_a_minimum_wrapping_ttl_above_the_maximum_is_refused():
    assert refusal('path "a" { min_wrapping_ttl = "1h"\n max_wrapping_ttl = "30m" }') == (
        'path "a": max_wrapping_ttl (1800s) must not be less than min_wrapping_ttl (3600s)'
    )


def test_an_unknown_template_is_refused_at_parse_time():
    assert refusal('path "kv/{{identity.entity.idd}}" {}') == (
        'path "kv/{{identity.entity.idd}}": unknown template "{{identity.entity.idd}}"'
    )


def test_unbalanced_template_braces_are_refused():
    assert (
        refusal('path "kv/{{identity.entity.id" {}')
        == 'path "kv/{{identity.entity.id": unbalanced template braces'
    )


def test_an_empty_policy_name_is_refused():
    assert refusal("", name="  ") == "policy name must not be empty"


def test_policy_text_over_one_mebibyte_is_refused():
    text = "#" * (1024 * 1024 + 1)
    assert refusal(text) == "policy text is 1048577 bytes; the limit is 1048576 (1 MiB)"


def test_more_than_ten_thousand_path_blocks_are_refused():
    hcl = "\n".join(f'path "p{i}" {{}}' for i in range(10_001))
    json = "{" + ",".join(f'"path": {{"p{i}": {{}}}}' for i in range(10_001)) + "}"
    assert refusal(hcl) == "policy has more than 10000 path blocks"
    assert refusal(json) == "policy has more than 10000 path blocks"


def test_exactly_ten_thousand_path_blocks_are_accepted():
    text = "{" + ",".join(f'"path": {{"p{i}": {{}}}}' for i in range(10_000)) + "}"
    assert len(parse_policy("big", text).rules) == 10_000


def test_a_pattern_longer_than_4096_characters_is_refused():
    pattern = "a/" * 2049
    assert refusal(f'path "{pattern}" {{}}') == (
        f'path "{pattern[:77]}...": pattern is 4098 characters; the limit is 4096'
    )


@pytest.mark.parametrize(
    "text",
    [
        '{"path": {"a": {"allowed_parameters": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}}}",
        'path "a" { allowed_parameters = { "x" = [' + "{ a = [" * 5_000 + "]}" * 5_000 + "] } }",
    ],
    ids=["json", "hcl"],
)
def test_deeply_nested_input_is_refused_instead_of_crashing(text: str):
    assert refusal(text) == "failed to parse policy: the document nests too deeply"
