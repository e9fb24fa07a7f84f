"""The ingest worker killed with SIGKILL at random moments, again and again, ends
in exactly the state of one clean ingest: nothing lost, nothing doubled.

5,000 documents (valid surveys, drafts, surveys with validation errors, unknown
forms, malformed and unknown documents, a few photos, some updated once) are
written straight into four volunteer databases. `sotay worker` runs as a real
subprocess on the test's SQL database and is killed 20 times, each time at a
random point of the ingest (spread over all of it, mostly while it is writing
pages), and restarted until it has caught up. A fresh database with the same accounts and forms then
gets one uninterrupted ingest, and every table is compared row for row.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import DateTime, create_engine, func, insert, select
from sqlalchemy.exc import OperationalError

from media.pipeline import Limits
from server import services
from server.app import create_app
from server.ingest_store import SqlIngestStore
from server.models import Checkpoint, Quarantine, SubmissionRevision, db
from sync.ingest import ingest_all
from tests.conftest import ROOT, make_account, make_config
from tests.polling import wait_for
from tests.server.helpers import member, photo_doc, photo_jpeg, survey_doc
from tests.sync.phone import distinct_household

DOCUMENTS = 5000
VOLUNTEERS = 4
MIN_KILLS = 20
COPIED_TABLES = ("users", "form_versions", "audit_log")


def volunteer_corpus(username: str, size: int, rng: random.Random) -> tuple[list, list]:
    """`size` documents as phones would leave them, and updates to some of them."""
    docs: list[dict] = []
    for i in range(size):
        roll = rng.random()
        if i % 250 == 0:
            survey = docs[-1]["_id"] if docs else "survey:none"
            docs.append(photo_doc(survey, photo_jpeg(i % 7 + 1, (160, 120))))
        elif roll < 0.05:
            docs.append(survey_doc(distinct_household(), status="draft", volunteer=username))
        elif roll < 0.08:
            answers = distinct_household(members=[member(age=-3)])
            docs.append(survey_doc(answers, volunteer=username))
        elif roll < 0.10:
            docs.append(survey_doc(distinct_household(), form_version="1999.9",
                                   volunteer=username))
        elif roll < 0.11:
            docs.append({"_id": f"survey:{secrets.token_hex(8)}", "type": "survey",
                         "status": "final"})
        elif roll < 0.12:
            docs.append({"_id": f"note:{secrets.token_hex(8)}", "type": "note"})
        else:
            docs.append(survey_doc(distinct_household(f"tdp{rng.randint(1, 12):02d}"),
                                   volunteer=username))
    updated = [doc for doc in docs if doc.get("status") == "draft"]
    return docs, updated


@pytest.fixture
def corpus(app, couch_server) -> list[str]:
    """The volunteer databases, filled; returns their names."""
    rng = random.Random(4)
    couch = couch_server.client()
    names = []
    for n in range(VOLUNTEERS):
        account = make_account(app, "volunteer", f"tdp{n + 1:02d}")
        write_corpus(couch, account.couch_db,
                     *volunteer_corpus(account.username, DOCUMENTS // VOLUNTEERS, rng))
        names.append(account.couch_db)
    return names


def write_corpus(couch, couch_db: str, docs: list[dict], updated: list[dict]) -> None:
    """Write the documents as phones would, then the updates (drafts made final)."""
    for start in range(0, len(docs), 500):
        results = couch.bulk_write(couch_db, docs[start:start + 500])
        for doc, result in zip(docs[start:start + 500], results, strict=True):
            doc["_rev"] = result["rev"]
    for draft in updated:
        draft["status"] = "final"
    couch.bulk_write(couch_db, updated)


def worker_env(app, folder: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "SOTAY_INSTANCE": str(folder),
            "SOTAY_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SOTAY_COUCHDB_URL": app.config["COUCHDB_URL"],
            "SOTAY_MEDIA_ROOT": app.config["MEDIA_ROOT"],
            "SOTAY_NODE_MODULES": str(ROOT / "node_modules"),
            "SOTAY_INGEST_POLL_SECONDS": "0.2",
            # More, smaller pages: more commits for the kills to fall between.
            "SOTAY_INGEST_PAGE_SIZE": "100",
            # Validation in a process of its own, which must go when its worker
            # is killed (every other worker validates in its own thread instead,
            # as it does on two cores: `crash_until_caught_up`).
            "SOTAY_INGEST_VALIDATION_PROCESSES": "1"}


def processes_of(folder: Path) -> list[int]:
    """Processes started for this worker folder (the worker and what it spawned)."""
    mark = f"SOTAY_INSTANCE={folder}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def read_checkpoints(engine) -> dict | None:
    """The checkpoints, or None while a crashed writer's lock still blocks reading."""
    try:
        with engine.connect() as conn:
            return {row.couch_db: row.seq["seq"] for row in conn.execute(
                select(Checkpoint.couch_db, Checkpoint.seq))}
    except OperationalError:
        return None


def caught_up(couch, dbs: list[str], checkpoints: dict | None) -> bool:
    return checkpoints is not None and all(db_name in checkpoints and not couch.changes(
        db_name, checkpoints[db_name], 1).results for db_name in dbs)


def stored_rows(engine) -> int | None:
    """How far the ingest has got: the revisions and quarantined documents committed
    (None while a crashed writer's lock still blocks reading)."""
    try:
        with engine.connect() as conn:
            return sum(conn.execute(select(func.count()).select_from(model)).scalar_one()
                       for model in (SubmissionRevision, Quarantine))
    except OperationalError:
        return None


def wait_for_rows(engine, rows: float, seconds: float) -> bool:
    return wait_for(lambda: (stored_rows(engine) or 0) >= rows, seconds, every=0.02)


