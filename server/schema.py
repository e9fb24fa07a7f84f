"""The database schema's version: Alembic's migrations (server/migrations/), run at start.

`upgrade` brings a database to the newest revision (head). It runs in every
process that creates the app (`sotay init` and `run`, the worker, each web
server process), so it holds a lock while it looks and migrates: PostgreSQL's
advisory lock for the transaction, a lock file beside a SQLite database. The
first process migrates; the others wait, then find nothing to do.

A database made by `db.create_all()` before migrations existed has Sotay's
tables and no `alembic_version`. It is adopted: compared with the first
revision, given what `create_all` never added to a table it had made before
(a column such as `photos.deleted_rev`, an index) and the tables it lacks,
stamped at the first revision, then upgraded like any other. The log says
each step. A database that lacks a column no default can fill, or that is at
a revision this version does not know (made by a newer Sotay), is left alone
and start-up stops, saying so.
"""

from __future__ import annotations

import fcntl
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Column, Connection, Engine, inspect, text

from server.errors import problem

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001"
# The key of PostgreSQL's advisory lock: a number of our own ("sotay" in ASCII),
# the same in every process.
LOCK_KEY = int.from_bytes(b"sotay", "big")
CREATED = "created in an empty database at revision"


class SchemaError(RuntimeError):
    """The database cannot be brought to this version's schema: one line, both languages."""

    def __init__(self, key: str, **detail: str) -> None:
        found = problem(key, **detail)
        super().__init__(f"{found.vi} / {found.en}")


def upgrade(engine: Engine) -> list[str]:
    """Bring the database to the newest revision; return what was done, a line a step
    (none when it was there already), each also logged."""
    with engine.connect() as conn, _exclusive(conn):
        done = _upgrade(conn)
        conn.commit()
    for line in done:  # a new database is no news; a change to one with data is
        log.log(logging.INFO if line.startswith(CREATED) else logging.WARNING,
                "database schema: %s", line)
    return done


def head() -> str:
    return _scripts().get_current_head()


def revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not under migrations, or empty)."""
    with engine.connect() as conn:
        return _current(conn)


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def alembic_config(conn: Connection) -> Config:
    """Alembic's configuration for running commands on `conn` (see migrations/env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


@contextmanager
def _exclusive(conn: Connection) -> Iterator[None]:
    """Hold the migration lock until `conn`'s transaction ends (PostgreSQL) or the block
    does (SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield
        return
    path = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not path or path == ":memory:":
        yield  # nothing another process could open at the same time
        return
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _upgrade(conn: Connection) -> list[str]:
    done: list[str] = []
    revision = _current(conn)
    if revision is None and _sotay_tables(conn):
        done.append(_adopt(conn))
        revision = FIRST_REVISION
    newest = head()
    if revision == newest:
        return done
    if revision is not None:
        try:
            _scripts().get_revision(revision)
        except CommandError:
            raise SchemaError("schema_newer", revision=revision, head=newest) from None
    command.upgrade(alembic_config(conn), "head")
    done.append(f"upgraded from revision {revision} to {newest}" if revision
                else f"{CREATED} {newest}")
    return done


def _sotay_tables(conn: Connection) -> set[str]:
    first = _scripts().get_revision(FIRST_REVISION).module.schema()
    return set(first.tables) & set(inspect(conn).get_table_names())


def _adopt(conn: Connection) -> str:
    """Bring a database `create_all` made to the first revision and stamp it; say what
    was added."""
    first = _scripts().get_revision(FIRST_REVISION).module.schema()
    context = MigrationContext.configure(conn, opts={"compare_type": False})
    tables, columns, indexes, missing, unlike = [], [], [], [], []
    for diff in compare_metadata(context, first):
        kind = diff[0] if isinstance(diff, tuple) else diff[0][0]
        if kind == "add_table":
            tables.append(first.tables[diff[1].name])  # the revision's own, with its indexes
        elif kind == "add_column" and diff[3].nullable:
            columns.append((diff[2], diff[3]))
        elif kind == "add_column":
            missing.append(f"{diff[2]}.{diff[3].name}")
        elif kind == "add_index":
            indexes.append(diff[1])
        else:  # not something create_all makes (done by hand?): kept, and said
            unlike.append(_describe(diff))
    if missing:
        raise SchemaError("schema_unrecognised", missing=", ".join(missing))
    added = []
    for table in tables:
        table.create(conn)
        added.append(f"table {table.name}")
    for table_name, column in columns:
        Operations(context).add_column(table_name, Column(column.name, column.type))
        added.append(f"column {table_name}.{column.name}")
    for index in indexes:
        if index.table.name not in {table.name for table in tables}:  # else made with it
            next(own for own in first.tables[index.table.name].indexes
                 if own.name == index.name).create(conn)
            added.append(f"index {index.name}")
    command.stamp(alembic_config(conn), FIRST_REVISION)
    said = (f"made before migrations (no alembic_version table): adopted at revision "
            f"{FIRST_REVISION}, added {', '.join(added) or 'nothing'}")
    if unlike:
        said += f"; differences kept as they are: {'; '.join(unlike)}"
    return said


def _describe(diff: tuple | list) -> str:
    """One difference compare_metadata found, by the names of what it is about."""
    first = diff if isinstance(diff, tuple) else diff[0]
    names = [getattr(part, "name", part) for part in first[1:] if part is not None]
    return " ".join([first[0], *(str(name) for name in names[:3])])
