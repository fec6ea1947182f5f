"""initial schema

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation")),
    )
    op.create_table(
        "namespaces",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("custom_metadata", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespaces")),
        sa.UniqueConstraint("path", name=op.f("uq_namespaces_path")),
    )
    op.create_table(
        "tokens",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("accessor", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=False),
        sa.Column("parent_accessor", sa.String(length=64), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("creation_time", sa.Float(), nullable=False),
        sa.Column("expire_time", sa.Float(), nullable=True),
        sa.Column("creation_ttl", sa.BigInteger(), nullable=False),
        sa.Column("explicit_max_ttl", sa.BigInteger(), nullable=False),
        sa.Column("num_uses", sa.Integer(), nullable=False),
        sa.Column("renewable", sa.Boolean(), nullable=False),
        sa.Column("orphan", sa.Boolean(), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_tokens")),
        sa.UniqueConstraint("accessor", name=op.f("uq_tokens_accessor")),
    )
    op.create_table(
        "entities",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.String(length=40), nullable=False),
        sa.Column("last_update_time", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.id"], name=op.f("fk_entities_namespace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entities")),
        sa.UniqueConstraint("namespace_id", "name", name="uq_entities_name"),
    )
    op.create_table(
        "policies",
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.id"], name=op.f("fk_policies_namespace_id")),
        sa.PrimaryKeyConstraint("namespace_id", "name", name=op.f("pk_policies")),
    )
    op.create_table(
        "profiles",
        sa.Column("config_id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("issuer_id", sa.String(length=2048), nullable=False),
        sa.Column("local", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.id"], name=op.f("fk_profiles_namespace_id")),
        sa.PrimaryKeyConstraint("config_id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("namespace_id", "local", "issuer_id", name="uq_profiles_issuer_id"),
        sa.UniqueConstraint("namespace_id", "name", name="uq_profiles_name"),
    )
    op.create_table(
        "aliases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("mount_accessor", sa.String(length=512), nullable=False),
        sa.Column("issuer", sa.String(length=2048), nullable=True),
        sa.Column("external_id", sa.String(length=1024), nullable=True),
        sa.Column("custom_metadata", sa.JSON(), nullable=False),
        sa.Column("creation_time", sa.String(length=40), nullable=False),
        sa.Column("last_update_time", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["canonical_id"], ["entities.id"], name=op.f("fk_aliases_canonical_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.id"], name=op.f("fk_aliases_namespace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aliases")),
        sa.UniqueConstraint("namespace_id", "issuer", "external_id", name="uq_aliases_issuer_external_id"),
        sa.UniqueConstraint("namespace_id", "mount_accessor", "name", name="uq_aliases_mount_name"),
    )
    with op.batch_alter_table("aliases", schema=None) as batch_op:
        batch_op.create_index("ix_aliases_canonical_id", ["canonical_id"], unique=False)

    op.create_table(
        "registrations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=1024), nullable=False),
        sa.Column("ceiling_policies", sa.JSON(), nullable=False),
        sa.Column("no_default_ceiling_policy", sa.Boolean(), nullable=False),
        sa.Column("optional_authorization_details", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.String(length=40), nullable=False),
        sa.Column("last_updated_time", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_registrations_entity_id"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.id"], name=op.f("fk_registrations_namespace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("entity_id", name="uq_registrations_entity_id"),
        sa.UniqueConstraint("namespace_id", "display_name", name="uq_registrations_display_name"),
    )


def downgrade() -> None:
    op.drop_table("registrations")
    with op.batch_alter_table("aliases", schema=None) as batch_op:
        batch_op.drop_index("ix_aliases_canonical_id")

    op.drop_table("aliases")
    op.drop_table("profiles")
    op.drop_table("policies")
    op.drop_table("entities")
    op.drop_table("tokens")
    op.drop_table("namespaces")
    op.drop_table("generation")
