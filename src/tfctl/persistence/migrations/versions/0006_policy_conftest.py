"""policy attachments: conftest namespaces and data documents

Revision ID: 0006_policy_conftest
Revises: 0005_tokens

Attachments made before this revision keep their behaviour: `namespaces` NULL reads every
package of the policy, as the gate did then.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0006_policy_conftest"
down_revision = "0005_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("namespaces", _JSON, nullable=True))
        batch_op.add_column(sa.Column("data_sources", _JSON, nullable=True))
        batch_op.add_column(sa.Column("data_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_attachments", schema=None) as batch_op:
        batch_op.drop_column("data_sha256")
        batch_op.drop_column("data_sources")
        batch_op.drop_column("namespaces")
