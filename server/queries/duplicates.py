"""Candidate surveys for duplicate detection, and the pairs found."""

from __future__ import annotations

from sqlalchemy import or_, select

from server.models import DuplicatePair, Submission, db


def duplicate_candidates(submission: Submission) -> list[Submission]:
    """Final surveys of the same form that could be the same subject.

    Households are compared within their residential group; enterprises with
    every other enterprise (a ward has far fewer of them, and a tax code is
    the same whichever group was ticked).
    """
    query = select(Submission).where(Submission.form_id == submission.form_id,
                                     Submission.status == "final",
                                     Submission.id != submission.id)
    if submission.form_id != "enterprise":
        query = query.where(or_(Submission.residential_group == submission.residential_group,
                                Submission.residential_group.is_(None)))
    return list(db.session.execute(query).scalars())


def save_pair(doc_id: str, other_doc_id: str, kind: str, reasons: list[dict],
              distance_m: float | None) -> None:
    first, second = sorted((doc_id, other_doc_id))
    known = db.session.execute(select(DuplicatePair).where(
        DuplicatePair.doc_id == first, DuplicatePair.other_doc_id == second)).scalar_one_or_none()
    if known is None:
        db.session.add(DuplicatePair(doc_id=first, other_doc_id=second, kind=kind,
                                     reasons=reasons, distance_m=distance_m))
    elif known.state == "open":
        known.kind, known.reasons, known.distance_m = kind, reasons, distance_m


def open_pairs() -> list[DuplicatePair]:
    return list(db.session.execute(select(DuplicatePair).where(DuplicatePair.state == "open")
                                   .order_by(DuplicatePair.created_at)).scalars())


def get_pair(pair_id: int) -> DuplicatePair | None:
    return db.session.get(DuplicatePair, pair_id)


def submissions_by_doc_ids(doc_ids: set[str]) -> dict[str, Submission]:
    if not doc_ids:
        return {}
    rows = db.session.execute(select(Submission).where(Submission.doc_id.in_(doc_ids))).scalars()
    return {row.doc_id: row for row in rows}


def unchecked_submissions(limit: int) -> list[Submission]:
    """Final surveys whose current revision has not been checked for duplicates yet."""
    return list(db.session.execute(select(Submission).where(
        Submission.status == "final",
        or_(Submission.duplicates_checked_rev.is_(None),
            Submission.duplicates_checked_rev != Submission.rev))
        .order_by(Submission.id).limit(limit)).scalars())
