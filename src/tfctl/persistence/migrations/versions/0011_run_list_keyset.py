"""run list keyset: indexes that give newest-first pages of runs, and runs.id_tail

Revision ID: 0011_run_list_keyset
Revises: 0010_init_reuse

Run lists are read newest first, ordered by (created_at, id) descending, a page at a time
from the (created_at, id) of the last run of the page before (keyset pagination). Each
filter gets an index ending in (created_at, id), so a page is one index range however many
runs the store holds; the (workspace_id, created_at) and (status, created_at) indexes are
their prefixes and go.

`id_tail` holds the last 4 characters of a run's id, indexed: the short ids tables show (the
shortest unique end of an id) and a run named by them are index lookups instead of a scan
of every id. Existing runs get theirs here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_run_list_keyset"
down_revision = "0010_init_reuse"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("id_tail", sa.String(length=4), nullable=True))
    runs = sa.table("runs", sa.column("id", sa.String), sa.column("id_tail", sa.String))
    op.execute(
        runs.update().values(id_tail=sa.func.substr(runs.c.id, sa.func.length(runs.c.id) - 3))
    )
    op.create_index("ix_runs_id_tail", "runs", ["id_tail"])
    op.create_index("ix_runs_created_id", "runs", ["created_at", "id"])
    op.create_index("ix_runs_workspace_created_id", "runs", ["workspace_id", "created_at", "id"])
    op.create_index("ix_runs_status_created_id", "runs", ["status", "created_at", "id"])
    op.create_index(
        "ix_runs_workspace_status_created_id",
        "runs",
        ["workspace_id", "status", "created_at", "id"],
    )
    op.drop_index("ix_runs_workspace_created", table_name="runs")
    op.drop_index("ix_runs_status_created", table_name="runs")


def downgrade() -> None:
    op.create_index("ix_runs_status_created", "runs", ["status", "created_at"])
    op.create_index("ix_runs_workspace_created", "runs", ["workspace_id", "created_at"])
    op.drop_index("ix_runs_workspace_status_created_id", table_name="runs")
    op.drop_index("ix_runs_status_created_id", table_name="runs")
    op.drop_index("ix_runs_workspace_created_id", table_name="runs")
    op.drop_index("ix_runs_created_id", table_name="runs")
    op.drop_index("ix_runs_id_tail", table_name="runs")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("id_tail")
