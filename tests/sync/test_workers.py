"""Several ingest workers share the volunteer databases (issue 20, item 7): three
`sotay worker` processes on one PostgreSQL database and 200 volunteer databases,
one of them killed with SIGKILL mid-way and never started again. Its databases
go to the others once its leases run out, and the end state equals one clean
ingest's, row for row."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, select

from server.models import DbActivity, IngestWorker, db
from tests.conftest import ROOT, make_account
from tests.sync.test_crash import (
    caught_up,
    clean_ingest,
    read_checkpoints,
    snapshot,
    stored_rows,
    volunteer_corpus,
    worker_env,
    write_corpus,
)

VOLUNTEERS = 200
DOCUMENTS_EACH = 12
WORKERS = 3
LEASE_SECONDS = 3


@pytest.fixture
def many_volunteers(app, couch_server) -> list[str]:
    rng = random.Random(20)
    couch = couch_server.client()
    names = []
    for n in range(VOLUNTEERS):
        account = make_account(app, "volunteer", f"tdp{n % 12 + 1:02d}")
        write_corpus(couch, account.couch_db,
                     *volunteer_corpus(account.username, DOCUMENTS_EACH, rng))
        names.append(account.couch_db)
    return names


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_workers_one_killed_end_like_a_clean_ingest(app, couch_server, many_volunteers,
                                                          fresh_database_url, tmp_path):
    clean = clean_ingest(app, couch_server, fresh_database_url, tmp_path / "clean")
    clean_rows = len(clean["submission_revisions"]) + len(clean["quarantine"])
    assert clean_rows > 0.9 * VOLUNTEERS * DOCUMENTS_EACH
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    env = {**worker_env(app, tmp_path / "workers"), "SOTAY_INGEST_PAGE_SIZE": "5",
           "SOTAY_INGEST_VALIDATION_PROCESSES": "0",
           "SOTAY_INGEST_LEASE_SECONDS": str(LEASE_SECONDS)}
    workers = [subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(WORKERS)]
    couch = couch_server.client()
    try:
        deadline = time.monotonic() + 120
        while (stored_rows(engine) or 0) < 0.3 * clean_rows:
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.05)
        with engine.connect() as conn:  # the victim holds databases now, mid-way
            owners = set(conn.execute(select(DbActivity.lease_owner).where(
                DbActivity.lease_owner.is_not(None))).scalars())
            reported = len(conn.execute(select(IngestWorker.id)).all())
        victim = next(worker for worker in workers
                      if any(f":{worker.pid}:" in owner for owner in owners))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = stored_rows(engine)
        deadline = time.monotonic() + 300
        while not (caught_up(couch, many_volunteers, read_checkpoints(engine))
                   and _nothing_pending(engine)):
            assert time.monotonic() < deadline, "the other workers did not catch up"
            time.sleep(0.2)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
        engine.dispose()
    with app.app_context():
        crashed = snapshot()
        db.session.rollback()
    for table, rows in clean.items():
        assert crashed[table] == rows, f"{table} differs"
    assert reported == WORKERS
    print(f"\n{clean_rows} rows; one of {WORKERS} workers killed at {killed_at}")


def _nothing_pending(engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(DbActivity.couch_db).where(
            DbActivity.touches > DbActivity.read_touches).limit(1)).first() is None
