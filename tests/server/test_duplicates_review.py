"""The same household surveyed by two volunteers is offered to a reviewer to settle."""

from __future__ import annotations

import re

from sqlalchemy import select

from server.actions.duplicates import CHECK_BATCH, check_new_surveys
from server.models import DuplicateKeys, DuplicatePair, Submission, db
from tests.conftest import log_in, make_account
from tests.server.helpers import household_answers, survey_doc
from tests.server.test_ingest import put, run_ingest


def test_same_address_twice_is_listed_and_settled(app, client, volunteer, reviewer):
    other = make_account(app, "volunteer", "tdp03")
    first = household_answers()
    second = household_answers()
    second["address"] = "so 12, ngo 5, pho Le Loi"
    different = household_answers()
    different["address"] = "Số 40 ngõ 9 phố Trần Hưng Đạo"
    for account, answers in ((volunteer, first), (other, second), (other, different)):
        log_in(client, account)
        put(client, account, survey_doc(answers, volunteer=account.username))
        run_ingest(app)
    with app.app_context():
        assert check_new_surveys() == 3
        db.session.commit()
        assert check_new_surveys() == 0
    log_in(client, reviewer)
    page = client.get("/review/duplicates").get_data(as_text=True)
    pairs = re.findall(r'data-pair="(\d+)"', page)
    assert len(pairs) == 1, page
    assert "so 12, ngo 5" in page and "Trần Hưng Đạo" not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    reply = client.post(f"/review/duplicates/{pairs[0]}", data={"csrf": csrf,
                                                                "settlement": "same"})
    assert reply.status_code == 302
    assert 'data-pair="' not in client.get("/review/duplicates").get_data(as_text=True)
    with app.app_context():
        rejected = db.session.execute(select(Submission).where(
            Submission.review_state == "rejected")).scalars().all()
    assert len(rejected) == 1 and rejected[0].answers["address"] == second["address"]


HOME = {"lat": 20.42970, "lon": 106.17410, "accuracy": 8}


def add_survey(doc_id: str, answers: dict, form_id: str = "household", rev: str = "1-a",
               gps: dict | None = None, status: str = "final") -> Submission:
    row = Submission(doc_id=doc_id, couch_db="userdb-x", volunteer="lan", form_id=form_id,
                     form_version="2026.1", rev=rev, status=status,
                     residential_group=answers.get("residential_group"), answers=answers,
                     errors=[], visited_at="2026-03-02T09:00:00+07:00", gps=gps)
    db.session.add(row)
    return row


def check_all() -> int:
    """What the worker's loop does: check in batches, committing each."""
    checked = 0
    while batch := check_new_surveys():
        assert batch <= CHECK_BATCH
        db.session.commit()
        checked += batch
    return checked


def pairs() -> set[tuple[str, str, str]]:
    return {(p.doc_id, p.other_doc_id, p.reasons[0]["code"])
            for p in db.session.execute(select(DuplicatePair)).scalars()}


def test_candidates_are_found_by_each_key(app):
    with app.app_context():
        add_survey("survey:h1", household_answers("tdp03"))
        add_survey("survey:h2", {**household_answers("tdp03"), "address": "so 12 ngo 5 Le Loi"})
        add_survey("survey:h3", {**household_answers("tdp04"), "address": "Số 12 ngõ 5 phố Lê Lợi"})
        add_survey("survey:g1", {"residential_group": "tdp05", "address": "Số 1 phố A",
                                 "head_name": "Trần Thị Bình"}, gps=HOME)
        add_survey("survey:g2", {"residential_group": "tdp05", "address": "Số 90 phố B",
                                 "head_name": "Tran Thi Binh"},
                   gps={**HOME, "lat": HOME["lat"] + 0.0001})
        add_survey("survey:e1", {"tax_code": "0101245486", "name": "Cty Minh Phát",
                                 "residential_group": "tdp01"}, form_id="enterprise")
        add_survey("survey:e2", {"tax_code": "0101 245 486", "name": "Hợp tác xã Ba",
                                 "residential_group": "tdp09"}, form_id="enterprise")
        add_survey("survey:d1", household_answers("tdp03"), status="draft")
        db.session.commit()
        assert check_all() == 7
        assert pairs() == {("survey:h1", "survey:h2", "same_address"),
                           ("survey:g1", "survey:g2", "near_similar_name"),
                           ("survey:e1", "survey:e2", "same_tax_code")}
        keys = db.session.execute(select(DuplicateKeys).join(
            Submission, Submission.id == DuplicateKeys.submission_id).where(
            Submission.doc_id == "survey:h2")).scalar_one()
        assert (keys.address_key, keys.residential_group) == ("12|5||le loi", "tdp03")


