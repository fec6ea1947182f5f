"""Data source types of the vault provider, one module per type.

Append each data source class to DATA_SOURCES; the provider serves exactly this list.
"""

from tf.iface import DataSource

DATA_SOURCES: list[type[DataSource]] = []
