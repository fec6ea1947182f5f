"""KV version 2 secrets engine at `secret/`

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kv_config",
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("max_versions", sa.Integer(), nullable=False),
        sa.Column("cas_required", sa.Boolean(), nullable=False),
        sa.Column("delete_version_after", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"], ["namespaces.id"], name=op.f("fk_kv_config_namespace_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("namespace_id", name=op.f("pk_kv_config")),
    )
    op.create_table(
        "kv_keys",
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("oldest_version", sa.Integer(), nullable=False),
        sa.Column("max_versions", sa.Integer(), nullable=False),
        sa.Column("cas_required", sa.Boolean(), nullable=False),
        sa.Column("delete_version_after", sa.BigInteger(), nullable=False),
        sa.Column("custom_metadata", sa.JSON(), nullable=True),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"], ["namespaces.id"], name=op.f("fk_kv_keys_namespace_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("namespace_id", "path", name=op.f("pk_kv_keys")),
    )
    op.create_table(
        "kv_versions",
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("deletion_time", sa.BigInteger(), nullable=True),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id", "path"],
            ["kv_keys.namespace_id", "kv_keys.path"],
            name="fk_kv_versions_key",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "path", "version", name=op.f("pk_kv_versions")),
    )


def downgrade() -> None:
    op.drop_table("kv_versions")
    op.drop_table("kv_keys")
    op.drop_table("kv_config")
