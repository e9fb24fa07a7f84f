"""The ingest's SQL statements: revisions, photos, quarantine, merges, checkpoints.

Every write is keyed by (database, document, revision), so a page replayed
after a crash changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    bindparam,
    case,
    select,
    update,
)

from forms.model import has_lone_surrogate, without_broken_text, without_lone_surrogates
from server.models import (
    Checkpoint,
    HeldDatabase,
    Merge,
    Photo,
    Quarantine,
    Submission,
    SubmissionRevision,
    db,
    utcnow,
)
from server.queries.audit import audit
from server.queries.bulk import (
    NULL,
    SEPARATOR,
    built,
    dialect_insert,
    dialect_name,
    insert_rows,
    json_column,
    page_column,
    revision_number,
    revision_number_sql,
)
from server.queries.photo_index import unindex_photo
from sync import merge
from sync.conflicts import MergeNeeded
from sync.ingest import PhotoDeleted, PhotoReceived, Quarantined, SurveyRevision


def store_merge(outcome: MergeNeeded) -> None:
    leaf_revs = ",".join(outcome.leaf_revs)
    known = db.session.execute(select(Merge.id).where(
        Merge.couch_db == outcome.couch_db, Merge.doc_id == outcome.doc_id,
        Merge.leaf_revs == leaf_revs)).first()
    if known is None:
        db.session.add(Merge(couch_db=outcome.couch_db, doc_id=outcome.doc_id,
                             leaf_revs=leaf_revs, winner_rev=outcome.winner_rev,
                             losing_revs=list(outcome.losing_revs), merged=outcome.merged,
                             record=outcome.record, merged_from=list(outcome.merged_from)))
        audit("ingest", "merge.plan", outcome.doc_id, leaf_revs=leaf_revs,
              conflicts=len(outcome.record["conflicts"]))


def save_checkpoint(couch_db: str, seq: Any) -> None:
    """One statement per page: the checkpoint row inserted or moved."""
    def build() -> Any:
        insert = dialect_insert(Checkpoint.__table__).values(
            couch_db=bindparam("couch_db"), seq=bindparam("seq", type_=JSON),
            updated_at=bindparam("now"))
        return insert.on_conflict_do_update(
            index_elements=["couch_db"],
            set_={"seq": insert.excluded.seq, "updated_at": insert.excluded.updated_at})

    db.session.connection().execute(built("save_checkpoint", build),
                                    {"couch_db": couch_db, "seq": {"seq": seq}, "now": utcnow()})


def store_surveys(couch_db: str, outcomes: list[SurveyRevision], volunteer: str) -> bool | None:
    """Store one page's survey revisions and move each survey to its newest revision.

    Written without reading first: revisions already stored are skipped by
    their unique key, and a survey's row is replaced only by a revision at
    least as new as the one it holds (a different revision makes it pending
    review again). On PostgreSQL (psycopg) it is one statement, which also tells
    whether any photo stored before it belongs to one of these surveys (True or
    False); elsewhere two statements, and None: not known.
    """
    if not outcomes:
        return False
    now = utcnow()
    page: dict[tuple[str, str], dict] = {}  # the page's revisions, each once
    newest: dict[str, tuple[str, str]] = {}  # per survey, the page's newest revision
    for outcome in outcomes:
        doc = outcome.doc
        key = (doc["_id"], doc["_rev"])
        page.setdefault(key, {"doc_id": doc["_id"], "rev": doc["_rev"], "body": doc,
                              **_submission_fields(outcome)})
        seen = newest.get(doc["_id"])
        if seen is None or merge.revision_number(seen[1]) <= merge.revision_number(doc["_rev"]):
            newest[doc["_id"]] = key
    rows = list(page.values())
    latest = set(newest.values())
    if dialect_name() == "postgresql" and db.session.get_bind().dialect.driver == "psycopg":
        has_photos = _store_page_postgresql(couch_db, volunteer, now, rows, latest)
        if has_photos is not None:
            return has_photos
    insert_rows(SubmissionRevision, [
        {"couch_db": couch_db, "doc_id": row["doc_id"], "rev": row["rev"], "body": row["body"],
         "received_at": now} for row in rows], _skip_stored_revisions)
    insert_rows(Submission, [
        {"couch_db": couch_db, "doc_id": row["doc_id"], "volunteer": volunteer,
         "answers": row["body"]["answers"], "received_at": now, "updated_at": now,
         **{name: row[name] for name in _PAGE_FIELDS}}
        for row in rows if (row["doc_id"], row["rev"]) in latest], _newer_revision_wins)
    return None


def _skip_stored_revisions(insert: Any) -> Any:
    return insert.on_conflict_do_nothing(index_elements=["couch_db", "doc_id", "rev"])


def _newer_revision_wins(insert: Any) -> Any:
    table, sent = Submission.__table__, insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["couch_db", "doc_id"],
        set_={**{name: sent[name] for name in _REPLACED_FIELDS},
              "review_state": case((table.c.rev != sent.rev, "pending"),
                                   else_=table.c.review_state)},
        where=revision_number(table.c.rev) <= revision_number(sent.rev))


# What `_submission_fields` gives: the survey's columns read off its document.
_PAGE_FIELDS = ("rev", "status", "form_id", "form_version", "residential_group", "errors",
                "visited_at", "gps")
# What a newer revision replaces in a survey's row (received_at stays the first arrival's).
_REPLACED_FIELDS = (*_PAGE_FIELDS, "answers", "volunteer", "updated_at")


# The page's statement on PostgreSQL. Each column of the page's rows comes as one text,
# its values separated by ASCII's record separator, NULL as its unit separator, and
# split by `string_to_array`; each JSON value is a text read once, by the cast to json.
# As one JSON parameter unpacked by json_to_recordset, PostgreSQL lexed the whole
# parameter, then each document again where its answers were taken out; text[]
# parameters cost psycopg far more Python (figures in bench/RESULTS.md).
# JSON text never holds a raw control character (encoders escape them); a plain text
# value that holds a separator sends the page the two-statement way. SQLAlchemy renders
# no such statement, so it is SQL text (`exec_driver_sql`) with the models' column
# lists; the tests run it on every page they ingest into PostgreSQL. The photo check
# spares the ingest a query per page (the photo flags are refreshed only where there
# are photos): it sees the photos as they were before the statement, which is all there
# are, as the ingest stores a page's photos after its surveys. The inserts in WITH run
# whether or not anything reads them.
#
# The page's columns: `answers` is the survey's newest revision's, NULL for the page's
# older revisions of it (never JSON null: `handle_survey` takes only an object), so
# `answers IS NOT NULL` picks the revisions that make the survey rows; the JSON ones
# are sent as JSON text and stored as json.
_PAGE_COLUMNS = ("doc_id", "rev", "body", "answers", *_PAGE_FIELDS[1:])
_JSON_TEXT = ("body", "answers", "errors", "gps")


def _page_sql() -> str:
    separator, null = (f"E'\\x{ord(mark):02x}'" for mark in (SEPARATOR, NULL))
    split = ", ".join(f"string_to_array(%({name})s, {separator}, {null})"
                      for name in _PAGE_COLUMNS)
    survey_columns = ["couch_db", "doc_id", "volunteer", "answers", "received_at",
                      "updated_at", "review_state", *_PAGE_FIELDS]
    values = {"couch_db": "%(couch_db)s", "volunteer": "%(volunteer)s",
              "received_at": "%(now)s", "updated_at": "%(now)s",
              "review_state": "'pending'"}
    selected = ", ".join(values.get(name, f"{name}::json" if name in _JSON_TEXT else name)
                         for name in survey_columns)
    replaced = ", ".join(f"{name} = excluded.{name}" for name in _REPLACED_FIELDS)
    surveys = Submission.__tablename__
    return f"""WITH page AS (
    SELECT * FROM unnest({split}) AS page({", ".join(_PAGE_COLUMNS)})
), revisions AS (
    INSERT INTO {SubmissionRevision.__tablename__} (couch_db, doc_id, rev, body, received_at)
    SELECT %(couch_db)s, doc_id, rev, body::json, %(now)s FROM page
    ON CONFLICT (couch_db, doc_id, rev) DO NOTHING
), surveys AS (
    INSERT INTO {surveys} ({", ".join(survey_columns)})
    SELECT {selected} FROM page WHERE answers IS NOT NULL
    ON CONFLICT (couch_db, doc_id) DO UPDATE SET {replaced},
        review_state = CASE WHEN {surveys}.rev <> excluded.rev
                            THEN 'pending' ELSE {surveys}.review_state END
    WHERE {revision_number_sql(surveys + ".rev")} <= {revision_number_sql("excluded.rev")}
)
SELECT EXISTS (SELECT FROM {Photo.__tablename__}
               WHERE couch_db = %(couch_db)s AND survey_doc_id IN (SELECT doc_id FROM page))"""


_PAGE_SQL = _page_sql()


def _store_page_postgresql(couch_db: str, volunteer: str, now: datetime, rows: list[dict],
                           latest: set[tuple[str, str]]) -> bool | None:
    """`store_surveys`'s one statement on PostgreSQL (`_PAGE_SQL`); None if the
    page's values cannot be sent that way (nothing is stored then)."""
    params: dict[str, Any] = {"couch_db": couch_db, "volunteer": volunteer, "now": now}
    for name in _PAGE_COLUMNS:
        if name not in _JSON_TEXT:
            params[name] = page_column([row[name] for row in rows])
            if params[name] is None:
                return None
    params["body"] = json_column([row["body"] for row in rows])
    params["answers"] = json_column([row["body"]["answers"] if (row["doc_id"], row["rev"])
                                     in latest else None for row in rows])
    params["errors"] = json_column([row["errors"] for row in rows])
    params["gps"] = json_column([row["gps"] for row in rows])
    return bool(db.session.connection().exec_driver_sql(_PAGE_SQL, params).scalar_one())


