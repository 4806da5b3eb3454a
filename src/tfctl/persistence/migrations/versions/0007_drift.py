"""drift assessments: per-workspace opt-out and schedule

Revision ID: 0007_drift
Revises: 0006_policy_conftest

Existing workspaces take part in scheduled assessments (`assess` true) and have not been
scheduled yet (`next_assessment_at` NULL: the first scheduler to see them spreads them over
its interval).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tfctl.persistence.types

revision = "0007_drift"
down_revision = "0006_policy_conftest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assess", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column(
                "next_assessment_at",
                tfctl.persistence.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("next_assessment_at")
        batch_op.drop_column("assess")
