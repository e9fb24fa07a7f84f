"""What backups and restores read and write in SQL: row counts, the ingest's
checkpoints, the accounts whose CouchDB users are Sotay's, PostgreSQL's
snapshot that `pg_dump` copies."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, delete, func, select, text

from server.models import Checkpoint, User, db
from server.queries.ingest import save_checkpoint


def row_counts(connection: Connection | None = None) -> dict[str, int]:
    """Rows of every table Sotay defines (as `connection` sees them, if given)."""
    run = connection or db.session
    return {table.name: run.execute(select(func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables}


def sqlite_row_counts(path: str) -> dict[str, int]:
    """Rows of every table Sotay defines in a SQLite file (a backup's copy)."""
    copy = sqlite3.connect(path)
    try:
        return {table.name: copy.execute(f'select count(*) from "{table.name}"').fetchone()[0]
                for table in db.metadata.sorted_tables}
    finally:
        copy.close()


@contextmanager
def exported_snapshot() -> Iterator[tuple[str, Connection]]:
    """A PostgreSQL snapshot (`pg_dump --snapshot` copies exactly it) and a connection that
    reads it, open until leaving."""
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection.execute(text("select pg_export_snapshot()")).scalar_one(), \
                connection


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
