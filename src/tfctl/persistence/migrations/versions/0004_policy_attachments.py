"""policy attachments

Revision ID: 0004_policy_attachments
Revises: 0003_workers_artifacts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tfctl.persistence.types

revision = "0004_policy_attachments"
down_revision = "0003_workers_artifacts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_attachments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("created_at", tfctl.persistence.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "workspace_id", "source", name="uq_policy_attachments_workspace_source"
        ),
    )
    with op.batch_alter_table("policy_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_attachments_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("policy_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_attachments_workspace_id"))

    op.drop_table("policy_attachments")
