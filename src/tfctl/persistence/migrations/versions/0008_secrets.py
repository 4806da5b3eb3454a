"""workspaces: sensitive variables, encrypted

Revision ID: 0008_secrets
Revises: 0009_hcp_state

`--var-sensitive` values are stored as tokens encrypted with the secret key (tfctl.secrets),
name → token. Existing workspaces have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_secrets"
down_revision = "0009_hcp_state"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sensitive_variables", _JSON, nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("sensitive_variables")
