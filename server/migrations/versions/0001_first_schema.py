"""The schema as `db.create_all()` made it before migrations existed.

Revision ID: 0001
Revises:
Created: 2026-12-07

Written as table definitions rather than `op.create_table` calls so that
`server.schema` can also compare a database made by `create_all` with this
revision, add what such a database lacks and stamp it (`adopt`). Frozen: a
later change of the schema is a new revision, never an edit here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def schema() -> sa.MetaData:
    """Every table, column, constraint and index of this revision."""
    metadata = sa.MetaData()
    sa.Table(
        "audit_log", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Table(
        "checkpoints", metadata,
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("couch_db"),
    )
    sa.Table(
        "db_activity", metadata,
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("touched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("couch_db"),
        sa.Index("ix_db_activity_touched_at", "touched_at"),
    )
    sa.Table(
        "duplicate_pairs", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(length=200), nullable=False),
        sa.Column("other_doc_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("doc_id", "other_doc_id"),
        sa.Index("ix_duplicate_pairs_doc_id", "doc_id"),
        sa.Index("ix_duplicate_pairs_other_doc_id", "other_doc_id"),
    )
    sa.Table(
        "form_versions", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("form_id", "version"),
    )
    sa.Table(
        "held_databases", metadata,
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("strikes", sa.Integer(), nullable=False),
        sa.Column("held_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("couch_db"),
    )
    sa.Table(
        "login_failures", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_login_failures_at", "at"),
        sa.Index("ix_login_failures_key_at", "key", "at"),
    )
    sa.Table(
        "merges", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("doc_id", sa.String(length=200), nullable=False),
        sa.Column("leaf_revs", sa.Text(), nullable=False),
        sa.Column("winner_rev", sa.String(length=200), nullable=False),
        sa.Column("losing_revs", sa.JSON(), nullable=False),
        sa.Column("merged", sa.JSON(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("merged_from", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("merged_rev", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("couch_db", "doc_id", "leaf_revs"),
        sa.Index("ix_merges_doc_id", "doc_id"),
    )
    sa.Table(
        "photos", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("doc_id", sa.String(length=200), nullable=False),
        sa.Column("survey_doc_id", sa.String(length=200), nullable=False),
        sa.Column("volunteer", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("mime", sa.String(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("phash", sa.String(length=64), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_rev", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("couch_db", "doc_id"),
        sa.Index("ix_photos_sha256", "sha256"),
        sa.Index("ix_photos_survey_doc_id", "survey_doc_id"),
    )
    sa.Table(
        "quarantine", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("doc_id", sa.String(length=200), nullable=False),
        sa.Column("rev", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("reason_vi", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("couch_db", "doc_id", "rev"),
    )
    sa.Table(
        "submission_revisions", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("doc_id", sa.String(length=200), nullable=False),
        sa.Column("rev", sa.String(length=200), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("couch_db", "doc_id", "rev"),
    )
    sa.Table(
        "submissions", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_id", sa.String(length=200), nullable=False),
        sa.Column("couch_db", sa.String(length=200), nullable=False),
        sa.Column("volunteer", sa.String(length=64), nullable=False),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("rev", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("review_state", sa.String(length=24), nullable=False),
        sa.Column("residential_group", sa.String(length=32), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("visited_at", sa.String(length=40), nullable=True),
        sa.Column("gps", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("couch_db", "doc_id"),
    )
    sa.Table(
        "users", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("residential_group", sa.String(length=32), nullable=True),
        sa.Column("couch_db", sa.String(length=200), nullable=True),
        sa.Column("couch_password", sa.String(length=128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("couch_db"),
        sa.UniqueConstraint("username"),
    )
    sa.Table(
        "duplicate_keys", metadata,
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("rev", sa.String(length=200), nullable=False),
        sa.Column("form_id", sa.String(length=64), nullable=False),
        sa.Column("residential_group", sa.String(length=64), nullable=True),
        sa.Column("tax_code", sa.String(length=13), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("address_key", sa.String(length=600), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("accuracy", sa.Double(), nullable=True),
        sa.Column("created_at", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
        sa.Index("ix_duplicate_keys_address", "form_id", "residential_group", "address_key"),
        sa.Index("ix_duplicate_keys_place", "form_id", "lat"),
        sa.Index("ix_duplicate_keys_tax_code", "form_id", "tax_code"),
    )
    sa.Table(
        "login_sessions", metadata,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_login_sessions_created_at", "created_at"),
        sa.Index("ix_login_sessions_user_id", "user_id"),
    )
    sa.Table(
        "photo_bands", metadata,
        sa.Column("key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("photo_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", "photo_id"),
        sa.Index("ix_photo_bands_photo_id", "photo_id"),
    )
    sa.Table(
        "reviews", metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("rev", sa.String(length=200), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("feedback_written", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_reviews_submission_id", "submission_id"),
    )
    return metadata


def upgrade() -> None:
    schema().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    schema().drop_all(op.get_bind(), checkfirst=False)
