"""Review decisions, feedback to the phone, indicators over approved surveys, exports."""

from __future__ import annotations

import csv
import io
import re

from server import services
from server.actions.reviews import deliver_feedback
from server.models import db
from tests.conftest import body, log_in
from tests.server.helpers import household_answers, member, survey_doc
from tests.server.test_ingest import put, run_ingest


def decide(client, submission_id: int, decision: str, comment: str = ""):
    page = client.get(f"/review/{submission_id}").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    rev = re.search(r'name="rev" value="([^"]+)"', page).group(1)
    return client.post(f"/review/{submission_id}", data={
        "csrf": csrf, "rev": rev, "decision": decision, "comment": comment})


def submit(app, client, volunteer, answers) -> dict:
    log_in(client, volunteer)
    doc = survey_doc(answers, volunteer=volunteer.username)
    put(client, volunteer, doc)
    run_ingest(app)
    return doc


def queue(client, reviewer) -> list[dict]:
    log_in(client, reviewer)
    reply = client.get("/api/submissions")
    assert reply.status_code == 200
    return reply.get_json()["items"]


def test_approval_moves_the_indicator_and_the_export(app, client, volunteer, reviewer):
    answers = household_answers(members=[member(40, skilled=True), member(70, skilled=False),
                                         member(10, skilled=False)])
    submit(app, client, volunteer, answers)
    items = queue(client, reviewer)
    assert len(items) == 1
    before = client.get("/dashboard/totals.csv").get_data(as_text=True)
    assert "basic_skills" not in before
    assert decide(client, items[0]["id"], "approved").status_code == 302
    rows = list(csv.DictReader(io.StringIO(
        client.get("/dashboard/totals.csv").get_data(as_text=True).lstrip("\ufeff"))))
    skills = {r["residential_group"]: r for r in rows if r["indicator"] == "basic_skills"}
    assert (skills["tdp03"]["numerator"], skills["tdp03"]["denominator"]) == ("1", "2")
    assert skills["tdp03"]["percent"] == "50.0"
    page = client.get("/dashboard").get_data(as_text=True)
    assert "50.0 %" in page
    result = app.test_cli_runner().invoke(args=["export", "totals", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "basic_skills" in result.output and "tdp03" in result.output
    assert queue(client, reviewer) == []


def test_send_back_reaches_the_phone_and_correction_returns(app, client, volunteer, reviewer):
    doc = submit(app, client, volunteer, household_answers())
    item = queue(client, reviewer)[0]
    assert decide(client, item["id"], "needs_correction", "").status_code == 400
    assert decide(client, item["id"], "needs_correction", "Thiếu ảnh").status_code == 302
    with app.app_context():
        assert deliver_feedback() == 1
        db.session.commit()
        feedback = services.couch().get(volunteer.couch_db, f"feedback:{doc['_id']}")
    assert (feedback["decision"], feedback["comment"]) == ("needs_correction", "Thiếu ảnh")
    log_in(client, volunteer)
    current = body(client.get(f"/sync/{volunteer.couch_db}/{doc['_id']}"))
    current["answers"]["fibre"] = "no"
    put(client, volunteer, current)
    run_ingest(app)
    items = queue(client, reviewer)
    assert [i["doc_id"] for i in items] == [doc["_id"]]
    assert items[0]["review_state"] == "pending"


def test_stale_decision_is_refused(app, client, volunteer, reviewer):
    doc = submit(app, client, volunteer, household_answers())
    item = queue(client, reviewer)[0]
    page = client.get(f"/review/{item['id']}").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    log_in(client, volunteer)
    current = body(client.get(f"/sync/{volunteer.couch_db}/{doc['_id']}"))
    current["answers"]["fibre"] = "no"
    put(client, volunteer, current)
    run_ingest(app)
    log_in(client, reviewer)
    page = client.get(f"/review/{item['id']}").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    reply = client.post(f"/review/{item['id']}", data={
        "csrf": csrf, "rev": item["rev"], "decision": "approved"})
    assert reply.status_code == 409


def test_decision_needs_csrf_token(app, client, volunteer, reviewer):
    submit(app, client, volunteer, household_answers())
    item = queue(client, reviewer)[0]
    reply = client.post(f"/review/{item['id']}", data={"rev": item["rev"],
                                                       "decision": "approved"})
    assert reply.status_code == 403


def test_volunteer_cannot_review_or_see_dashboard(app, client, volunteer):
    log_in(client, volunteer)
    assert client.get("/api/submissions").status_code == 403
    assert client.get("/dashboard/totals.csv").status_code == 403


def test_pages_send_anonymous_people_to_login(client):
    reply = client.get("/review")
    assert reply.status_code == 302 and "/login" in reply.headers["Location"]
