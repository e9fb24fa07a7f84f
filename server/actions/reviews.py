"""Review of synced surveys: the queue, one survey's evidence, the decision.

A decision is recorded in SQL first; the feedback document for the phone is
written to the volunteer's CouchDB database afterwards by
`deliver_feedback` (the worker calls it in its loop), so a CouchDB outage
never loses a decision and never leaves the phone and the server disagreeing
for long.
"""

from __future__ import annotations

import logging
from typing import Any

from forms.display import labelled_answers
from messages import both
from server import services
from server.actions import jobs
from server.actions.auth import Actor, require_role
from server.errors import problem
from server.models import Review, Submission
from server.queries.audit import audit
from server.queries.forms import get_form_version
from server.queries.ingest import merges_for
from server.queries.submissions import (
    add_review,
    current_rev,
    get_submission,
    latest_review,
    list_final_submissions,
    list_quarantine,
    mark_feedback_written,
    pending_feedback,
    photos_for_surveys,
    reviews_for,
    set_review_state,
)
from sync.couch import AdminRefused, CouchError
from sync.provision import write_feedback

log = logging.getLogger(__name__)

DECISIONS = ("approved", "needs_correction", "rejected")
OPEN_STATES = ("pending",)


def _photo_view(photo: Any) -> dict:
    return {"doc_id": photo.doc_id, "sha256": photo.sha256, "width": photo.width,
            "height": photo.height, "flags": photo.flags, "facts": photo.facts}


def review_queue(actor: Actor, states: tuple[str, ...] = OPEN_STATES) -> list[dict]:
    """Final surveys awaiting review, flagged ones first, then oldest first."""
    require_role(actor, "reviewer")
    submissions = list_final_submissions(states)
    photos = photos_for_surveys([(s.couch_db, s.doc_id) for s in submissions])
    by_survey: dict[tuple[str, str], list[dict]] = {}
    for photo in photos:
        by_survey.setdefault((photo.couch_db, photo.survey_doc_id), []).append(_photo_view(photo))
    items = []
    for s in submissions:
        survey_photos = by_survey.get((s.couch_db, s.doc_id), [])
        flags = [f for p in survey_photos for f in p["flags"]]
        expected = _photo_answers(s.answers)
        items.append({"id": s.id, "doc_id": s.doc_id, "volunteer": s.volunteer,
                      "form_id": s.form_id, "form_version": s.form_version,
                      "residential_group": s.residential_group, "rev": s.rev,
                      "received_at": s.received_at, "errors": s.errors, "photos": survey_photos,
                      "flags": flags,
                      "photos_pending": max(0, len(expected) - len(survey_photos)),
                      "review_state": s.review_state})
    items.sort(key=_queue_order)
    return items


def _queue_order(item: dict) -> tuple:
    """Warnings and validation errors first, then mere hints (no EXIF), then the rest."""
    warnings = sum(1 for f in item["flags"] if f.get("severity") != "hint") + len(item["errors"])
    rank = 0 if warnings else 1 if item["flags"] else 2
    return rank, -warnings, item["received_at"]


def _photo_answers(answers: dict) -> list[str]:
    """Photo document ids the answers refer to (photo answers are lists of ids)."""
    found: list[str] = []
    for value in answers.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, str) and item.startswith("photo:"):
                    found.append(item)
                elif isinstance(item, dict):
                    found.extend(_photo_answers(item))
    return found


def submission_detail(actor: Actor, submission_id: int) -> dict:
    require_role(actor, "reviewer")
    s = get_submission(submission_id)
    if s is None:
        raise problem("not_found")
    photos = [_photo_view(p) for p in photos_for_surveys([(s.couch_db, s.doc_id)])]
    return {"id": s.id, "doc_id": s.doc_id, "volunteer": s.volunteer, "form_id": s.form_id,
            "form_version": s.form_version, "rev": s.rev, "status": s.status,
            "review_state": s.review_state, "residential_group": s.residential_group,
            "answers": s.answers, "errors": s.errors, "photos": photos,
            "labelled": labelled_answers(_definition(s.form_id, s.form_version), s.answers),
            "photos_pending": max(0, len(_photo_answers(s.answers)) - len(photos)),
            "merges": [{"state": m.state, "created_at": m.created_at,
                        "conflicts": m.record.get("conflicts", [])}
                       for m in merges_for(s.couch_db, s.doc_id)],
            "reviews": [{"reviewer": r.reviewer, "decision": r.decision, "comment": r.comment,
                         "decided_at": r.decided_at, "rev": r.rev} for r in reviews_for(s.id)]}


def _definition(form_id: str, version: str) -> dict | None:
    row = get_form_version(form_id, version)
    return None if row is None else row.definition


def decide(actor: Actor, submission_id: int, decision: str, comment: str, rev: str) -> Review:
    """Record a reviewer's decision on the revision they saw."""
    require_role(actor, "reviewer")
    if decision not in DECISIONS:
        raise problem("invalid_input", field="decision", allowed=list(DECISIONS))
    if decision != "approved" and not comment.strip():
        raise problem("invalid_input", field="comment",
                      rule=both("server.rule.comment_required"))
    s = get_submission(submission_id)
    if s is None:
        raise problem("not_found")
    # Conditional on the revision the reviewer saw, in one statement: the
    # ingest may store a newer revision at any moment.
    if not set_review_state(s.id, rev, decision):
        raise problem("review_stale", current_rev=current_rev(s.id))
    review = add_review(submission_id=s.id, rev=rev, reviewer=actor.username,
                        decision=decision, comment=comment.strip())
    audit(actor.username, f"review.{decision}", s.doc_id, rev=rev, comment=comment.strip())
    return review


def feedback_fields(review: Review, submission: Submission) -> dict:
    """What the phone is told of a decision."""
    return {"survey_id": submission.doc_id, "survey_rev": review.rev,
            "decision": review.decision, "comment": review.comment,
            "reviewer": review.reviewer, "decided_at": review.decided_at.isoformat() + "Z"}


def expected_feedback(couch_db: str, survey_id: str) -> dict | None:
    """The feedback a survey's latest decision gives (delivered or about to be), if any."""
    found = latest_review(couch_db, survey_id)
    return None if found is None else feedback_fields(*found)


def deliver_feedback() -> int:
    """Write undelivered decisions into the volunteers' databases; return how many.

    CouchDB down or busy stops this turn without counting against anyone; a
    delivery CouchDB refuses (a 4xx) is tried again later, less and less often,
    and after `jobs.MAX_ATTEMPTS` left for an administrator."""
    delivered = 0
    for review, submission in pending_feedback():
        key = str(review.id)
        try:
            write_feedback(services.couch(), submission.couch_db,
                           feedback_fields(review, submission))
        except AdminRefused:
            raise  # no delivery can succeed; the caller waits
        except CouchError as err:
            if err.status is None or err.status >= 500:
                break  # CouchDB is down: every delivery would fail; retry next turn
            jobs.failed("feedback", key, f"feedback for {submission.doc_id}", str(err))
            continue
        mark_feedback_written(review)
        jobs.succeeded("feedback", key)
        delivered += 1
    return delivered


def quarantine_list(actor: Actor) -> list[dict]:
    require_role(actor, "reviewer")
    return [{"id": q.id, "couch_db": q.couch_db, "doc_id": q.doc_id, "rev": q.rev,
             "code": q.code, "vi": q.reason_vi, "en": q.reason_en, "detail": q.detail,
             "created_at": q.created_at} for q in list_quarantine()]
