"""A warning when a resource names a policy the server does not have: `ceiling_policies` of an agent
registration, `policies` of an identity entity. Such a name grants nothing (the agent fails closed), so a
typo would otherwise go unnoticed.

It is checked when the resource is read (every refresh: plan, apply, import), never while planning or
applying it. By the time a resource is refreshed, every `vault_policy` of the same configuration has been
applied, in whatever order Terraform ran them, so a name still missing is missing for real, and a policy
created in the same apply never causes a warning. Never an error: the server accepts the name, and the
policy may be created later. A token that may not list policies gets no warning. The policies are listed once
per Terraform run and namespace (`VaultClient.policy_names`), not once per resource read.
"""

from __future__ import annotations

from tf.iface import State
from tf.utils import Diagnostics

from vaultguard.provider.client import ApiError, VaultClient, join_namespace
from vaultguard.rules.names import normalize_policy_name


def warn_missing_policies(diags: Diagnostics, client: VaultClient, state: State, attribute: str) -> None:
    """Add a warning on `attribute` (a list of policy names in `state`) for each name that the resource's
    namespace (under the provider's) has no ACL policy of."""
    namespace = state.get("namespace")
    wanted = {normalize_policy_name(n) for n in state.get(attribute) or () if isinstance(n, str) and n.strip()}
    if not wanted:
        return
    try:
        existing = client.policy_names(namespace)
    except ApiError:
        return
    where = join_namespace(client.namespace, namespace) or "root"
    for name in sorted(wanted - existing):
        diags.add_warning(
            f'Policy "{name}" does not exist',
            f'{attribute} names a policy that namespace "{where}" does not have, and a missing policy grants '
            "nothing. Check its spelling, or create it (with a vault_policy resource, whose `name` you can "
            "reference so that Terraform creates it first).",
            path=[attribute],
        )
