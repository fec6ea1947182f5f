"""Data source types of the vault provider, one module per type.

Append each data source class to DATA_SOURCES; the provider serves exactly this list.
"""

from tf.iface import DataSource

from vaultguard.provider.data_sources.activation_flags import ActivationFlagsDataSource
from vaultguard.provider.data_sources.agent_registration import AgentRegistrationDataSource
from vaultguard.provider.data_sources.identity_group import IdentityGroupDataSource
from vaultguard.provider.data_sources.kv_secret_v2 import KvSecretV2DataSource
from vaultguard.provider.data_sources.oauth_profile import OAuthResourceServerConfigProfileDataSource

DATA_SOURCES: list[type[DataSource]] = [
    ActivationFlagsDataSource,
    AgentRegistrationDataSource,
    IdentityGroupDataSource,
    KvSecretV2DataSource,
    OAuthResourceServerConfigProfileDataSource,
]
