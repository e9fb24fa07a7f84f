"""The gateway's write marks when SQL is busy: a phone writes while another
connection holds the database's write lock (the worker committing a page, a
reviewer deciding). The mark must reach the ingest's queue anyway, so that a
worker's next claim takes the database (issue 19, item 17)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from server.ingest_store import SqlIngestStore
from server.models import SQLITE_BUSY_SECONDS, db
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
    """Claim from the ingest's queue every 0.2 s while a phone's write meets a held
    write lock, and for a few seconds after it; return the databases claimed."""
    log_in(client, volunteer)
    seen: set[str] = set()
    with app.app_context():
        store = SqlIngestStore()
        store.notice(store.volunteer_dbs())  # a sweep, read at once: nothing pending
        for couch_db in store.claim(100):
            store.done(couch_db)
        assert store.claim(100) == []
        with write_lock_held(database_url, lock_seconds):
            doc = {"_id": f"survey:{uuid.uuid4()}", "type": "survey"}
            phone = threading.Thread(target=lambda: client.post(
                f"/sync/{volunteer.couch_db}/_bulk_docs", json={"docs": [doc]}))
            phone.start()
            wait_for(lambda: seen.update(store.claim(10)) or volunteer.couch_db in seen,
                     lock_seconds + 3, every=0.2)
            phone.join()
    return seen


def test_a_mark_made_during_a_lock_reaches_the_queue(app, client, volunteer, database_url):
    seen = marks_seen_while_writing(app, client, volunteer, database_url, 4.5)
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
