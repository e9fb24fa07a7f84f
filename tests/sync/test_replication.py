"""Real PouchDB (Node) replicating through the sync gateway: push, pull, refusals,
a CouchDB-API server restarted mid-replication, and a sync cut mid-way that resumes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server import services
from server.actions import reviews
from server.actions.auth import Actor
from server.models import Photo, Submission, db
from sync import embedded
from sync.couch import Couch, CouchError
from tests.conftest import ON_COUCHDB3, ROOT, CouchServer, free_port, make_account
from tests.polling import wait_for
from tests.sync.phone import Phone, phone_docs, step_results


def phone_for(live_server, account, folder: Path) -> Phone:
    return Phone(live_server.url, account.couch_db, folder,
                 login={"username": account.username, "password": account.password})


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def server_docs(couch, db_name: str) -> dict[str, dict]:
    """Every non-design document on the server, with its conflicts."""
    rows = couch._http.get(f"{couch.base_url}/{db_name}/_all_docs",
                           params={"include_docs": "true", "conflicts": "true"}).json()["rows"]
    return {row["id"]: row["doc"] for row in rows if not row["id"].startswith("_design/")}


def assert_exactly_once(couch, db_name: str, docs: list[dict]) -> None:
    """Every document arrived, once: one revision, no conflicts, attachments intact."""
    stored = server_docs(couch, db_name)
    assert set(stored) == {doc["_id"] for doc in docs}
    for doc in docs:
        found = stored[doc["_id"]]
        assert found["_rev"].startswith("1-"), found["_rev"]
        assert "_conflicts" not in found
        if "_attachments" in doc:
            assert found["_attachments"]["photo.jpg"]["length"] > 0


def test_push_is_ingested(app, live_server, ingest_worker, volunteer, tmp_path):
    docs = phone_docs(volunteer.username, surveys=50, photos=10)
    phone = phone_for(live_server, volunteer, tmp_path)
    _, push = phone.run(phone.docs_file(docs), {"op": "push"})
    assert push["ok"] and push["docs_written"] == 60, push
    assert wait_for(lambda: count(app, Submission) == 50 and count(app, Photo) == 10)
    with app.app_context():
        errors = db.session.execute(select(Submission.errors)).scalars().all()
        assert all(e == [] for e in errors), errors[:3]


def reviewed_survey(app, live_server, volunteer, reviewer, folder: Path) -> tuple[Phone, str, str]:
    """A phone whose second survey a reviewer sent back; the phone, its id and reviewed rev."""
    docs = phone_docs(volunteer.username, surveys=3, photos=0)
    phone = phone_for(live_server, volunteer, folder)
    phone.run(phone.docs_file(docs), {"op": "push"})
    assert wait_for(lambda: count(app, Submission) == 3)
    survey_id = docs[1]["_id"]
    with app.app_context():
        row = db.session.execute(select(Submission).where(
            Submission.doc_id == survey_id)).scalar_one()
        seen_rev = row.rev
        reviews.decide(Actor(reviewer.username, "reviewer"), row.id, "needs_correction",
                       "Thiếu địa chỉ / address missing", seen_rev)
        db.session.commit()
    return phone, survey_id, seen_rev


def pulled_doc(phone: Phone, doc_id: str) -> dict | None:
    pulled, listing = phone.run({"op": "pull"}, {"op": "list"})
    assert pulled["ok"], pulled
    return next((d["doc"] for d in listing["docs"] if d["id"] == doc_id), None)


def test_feedback_comes_back_to_the_phone(app, live_server, ingest_worker, volunteer, reviewer,
                                          tmp_path):
    phone, survey_id, seen_rev = reviewed_survey(app, live_server, volunteer, reviewer,
                                                 tmp_path)
    assert wait_for(lambda: pulled_doc(phone, f"feedback:{survey_id}"))
    feedback = pulled_doc(phone, f"feedback:{survey_id}")
    assert (feedback["decision"], feedback["survey_rev"]) == ("needs_correction", seen_rev)
    assert feedback["comment"] == "Thiếu địa chỉ / address missing"


def test_the_corrected_revision_flows_back_in(app, live_server, ingest_worker, volunteer,
                                              reviewer, tmp_path):
    phone, survey_id, _ = reviewed_survey(app, live_server, volunteer, reviewer, tmp_path)
    survey = pulled_doc(phone, survey_id)
    survey["answers"]["address"] = "Số 14 ngõ 5 phố Lê Lợi"
    _, push = phone.run(phone.docs_file([survey]), {"op": "push"})
    assert push["ok"] and push["docs_written"] == 1, push

    def corrected() -> bool:
        with app.app_context():
            row = db.session.execute(select(Submission).where(
                Submission.doc_id == survey_id)).scalar_one()
            return row.rev.startswith("2-") and row.review_state == "pending"

    assert wait_for(corrected)


def test_forms_are_pulled(live_server, volunteer, tmp_path):
    (forms,) = phone_for(live_server, volunteer, tmp_path).run({"op": "pull_forms"})
    assert forms["ok"]
    assert {"form:household:2026.1", "form:enterprise:2026.1"} <= set(forms["ids"])


def test_another_volunteers_database_is_refused(app, live_server, volunteer, tmp_path):
    other = make_account(app, "volunteer", "tdp05")
    phone = phone_for(live_server, volunteer, tmp_path)
    (pull,) = phone.run({"op": "try_db", "db": other.couch_db})
    assert (pull["ok"], pull["status"]) == (False, 403), pull
    intruder = Phone(live_server.url, other.couch_db, tmp_path / "intruder",
                     login={"username": volunteer.username, "password": volunteer.password})
    _, push = intruder.run(intruder.docs_file(phone_docs(volunteer.username, 2, 0)),
                           {"op": "push"})
    assert not push["ok"] and push["docs_written"] == 0, push
    with app.app_context():
        assert server_docs(services.couch(), other.couch_db) == {}


def test_sync_without_a_session_is_told_to_log_in(live_server, volunteer, tmp_path):
    phone = Phone(live_server.url, volunteer.couch_db, tmp_path)
    (pull,) = phone.run({"op": "pull"})
    assert (pull["ok"], pull["errors"]) == (False, ["401"]), pull


def test_push_cut_midway_resumes_without_sending_again(app, live_server, volunteer,
                                                       tmp_path):
    docs = phone_docs(volunteer.username, surveys=50, photos=10)
    phone = phone_for(live_server, volunteer, tmp_path)
    _, first = phone.run(phone.docs_file(docs), {"op": "push", "batch_size": 10,
                                                  "cut_after": 3})
    with app.app_context():
        arrived = len(server_docs(services.couch(), volunteer.couch_db))
    assert not first["ok"] and arrived >= 30, (first, arrived)
    (second,) = phone.run({"op": "push", "batch_size": 10})
    assert second["ok"] and second["docs_written"] == 60 - arrived, (second, arrived)
    assert second["requests"]["_bulk_docs"] == (60 - arrived + 9) // 10
    with app.app_context():
        assert_exactly_once(services.couch(), volunteer.couch_db, docs)


def test_pull_cut_midway_resumes_without_fetching_again(app, live_server, volunteer,
                                                        tmp_path):
    docs = phone_docs(volunteer.username, surveys=50, photos=10)
    first_phone = phone_for(live_server, volunteer, tmp_path / "first")
    first_phone.run(first_phone.docs_file(docs), {"op": "push"})
    second_phone = phone_for(live_server, volunteer, tmp_path / "second")
    cut, cut_listing = second_phone.run({"op": "pull", "batch_size": 10, "cut_after": 2},
                                        {"op": "list"})
    arrived = len(cut_listing["docs"])
    assert not cut["ok"] and 0 < arrived < 60, cut
    resumed, listing = second_phone.run({"op": "pull", "batch_size": 10}, {"op": "list"})
    assert resumed["ok"], resumed
    assert resumed["docs_written"] == len(listing["docs"]) - arrived, (resumed, arrived)
    local = {d["id"]: d for d in listing["docs"] if not d["id"].startswith("_design/")}
    assert set(local) == {doc["_id"] for doc in docs}
    assert all(d["rev"].startswith("1-") and not d["conflicts"] for d in local.values())
    assert all(local[doc["_id"]]["doc"]["_attachments"]["photo.jpg"]["length"] > 0
               for doc in docs if "_attachments" in doc)


@pytest.mark.skipif(ON_COUCHDB3, reason="restarts a PouchDB Server of its own (not yet a "
                                          "CouchDB 3 node); the PouchDB Server run covers it")
class TestServerRestart:
    """The CouchDB-API server stops and starts again in the middle of a replication."""

    @pytest.fixture
    def couch_process(self, tmp_path_factory) -> Iterator[dict]:
        folder = tmp_path_factory.mktemp("restarted-couch")
        port = free_port()
        state = {"folder": folder, "port": port,
                 "process": embedded.start(ROOT / "node_modules", folder, port)}
        yield state
        embedded.stop(state["process"])

    @pytest.fixture
    def couch_server(self, couch_process) -> CouchServer:
        """Overrides the session's server for this class: ours may be restarted."""
        server = CouchServer(f"http://127.0.0.1:{couch_process['port']}", "admin",
                             secrets.token_hex(8), couch_process["port"])
        server.client().ensure_admin()
        return server

    def test_replication_converges_after_a_restart(self, app, live_server, ingest_worker,
                                                   volunteer, couch_process, couch_server,
                                                   tmp_path):
        docs = phone_docs(volunteer.username, surveys=50, photos=10)
        phone = phone_for(live_server, volunteer, tmp_path)
        process = phone.start(phone.docs_file(docs),
                              {"op": "push", "batch_size": 5, "pause_after": 4, "retry": True},
                              {"op": "pull", "retry": True}, {"op": "list"})
        seen = []
        for line in process.stdout:
            seen.append(line)
            if '"paused"' in line:
                break
        embedded.stop(couch_process["process"])
        process.stdin.write("go\n")
        process.stdin.flush()
        time.sleep(1.5)
        couch_process["process"] = embedded.start(ROOT / "node_modules", couch_process["folder"],
                                                  couch_process["port"])
        out, err = process.communicate(timeout=120)
        _, push, pull, listing = step_results(process.returncode, "".join(seen) + out, err)
        assert push["ok"] and push["attempts"] > 1, push
        assert push["errors"], push
        assert pull["ok"], pull
        assert wait_for(lambda: count(app, Submission) == 50 and count(app, Photo) == 10,
                        seconds=15)
        assert_exactly_once(couch_server.client(), volunteer.couch_db, docs)
        assert {d["id"] for d in listing["docs"] if not d["id"].startswith("_design/")} == {
            doc["_id"] for doc in docs}


def test_an_unreachable_server_is_a_couch_error():
    """The ingest retries on CouchError; a refused connection must be one, not kill it."""
    couch = Couch(f"http://127.0.0.1:{free_port()}", "admin", "x", timeout=1)
    for call in (lambda: couch.changes("db", None, 10), lambda: couch.open_revs("db", "d"),
                 lambda: couch.attachment("db", "d", "a"), lambda: couch.db_updates(None, 10)):
        with pytest.raises(CouchError):
            call()
