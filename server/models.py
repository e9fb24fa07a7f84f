"""The relational model: accounts and their logins, forms, submissions and
their revisions, photos, quarantine, ingest checkpoints and the audit log.

Only `server/queries/` reads and writes these tables: an action may read a
row it was given, never set its attributes. A transaction is committed or
rolled back only by `server.transaction`, once per request, command,
background step or call of the ingest's SQL store (a page with its
checkpoint is one). A change here needs a migration (server/migrations/,
see the README's "Changing the database schema"); `tests/server/test_migrations.py`
fails until the two agree. JSON columns hold the answers as the phone sent
them, so a form version's shape never needs one.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    Engine,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

# How long a statement on SQLite waits for another connection's write to end
# before "database is locked". In WAL only writers wait for each other, and the
# longest write (a page of the ingest) takes well under a second.
SQLITE_BUSY_SECONDS = 10.0


@event.listens_for(Engine, "connect")
def prepare_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Set every SQLite connection up for several processes at once: the web
    server's threads, the ingest worker's two connections, the command line.

    WAL lets readers go on while one connection writes (the rollback journal locked
    them out during every commit, and a web request or a write mark waited or
    failed). `synchronous` stays FULL, SQLite's default: a reviewer's decision,
    once shown as saved, survives a power cut, for an fsync of the WAL a commit.
    Every engine of the process, so no connection to the file is left without.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    residential_group: Mapped[str | None] = mapped_column(String(32))
    couch_db: Mapped[str | None] = mapped_column(String(200), unique=True)
    couch_password: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginSession(db.Model):
    """A login that is still valid: the session cookie names it, logging out deletes it.

    The cookie is signed, not secret from its holder; this row is what lets the
    server end a session before the cookie's own lifetime is over."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LoginFailure(db.Model):
    """One wrong password, counted against the account name and the address it came from.

    In SQL so every web process sees the same counts; rows older than the
    limit's window are deleted as new ones come."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)


class FormVersion(db.Model):
    __tablename__ = "form_versions"
    __table_args__ = (UniqueConstraint("form_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32))
    definition: Mapped[dict] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class Submission(db.Model):
    """The current state of one survey document."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(200))
    couch_db: Mapped[str] = mapped_column(String(200))
    volunteer: Mapped[str] = mapped_column(String(64))
    form_id: Mapped[str] = mapped_column(String(64))
    form_version: Mapped[str] = mapped_column(String(32))
    rev: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    review_state: Mapped[str] = mapped_column(String(24), default="pending")
    residential_group: Mapped[str | None] = mapped_column(String(32))
    answers: Mapped[dict] = mapped_column(JSON)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    visited_at: Mapped[str | None] = mapped_column(String(40))
    gps: Mapped[dict | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("couch_db", "doc_id"),)