# The kills' targets lie in this share of the ingest, each kill in a slice of its own.
KILLED_SHARE = 0.95


def crash_until_caught_up(app, couch, dbs: list[str], folder: Path,
                          clean_rows: int) -> tuple[int, int]:
    """Run the worker, SIGKILL it at random points of the ingest, restart; return how
    many kills, and the most processes seen for one worker (itself and what it started).

    Kill k of MIN_KILLS waits until the ingest has stored a random share of a
    clean ingest's rows within the k-th slice of the first KILLED_SHARE, then
    a random moment of up to 50 ms (a page's commit takes about 30): the kills
    spread over the whole ingest, by progress rather than time, however fast the
    machine runs. Every fifth is instead at a random moment from the worker's
    start. Every other worker validates in its own thread, the others in a
    process of their own. Then one last worker is left to catch up.

    The random choices come from SOTAY_CRASH_SEED when it is set, else from a
    fresh seed; either way the seed is printed, so a failing run can be repeated.
    """
    seed = int(os.environ.get("SOTAY_CRASH_SEED") or secrets.randbits(32))
    print(f"\ncrash test seed {seed} (SOTAY_CRASH_SEED={seed} repeats its choices)")
    rng = random.Random(seed)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    env = worker_env(app, folder)

    def start(processes: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=ROOT,
                                env={**env, "SOTAY_INGEST_VALIDATION_PROCESSES": processes},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    kills = most = 0
    try:
        while kills < MIN_KILLS:
            assert not caught_up(couch, dbs, read_checkpoints(engine)), \
                f"the ingest caught up after {kills} kills"
            share = rng.uniform(kills, kills + 1) / MIN_KILLS * KILLED_SHARE
            worker = start("0" if kills % 2 else "1")
            try:
                if kills % 5 == 4:
                    time.sleep(rng.uniform(0.1, 2.0))
                else:
                    assert wait_for_rows(engine, share * clean_rows, 120), (
                        f"the worker made no progress towards {share:.0%} of the ingest "
                        f"(seed {seed})")
                    most = max(most, len(processes_of(folder)))
                    time.sleep(rng.uniform(0.0, 0.05))
            finally:
                stop(worker)
            kills += 1
        worker = start("1")
        try:
            assert wait_for(lambda: caught_up(couch, dbs, read_checkpoints(engine)), 300,
                            every=0.2), f"the last worker did not catch up (seed {seed})"
        finally:
            stop(worker)
    finally:
        engine.dispose()
    return kills, most


def clean_ingest(app, couch_server, url: str, folder: Path) -> dict:
    """One uninterrupted ingest into a fresh database with `app`'s accounts and forms."""
    clean = create_app(make_config(couch_server, url, folder))
    with app.app_context():
        copied = {name: [dict(row) for row in db.session.execute(
            db.metadata.tables[name].select()).mappings()] for name in COPIED_TABLES}
    with clean.app_context():
        for name, rows in copied.items():
            if rows:
                db.session.execute(insert(db.metadata.tables[name]), rows)
        db.session.commit()
        ingest_all(services.couch(), SqlIngestStore(), services.photo_store(), Limits())
        state = snapshot()
        db.session.remove()
        db.engine.dispose()
    return state


# Written by the worker's background step (duplicate checks), not by the ingest:
# how far it got when killed depends on timing, not on correctness.
# The ingest's queue and its workers' reports are bookkeeping of how the work
# was shared, not its result.
BACKGROUND_TABLES = {"duplicate_pairs", "duplicate_keys", "db_activity", "ingest_workers",
                     "worker_turns", "jobs"}
# Photo flags compare a photo with the photos already in when it arrived, so
# "reused" lands on whichever copy came second: it depends on page boundaries.
BACKGROUND_COLUMNS = {"flags"}


def snapshot() -> dict[str, list]:
    """Every ingest table's rows, without surrogate ids and timestamps, in a stable order."""
    state = {}
    for table in db.metadata.sorted_tables:
        if table.name in BACKGROUND_TABLES:
            continue
        columns = [c for c in table.columns
                   if not (c.primary_key and c.name == "id") and not c.foreign_keys
                   and not isinstance(c.type, DateTime) and c.name not in BACKGROUND_COLUMNS]
        rows = db.session.execute(select(*columns)).all()
        state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state


# PostgreSQL only: each run takes about three minutes here (the ingest itself is
# most of it); the SQLite variant passes too (`["sqlite", "postgresql"]`).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_killed_worker_ends_like_a_clean_ingest(app, couch_server, corpus, fresh_database_url,
                                                tmp_path):
    started = time.monotonic()
    clean = clean_ingest(app, couch_server, fresh_database_url, tmp_path / "clean")
    clean_seconds = time.monotonic() - started
    assert len(clean["submission_revisions"]) > 0.8 * DOCUMENTS
    assert len(clean["quarantine"]) > 0.02 * DOCUMENTS
    started = time.monotonic()
    kills, most = crash_until_caught_up(
        app, couch_server.client(), corpus, tmp_path / "worker",
        len(clean["submission_revisions"]) + len(clean["quarantine"]))
    crashed_seconds = time.monotonic() - started
    with app.app_context():
        crashed = snapshot()
    for table, rows in clean.items():
        assert crashed[table] == rows, f"{table} differs after {kills} kills"
    assert kills >= MIN_KILLS
    assert most >= 2, "the worker never ran its validation process"
    # A validation process looks for its worker each second.
    assert wait_for(lambda: processes_of(tmp_path / "worker") == [], 10, every=0.2), (
        "processes outlived their killed worker")
    print(f"\nclean ingest {clean_seconds:.0f} s; {kills} kills, caught up "
          f"after {crashed_seconds:.0f} s")
