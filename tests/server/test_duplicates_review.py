"""The same household surveyed by two volunteers is offered to a reviewer to settle."""

from __future__ import annotations

import re

from sqlalchemy import select

from server.actions.duplicates import check_new_surveys
from server.models import Submission, db
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
