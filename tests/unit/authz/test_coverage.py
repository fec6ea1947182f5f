"""Access over whole path patterns (authz/coverage): witnesses per class of paths, decided by the engine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vaultguard.service.authz.acl import compile_acl
from vaultguard.service.authz.coverage import path_classes, reach
from vaultguard.service.authz.policy import parse_policy


def acl_of(*blocks: tuple[str, list[str]]):
    text = "\n".join(f'path "{p}" {{ capabilities = {caps!r} }}'.replace("'", '"') for p, caps in blocks)
    policy = parse_policy("p", text)
    return compile_acl([policy]), [r.pattern for r in policy.rules]


def test_a_plus_segment_reaches_a_literal_pattern_it_overlaps():
    acl, patterns = acl_of(("secret/data/+/db", ["read", "update"]))

    found = reach(acl, patterns, "secret/data/prod/*", ["update", "delete"])

    assert [(r.capability, r.path, r.pattern) for r in found] == [("update", "secret/data/prod/db", "secret/data/+/db")]


def test_a_deny_carve_out_leaves_nothing_inside_it():
    acl, patterns = acl_of(("secret/*", ["create", "update"]), ("secret/data/prod/*", ["deny"]))

    assert reach(acl, patterns, "secret/data/prod/*", ["create", "update"]) == []
    outside = reach(acl, patterns, "secret/*", ["update"])
    assert [r.capability for r in outside] == ["update"]
    assert not outside[0].path.startswith("secret/data/prod/")


def test_a_partial_deny_still_leaves_the_rest_of_the_rule_pattern():
    acl, patterns = acl_of(("secret/*", ["update"]), ("secret/data/prod/a*", ["deny"]))

    [found] = reach(acl, patterns, "secret/data/prod/*", ["update"])

    assert found.path.startswith("secret/data/prod/") and not found.path.startswith("secret/data/prod/a")


def test_patterns_that_do_not_overlap_reach_nothing():
    acl, patterns = acl_of(("secret/data/staging/*", ["update"]), ("secret/+/cfg", ["update"]))

    assert reach(acl, patterns, "secret/data/prod/*", ["update"]) == []


def test_classes_are_distinguished_by_the_patterns_that_match():
    classes = list(path_classes(["a/+/c", "a/b*"]))

    matched_sets = {m for _, m in classes}
    assert {frozenset({"a/+/c", "a/b*"}), frozenset({"a/+/c"}), frozenset({"a/b*"})} <= matched_sets
    for path, matching in classes:  # each witness is matched by exactly the patterns it is listed with
        assert {p for p in ("a/+/c", "a/b*") if matches(p, path)} == matching


# ---- property: the witnesses stand for every path --------------------------------------------------------------


def matches(pattern: str, path: str) -> bool:
    """Vault's pattern matching, written out plainly (the reference for the properties)."""
    want, parts = pattern.split("/"), path.split("/")
    if pattern.endswith("*"):
        head, prefix = want[:-1], want[-1][:-1]
        if len(parts) <= len(head):
            return False
        return _segments_match(head, parts[: len(head)]) and parts[len(head)].startswith(prefix)
    return len(parts) == len(want) and _segments_match(want, parts)


def _segments_match(want: list[str], parts: list[str]) -> bool:
    return all((w == "+" and p != "") or w == p for w, p in zip(want, parts, strict=True))


LITERALS = ["a", "b", "ab", "data", "x"]


@st.composite
def patterns(draw):
    segments = draw(st.lists(st.sampled_from([*LITERALS, "+"]), min_size=1, max_size=4))
    if draw(st.booleans()):
        segments.append(draw(st.sampled_from(["", "a", "da"])) + "*")
    return "/".join(segments)


PATHS = st.lists(st.sampled_from([*LITERALS, "", "zz", "dat"]), min_size=1, max_size=6).map("/".join)
CAPABILITIES = st.lists(st.sampled_from(["read", "update", "delete", "deny"]), min_size=1, max_size=2, unique=True)
WANTED = ("read", "update", "delete")


def compiled(blocks):
    text = "\n".join(f'path "{p}" {{ capabilities = {list(caps)!r} }}'.replace("'", '"') for p, caps in blocks)
    policy = parse_policy("p", text)
    return compile_acl([policy]), [r.pattern for r in policy.rules]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(patterns(), CAPABILITIES), min_size=1, max_size=5), patterns(), PATHS)
def test_review_finds_whatever_the_engine_allows_on_any_path_inside_the_pattern(blocks, within, path):
    acl, acl_patterns = compiled(blocks)

    found = {r.capability: r for r in reach(acl, acl_patterns, within, WANTED)}

    if matches(within, path):
        for capability in acl.capabilities(path) & set(WANTED):
            assert capability in found, (path, capability)
    for capability, r in found.items():  # and never claims more than the engine grants
        assert matches(within, r.path)
        assert capability in acl.capabilities(r.path)


@settings(max_examples=200, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=5), PATHS)
def test_every_path_has_a_witness_matched_by_the_same_patterns(pattern_list, path):
    matching = frozenset(p for p in pattern_list if matches(p, path))
    if not matching:
        return
    classes = {m: w for w, m in path_classes(pattern_list)}
    assert matching in classes
    assert {p for p in pattern_list if matches(p, classes[matching])} == matching


def test_pattern_problem_names_what_the_parser_refuses_whatever_the_text_holds():
    from vaultguard.service.authz.coverage import pattern_problem

    assert pattern_problem("secret/data/+/db") is None
    assert pattern_problem("a/*/b")  # a "*" only at the end
    # a quote is text of the pattern, not the end of the probe policy's string
    assert pattern_problem('a"b') is None
