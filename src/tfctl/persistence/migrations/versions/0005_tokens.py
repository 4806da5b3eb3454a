"""api tokens for `tfctl serve`

Revision ID: 0005_tokens
Revises: 0004_policy_attachments
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tfctl.persistence.types

revision = "0005_tokens"
down_revision = "0004_policy_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", tfctl.persistence.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
