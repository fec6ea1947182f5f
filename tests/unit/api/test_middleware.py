"""Namespace prefixes are split from namespace-relative Vault paths."""

import pytest

from vaultguard.service.api.middleware import join_namespace, split_namespace


@pytest.mark.parametrize(
    "path,expected",
    [
        ("sys/policy/x", ("", "sys/policy/x")),
        ("ns1/sys/policy/x", ("ns1", "sys/policy/x")),
        ("ns1/ns2/agent-registry/register", ("ns1/ns2", "agent-registry/register")),
        ("agent-registry/registration/display-name/a/sys/b", ("", "agent-registry/registration/display-name/a/sys/b")),
        ("nothing/known", ("", "nothing/known")),
    ],
)
def test_the_first_mount_root_ends_the_namespace_prefix(path, expected):
    assert split_namespace(path) == expected


def test_header_and_prefix_namespaces_join():
    assert join_namespace("team-a/", "/child") == "team-a/child"
    assert join_namespace("", "") == ""
