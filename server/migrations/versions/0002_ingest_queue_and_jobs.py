"""The ingest's queue, its workers and background jobs with a retry budget.

Revision ID: 0002
Revises: 0001
Created: 2026-12-07

`db_activity` becomes the queue that shares volunteer databases between
ingest workers (a count of news, what was read, a lease); every database it
already names is left pending, so the next worker reads each once more (a
replay changes nothing). `ingest_workers` is what /healthz lists,
`worker_turns` the one-sweep-per-period turn, `jobs` failed background work.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = "touches > read_touches"


def upgrade() -> None:
    with op.batch_alter_table("db_activity") as table:
        table.add_column(sa.Column("pending_since", sa.DateTime(), nullable=True))
        table.add_column(sa.Column("touches", sa.Integer(), server_default="1", nullable=False))
        table.add_column(sa.Column("read_touches", sa.Integer(), server_default="0",
                                   nullable=False))
        table.add_column(sa.Column("claimed_touches", sa.Integer(), server_default="0",
                                   nullable=False))
        table.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        table.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        table.drop_index("ix_db_activity_touched_at")
    op.execute("UPDATE db_activity SET pending_since = touched_at")
    op.create_index("ix_db_activity_pending", "db_activity", ["pending_since"],
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_table(
        "ingest_workers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("mode", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ingest_workers_seen_at", "ingest_workers", ["seen_at"])
    op.create_table(
        "worker_turns",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("run_after", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key"),
    )


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("worker_turns")
    op.drop_index("ix_ingest_workers_seen_at", table_name="ingest_workers")
    op.drop_table("ingest_workers")
    op.drop_index("ix_db_activity_pending", table_name="db_activity")
    with op.batch_alter_table("db_activity") as table:
        table.create_index("ix_db_activity_touched_at", ["touched_at"])
        for column in ("lease_until", "lease_owner", "claimed_touches", "read_touches",
                       "touches", "pending_since"):
            table.drop_column(column)
