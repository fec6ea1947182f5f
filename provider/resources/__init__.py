"""Resource types of the vault provider, one module per type (DESIGN.md).

Append each resource class to RESOURCES; the provider serves exactly this list.
"""

from tf.iface import Resource

RESOURCES: list[type[Resource]] = []
