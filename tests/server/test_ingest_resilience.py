"""Hostile or broken documents never stall the ingest: they are quarantined, the rest goes on."""

from __future__ import annotations

from sqlalchemy import select

from media.pipeline import Limits
from server import services
from server.ingest_store import SqlIngestStore
from server.models import Quarantine, Submission, SubmissionRevision, db
from sync.ingest import ingest_all
from tests.conftest import log_in, pouchdb_only
from tests.server.helpers import household_answers, survey_doc
from tests.server.test_ingest import put, run_ingest


def test_awkward_values_are_stored_and_bad_ids_quarantined(app, client, volunteer):
    log_in(client, volunteer)
    answers = household_answers()
    answers["residential_group"] = "tdp\u000003"
    odd = survey_doc(answers, volunteer="x" * 500)
    odd["created_at"] = "2026-11-20T10:00:00+07:00" + " " * 100
    long_id = survey_doc(household_answers(), doc_id="survey:" + "a" * 300)
    put(client, volunteer, odd)
    put(client, volunteer, long_id)
    run_ingest(app)
    with app.app_context():
        stored = db.session.execute(select(Submission)).scalar_one()
        assert stored.doc_id == odd["_id"]
        assert stored.residential_group is None and stored.visited_at is None
        assert stored.answers["residential_group"] == "tdp\u000003"
        quarantined = db.session.execute(select(Quarantine)).scalar_one()
        assert quarantined.code == "bad_id" and len(quarantined.doc_id) == 200
        assert quarantined.body["_id"] == long_id["_id"]


class FailingStore(SqlIngestStore):
    """The real SQL store, failing to store one chosen survey as a database would."""

    def __init__(self, poison: str) -> None:
        super().__init__()
        self.poison = poison

    def apply(self, couch_db, outcomes, last_seq):
        if any(getattr(o, "doc", {}).get("_id") == self.poison for o in outcomes):
            raise ValueError("simulated storage failure")  # before any write: nothing to undo
        return super().apply(couch_db, outcomes, last_seq)


def test_an_unstorable_document_is_quarantined_and_the_rest_ingested(app, client, volunteer):
    log_in(client, volunteer)
    docs = [survey_doc(household_answers(), volunteer=volunteer.username) for _ in range(3)]
    for doc in docs:
        put(client, volunteer, doc)
    with app.app_context():
        ingest_all(services.couch(), FailingStore(docs[1]["_id"]), services.photo_store(),
                   Limits())
        stored = set(db.session.execute(select(Submission.doc_id)).scalars())
        quarantined = db.session.execute(select(Quarantine)).scalar_one()
    assert stored == {docs[0]["_id"], docs[2]["_id"]}
    assert (quarantined.doc_id, quarantined.code) == (docs[1]["_id"], "unstorable")
    assert "simulated storage failure" in quarantined.detail["error"]
    assert run_ingest(app) == 0, "the checkpoint moved past the page"


@pouchdb_only  # Apache CouchDB refuses such a body itself: 400 "invalid UTF-8 JSON"
def test_a_lone_surrogate_is_a_field_error_and_stored_alike_on_every_database(
        app, client, volunteer):
    """Half of a UTF-16 pair (an emoji cut in two) fits no UTF-8 text: SQLite kept it,
    PostgreSQL refused the survey. Everywhere now: a broken_text field error, and the
    stored survey holds U+FFFD in its place."""
    log_in(client, volunteer)
    answers = household_answers()
    answers["address"] = "Số 12 ngõ 5 \ud83d"
    answers["members"][0]["name\udc00"] = "x"
    doc = survey_doc(answers, volunteer=volunteer.username)
    doc["note\ud800"] = "y\udfff"
    doc["created_at"] = "2026-11-20T10:00:00+07:00\ud800"
    draft = survey_doc(dict(answers), status="draft", volunteer=volunteer.username)
    put(client, volunteer, doc)
    put(client, volunteer, draft)
    run_ingest(app)
    with app.app_context():
        assert db.session.execute(select(Quarantine)).scalars().all() == []
        stored = db.session.execute(select(Submission).where(
            Submission.doc_id == doc["_id"])).scalar_one()
        assert stored.answers["address"] == "Số 12 ngõ 5 \ufffd"
        assert stored.visited_at is None
        assert stored.answers["members"][0]["name\ufffd"] == "x"
        errors = {(error["path"], error["code"]) for error in stored.errors}
        assert errors == {("address", "broken_text"), ("members[0].name\ufffd", "unknown_field")}
        revision = db.session.execute(select(SubmissionRevision.body).where(
            SubmissionRevision.doc_id == doc["_id"])).scalar_one()
        assert revision["note\ufffd"] == "y\ufffd"
        kept = db.session.execute(select(Submission).where(
            Submission.doc_id == draft["_id"])).scalar_one()
        assert kept.answers["address"] == "Số 12 ngõ 5 \ufffd" and kept.errors == []
