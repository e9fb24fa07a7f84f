"""Background work that fails has a retry budget (issue 21, item 5): a feedback
delivery CouchDB refuses with a 4xx is tried again less and less often, not on
every poll, and after its budget waits for an administrator; a survey the
duplicate check fails on no longer stops the check of every later one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from server import services
from server.actions import duplicates, jobs
from server.actions.reviews import deliver_feedback
from server.models import DuplicateKeys, Job, Review, db, utcnow
from tests.server.helpers import household_answers
from tests.server.test_review_flow import decide, queue, submit


def due_now(app) -> None:
    with app.app_context():
        db.session.execute(update(Job).values(run_after=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def deliver(app) -> int:
    with app.app_context():
        count = deliver_feedback()
        db.session.commit()
        return count


def the_job(app) -> Job | None:
    with app.app_context():
        job = db.session.execute(select(Job)).scalar_one_or_none()
        db.session.expunge_all()
        return job


def test_a_refused_delivery_backs_off_then_waits_for_an_administrator(app, client, volunteer,
                                                                      reviewer, monkeypatch):
    monkeypatch.setattr(jobs, "MAX_ATTEMPTS", 3)
    submit(app, client, volunteer, household_answers())
    item = queue(client, reviewer)[0]
    assert decide(client, item["id"], "needs_correction", "Thiếu ảnh").status_code == 302
    with app.app_context():
        services.couch().delete_db(volunteer.couch_db)  # CouchDB answers 404 to the delivery
    assert deliver(app) == 0
    job = the_job(app)
    assert (job.kind, job.attempts, job.state) == ("feedback", 1, "retrying")
    assert "404" in job.last_error or "not_found" in job.last_error
    assert deliver(app) == 0 and the_job(app).attempts == 1  # not due yet: not tried
    first_wait = job.run_after - job.updated_at
    due_now(app)
    deliver(app)
    job = the_job(app)
    assert job.attempts == 2 and job.run_after - job.updated_at == 2 * first_wait
    due_now(app)
    deliver(app)
    assert the_job(app).state == "failed"
    due_now(app)
    deliver(app)
    assert the_job(app).attempts == 3  # spent: no more tries on its own

    listed = app.test_cli_runner().invoke(args=["jobs", "list", "--failed"])
    assert "feedback" in listed.output and "3x" in listed.output, listed.output
    with app.app_context():
        services.couch().ensure_db(volunteer.couch_db)
    retried = app.test_cli_runner().invoke(args=["jobs", "retry"])
    assert retried.exit_code == 0 and "1 " in retried.output, retried.output
    assert deliver(app) == 1
    assert the_job(app) is None
    with app.app_context():
        assert db.session.execute(select(Review.feedback_written)).scalar_one() is True
    health = client.get("/healthz").get_json()
    assert health["ingest"]["jobs"] == {"retrying": 0, "failed": 0}


def test_a_survey_the_duplicate_check_fails_on_does_not_stop_the_others(app, client, volunteer,
                                                                        monkeypatch):
    first = submit(app, client, volunteer, household_answers(group="tdp01"))
    second = submit(app, client, volunteer, household_answers(group="tdp02"))
    real = duplicates.detect_duplicates

    def failing_on_first(submission, rules=None):
        if submission.doc_id == first["_id"]:
            raise ValueError("a survey the check cannot read")
        return real(submission, rules)

    monkeypatch.setattr(duplicates, "detect_duplicates", failing_on_first)
    with app.app_context():
        assert duplicates.check_new_surveys() == 0
        db.session.commit()
        assert duplicates.check_new_surveys() == 1  # the next turn checks the other
        db.session.commit()
        checked = set(db.session.execute(select(DuplicateKeys.submission_id)).scalars())
        job = db.session.execute(select(Job)).scalar_one()
        assert job.kind == "duplicates" and "cannot read" in job.last_error
        assert len(checked) == 1 and str(next(iter(checked))) != job.key
    assert second["_id"]
