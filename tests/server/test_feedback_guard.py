"""Feedback documents are the server's: whatever a phone pushes in their place
(changed, deleted, invented, or a conflicting branch sent with new_edits=false)
is put back by the ingest and kept in quarantine."""

from __future__ import annotations

from sqlalchemy import select

from server import services
from server.actions.reviews import deliver_feedback
from server.models import Quarantine, db
from tests.conftest import body, log_in
from tests.server.helpers import household_answers
from tests.server.test_ingest import run_ingest
from tests.server.test_review_flow import decide, queue, submit


def delivered(app, client, volunteer, reviewer, comment="Thiếu ảnh") -> tuple[str, dict]:
    """A sent-back survey whose feedback is in the volunteer's database."""
    doc = submit(app, client, volunteer, household_answers())
    item = queue(client, reviewer)[0]
    assert decide(client, item["id"], "needs_correction", comment).status_code == 302
    with app.app_context():
        assert deliver_feedback() == 1
        db.session.commit()
    feedback_id = f"feedback:{doc['_id']}"
    return feedback_id, server_copy(app, volunteer, feedback_id)


def server_copy(app, volunteer, doc_id) -> dict | None:
    with app.app_context():
        return services.couch().get(volunteer.couch_db, doc_id, conflicts=True)


def bulk_docs(client, volunteer, docs, new_edits=True) -> None:
    log_in(client, volunteer)
    reply = client.post(f"/sync/{volunteer.couch_db}/_bulk_docs",
                        json={"docs": docs, "new_edits": new_edits})
    assert reply.status_code == 201, reply.data
    assert all("error" not in row for row in body(reply)), body(reply)


def quarantined(app) -> list[Quarantine]:
    with app.app_context():
        return list(db.session.execute(select(Quarantine)).scalars())


def without_rev(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("_rev", "_conflicts")}


def test_delivered_feedback_is_left_alone(app, client, volunteer, reviewer):
    feedback_id, original = delivered(app, client, volunteer, reviewer)
    run_ingest(app)
    assert server_copy(app, volunteer, feedback_id)["_rev"] == original["_rev"]
    assert quarantined(app) == []


def test_feedback_changed_by_the_phone_is_put_back(app, client, volunteer, reviewer):
    feedback_id, original = delivered(app, client, volunteer, reviewer)
    bulk_docs(client, volunteer, [{**original, "decision": "approved", "comment": ""}])
    run_ingest(app)
    restored = server_copy(app, volunteer, feedback_id)
    assert without_rev(restored) == without_rev(original)
    (kept,) = quarantined(app)
    assert (kept.code, kept.doc_id, kept.body["decision"]) == (
        "forged_feedback", feedback_id, "approved")
    assert kept.reason_vi and kept.reason_en
    run_ingest(app)  # the restored document is the server's: nothing more happens
    assert len(quarantined(app)) == 1


def test_feedback_deleted_by_the_phone_comes_back(app, client, volunteer, reviewer):
    feedback_id, original = delivered(app, client, volunteer, reviewer)
    bulk_docs(client, volunteer, [{"_id": feedback_id, "_rev": original["_rev"],
                                   "_deleted": True}])
    run_ingest(app)
    assert without_rev(server_copy(app, volunteer, feedback_id)) == without_rev(original)


def test_invented_feedback_is_removed(app, client, volunteer):
    bulk_docs(client, volunteer, [{"_id": "feedback:survey:nobody", "type": "feedback",
                                   "survey_id": "survey:nobody", "decision": "approved"}])
    run_ingest(app)
    assert server_copy(app, volunteer, "feedback:survey:nobody") is None
    assert [q.code for q in quarantined(app)] == ["forged_feedback"]


def test_a_forged_conflicting_branch_is_removed(app, client, volunteer, reviewer):
    feedback_id, original = delivered(app, client, volunteer, reviewer)
    forged = {**original, "_rev": "9-" + "f" * 32, "decision": "approved",
              "_revisions": {"start": 9, "ids": ["f" * 32]}}
    bulk_docs(client, volunteer, [forged], new_edits=False)
    assert server_copy(app, volunteer, feedback_id).get("_conflicts") or \
        server_copy(app, volunteer, feedback_id)["decision"] == "approved"
    run_ingest(app)
    restored = server_copy(app, volunteer, feedback_id)
    assert "_conflicts" not in restored
    assert without_rev(restored) == without_rev(original)
    assert "forged_feedback" in [q.code for q in quarantined(app)]
