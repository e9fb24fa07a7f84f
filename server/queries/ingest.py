"""The ingest's SQL side: the `IngestStore` that `sync.ingest` writes through.

`apply` writes a page of outcomes and the database's new checkpoint in one
transaction. Every write is keyed by (database, document, revision), so a
page replayed after a crash changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from server.models import (
    Checkpoint,
    Photo,
    Quarantine,
    Submission,
    SubmissionRevision,
    db,
    utcnow,
)
from server.queries.forms import get_form_version
from server.queries.submissions import get_submission_by_doc
from server.queries.users import active_volunteer_dbs
from sync.ingest import Outcome, PhotoReceived, Quarantined, SurveyRevision


def _revision_number(rev: str) -> int:
    head = rev.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


class SqlIngestStore:
    def volunteer_dbs(self) -> list[str]:
        return active_volunteer_dbs()

    def checkpoint(self, couch_db: str) -> Any:
        row = db.session.get(Checkpoint, couch_db)
        return None if row is None else row.seq["seq"]

    def form_definition(self, form_id: str, version: str) -> dict | None:
        row = get_form_version(form_id, version)
        return None if row is None else row.definition

    def apply(self, couch_db: str, outcomes: list[Outcome], last_seq: Any) -> None:
        try:
            for outcome in outcomes:
                if isinstance(outcome, SurveyRevision):
                    _store_survey(outcome)
                elif isinstance(outcome, PhotoReceived):
                    _store_photo(outcome)
                elif isinstance(outcome, Quarantined):
                    _store_quarantined(outcome)
            _save_checkpoint(couch_db, last_seq)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


def _save_checkpoint(couch_db: str, seq: Any) -> None:
    row = db.session.get(Checkpoint, couch_db)
    if row is None:
        db.session.add(Checkpoint(couch_db=couch_db, seq={"seq": seq}))
    else:
        row.seq = {"seq": seq}
        row.updated_at = utcnow()


def _store_survey(outcome: SurveyRevision) -> None:
    doc = outcome.doc
    rev = doc["_rev"]
    known = db.session.execute(select(SubmissionRevision.id).where(
        SubmissionRevision.couch_db == outcome.couch_db, SubmissionRevision.doc_id == doc["_id"],
        SubmissionRevision.rev == rev)).first()
    if known is None:
        db.session.add(SubmissionRevision(couch_db=outcome.couch_db, doc_id=doc["_id"], rev=rev,
                                          body=json.loads(json.dumps(doc))))
    current = get_submission_by_doc(outcome.couch_db, doc["_id"])
    if current is not None and _revision_number(current.rev) > _revision_number(rev):
        return
    fields = {"rev": rev, "status": doc["status"], "form_id": doc["form_id"],
              "form_version": doc["form_version"], "answers": doc["answers"],
              "residential_group": doc["answers"].get("residential_group"),
              "volunteer": str(doc.get("volunteer", "")), "errors": outcome.errors,
              "updated_at": utcnow()}
    if current is None:
        db.session.add(Submission(couch_db=outcome.couch_db, doc_id=doc["_id"], **fields))
        return
    if current.rev != rev:
        fields["review_state"] = "pending"
    for key, value in fields.items():
        setattr(current, key, value)


def _store_photo(outcome: PhotoReceived) -> None:
    doc = outcome.doc
    row = db.session.execute(select(Photo).where(
        Photo.couch_db == outcome.couch_db, Photo.doc_id == doc["_id"])).scalar_one_or_none()
    fields = {"survey_doc_id": doc["survey_id"], "volunteer": str(doc.get("volunteer", "")),
              "sha256": outcome.sha256, "mime": outcome.mime, "width": outcome.width,
              "height": outcome.height, "phash": outcome.phash,
              "facts": {**outcome.facts, "taken_at_device": doc.get("taken_at"),
                        "gps_device": doc.get("gps"), "field": doc.get("field")}}
    if row is None:
        db.session.add(Photo(couch_db=outcome.couch_db, doc_id=doc["_id"], **fields))
    else:
        for key, value in fields.items():
            setattr(row, key, value)


def _store_quarantined(outcome: Quarantined) -> None:
    known = db.session.execute(select(Quarantine.id).where(
        Quarantine.couch_db == outcome.couch_db, Quarantine.doc_id == outcome.doc_id,
        Quarantine.rev == outcome.rev)).first()
    if known is None:
        db.session.add(Quarantine(couch_db=outcome.couch_db, doc_id=outcome.doc_id,
                                  rev=outcome.rev, code=outcome.code, reason_vi=outcome.vi,
                                  reason_en=outcome.en, detail=outcome.detail,
                                  body=json.loads(json.dumps(outcome.body, default=str))))