class SubmissionRevision(db.Model):
    """Every revision of every survey the ingest has seen."""

    __tablename__ = "submission_revisions"
    __table_args__ = (UniqueConstraint("couch_db", "doc_id", "rev"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couch_db: Mapped[str] = mapped_column(String(200))
    doc_id: Mapped[str] = mapped_column(String(200))
    rev: Mapped[str] = mapped_column(String(200))
    body: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(db.Model):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("couch_db", "doc_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couch_db: Mapped[str] = mapped_column(String(200))
    doc_id: Mapped[str] = mapped_column(String(200))
    survey_doc_id: Mapped[str] = mapped_column(String(200), index=True)
    volunteer: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    mime: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None]
    height: Mapped[int | None]
    phash: Mapped[str | None] = mapped_column(String(64))
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The revision that deleted the photo document; NULL while it is live.
    deleted_rev: Mapped[str | None] = mapped_column(String(200))


class PhotoBand(db.Model):
    """The reuse index: a live photo filed under each band of its perceptual hash
    (`media.measures.hash_bands`), so a new photo finds its near-duplicates by
    index lookups instead of reading every stored hash."""

    __tablename__ = "photo_bands"

    key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"),
                                          primary_key=True, autoincrement=False, index=True)


class Quarantine(db.Model):
    """What a device sent that the server could not accept, kept for inspection."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("couch_db", "doc_id", "rev"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couch_db: Mapped[str] = mapped_column(String(200))
    doc_id: Mapped[str] = mapped_column(String(200))
    rev: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(64))
    reason_vi: Mapped[str] = mapped_column(Text)
    reason_en: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Checkpoint(db.Model):
    """How far the ingest has read each database's changes (seq kept opaque, as JSON)."""

    __tablename__ = "checkpoints"

    couch_db: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(db.Model):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    rev: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    feedback_written: Mapped[bool] = mapped_column(default=False)


class AuditEntry(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Merge(db.Model):
    """A field-by-field merge of conflicting leaves, and whether it was written back."""

    __tablename__ = "merges"
    __table_args__ = (UniqueConstraint("couch_db", "doc_id", "leaf_revs"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    couch_db: Mapped[str] = mapped_column(String(200))
    doc_id: Mapped[str] = mapped_column(String(200), index=True)
    leaf_revs: Mapped[str] = mapped_column(Text)
    winner_rev: Mapped[str] = mapped_column(String(200))
    losing_revs: Mapped[list] = mapped_column(JSON)
    merged: Mapped[dict] = mapped_column(JSON)
    record: Mapped[dict] = mapped_column(JSON)
    merged_from: Mapped[list] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    merged_rev: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DuplicateKeys(db.Model):
    """What duplicate detection compares of one final survey (sync.duplicates.MatchKeys),
    worked out once for its revision `rev`; a survey whose current revision has no
    keys yet is still to be checked. Indexed by each way two surveys can match, so
    checking a survey reads only the candidates sharing a key with it."""

    __tablename__ = "duplicate_keys"
    __table_args__ = (
        Index("ix_duplicate_keys_tax_code", "form_id", "tax_code"),
        Index("ix_duplicate_keys_address", "form_id", "residential_group", "address_key"),
        Index("ix_duplicate_keys_place", "form_id", "lat"),
    )

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    rev: Mapped[str] = mapped_column(String(200))
    form_id: Mapped[str] = mapped_column(String(64))
    residential_group: Mapped[str | None] = mapped_column(String(64))
    tax_code: Mapped[str | None] = mapped_column(String(13))
    address: Mapped[str | None] = mapped_column(String(500))
    address_key: Mapped[str | None] = mapped_column(String(600))
    name: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accuracy: Mapped[float | None]
    # Copied from the survey, which SQLite keeps after its answers: read there, each
    # candidate's whole answers would be read too.
    created_at: Mapped[str | None] = mapped_column(String(40))


class DuplicatePair(db.Model):
    """Two surveys that look like the same household or enterprise, for a reviewer to settle."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (UniqueConstraint("doc_id", "other_doc_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(200), index=True)
    other_doc_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list] = mapped_column(JSON)
    distance_m: Mapped[float | None]
    state: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HeldDatabase(db.Model):
    """A volunteer database the CouchDB-API server stopped on while the ingest read it.

    `strikes` counts such stops in a row; from `sync.ingest.STRIKES_TO_HOLD` on
    the database is held (`held_at`): the ingest and the sync gateway leave it
    alone, so one broken database cannot stop the server for every volunteer,
    until an administrator releases it (`sotay ingest release`).
    """

    __tablename__ = "held_databases"

    couch_db: Mapped[str] = mapped_column(String(200), primary_key=True)
    strikes: Mapped[int] = mapped_column(default=0)
    held_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DbActivity(db.Model):
    """The ingest's queue: one row per volunteer database with news.

    Whoever learns that a database may have new changes (the sync gateway on
    a phone's write, a worker from `_db_updates` or a sweep) bumps `touches`.
    A worker claims a database whose `touches` exceed `read_touches` by
    setting `lease_owner` and `lease_until` and remembering `touches` in
    `claimed_touches`; once it has read the database to its end it sets
    `read_touches` to that, so news that came during the read leave the
    database pending. A lease runs out at `lease_until` unless its worker
    renews it: a dead worker's databases go to the others. After a failed
    read `lease_until` without an owner says when it may be tried again.
    """

    __tablename__ = "db_activity"
    __table_args__ = (
        # The pending databases, oldest news first: claims and /healthz read only these.
        Index("ix_db_activity_pending", "pending_since",
              postgresql_where=text("touches > read_touches"),
              sqlite_where=text("touches > read_touches")),
    )

    couch_db: Mapped[str] = mapped_column(String(200), primary_key=True)
    touched_at: Mapped[datetime] = mapped_column(default=utcnow)
    pending_since: Mapped[datetime | None] = mapped_column()  # news unread since about then
    touches: Mapped[int] = mapped_column(default=1, server_default="1")
    read_touches: Mapped[int] = mapped_column(default=0, server_default="0")
    claimed_touches: Mapped[int] = mapped_column(default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column()


class IngestWorker(db.Model):
    """An ingest worker process as it last reported itself (for /healthz)."""

    __tablename__ = "ingest_workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    mode: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class WorkerTurn(db.Model):
    """Something workers do one at a time: when a worker last swept every volunteer
    database (`sweep`), so that there is one sweep per period however many workers."""

    __tablename__ = "worker_turns"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column()


class Job(db.Model):
    """Background work that failed, with its retry budget.

    The work itself lives where it always did (a decision not yet written to
    the phone, a survey not yet checked for duplicates); a row here exists only
    once an item failed: how many attempts, the last error, when it may be tried
    again (`run_after`, growing with each attempt), and `state` `failed` once
    the budget is spent, until an administrator retries it (`sotay jobs retry`).
    """

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="retrying")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
