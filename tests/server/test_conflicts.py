"""Conflicting edits of one survey are merged field by field, written back, and recorded."""

from __future__ import annotations

import copy

from sqlalchemy import select

from server import services
from server.models import Merge, Submission, SubmissionRevision, db
from tests.conftest import log_in
from tests.server.helpers import household_answers, member, survey_doc
from tests.server.test_ingest import put, run_ingest


def make_conflict(app, account, base: dict, edit_a, edit_b) -> tuple[str, str]:
    """Two leaves on top of `base`'s revision, as two phones replicating in would make."""
    with app.app_context():
        couch = services.couch()
        current = couch.get(account.couch_db, base["_id"])
        start, digest = current["_rev"].split("-")
        leaves = []
        for suffix, edit in (("a", edit_a), ("b", edit_b)):
            leaf = copy.deepcopy(current)
            edit(leaf)
            rev_hash = (suffix * 32)[:32]
            leaf["_rev"] = f"{int(start) + 1}-{rev_hash}"
            leaf["_revisions"] = {"start": int(start) + 1, "ids": [rev_hash, digest]}
            leaves.append(leaf)
        results = couch.bulk_write(account.couch_db, leaves, new_edits=False)
        assert not any("error" in r for r in results), results
    return leaves[0]["_rev"], leaves[1]["_rev"]


def test_two_phone_edits_merge_and_converge(app, client, volunteer):
    log_in(client, volunteer)
    first, second = member(40), member(12, skilled=False)
    doc = survey_doc(household_answers(members=[first]), volunteer=volunteer.username)
    put(client, volunteer, doc)
    run_ingest(app)

    def phone_a(leaf):
        leaf["answers"]["fibre"] = "no"
        leaf["updated_at"] = "2026-11-20T10:00:00+07:00"

    def phone_b(leaf):
        leaf["answers"]["members"].append(second)
        leaf["answers"]["address"] = "Số 14 ngõ 5"
        leaf["updated_at"] = "2026-11-20T11:00:00+07:00"

    make_conflict(app, volunteer, doc, phone_a, phone_b)
    run_ingest(app)
    run_ingest(app)
    with app.app_context():
        couch = services.couch()
        leaves = [leaf for leaf in couch.open_revs(volunteer.couch_db, doc["_id"])
                  if not leaf.get("_deleted")]
        assert len(leaves) == 1, "the losing leaf is tombstoned"
        merged = leaves[0]
        assert merged["answers"]["fibre"] == "no"
        assert merged["answers"]["address"] == "Số 14 ngõ 5"
        assert [m["_row"] for m in merged["answers"]["members"]] == [first["_row"],
                                                                      second["_row"]]
        merge = db.session.execute(select(Merge)).scalar_one()
        assert merge.state == "written" and merge.merged_rev == merged["_rev"]
        current = db.session.execute(select(Submission)).scalar_one()
        assert current.rev == merged["_rev"]
        assert len(current.answers["members"]) == 2
        revs = set(db.session.execute(select(SubmissionRevision.rev)).scalars())
        assert len(revs) == 4, "base, both leaves and the merge are all kept"


def test_same_answer_changed_on_both_phones_keeps_the_loser(app, client, volunteer,
                                                             reviewer):
    log_in(client, volunteer)
    doc = survey_doc(household_answers(), volunteer=volunteer.username)
    put(client, volunteer, doc)
    run_ingest(app)

    def early(leaf):
        leaf["answers"]["fibre"] = "mobile_only"
        leaf["updated_at"] = "2026-11-20T09:00:00+07:00"

    def late(leaf):
        leaf["answers"]["fibre"] = "no"
        leaf["updated_at"] = "2026-11-20T12:00:00+07:00"

    rev_early, _rev_late = make_conflict(app, volunteer, doc, early, late)
    run_ingest(app)
    with app.app_context():
        merge = db.session.execute(select(Merge)).scalar_one()
        conflict = merge.record["conflicts"][0]
        assert conflict["path"] == ["answers", "fibre"]
        assert conflict["winner"]["value"] == "no"
        assert [(v["rev"], v["value"]) for v in conflict["losers"]] == [(rev_early,
                                                                         "mobile_only")]
        submission_id = db.session.execute(select(Submission.id)).scalar_one()
    log_in(client, reviewer)
    page = client.get(f"/review/{submission_id}").get_data(as_text=True)
    assert "answers.fibre" in page and "\"mobile_only\"" in page