def _submission_fields(outcome: SurveyRevision) -> dict:
    doc = outcome.doc
    return {"status": doc["status"], "form_id": doc["form_id"],
            "form_version": doc["form_version"],
            "residential_group": short_text(doc["answers"].get("residential_group"), 32),
            "errors": outcome.errors, "visited_at": short_text(doc.get("created_at"), 40),
            "gps": _survey_gps(doc)}


def short_text(value: object, limit: int) -> str | None:
    """A device-sent string fit for an indexed column, or None (the raw value stays in JSON)."""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value or (
            has_lone_surrogate(value)):
        return None
    return value


def _survey_gps(doc: dict) -> dict | None:
    """Where the visit took place: the form's geopoint answer, else the phone's fix."""
    for candidate in (doc["answers"].get("location"), doc.get("gps")):
        if isinstance(candidate, dict) and isinstance(candidate.get("lat"), int | float) \
                and isinstance(candidate.get("lon"), int | float):
            return candidate
    return None


def store_photo(outcome: PhotoReceived, volunteer: str) -> Photo:
    """The photo's row, inserted or updated (its id is known after the next flush)."""
    doc = outcome.doc
    row = db.session.execute(select(Photo).where(
        Photo.couch_db == outcome.couch_db, Photo.doc_id == doc["_id"])).scalar_one_or_none()
    fields = {"survey_doc_id": doc["survey_id"], "volunteer": volunteer,
              "sha256": outcome.sha256, "mime": outcome.mime, "width": outcome.width,
              "height": outcome.height, "phash": outcome.phash,
              "facts": {**outcome.facts, "taken_at_device": doc.get("taken_at"),
                        "gps_device": doc.get("gps"), "field": doc.get("field")},
              "deleted_rev": None}
    if row is None:
        row = Photo(couch_db=outcome.couch_db, doc_id=doc["_id"], **fields)
        db.session.add(row)
    else:
        for key, value in fields.items():
            setattr(row, key, value)
    return row


