"""How Alembic reaches the database.

`server.schema` hands over the connection it holds the migration lock on (at
start-up, `sotay init`, the tests). A developer's own `alembic` command (see
"Changing the database schema" in docs/architecture.md) gets none: it then uses
the database of the configuration, `SOTAY_DATABASE_URL` or the instance's SQLite
file. `render_as_batch` lets a migration alter a table on SQLite, which can
change a column only by copying the table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from server.config import build_config
from server.models import db


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=db.metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # `alembic upgrade --sql`: print the SQL, run nothing
    context.configure(url=build_config()["SQLALCHEMY_DATABASE_URI"],
                      target_metadata=db.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := context.config.attributes.get("connection")) is not None:
    run_migrations(given)
else:
    engine = create_engine(build_config()["SQLALCHEMY_DATABASE_URI"])
    with engine.connect() as own:
        run_migrations(own)
    engine.dispose()
