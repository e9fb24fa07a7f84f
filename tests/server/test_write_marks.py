"""The gateway's write marks when SQL is busy: a phone writes while another
connection holds the database's write lock (the worker committing a page, a
reviewer deciding). The mark must reach the worker's next looks anyway, neither
lost nor stamped with a time the worker has already looked past (issue 19,
item 17)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from server import services
from server.ingest_store import MARK_OVERLAP, SqlIngestStore
from server.models import SQLITE_BUSY_SECONDS, db
from sync.ingest import ChangedDatabases
from tests.conftest import log_in
from tests.polling import wait_for


@contextmanager
def write_lock_held(database_url: str, seconds: float) -> Iterator[None]:
    """Another connection takes the write lock (SQLite) or locks the marks' table
    against writers (PostgreSQL) for `seconds`, as a long commit would."""
    taken = threading.Event()

    def hold() -> None:
        if database_url.startswith("sqlite"):
            conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
        else:
            conn = psycopg.connect(database_url.replace("postgresql+psycopg://",
                                                        "postgresql://"))
            conn.execute("LOCK TABLE db_activity IN EXCLUSIVE MODE")
        taken.set()
        time.sleep(seconds)
        conn.rollback() if not database_url.startswith("sqlite") else conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        holder.join()


def marks_seen_while_writing(app, client, volunteer, database_url: str,
                             lock_seconds: float) -> set[str]:
    """Run the worker's look for marks every 0.2 s while a phone's write meets a held
    write lock, and after it for longer than the look-back; return the databases named."""
    log_in(client, volunteer)
    seen: set[str] = set()
    with app.app_context():
        changed = ChangedDatabases(services.couch(), SqlIngestStore(), sweep_seconds=3600)
        changed.next(0)  # the first call is the full sweep; marks count from here
        with write_lock_held(database_url, lock_seconds):
            doc = {"_id": f"survey:{uuid.uuid4()}", "type": "survey"}
            phone = threading.Thread(target=lambda: client.post(
                f"/sync/{volunteer.couch_db}/_bulk_docs", json={"docs": [doc]}))
            phone.start()
            until = time.monotonic() + lock_seconds + MARK_OVERLAP.total_seconds() + 3
            wait_for(lambda: seen.update(changed.next(0)[0]) or volunteer.couch_db in seen,
                     until - time.monotonic(), every=0.2)
            phone.join()
    return seen


def test_a_mark_made_during_a_lock_is_not_older_than_the_look_back(app, client, volunteer,
                                                                  database_url):
    # Longer than the worker's look-back, shorter than any busy timeout.
    seconds = MARK_OVERLAP.total_seconds() + 1.5
    seen = marks_seen_while_writing(app, client, volunteer, database_url, seconds)
    assert volunteer.couch_db in seen


def test_a_mark_that_meets_database_is_locked_is_kept_and_written_later(app, client, volunteer,
                                                                       database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL waits for a lock without a timeout; SQLite gives up")
    # Longer than the busy timeout (and than the driver's own 5 s): SQLite says "database
    # is locked" to the first try.
    seconds = max(SQLITE_BUSY_SECONDS, 5.0) + 1.5
    seen = marks_seen_while_writing(app, client, volunteer, database_url, seconds)
    assert volunteer.couch_db in seen


def test_sqlite_runs_in_wal_with_a_busy_timeout(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's journal")
    with app.app_context():
        conn = db.session.connection()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == int(
            SQLITE_BUSY_SECONDS * 1000)
        db.session.rollback()
