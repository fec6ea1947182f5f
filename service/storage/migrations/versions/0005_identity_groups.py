"""identity groups: groups, their entity and group members, group aliases

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_entities_namespace_id_id", "entities", ["namespace_id", "id"], unique=True)
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("creation_time", sa.String(length=40), nullable=False),
        sa.Column("last_update_time", sa.String(length=40), nullable=False),
        sa.Column("modify_index", sa.Integer(), nullable=False),
        sa.CheckConstraint("type IN ('internal', 'external')", name="ck_groups_type"),
        sa.ForeignKeyConstraint(["namespace_id"], ["namespaces.id"], name=op.f("fk_groups_namespace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("namespace_id", "name", name="uq_groups_name"),
    )
    op.create_index("uq_groups_namespace_id_id", "groups", ["namespace_id", "id"], unique=True)
    op.create_table(
        "group_member_entities",
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id", "group_id"], ["groups.namespace_id", "groups.id"],
            name="fk_group_member_entities_group", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id", "entity_id"], ["entities.namespace_id", "entities.id"],
            name="fk_group_member_entities_entity", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "entity_id", name=op.f("pk_group_member_entities")),
    )  # fmt: skip
    op.create_index("ix_group_member_entities_entity_id", "group_member_entities", ["entity_id"])
    op.create_table(
        "group_member_groups",
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("member_group_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint("group_id <> member_group_id", name="ck_group_member_groups_not_self"),
        sa.ForeignKeyConstraint(
            ["namespace_id", "group_id"], ["groups.namespace_id", "groups.id"],
            name="fk_group_member_groups_group", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["namespace_id", "member_group_id"], ["groups.namespace_id", "groups.id"],
            name="fk_group_member_groups_member", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "member_group_id", name=op.f("pk_group_member_groups")),
    )  # fmt: skip
    op.create_index("ix_group_member_groups_member_group_id", "group_member_groups", ["member_group_id"])
    op.create_table(
        "group_aliases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=False),
        sa.Column("canonical_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("mount_accessor", sa.String(length=512), nullable=False),
        sa.Column("creation_time", sa.String(length=40), nullable=False),
        sa.Column("last_update_time", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id", "canonical_id"], ["groups.namespace_id", "groups.id"],
            name="fk_group_aliases_group", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_aliases")),
        sa.UniqueConstraint("canonical_id", name="uq_group_aliases_canonical_id"),
        sa.UniqueConstraint("namespace_id", "mount_accessor", "name", name="uq_group_aliases_mount_name"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("group_aliases")
    op.drop_table("group_member_groups")
    op.drop_table("group_member_entities")
    op.drop_table("groups")
    op.drop_index("uq_entities_namespace_id_id", "entities")
