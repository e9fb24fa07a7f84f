"""What backups and restores read and write in SQL: row counts, the ingest's
checkpoints, the accounts whose CouchDB users are Sotay's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, text

from server.models import Checkpoint, User, db
from server.queries.ingest import save_checkpoint


def row_counts() -> dict[str, int]:
    """Rows of every table Sotay defines."""
    return {table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables}


def checkpoints() -> dict[str, Any]:
    """The ingest's checkpoint of each database."""
    return {row.couch_db: row.seq["seq"] for row in db.session.execute(select(Checkpoint))
            .scalars()}


def set_checkpoint(couch_db: str, seq: Any) -> None:
    save_checkpoint(couch_db, seq)


def drop_checkpoint(couch_db: str) -> None:
    db.session.execute(delete(Checkpoint).where(Checkpoint.couch_db == couch_db))


def couch_user_names() -> list[str]:
    """Accounts that have a CouchDB user (volunteers, deactivated ones too)."""
    return list(db.session.execute(select(User.username).where(User.couch_db.is_not(None))
                                   .order_by(User.username)).scalars())


def server_version() -> str:
    """The SQL server's version (SQLite's library version on SQLite)."""
    if db.engine.dialect.name == "sqlite":
        return db.session.execute(text("select sqlite_version()")).scalar_one()
    return db.session.execute(text("show server_version")).scalar_one()
