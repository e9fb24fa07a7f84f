"""Duplicate detection's SQL: each survey's keys, the candidates sharing a key, the pairs found.

A final survey's keys (`DuplicateKeys`, sync.duplicates.MatchKeys) are
stored once per revision; a new survey's candidates are the surveys sharing
one of its keys, each looked up by its own index, never every survey of a
residential group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from sqlalchemy import ColumnElement, and_, or_, select

from server.models import DuplicateKeys, DuplicatePair, Submission, db
from sync.duplicates import MatchKeys

_KEY_COLUMNS = {"group": "residential_group"}


def save_keys(submission: Submission, keys: MatchKeys) -> None:
    """Store the keys of a survey's current revision, replacing those of an older one."""
    values = {_KEY_COLUMNS.get(name, name): value for name, value in asdict(keys).items()
              if _KEY_COLUMNS.get(name, name) in DuplicateKeys.__table__.c}
    row = db.session.get(DuplicateKeys, submission.id)
    if row is None:
        db.session.add(DuplicateKeys(submission_id=submission.id, rev=submission.rev,
                                     form_id=submission.form_id, **values))
        return
    row.rev, row.form_id = submission.rev, submission.form_id
    for name, value in values.items():
        setattr(row, name, value)


def keyed_candidates(submission: Submission, keys: MatchKeys,
                     box: tuple[float, float, float, float] | None) -> Iterator[MatchKeys]:
    """The keys of the final surveys of the same form that share one of `keys`: the
    tax code, the address in the same residential group, or a fix inside `box`.

    Households are compared within their residential group (and with surveys
    without one); enterprises with every other enterprise (a ward has far fewer
    of them, and a tax code is the same whichever group was ticked). Only keys
    of a survey's current revision count.
    """
    ways: list[ColumnElement[bool]] = []
    if keys.tax_code is not None:
        ways.append(DuplicateKeys.tax_code == keys.tax_code)
    if keys.address_key is not None and keys.group is not None:
        ways.append(and_(DuplicateKeys.residential_group == keys.group,
                         DuplicateKeys.address_key == keys.address_key))
    if box is not None:
        south, north, west, east = box
        ways.append(and_(DuplicateKeys.lat.between(south, north),
                         DuplicateKeys.lon.between(west, east)))
    seen: set[int] = set()
    for way in ways:  # one query each, so each uses its own index
        query = (select(DuplicateKeys, Submission.doc_id, Submission.visited_at)
                 .join(Submission, Submission.id == DuplicateKeys.submission_id)
                 .where(DuplicateKeys.form_id == submission.form_id, way,
                        DuplicateKeys.submission_id != submission.id,
                        DuplicateKeys.rev == Submission.rev, Submission.status == "final"))
        if submission.form_id != "enterprise":
            query = query.where(or_(
                Submission.residential_group == submission.residential_group,
                Submission.residential_group.is_(None)))
        for row, doc_id, visited_at in db.session.execute(query):
            if row.submission_id not in seen:
                seen.add(row.submission_id)
                yield _keys_of(row, doc_id, visited_at, keys.subject)


def _keys_of(row: DuplicateKeys, doc_id: str, visited_at: str | None, subject: str
             ) -> MatchKeys:
    return MatchKeys(survey_id=doc_id, subject=subject, tax_code=row.tax_code,
                     group=row.residential_group, address=row.address,
                     address_key=row.address_key, name=row.name, lat=row.lat, lon=row.lon,
                     accuracy=row.accuracy, created_at=visited_at)


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
    """Final surveys whose current revision has no keys yet: not checked for duplicates."""
    return list(db.session.execute(
        select(Submission)
        .outerjoin(DuplicateKeys, DuplicateKeys.submission_id == Submission.id)
        .where(Submission.status == "final",
               or_(DuplicateKeys.rev.is_(None), DuplicateKeys.rev != Submission.rev))
        .order_by(Submission.id).limit(limit)).scalars())
