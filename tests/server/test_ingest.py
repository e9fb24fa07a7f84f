"""The ingest stores surveys and photos from volunteer databases, quarantines bad input,
and is idempotent across replays."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import func, select

from media.pipeline import Limits
from server import services
from server.ingest_store import SqlIngestStore
from server.models import Checkpoint, Photo, Quarantine, Submission, SubmissionRevision, db
from sync.ingest import ingest_all
from tests.conftest import body, log_in, make_account
from tests.polling import wait_for
from tests.server.helpers import household_answers, photo_doc, photo_jpeg, survey_doc


def run_ingest(app) -> int:
    with app.app_context():
        return ingest_all(services.couch(), SqlIngestStore(), services.photo_store(), Limits())


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def put(client, account, doc) -> dict:
    reply = client.put(f"/sync/{account.couch_db}/{doc['_id']}", json=doc)
    # 201 for a write; Apache CouchDB answers a deletion (`_deleted: true`) with 200.
    expected = (200, 201) if doc.get("_deleted") else (201,)
    assert reply.status_code in expected, reply.data
    return body(reply)


def test_final_survey_and_photo_are_stored(app, client, volunteer):
    log_in(client, volunteer)
    photo = photo_doc("survey:x", photo_jpeg(3))
    survey = survey_doc(household_answers(photos=[photo["_id"]]), volunteer=volunteer.username)
    photo["survey_id"] = survey["_id"]
    put(client, volunteer, survey)
    put(client, volunteer, photo)
    assert run_ingest(app) >= 2
    with app.app_context():
        row = db.session.execute(select(Submission)).scalar_one()
        assert (row.doc_id, row.status, row.residential_group) == (survey["_id"], "final",
                                                                    "tdp03")
        assert row.errors == []
        stored = db.session.execute(select(Photo)).scalar_one()
        assert stored.survey_doc_id == survey["_id"]
        store = services.photo_store()
        assert store.exists(stored.sha256)
        assert store.exists(f"{stored.sha256}/thumbnail")


def test_replaying_changes_duplicates_nothing(app, client, volunteer):
    log_in(client, volunteer)
    survey = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, survey)
    run_ingest(app)
    with app.app_context():
        db.session.execute(db.delete(Checkpoint))
        db.session.commit()
    run_ingest(app)
    assert count(app, Submission) == 1
    assert count(app, SubmissionRevision) == 1


def test_every_revision_is_kept_and_the_latest_is_current(app, client, volunteer):
    log_in(client, volunteer)
    survey = survey_doc(household_answers(), status="draft", volunteer=volunteer.username)
    survey["_rev"] = put(client, volunteer, survey)["rev"]
    run_ingest(app)
    survey["status"] = "final"
    put(client, volunteer, survey)
    run_ingest(app)
    assert count(app, SubmissionRevision) == 2
    with app.app_context():
        assert db.session.execute(select(Submission.status)).scalar_one() == "final"


def test_unknown_form_version_is_quarantined_and_ingest_goes_on(app, client, volunteer):
    log_in(client, volunteer)
    bad = survey_doc(household_answers(), form_version="1999.9", volunteer=volunteer.username)
    good = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, bad)
    put(client, volunteer, good)
    run_ingest(app)
    with app.app_context():
        quarantined = db.session.execute(select(Quarantine)).scalar_one()
        assert quarantined.doc_id == bad["_id"]
        assert quarantined.code == "unknown_form"
        assert "1999.9" in quarantined.reason_en
        assert quarantined.body["answers"]["residential_group"] == "tdp03"
        assert db.session.execute(select(Submission.doc_id)).scalar_one() == good["_id"]


@pytest.mark.parametrize("depth", [70, 960, 985, 3000])
def test_a_document_nested_too_deep_is_quarantined_and_ingest_goes_on(app, client, volunteer,
                                                                       couch_server, depth):
    """CouchDB takes documents nested thousands of levels deep. Past about a thousand
    Python's JSON reader refuses the whole page (it is then read again document by
    document); a little less deep, a page reads but its rows could not be written or
    read back. Either way the document is quarantined, cut short, and everything else
    is stored, in every database. The gateway refuses such a document from a phone
    (sync.protocol.MAX_DEPTH), so it is written straight into CouchDB here, as a
    client with CouchDB credentials could."""
    other = make_account(app, "volunteer", "tdp04")
    deep = ('{"_id": "survey:deep", "type": "survey", "form_id": "household", '
            '"form_version": "2026.1", "status": "final", "answers": {"note": '
            + "[" * depth + "]" * depth + "}}")
    log_in(client, volunteer)
    before = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, before)
    refused = client.put(f"/sync/{volunteer.couch_db}/survey:deep", data=deep,
                         content_type="application/json")
    assert refused.status_code == 400, refused.data
    reply = requests.put(f"{couch_server.base}/{volunteer.couch_db}/survey:deep", data=deep,
                         headers={"Content-Type": "application/json"},
                         auth=(couch_server.admin, couch_server.password), timeout=30)
    assert reply.status_code == 201, reply.text
    gone = survey_doc(household_answers(), volunteer=volunteer.username)
    rev = put(client, volunteer, gone)["rev"]
    assert client.delete(f"/sync/{volunteer.couch_db}/{gone['_id']}?rev={rev}").status_code \
        == 200
    after = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, after)
    client.delete("/api/session")
    log_in(client, other)
    elsewhere = survey_doc(household_answers(group="tdp04"), volunteer=other.username)
    put(client, other, elsewhere)
    run_ingest(app)
    with app.app_context():
        quarantined = db.session.execute(select(Quarantine)).scalar_one()
        assert (quarantined.doc_id, quarantined.code) == ("survey:deep", "too_deep")
        assert quarantined.rev.startswith("1-")
        assert "nested too deeply" in quarantined.reason_en
        kept = quarantined.body.get("excerpt") or json.dumps(quarantined.body)
        assert '"form_id":"household"' in kept.replace(" ", "") and "[" * 60 in kept
        stored = set(db.session.execute(select(Submission.doc_id)).scalars())
    assert stored == {before["_id"], after["_id"], elsewhere["_id"]}
    assert run_ingest(app) == 0  # and the checkpoints moved past it


def test_malformed_survey_and_bad_photo_are_quarantined(app, client, volunteer):
    log_in(client, volunteer)
    put(client, volunteer, {"_id": "survey:broken", "type": "survey", "status": "final"})
    put(client, volunteer, photo_doc("survey:x", b"<html>not an image</html>"))
    run_ingest(app)
    with app.app_context():
        codes = sorted(db.session.execute(select(Quarantine.code)).scalars())
    assert codes[0] == "malformed"
    assert codes[1].startswith("photo.")
    reply = client.get("/api/quarantine")
    assert reply.status_code == 403


def test_invalid_answers_are_stored_with_their_errors(app, client, volunteer):
    log_in(client, volunteer)
    answers = household_answers()
    answers["members"][0]["age"] = "not a number"
    put(client, volunteer, survey_doc(answers, volunteer=volunteer.username))
    run_ingest(app)
    with app.app_context():
        errors = db.session.execute(select(Submission.errors)).scalar_one()
    assert any(e["path"] == "members[0].age" for e in errors), errors
    assert all(e["vi"] and e["en"] for e in errors)


def test_draft_is_stored_but_not_validated(app, client, volunteer):
    log_in(client, volunteer)
    put(client, volunteer, survey_doc({"consent": "yes"}, status="draft",
                                      volunteer=volunteer.username))
    run_ingest(app)
    with app.app_context():
        row = db.session.execute(select(Submission)).scalar_one()
    assert (row.status, row.errors) == ("draft", [])


def test_worker_picks_up_a_gateway_write_without_a_sweep(app, client, volunteer):
    """On PouchDB Server (no _db_updates) the gateway's write marks lead the worker; on
    CouchDB 3, _db_updates does."""
    import threading
    import time

    from sync.ingest import follow

    stop = threading.Event()

    def worker() -> None:
        with app.app_context():
            follow(services.couch(), SqlIngestStore(), services.photo_store(), Limits(), stop,
                   poll_seconds=0.2, sweep_seconds=3600)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        time.sleep(1)
        log_in(client, volunteer)
        put(client, volunteer, survey_doc(household_answers(), volunteer=volunteer.username))
        assert wait_for(lambda: count(app, Submission) > 0)
        assert count(app, Submission) == 1
    finally:
        stop.set()
        thread.join(10)


def test_writes_between_throttled_marks_are_not_missed(app, client, volunteer):
    """The gateway marks a database at most once a second; writes in between,
    which leave no mark of their own, still reach the worker."""
    import threading
    import time

    from sync.ingest import follow

    stop = threading.Event()

    def worker() -> None:
        with app.app_context():
            follow(services.couch(), SqlIngestStore(), services.photo_store(), Limits(), stop,
                   poll_seconds=0.1, sweep_seconds=3600)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        log_in(client, volunteer)
        written = 0
        started = time.monotonic()
        # Longer than the ingest looks back past a mark (3 s), each write soon
        # after the worker has read the marks that covered the one before.
        while time.monotonic() - started < 5:
            put(client, volunteer, survey_doc(household_answers(), volunteer=volunteer.username))
            written += 1
            time.sleep(0.25)
        wait_for(lambda: count(app, Submission) >= written, 8)
        assert count(app, Submission) == written
    finally:
        stop.set()
        thread.join(10)


def test_a_page_column_is_one_text_or_none():
    from server.queries.bulk import NULL, SEPARATOR, page_column

    assert page_column(["a", None, ""]) == f"a{SEPARATOR}{NULL}{SEPARATOR}"
    assert page_column([None]) == NULL
    for awkward in (["a", f"b{SEPARATOR}c"], ["a", NULL], ["a", f"b{NULL}"], [""], ["a", 3]):
        assert page_column(awkward) is None, awkward


def test_page_insert_keeps_every_value_as_sent(app, volunteer, monkeypatch):
    """On PostgreSQL a page's columns go as texts split on ASCII's record separator, NULL as
    its unit separator; a page with a text value those cannot carry goes the two-statement
    way. Either way, and on SQLite, the rows read back exactly as sent."""
    from server.queries import ingest as queries
    from sync.ingest import SurveyRevision

    answers = household_answers()
    answers.update(address="Số 12 ngõ 5 phố Lê Lợi — \"ngõ\" \\ 'x' 😀", household_size=4.0,
                   member_count=2**53 - 1, note=None, nested={"a": [1, 2.5, {"b": ""}]})
    plain = survey_doc(answers, volunteer=volunteer.username)
    plain["gps"] = {"lat": 21.02, "lon": 105.85, "accuracy": 7.5}
    docs = [plain, survey_doc(dict(answers, address="a\x00b"), volunteer=volunteer.username),
            survey_doc(dict(answers, member_count=2**70), volunteer=volunteer.username)]
    # Each alone on its page: a group holding a separator, being the NULL marker, holding
    # it, and empty (one empty value is split into none).
    awkward = ["tdp\x1e03", "\x1f", "tdp\x1f03", ""]
    docs += [survey_doc(dict(answers, residential_group=group), volunteer=volunteer.username)
             for group in awkward]
    for number, doc in enumerate(docs):
        doc["_rev"] = f"1-{number:03}"
    ways = []
    store_surveys = queries.store_surveys
    monkeypatch.setattr(queries, "store_surveys",
                        lambda *args: ways.append(store_surveys(*args)) or ways[-1])
    with app.app_context():
        store = SqlIngestStore()
        for seq, doc in enumerate(docs, 1):
            store.apply(volunteer.couch_db, [SurveyRevision(volunteer.couch_db, doc, [])], seq)
        # An empty group beside other values is carried: only one value alone is not.
        together = [survey_doc(dict(answers, residential_group=group), volunteer=volunteer.username)
                    for group in ("", "tdp04")]
        for doc in together:
            doc["_rev"] = "2-000"
        store.apply(volunteer.couch_db, [SurveyRevision(volunteer.couch_db, doc, [])
                                         for doc in together], len(docs) + 1)
        docs += together
        db.session.expire_all()
        if db.engine.dialect.name == "postgresql":
            # One statement (no photos: False) but for the awkward groups (None).
            assert ways == [False] * 3 + [None] * len(awkward) + [False]
        else:
            assert ways == [None] * (len(docs) - 1)
        for doc in docs:
            row = db.session.execute(select(Submission).where(
                Submission.doc_id == doc["_id"])).scalar_one()
            assert row.answers == doc["answers"] and row.rev == doc["_rev"]
            assert row.residential_group == doc["answers"]["residential_group"]
            assert (row.review_state, row.volunteer, row.errors) == (
                "pending", volunteer.username, [])
            assert row.gps == (doc["gps"] if doc is plain else None)
            assert row.received_at is not None and row.received_at == row.updated_at
            revision = db.session.execute(select(SubmissionRevision).where(
                SubmissionRevision.doc_id == doc["_id"])).scalar_one()
            assert revision.body == doc and revision.received_at is not None
