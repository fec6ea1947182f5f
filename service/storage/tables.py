"""SQLAlchemy Core tables. Uniqueness rules live here as constraints so concurrent writers cannot both win."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

namespaces = sa.Table(
    "namespaces",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(1024), nullable=False, unique=True),
    sa.Column("custom_metadata", sa.JSON, nullable=False, default=dict),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("namespace_id", sa.String(64), sa.ForeignKey("namespaces.id"), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)

entities = sa.Table(
    "entities",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace_id", sa.String(64), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("creation_time", sa.String(40), nullable=False),
    sa.Column("last_update_time", sa.String(40), nullable=False),
    sa.UniqueConstraint("namespace_id", "name", name="uq_entities_name"),
    # What group memberships reference, so a membership can only join objects of one namespace.
    sa.Index("uq_entities_namespace_id_id", "namespace_id", "id", unique=True),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace_id", sa.String(64), sa.ForeignKey("namespaces.id"), nullable=False),
    # Deleting an entity deletes its aliases (DECISIONS.md#d11).
    sa.Column(
        "canonical_id", sa.String(64), sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("mount_accessor", sa.String(512), nullable=False),
    # NULL (not "") when absent so the (issuer, external_id) uniqueness applies to OAuth aliases only.
    sa.Column("issuer", sa.String(2048), nullable=True),
    sa.Column("external_id", sa.String(1024), nullable=True),
    sa.Column("custom_metadata", sa.JSON, nullable=False),
    sa.Column("creation_time", sa.String(40), nullable=False),
    sa.Column("last_update_time", sa.String(40), nullable=False),
    sa.UniqueConstraint("namespace_id", "issuer", "external_id", name="uq_aliases_issuer_external_id"),
    sa.UniqueConstraint("namespace_id", "mount_accessor", "name", name="uq_aliases_mount_name"),
    sa.Index("ix_aliases_canonical_id", "canonical_id"),
)

# -- identity groups ---------------------------------------------------------------------------------------
# Every membership row carries the namespace of both ends, so the foreign keys themselves refuse a member
# from another namespace; deleting an entity or a group deletes its memberships and its alias.

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace_id", sa.String(64), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("creation_time", sa.String(40), nullable=False),
    sa.Column("last_update_time", sa.String(40), nullable=False),
    sa.Column("modify_index", sa.Integer, nullable=False),
    sa.UniqueConstraint("namespace_id", "name", name="uq_groups_name"),
    sa.CheckConstraint("type IN ('internal', 'external')", name="ck_groups_type"),
    sa.Index("uq_groups_namespace_id_id", "namespace_id", "id", unique=True),
)

group_member_entities = sa.Table(
    "group_member_entities",
    metadata,
    sa.Column("namespace_id", sa.String(64), nullable=False),
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("entity_id", sa.String(64), primary_key=True),
    sa.ForeignKeyConstraint(
        ["namespace_id", "group_id"], ["groups.namespace_id", "groups.id"],
        ondelete="CASCADE", name="fk_group_member_entities_group",
    ),
    sa.ForeignKeyConstraint(
        ["namespace_id", "entity_id"], ["entities.namespace_id", "entities.id"],
        ondelete="CASCADE", name="fk_group_member_entities_entity",
    ),
    sa.Index("ix_group_member_entities_entity_id", "entity_id"),
)  # fmt: skip

# `member_group_id` is a member of `group_id`: its members are in `group_id` too (nesting). Cycles are refused
# by identity.groups under a lock on the namespace row; a group can never contain itself.
group_member_groups = sa.Table(
    "group_member_groups",
    metadata,
    sa.Column("namespace_id", sa.String(64), nullable=False),
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("member_group_id", sa.String(64), primary_key=True),
    sa.ForeignKeyConstraint(
        ["namespace_id", "group_id"], ["groups.namespace_id", "groups.id"],
        ondelete="CASCADE", name="fk_group_member_groups_group",
    ),
    sa.ForeignKeyConstraint(
        ["namespace_id", "member_group_id"], ["groups.namespace_id", "groups.id"],
        ondelete="CASCADE", name="fk_group_member_groups_member",
    ),
    sa.CheckConstraint("group_id <> member_group_id", name="ck_group_member_groups_not_self"),
    sa.Index("ix_group_member_groups_member_group_id", "member_group_id"),
)  # fmt: skip

# At most one alias per group (external groups only), unique per mount accessor and name.
group_aliases = sa.Table(
    "group_aliases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace_id", sa.String(64), nullable=False),
    sa.Column("canonical_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("mount_accessor", sa.String(512), nullable=False),
    sa.Column("creation_time", sa.String(40), nullable=False),
    sa.Column("last_update_time", sa.String(40), nullable=False),
    sa.ForeignKeyConstraint(
        ["namespace_id", "canonical_id"], ["groups.namespace_id", "groups.id"],
        ondelete="CASCADE", name="fk_group_aliases_group",
    ),
    sa.UniqueConstraint("canonical_id", name="uq_group_aliases_canonical_id"),
    sa.UniqueConstraint("namespace_id", "mount_accessor", "name", name="uq_group_aliases_mount_name"),
)  # fmt: skip

registrations = sa.Table(
    "registrations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("namespace_id", sa.String(64), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("display_name", sa.String(512), nullable=False),
    # RESTRICT: an entity cannot be deleted while a registration references it (DECISIONS.md#d11).
    sa.Column(
        "entity_id", sa.String(64), sa.ForeignKey("entities.id", ondelete="RESTRICT"), nullable=False
    ),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("owner", sa.String(1024), nullable=False),
    sa.Column("ceiling_policies", sa.JSON, nullable=False),
    sa.Column("no_default_ceiling_policy", sa.Boolean, nullable=False),
    sa.Column("optional_authorization_details", sa.Boolean, nullable=False),
    sa.Column("creation_time", sa.String(40), nullable=False),
    sa.Column("last_updated_time", sa.String(40), nullable=False),
    sa.UniqueConstraint("namespace_id", "display_name", name="uq_registrations_display_name"),
    sa.UniqueConstraint("entity_id", name="uq_registrations_entity_id"),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("config_id", sa.String(64), primary_key=True),
    sa.Column("namespace_id", sa.String(64), sa.ForeignKey("namespaces.id"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("issuer_id", sa.String(2048), nullable=False),
    sa.Column("local", sa.Boolean, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),  # every other profile field
    sa.UniqueConstraint("namespace_id", "name", name="uq_profiles_name"),
    sa.UniqueConstraint("namespace_id", "local", "issuer_id", name="uq_profiles_issuer_id"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("accessor", sa.String(64), nullable=False, unique=True),
    sa.Column("namespace_id", sa.String(64), nullable=False),
    sa.Column("policies", sa.JSON, nullable=False),
    sa.Column("display_name", sa.String(512), nullable=False),
    sa.Column("parent_accessor", sa.String(64), nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    # Fractional unix seconds: whole seconds would shorten or stretch short TTLs by up to a second.
    sa.Column("creation_time", sa.Float, nullable=False),
    sa.Column("expire_time", sa.Float, nullable=True),
    sa.Column("creation_ttl", sa.BigInteger, nullable=False),
    sa.Column("explicit_max_ttl", sa.BigInteger, nullable=False),
    sa.Column("num_uses", sa.Integer, nullable=False),
    sa.Column("renewable", sa.Boolean, nullable=False),
    sa.Column("orphan", sa.Boolean, nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
)

# One row; bumped by every admin write so every worker and replica can tell its caches are stale.
generation = sa.Table(
    "generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# -- KV version 2 at `secret/` (one engine per namespace; deleting a namespace deletes its secrets) ---------

# Engine settings per namespace; no row means the defaults.
kv_config = sa.Table(
    "kv_config",
    metadata,
    sa.Column(
        "namespace_id", sa.String(64), sa.ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("max_versions", sa.Integer, nullable=False),
    sa.Column("cas_required", sa.Boolean, nullable=False),
    sa.Column("delete_version_after", sa.BigInteger, nullable=False),  # seconds; -1 disables it
)

# One row per key: its metadata. Times are unix microseconds.
kv_keys = sa.Table(
    "kv_keys",
    metadata,
    sa.Column(
        "namespace_id", sa.String(64), sa.ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("current_version", sa.Integer, nullable=False),
    sa.Column("oldest_version", sa.Integer, nullable=False),
    sa.Column("max_versions", sa.Integer, nullable=False),
    sa.Column("cas_required", sa.Boolean, nullable=False),
    sa.Column("delete_version_after", sa.BigInteger, nullable=False),
    sa.Column("custom_metadata", sa.JSON, nullable=True),
    sa.Column("created_time", sa.BigInteger, nullable=False),
    sa.Column("updated_time", sa.BigInteger, nullable=False),
)

# One row per kept version; `data` (JSON text) is NULL once the version is destroyed.
kv_versions = sa.Table(
    "kv_versions",
    metadata,
    sa.Column("namespace_id", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_time", sa.BigInteger, nullable=False),
    sa.Column("deletion_time", sa.BigInteger, nullable=True),
    sa.Column("destroyed", sa.Boolean, nullable=False),
    sa.Column("data", sa.Text, nullable=True),
    sa.ForeignKeyConstraint(
        ["namespace_id", "path"],
        ["kv_keys.namespace_id", "kv_keys.path"],
        ondelete="CASCADE",
        name="fk_kv_versions_key",
    ),
)

# -- audit -----------------------------------------------------------------------------------------------

# One row (id 1): the per-server HMAC key of the audit devices, shared by every worker and replica so one
# token hashes to the same value in every node's log. Created once, at first start; never rotated in place.
audit_hmac_key = sa.Table(
    "audit_hmac_key",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(128), nullable=False),  # hex, sealed under the data key (storage.sealing)
    sa.Column("created_time", sa.String(40), nullable=False),
)

# -- encryption at rest ---------------------------------------------------------------------------------------

# One row (id 1): the data key that seals secret values, wrapped by the operator's key-encryption key whose id
# (`storage.sealing.key_id`, not the key) is `wrapped_by`. Rotating the KEK rewrites this row only.
data_key = sa.Table(
    "data_key",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("wrapped_by", sa.String(64), nullable=False),
    sa.Column("wrapped", sa.String(256), nullable=False),  # base64 of nonce, sealed key and tag
    sa.Column("created_time", sa.String(40), nullable=False),
)
