"""Resource types of the vault provider, one module per type (DECISIONS.md#d59), each built on
`resource_spec.SpecResource` from its fields (see that module for how to declare a new one).

Append each resource class to RESOURCES; the provider serves exactly this list.
"""

from tf.iface import Resource

from vaultguard.provider.resources.activation_flags import ActivationFlagsResource
from vaultguard.provider.resources.agent_registration import AgentRegistrationResource
from vaultguard.provider.resources.identity_entity import IdentityEntityResource
from vaultguard.provider.resources.identity_entity_alias import IdentityEntityAliasResource
from vaultguard.provider.resources.identity_group import IdentityGroupResource
from vaultguard.provider.resources.identity_group_alias import IdentityGroupAliasResource
from vaultguard.provider.resources.identity_group_lists import (
    IdentityGroupMemberEntityIdsResource,
    IdentityGroupMemberGroupIdsResource,
    IdentityGroupPoliciesResource,
)
from vaultguard.provider.resources.namespace import NamespaceResource
from vaultguard.provider.resources.oauth_profile import OAuthResourceServerConfigProfileResource
from vaultguard.provider.resources.policy import PolicyResource

RESOURCES: list[type[Resource]] = [
    ActivationFlagsResource,
    AgentRegistrationResource,
    IdentityEntityResource,
    IdentityEntityAliasResource,
    IdentityGroupResource,
    IdentityGroupAliasResource,
    IdentityGroupMemberEntityIdsResource,
    IdentityGroupMemberGroupIdsResource,
    IdentityGroupPoliciesResource,
    NamespaceResource,
    OAuthResourceServerConfigProfileResource,
    PolicyResource,
]
