"""Submissions, their reviews and photos, and the quarantine."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import String, cast, select, update

from server.models import Photo, Quarantine, Review, Submission, db, utcnow
from server.queries.bulk import built, json_array, one_of, one_of_param
from server.queries.jobs import blocked


def get_submission(submission_id: int) -> Submission | None:
    return db.session.get(Submission, submission_id)


def list_final_submissions(review_states: tuple[str, ...]) -> list[Submission]:
    return list(db.session.execute(
        select(Submission).where(Submission.status == "final",
                                 Submission.review_state.in_(review_states))
        .order_by(Submission.received_at)).scalars())


def submissions_by_doc(couch_db: str, doc_ids: list[str]) -> dict[str, Submission]:
    """Some surveys of one database, by document id, in one query."""
    rows = db.session.execute(select(Submission).where(
        Submission.couch_db == couch_db, one_of(Submission.doc_id, doc_ids))).scalars()
    return {row.doc_id: row for row in rows}


def photos_for_surveys(keys: list[tuple[str, str]]) -> list[Photo]:
    if not keys:
        return []
    doc_ids = {doc_id for _db, doc_id in keys}
    statement = built("photos_for_surveys",
                      lambda: select(Photo).where(one_of_param(Photo.survey_doc_id, "ids"),
                                                  Photo.deleted_rev.is_(None)))
    rows = db.session.execute(statement, {"ids": json_array(doc_ids)}).scalars()
    wanted = set(keys)
    return [row for row in rows if (row.couch_db, row.survey_doc_id) in wanted]


def get_photo_by_sha(sha256: str) -> list[Photo]:
    return list(db.session.execute(select(Photo).where(Photo.sha256 == sha256)).scalars())


def add_review(**fields: object) -> Review:
    review = Review(**fields)
    db.session.add(review)
    db.session.flush()
    return review


def mark_feedback_written(review: Review) -> None:
    """The decision is in the volunteer's database: not to be delivered again."""
    review.feedback_written = True


def set_photo_measures(photo: Photo, facts: dict, phash: str | None, width: int | None,
                       height: int | None) -> None:
    """What re-deriving the photo from its original found."""
    photo.facts, photo.phash, photo.width, photo.height = facts, phash, width, height


def set_photo_flags(photo: Photo, flags: list[dict]) -> None:
    photo.flags = flags


def reviews_for(submission_id: int) -> list[Review]:
    return list(db.session.execute(select(Review).where(Review.submission_id == submission_id)
                                   .order_by(Review.decided_at)).scalars())


def stream_approved(form_id: str) -> Iterator[Submission]:
    """Approved submissions of one form, read in batches so a large ward stays in bounds."""
    query = (select(Submission).where(Submission.form_id == form_id,
                                      Submission.status == "final",
                                      Submission.review_state == "approved")
             .order_by(Submission.id).execution_options(yield_per=500))
    yield from db.session.execute(query).scalars()


def list_quarantine(limit: int = 200) -> list[Quarantine]:
    return list(db.session.execute(
        select(Quarantine).order_by(Quarantine.created_at.desc()).limit(limit)).scalars())


def latest_review(couch_db: str, doc_id: str) -> tuple[Review, Submission] | None:
    """A survey's most recent decision, with the survey."""
    row = db.session.execute(
        select(Review, Submission).join(Submission, Review.submission_id == Submission.id)
        .where(Submission.couch_db == couch_db, Submission.doc_id == doc_id)
        .order_by(Review.decided_at.desc(), Review.id.desc()).limit(1)).first()
    return None if row is None else (row[0], row[1])


def pending_feedback(limit: int = 500) -> list[tuple[Review, Submission]]:
    """Decisions not yet written back to the phone, oldest first; the latest per survey
    wins. One whose delivery failed waits until it is due again (`server.models.Job`)."""
    rows = db.session.execute(
        select(Review, Submission).join(Submission, Review.submission_id == Submission.id)
        .where(Review.feedback_written.is_(False),
               ~blocked("feedback", cast(Review.id, String), utcnow()))
        .order_by(Review.decided_at, Review.id).limit(limit)).all()
    return [(review, submission) for review, submission in rows]


def all_photo_shas() -> list[str]:
    return list(db.session.execute(select(Photo.sha256).where(Photo.sha256.is_not(None))
                                   .distinct().order_by(Photo.sha256)).scalars())


def set_review_state(submission_id: int, rev: str, state: str) -> bool:
    """Set the review state only if the survey is still at `rev`; False if it moved on."""
    result = db.session.execute(update(Submission).where(
        Submission.id == submission_id, Submission.rev == rev).values(review_state=state))
    return result.rowcount == 1


def current_rev(submission_id: int) -> str | None:
    return db.session.execute(select(Submission.rev).where(
        Submission.id == submission_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
