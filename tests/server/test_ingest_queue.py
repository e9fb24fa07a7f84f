"""The ingest's queue in SQL: one worker at a time per database, nothing forgotten
when a worker stalls or dies, and /healthz reporting from it (issue 20, items 4, 5
and 7), on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid

import pytest

from media.pipeline import Limits
from server import services
from server.ingest_store import SqlIngestStore
from sync.couch import Couch, CouchError
from sync.ingest import LeaseLost, ingest_claimed
from tests.conftest import free_port, log_in, make_account
from tests.server.helpers import household_answers, survey_doc


def wait_until(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture
def two_workers(app):
    with app.app_context():
        yield SqlIngestStore(app, "test-host:1:a"), SqlIngestStore(app, "test-host:2:b")


def test_a_database_with_news_goes_to_one_worker_at_a_time(app, volunteer, two_workers):
    first, second = two_workers
    first.notice([volunteer.couch_db, "userdb-not-a-volunteer"])
    assert first.claim(10) == [volunteer.couch_db]
    assert second.claim(10) == []  # leased to the first
    first.done(volunteer.couch_db)
    assert second.claim(10) == []  # read: no news left


def test_news_during_a_read_leave_the_database_pending(app, volunteer, two_workers):
    first, second = two_workers
    first.notice([volunteer.couch_db])
    assert first.claim(1) == [volunteer.couch_db]
    second.notice([volunteer.couch_db])  # a phone writes while the first reads
    first.done(volunteer.couch_db)
    assert second.claim(1) == [volunteer.couch_db]


def test_a_database_given_back_waits_before_it_is_tried_again(app, volunteer, two_workers):
    first, second = two_workers
    first.notice([volunteer.couch_db])
    first.claim(1)
    first.give_back(volunteer.couch_db, 1.0)
    assert second.claim(1) == []
    assert wait_until(lambda: second.claim(1) == [volunteer.couch_db], 5)


def test_a_stalled_workers_lease_runs_out_and_its_late_commit_stores_nothing(app, volunteer):
    with app.app_context():
        stalled = SqlIngestStore(app, "test-host:1:a", lease_seconds=0.5)
        other = SqlIngestStore(app, "test-host:2:b")
        stalled.notice([volunteer.couch_db])
        assert stalled.claim(1) == [volunteer.couch_db]
        assert wait_until(lambda: other.claim(1) == [volunteer.couch_db], 5)
        with pytest.raises(LeaseLost):
            stalled.apply(volunteer.couch_db, [], {"seq": "stale"})
        assert other.checkpoint(volunteer.couch_db) is None
        other.apply(volunteer.couch_db, [], "1")
        assert other.checkpoint(volunteer.couch_db) == "1"


def test_a_worker_started_again_takes_back_what_its_dead_predecessor_held(app, volunteer):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = socket.gethostname()
    with app.app_context():
        before = SqlIngestStore(app, f"{host}:{dead.stdout.strip()}:x")
        before.notice([volunteer.couch_db])
        assert before.claim(1) == [volunteer.couch_db]
        alive = SqlIngestStore(app, f"{host}:1:y")  # pid 1 runs: its leases stay
        after = SqlIngestStore(app)
        assert after.recover() == [volunteer.couch_db]
        assert after.claim(1) == [volunteer.couch_db]
        assert alive.recover() == []


def test_one_worker_sweeps_per_period(app, two_workers):
    first, second = two_workers
    assert [first.sweep_due(3600), second.sweep_due(3600)] == [True, False]
    assert not first.sweep_due(3600)
    assert second.sweep_due(0)


def test_ingest_claimed_reads_what_it_claims(app, volunteer, two_workers):
    first, _second = two_workers
    couch = services.couch()
    doc = survey_doc(household_answers(), volunteer=volunteer.username)
    couch.bulk_write(volunteer.couch_db, [doc])
    first.notice([volunteer.couch_db])
    claimed, handled = ingest_claimed(couch, first, first, services.photo_store(), Limits(), 4)
    assert (claimed, handled) == (1, 1)
    assert ingest_claimed(couch, first, first, services.photo_store(), Limits(), 4) == (0, 0)


def healthz(client) -> dict:
    reply = client.get("/healthz")
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["ingest"]


def test_health_lag_counts_unread_news_and_reaches_zero(app, client, volunteer, ingest_worker):
    # The worker runs; a quiet database (and a `_security` write, which CouchDB 3
    # counts in update_seq but never shows in `_changes`) is no lag.
    other = make_account(app, "volunteer", "tdp05")
    with app.app_context():
        services.couch().set_security(other.couch_db, [other.username], [])
    assert wait_until(lambda: healthz(client)["lag_databases"] == 0)
    health = healthz(client)
    assert health["oldest_unread_seconds"] == 0
    [worker] = health["workers"]
    assert worker["mode"] in ("db_updates", "marks") and worker["seen_seconds_ago"] < 30
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), volunteer=volunteer.username)
    assert client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                       json={"docs": [doc]}).status_code == 201
    # Its mark reaches the queue a moment later (written in batches), then the worker
    # reads the database: checkpointed, no lag.
    assert wait_until(lambda: healthz(client)["last_checkpoint_at"] is not None)
    assert wait_until(lambda: healthz(client)["lag_databases"] == 0)


def test_health_lag_counts_what_no_worker_has_read(app, client, volunteer):
    # No worker runs: a phone's write is one database behind, and stays so.
    log_in(client, volunteer)
    doc = {"_id": f"survey:{uuid.uuid4()}", "type": "survey"}
    assert client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                       json={"docs": [doc]}).status_code == 201
    assert wait_until(lambda: healthz(client)["lag_databases"] == 1, 5)
    health = healthz(client)
    assert health["oldest_unread_seconds"] >= 0 and health["workers"] == []


def test_what_was_claimed_is_given_back_when_couchdb_is_down(app, volunteer, two_workers):
    # The server is down before the first read: the claim must not keep the database
    # from every worker until its lease runs out.
    first, second = two_workers
    first.notice([volunteer.couch_db])
    down = Couch(f"http://127.0.0.1:{free_port()}", "admin", "x", timeout=1)
    with pytest.raises(CouchError):
        ingest_claimed(down, first, first, services.photo_store(), Limits(), 4)
    assert second.claim(4) == [volunteer.couch_db]
