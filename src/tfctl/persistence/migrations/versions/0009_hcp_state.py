"""state versions: the HCP Terraform state version each one is

Revision ID: 0009_hcp_state
Revises: 0007_drift

On the `hcp` backend, an apply's state version records the id of HCP Terraform's state
version holding the same state (serial and lineage compared). NULL for every other backend,
for state versions recorded before this revision, and when the two differed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_hcp_state"
down_revision = "0007_drift"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("state_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hcp_state_version_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("state_versions", schema=None) as batch_op:
        batch_op.drop_column("hcp_state_version_id")
