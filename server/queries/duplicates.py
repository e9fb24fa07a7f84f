"""Duplicate detection's SQL: each survey's keys, the candidates sharing a key, the pairs found.

A final survey's keys (`DuplicateKeys`, sync.duplicates.MatchKeys) are
stored once per revision; a new survey's candidates are the surveys sharing
one of its keys, each looked up by its own index, never every survey of a
residential group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from sqlalchemy import Select, String, and_, bindparam, cast, or_, select

from server.models import DuplicateKeys, DuplicatePair, Submission, db, utcnow
from server.queries.bulk import built
from server.queries.jobs import blocked
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
    params: dict = {"form_id": submission.form_id, "submission_id": submission.id,
                    "survey_group": submission.residential_group}
    ways = []
    if keys.tax_code is not None:
        ways.append("tax_code")
        params["tax_code"] = keys.tax_code
    if keys.address_key is not None and keys.group is not None:
        ways.append("address")
        params.update(group=keys.group, address_key=keys.address_key)
    if box is not None:
        ways.append("place")
        params.update(zip(("south", "north", "west", "east"), box, strict=True))
    household = submission.form_id != "enterprise"
    seen: set[int] = set()
    for way in ways:  # one query each, so each uses its own index
        statement = built(("keyed_candidates", way, household),
                          lambda way=way: _candidates_statement(way, household))
        for row, doc_id in db.session.execute(statement, params):
            if row.submission_id not in seen:
                seen.add(row.submission_id)
                yield _keys_of(row, doc_id, keys.subject)


def _candidates_statement(way: str, household: bool) -> Select:
    """Built once per way (`built`): its values are bound parameters."""
    keyed = DuplicateKeys
    shared = {
        "tax_code": lambda: keyed.tax_code == bindparam("tax_code"),
        "address": lambda: and_(keyed.residential_group == bindparam("group"),
                                keyed.address_key == bindparam("address_key")),
        "place": lambda: and_(keyed.lat.between(bindparam("south"), bindparam("north")),
                              keyed.lon.between(bindparam("west"), bindparam("east"))),
    }[way]()
    query = (select(keyed, Submission.doc_id)
             .join(Submission, Submission.id == keyed.submission_id)
             .where(keyed.form_id == bindparam("form_id"), shared,
                    keyed.submission_id != bindparam("submission_id"),
                    keyed.rev == Submission.rev, Submission.status == "final"))
    if household:
        query = query.where(or_(Submission.residential_group == bindparam("survey_group"),
                                Submission.residential_group.is_(None)))
    return query


def _keys_of(row: DuplicateKeys, doc_id: str, subject: str) -> MatchKeys:
    return MatchKeys(survey_id=doc_id, subject=subject, tax_code=row.tax_code,
                     group=row.residential_group, address=row.address,
                     address_key=row.address_key, name=row.name, lat=row.lat, lon=row.lon,
                     accuracy=row.accuracy, created_at=row.created_at)


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


def settle_pair(pair: DuplicatePair, state: str, decided_by: str) -> None:
    pair.state, pair.decided_by = state, decided_by


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
               or_(DuplicateKeys.rev.is_(None), DuplicateKeys.rev != Submission.rev),
               ~blocked("duplicates", cast(Submission.id, String), utcnow()))
        .order_by(Submission.id).limit(limit)).scalars())