def test_only_the_keys_of_a_surveys_current_revision_count(app):
    with app.app_context():
        first = add_survey("survey:a", household_answers("tdp03"))
        db.session.commit()
        assert check_all() == 1
        first.rev = "2-b"
        first.answers = {**household_answers("tdp03"), "address": "Số 40 phố Trần Hưng Đạo"}
        add_survey("survey:b", household_answers("tdp03"))
        db.session.commit()
        # b is checked before a's new revision: a's old keys no longer count
        assert check_new_surveys(1) == 1 and db.session.commit() is None
        assert check_all() == 1
        assert pairs() == set()
        first.rev, first.answers = "3-c", household_answers("tdp03")
        db.session.commit()
        assert check_all() == 1
        assert pairs() == {("survey:a", "survey:b", "same_address")}


def test_sixty_surveys_with_a_megabyte_answer_each(app, monkeypatch):
    """The outside trial's case: 60 final surveys of one residential group, each with a
    1 MB address and name, locked SQLite for over 12 minutes (every candidate's address
    normalised again for every new survey, in one transaction). Now: no address is
    normalised at all (too long to be one), each survey's keys are worked out once,
    and the worker commits every CHECK_BATCH surveys. Timing: bench/bench_duplicates.py."""
    from sync import duplicates

    normalised = []
    real_address_key = duplicates.address_key
    monkeypatch.setattr(duplicates, "address_key",
                        lambda text: normalised.append(text) or real_address_key(text))
    folded = []
    real_fold = duplicates.fold
    monkeypatch.setattr(duplicates, "fold", lambda text: folded.append(len(text))
                        or real_fold(text))
    huge = "Số 12 ngõ 5 phố Lê Lợi " + "x" * 1_000_000
    with app.app_context():
        for number in range(60):
            add_survey(f"survey:big{number}", {**household_answers("tdp03"), "address": huge,
                                               "head_name": "Nguyễn Văn An " + "y" * 1_000_000},
                       gps=HOME)
        db.session.commit()
        assert check_all() == 60
        assert pairs() == set() and folded == []
        assert normalised == [None] * 60  # each survey's address looked at once, refused
        stored = db.session.execute(select(DuplicateKeys)).scalars().all()
        assert len(stored) == 60 and {(k.address, k.name) for k in stored} == {(None, None)}


def test_each_survey_is_normalised_once_however_many_share_its_group(app, monkeypatch):
    from sync import duplicates

    normalised = []
    real_address_key = duplicates.address_key
    monkeypatch.setattr(duplicates, "address_key",
                        lambda text: normalised.append(text) or real_address_key(text))
    with app.app_context():
        for number in range(60):
            add_survey(f"survey:n{number}", {**household_answers("tdp03"),
                                             "address": f"Số {number} ngõ 5 phố Lê Lợi"},
                       gps={**HOME, "lat": HOME["lat"] + number * 0.001})
        add_survey("survey:again", household_answers("tdp03"))  # Số 12 ngõ 5 phố Lê Lợi
        db.session.commit()
        assert check_all() == 61
        assert len(normalised) == 61  # before: each survey's candidates again, 61 × 60
        assert pairs() == {("survey:again", "survey:n12", "same_address")}