def mark_photo_deleted(outcome: PhotoDeleted) -> None:
    """Take a deleted photo out of the review and of reuse checks; its row and
    original stay, for the audit trail. A later revision brings it back."""
    db.session.execute(update(Photo).where(
        Photo.couch_db == outcome.couch_db, Photo.doc_id == outcome.doc_id,
        Photo.deleted_rev.is_(None)).values(deleted_rev=outcome.rev))
    unindex_photo(outcome.couch_db, outcome.doc_id)


def store_quarantined(outcome: Quarantined) -> None:
    # What a device sent may hold half of a UTF-16 pair, which PostgreSQL cannot
    # store: it is kept with U+FFFD in its place, in SQLite too.
    doc_id, rev = without_lone_surrogates(outcome.doc_id), without_lone_surrogates(outcome.rev)
    known = db.session.execute(select(Quarantine.id).where(
        Quarantine.couch_db == outcome.couch_db, Quarantine.doc_id == doc_id,
        Quarantine.rev == rev)).first()
    if known is None:
        db.session.add(Quarantine(couch_db=outcome.couch_db, doc_id=doc_id, rev=rev,
                                  code=outcome.code, reason_vi=outcome.vi,
                                  reason_en=outcome.en,
                                  detail=without_broken_text(outcome.detail),
                                  body=without_broken_text(
                                      json.loads(json.dumps(outcome.body, default=str)))))


