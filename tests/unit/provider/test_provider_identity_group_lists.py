"""vault_identity_group_policies, _member_entity_ids and _member_group_ids in-process: plan-time validation of
the list, the group it belongs to and its namespace, in the spellings a configuration may use."""

from __future__ import annotations

import pytest
from tf.types import Unknown
from tf.utils import Diagnostics

from vaultguard.provider.provider import VaultProvider
from vaultguard.provider.resources.identity_group_lists import (
    IdentityGroupMemberEntityIdsResource,
    IdentityGroupMemberGroupIdsResource,
    IdentityGroupPoliciesResource,
)

RESOURCES = [IdentityGroupPoliciesResource, IdentityGroupMemberEntityIdsResource, IdentityGroupMemberGroupIdsResource]


def validate(resource, **values) -> list:
    config = {**{a.name: None for a in resource.SCHEMA.attributes}, "group_id": "g-1", **values}
    diags = Diagnostics()
    resource(VaultProvider(environ={})).validate(diags, "vault_" + resource.NAME, config)
    return [d.path for d in diags.diagnostics]


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.NAME)
def test_the_group_and_namespace_are_checked_for_every_list(resource):
    assert validate(resource, **{resource.FIELD: ["a"]}) == []
    assert validate(resource, group_id=Unknown, namespace=Unknown) == []
    for blank in ("", " ", "\t"):
        assert validate(resource, group_id=blank) == [["group_id"]]
    for bad in ("/team", "team//a"):
        assert validate(resource, namespace=bad) == [["namespace"]]
    assert validate(resource, **{resource.FIELD: ["a", " "]}) == [[resource.FIELD, (1,)]]


def test_root_is_refused_in_a_groups_policies_in_any_case():
    for spelling in ("root", "Root", " ROOT "):
        assert validate(IdentityGroupPoliciesResource, policies=["reader", spelling]) == [["policies", (1,)]]
