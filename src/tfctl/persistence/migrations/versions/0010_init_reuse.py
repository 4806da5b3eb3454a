"""init reuse: the hash a run's `terraform init` was skipped or done for, and --reinit

Revision ID: 0010_init_reuse
Revises: 0008_secrets

`init_sha256` is one SHA-256 over what `terraform init` depends on (the rendered
configuration, backend configuration, CLI configuration, lock file and terraform version);
a run whose hash matches a working directory initialised before skips `init`. `reinit`
asks for a fresh `init` whatever the hash says (`--reinit`). Existing runs have neither.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_init_reuse"
down_revision = "0008_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("init_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("reinit", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("reinit")
        batch_op.drop_column("init_sha256")