def get_checkpoint(couch_db: str) -> Any:
    row = db.session.get(Checkpoint, couch_db)
    return None if row is None else row.seq["seq"]


def revision_body(couch_db: str, doc_id: str, rev: str) -> dict | None:
    return db.session.execute(select(SubmissionRevision.body).where(
        SubmissionRevision.couch_db == couch_db, SubmissionRevision.doc_id == doc_id,
        SubmissionRevision.rev == rev)).scalar_one_or_none()


def known_revisions(couch_db: str, doc_id: str) -> set[str]:
    return set(db.session.execute(select(SubmissionRevision.rev).where(
        SubmissionRevision.couch_db == couch_db,
        SubmissionRevision.doc_id == doc_id)).scalars())


def pending_merges() -> list[Merge]:
    return list(db.session.execute(select(Merge).where(Merge.state == "pending")
                                   .order_by(Merge.id)).scalars())


def get_merge(merge_id: int) -> Merge | None:
    return db.session.get(Merge, merge_id)


def merges_for(couch_db: str, doc_id: str) -> list[Merge]:
    return list(db.session.execute(select(Merge).where(
        Merge.couch_db == couch_db, Merge.doc_id == doc_id).order_by(Merge.id)).scalars())


def written_merges(couch_db: str, doc_id: str) -> list[Merge]:
    return list(db.session.execute(select(Merge).where(
        Merge.couch_db == couch_db, Merge.doc_id == doc_id, Merge.state == "written",
        Merge.merged_rev.is_not(None))).scalars())


def database_troubles() -> dict[str, bool]:
    """Databases with strikes against them, each with whether it is held."""
    return {row.couch_db: row.held_at is not None
            for row in db.session.execute(select(HeldDatabase)).scalars()}


def strike_db(couch_db: str, reason: str, strikes_to_hold: int) -> bool:
    """Count a stop of the server while `couch_db` was read; whether it is now held."""
    row = db.session.get(HeldDatabase, couch_db)
    if row is None:
        row = HeldDatabase(couch_db=couch_db, strikes=0, reason="")
        db.session.add(row)
    row.strikes += 1
    row.reason = reason[:2000]
    row.updated_at = utcnow()
    if row.held_at is None and row.strikes >= strikes_to_hold:
        row.held_at = utcnow()
        audit("ingest", "database.held", couch_db, strikes=row.strikes, reason=row.reason)
    return row.held_at is not None


def clear_db(couch_db: str) -> bool:
    """Forget the strikes against `couch_db` (and release it); whether there were any."""
    row = db.session.get(HeldDatabase, couch_db)
    if row is not None:
        db.session.delete(row)
    return row is not None


def held_databases() -> list[HeldDatabase]:
    return list(db.session.execute(select(HeldDatabase).where(
        HeldDatabase.held_at.is_not(None)).order_by(HeldDatabase.held_at)).scalars())


def is_held(couch_db: str) -> bool:
    return db.session.execute(select(HeldDatabase.couch_db).where(
        HeldDatabase.couch_db == couch_db, HeldDatabase.held_at.is_not(None))).first() is not None
