"""Schema migrations: a database at the first revision reaches head with every row,
the models and the migrations agree, a database `create_all` made before
migrations is adopted, and processes starting together migrate once.

Each test has a blank database of its own: a SQLite file, or a PostgreSQL
database created for it.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server import schema
from server.models import db
from tests.conftest import PG_ADMIN_URL, ROOT


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[sa.Engine]:
    """An engine on a blank database."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("postgres_url")  # skips, saying why, without PostgreSQL
    name = f"sotay_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    engine = sa.create_engine(f"{url}/{name}")
    yield engine
    engine.dispose()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def first_revision() -> sa.MetaData:
    return schema._scripts().get_revision(schema.FIRST_REVISION).module.schema()


def sample(column: sa.Column, row: int):
    """A value for `column` in row `row`, distinct per row, with non-ASCII text (a foreign
    key names row `row` of the other table)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return row % 2 == 0
    if isinstance(kind, sa.Integer):
        return row
    if isinstance(kind, sa.Float):
        return row + 0.25
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 11, 25, 8, 30) + timedelta(minutes=row)
    if isinstance(kind, sa.JSON):
        return {"hộ": [row, "Nguyễn Thị Ánh"], "ok": True}
    text = f"{column.name}-{row}-ă"
    return text[: kind.length] if isinstance(kind, sa.String) and kind.length else text


def fill(conn: sa.Connection, metadata: sa.MetaData, rows: int = 3) -> dict[str, list[dict]]:
    """Put `rows` rows in every table of `metadata`; return them."""
    written = {}
    for table in metadata.sorted_tables:
        written[table.name] = [{column.name: sample(column, row) for column in table.columns}
                               for row in range(1, rows + 1)]
        conn.execute(table.insert(), written[table.name])
    return written


def read(conn: sa.Connection, metadata: sa.MetaData) -> dict[str, list[dict]]:
    """Every row of every table of `metadata`, as the current database gives them."""
    current = sa.MetaData()
    current.reflect(conn, only=list(metadata.tables))
    return {name: [dict(row) for row in conn.execute(
        sa.select(*[current.tables[name].c[column.name] for column in table.columns])
        .order_by(*current.tables[name].primary_key.columns)).mappings()]
            for name, table in metadata.tables.items()}


def differences(engine: sa.Engine, metadata: sa.MetaData) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                metadata)


def test_a_database_at_the_first_revision_reaches_head_with_every_row(engine):
    with engine.begin() as conn:
        command.upgrade(schema.alembic_config(conn), schema.FIRST_REVISION)
        written = fill(conn, first_revision())
    assert schema.revision(engine) == schema.FIRST_REVISION

    schema.upgrade(engine)

    assert schema.revision(engine) == schema.head()
    with engine.connect() as conn:
        kept = read(conn, first_revision())
    assert kept == written


def test_the_models_and_the_migrations_agree(engine):
    """A model changed without a migration fails here, on both databases."""
    schema.upgrade(engine)
    assert differences(engine, db.metadata) == []

    # The comparison sees a column the migrations lack, so the check above can fail.
    changed = sa.MetaData()
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["photos"].append_column(sa.Column("not_in_any_migration", sa.Text))
    assert [diff[0] for diff in differences(engine, changed)] == ["add_column"]


def test_a_database_create_all_made_is_adopted(engine, caplog):
    """A trial's database from before migrations: made by create_all when photos had
    no deleted_rev, photo_bands did not exist and sha256 had no index."""
    old = first_revision()
    old.remove(old.tables["photo_bands"])
    photos = old.tables["photos"]
    photos._columns.remove(photos.c.deleted_rev)
    photos.indexes.discard(next(i for i in photos.indexes if i.name == "ix_photos_sha256"))
    old.create_all(engine)
    with engine.begin() as conn:
        written = fill(conn, old)

    with caplog.at_level(logging.WARNING, logger="server.schema"):
        done = schema.upgrade(engine)

    assert done[0] == ("made before migrations (no alembic_version table): adopted at revision "
                       "0001, added table photo_bands, column photos.deleted_rev, index "
                       "ix_photos_sha256")
    assert done[0] in caplog.text
    assert schema.revision(engine) == schema.head()
    assert differences(engine, db.metadata) == []
    with engine.connect() as conn:
        assert read(conn, old) == written
        assert conn.execute(sa.text("SELECT count(*) FROM photos WHERE deleted_rev IS NULL")
                            ).scalar() == 3
    assert schema.upgrade(engine) == []  # adopted once; a second start finds it at head


def test_a_database_lacking_a_required_column_is_left_alone(engine):
    old = first_revision()
    users = old.tables["users"]
    users._columns.remove(users.c.role)
    old.create_all(engine)

    with pytest.raises(schema.SchemaError, match="users.role"):
        schema.upgrade(engine)

    assert schema.revision(engine) is None
    assert "alembic_version" not in sa.inspect(engine).get_table_names()


def test_a_database_a_newer_sotay_migrated_is_refused(engine):
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))

    with pytest.raises(schema.SchemaError, match="revision ffff, newer than this Sotay"):
        schema.upgrade(engine)


STARTER = """
import sys
import sqlalchemy as sa
from server import schema
sys.stdin.readline()  # all start together
print(repr(schema.upgrade(sa.create_engine(sys.argv[1]))))
"""


def test_processes_starting_together_migrate_once(engine):
    """The web server's processes and the worker start at once: one migrates, the
    others wait and find the database at head."""
    url = engine.url.render_as_string(hide_password=False)
    starters = [subprocess.Popen([sys.executable, "-c", STARTER, url], cwd=ROOT, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE) for _ in range(3)]
    for starter in starters:
        starter.stdin.write("go\n")
        starter.stdin.flush()
    said = [starter.communicate(timeout=120) for starter in starters]

    assert [starter.returncode for starter in starters] == [0] * 3, said
    outputs = sorted(out.strip() for out, _ in said)
    assert outputs == sorted(["[]"] * 2 + [f"['{schema.CREATED} {schema.head()}']"]), said
    assert differences(engine, db.metadata) == []


def test_sotay_init_adopts_a_trial_database_and_says_so(couch_server, tmp_path):
    """What an administrator sees upgrading an instance whose SQLite database the
    previous version made: the adoption in the log, the revision on the screen."""
    database = tmp_path / "sotay.db"
    old = first_revision()
    photos = old.tables["photos"]
    photos._columns.remove(photos.c.deleted_rev)
    engine = sa.create_engine(f"sqlite:///{database}")
    old.create_all(engine)
    with engine.begin() as conn:
        written = fill(conn, old)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOTAY_INSTANCE": str(tmp_path),
           "SOTAY_DATABASE_URL": f"sqlite:///{database}", "SOTAY_COUCHDB_URL": couch_server.url,
           "SOTAY_NODE_MODULES": str(ROOT / "node_modules")}

    done = subprocess.run([sys.executable, "-m", "server.cli", "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert ("database schema: made before migrations (no alembic_version table): adopted at "
            "revision 0001, added column photos.deleted_rev") in done.stderr
    assert f"database schema at revision {schema.head()}" in done.stdout
    with engine.connect() as conn:
        kept = read(conn, old)
    engine.dispose()
    # Every row is still there; init added its own after them (forms, admin, audit).
    assert {name: rows[:3] for name, rows in kept.items()} == written
