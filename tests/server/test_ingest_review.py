"""Regression tests from the code review: ingest robustness and merge write-back."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from media.pipeline import Limits
from server import services
from server.ingest_store import SqlIngestStore
from server.models import Merge, Quarantine, Submission, db
from sync.couch import CouchError
from sync.ingest import StoreUnavailable, ingest_all
from tests.conftest import log_in, make_account
from tests.server.helpers import household_answers, survey_doc
from tests.server.test_conflicts import make_conflict
from tests.server.test_ingest import put, run_ingest


def test_one_broken_database_does_not_starve_the_others(app, client):
    """A CouchError on one database (here: it is missing) aborts `ingest_dbs`, and every
    pass starts again from the first database: the ones sorted after it never ingest."""
    a = make_account(app, "volunteer", "tdp01")
    b = make_account(app, "volunteer", "tdp02")
    broken, healthy = sorted([a, b], key=lambda acc: acc.couch_db)
    log_in(client, healthy)
    doc = survey_doc(household_answers(), volunteer=healthy.username)
    put(client, healthy, doc)
    with app.app_context():
        services.couch().delete_db(broken.couch_db)
    for _ in range(2):  # as `follow` would retry
        try:
            run_ingest(app)
        except CouchError:
            pass
    with app.app_context():
        stored = set(db.session.execute(select(Submission.doc_id)).scalars())
    assert doc["_id"] in stored


def test_transient_sql_error_does_not_lose_a_valid_survey(app, client, volunteer,
                                                           monkeypatch):
    """A dropped SQL connection is retried, never turned into a quarantine."""
    import server.ingest_store

    log_in(client, volunteer)
    doc = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, doc)
    real = server.ingest_store.get_form_version
    calls = []

    def flaky(form_id, version):
        calls.append(form_id)
        if len(calls) == 1:
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))
        return real(form_id, version)

    monkeypatch.setattr(server.ingest_store, "get_form_version", flaky)
    with app.app_context():
        store = SqlIngestStore()
        for _ in range(2):
            try:
                ingest_all(services.couch(), store, services.photo_store(), Limits())
            except StoreUnavailable:
                pass
        quarantined = list(db.session.execute(select(Quarantine.code)).scalars())
        stored = set(db.session.execute(select(Submission.doc_id)).scalars())
    assert doc["_id"] in stored, f"survey lost; quarantine holds {quarantined}"
    assert quarantined == []


def test_tombstones_are_not_written_when_the_merge_itself_is_refused(app, client, volunteer,
                                                                      monkeypatch):
    """`write_back_merges` sends the merged revision and the loser tombstones in one
    non-atomic `_bulk_docs`. If a phone edits the winner between the leaf check and the
    write, the merged doc gets 409 but the tombstones succeed: the loser's answers vanish
    from CouchDB (the merge is marked superseded and no conflict is left to merge again)."""
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, doc)
    run_ingest(app)

    def phone_a(leaf):
        leaf["answers"]["fibre"] = "no"
        leaf["updated_at"] = "2026-11-20T10:00:00+07:00"

    def phone_b(leaf):
        leaf["answers"]["address"] = "Số 99 đường mới"
        leaf["updated_at"] = "2026-11-20T11:00:00+07:00"

    make_conflict(app, volunteer, doc, phone_a, phone_b)
    with app.app_context():
        couch = services.couch()
        original = couch.bulk_write

        raced = []

        def racing_bulk_write(db_name, docs, new_edits=True):
            # Once, a phone pushes an edit on top of the winning leaf just before our write.
            if raced:
                return original(db_name, docs, new_edits)
            raced.append(True)
            winner = couch.get(db_name, docs[0]["_id"])
            couch.put(db_name, {**winner, "answers": {**winner["answers"], "head_name": "X"}})
            return original(db_name, docs, new_edits)

        monkeypatch.setattr(couch, "bulk_write", racing_bulk_write)
        ingest_all(couch, SqlIngestStore(), services.photo_store(), Limits())
        monkeypatch.setattr(couch, "bulk_write", original)
        leaves = [leaf for leaf in couch.open_revs(volunteer.couch_db, doc["_id"])
                  if not leaf.get("_deleted")]
        states = [m.state for m in db.session.execute(select(Merge).order_by(Merge.id)).scalars()]
    answers = [leaf["answers"] for leaf in leaves]
    assert states[0] == "superseded", states
    assert any(a["fibre"] == "no" for a in answers) and any(
        a["address"] == "Số 99 đường mới" for a in answers), (states, answers)


def test_photo_attachment_named_dot_does_not_stall_the_ingest(app, client, volunteer):
    """`Couch._path` leaves "." unquoted and `requests` removes dot segments, so the
    attachment GET becomes `GET /<db>/photo:dot/` -> 404 -> CouchError, re-raised by
    `_handled`: the database (and every one sorted after it) never moves again."""
    import base64

    from tests.server.helpers import photo_jpeg

    log_in(client, volunteer)
    doc = {"_id": f"photo:{uuid.uuid4()}", "type": "photo", "survey_id": "survey:x",
           "_attachments": {".": {"content_type": "image/jpeg",
                                  "data": base64.b64encode(photo_jpeg(2)).decode()}}}
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs", json={"docs": [doc]})
    assert reply.status_code == 201, reply.data
    run_ingest(app)
    with app.app_context():
        assert db.session.execute(select(Quarantine)).scalar_one().doc_id == doc["_id"]
