"""The SQL side of the ingest: the `IngestStore` that `sync.ingest` writes through.

`apply` writes a page of outcomes, refreshes the photo flags of the surveys
the page touched, and saves the database's new checkpoint, all in one
transaction: a crash before the commit replays the page, after it nothing is
left to do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask.ctx import AppContext

from forms.submission import CompiledForm, compile_form
from server.actions.photos import refresh_flags
from server.actions.reviews import expected_feedback
from server.errors import DATABASE_UNAVAILABLE
from server.models import db, utcnow
from server.queries import ingest as q
from server.queries.audit import audit
from server.queries.forms import get_form_version
from server.queries.photo_index import index_photos
from server.queries.users import active_volunteer_dbs, volunteer_by_db
from sync.conflicts import MergeNeeded, PendingMerge
from sync.ingest import (
    STRIKES_TO_HOLD,
    Outcome,
    PhotoDeleted,
    PhotoReceived,
    Quarantined,
    StoreUnavailable,
    SurveyRevision,
)

MARK_OVERLAP = timedelta(seconds=3)


def _reachable(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DATABASE_UNAVAILABLE as err:
            db.session.rollback()
            raise StoreUnavailable(str(err)[:300]) from err
    return wrapper


class SqlIngestStore:
    def __init__(self) -> None:
        self._forms: dict[tuple[str, str], CompiledForm] = {}
        self._owners: dict[str, str] = {}  # volunteer database -> username, which never changes

    @_reachable
    def volunteer_dbs(self) -> list[str]:
        return active_volunteer_dbs()

    def thread_context(self) -> AppContext:
        # Each app context has a session of its own: the committer thread's
        # writes never share a connection with the ingest thread's reads.
        return current_app._get_current_object().app_context()

    @_reachable
    def checkpoint(self, couch_db: str) -> Any:
        seq = q.get_checkpoint(couch_db)
        db.session.commit()  # end the read: another thread commits pages next
        return seq

    @_reachable
    def form(self, form_id: str, version: str) -> CompiledForm | None:
        # A published version never changes, so it is compiled once per store.
        key = (form_id, version)
        if key not in self._forms:
            row = get_form_version(form_id, version)
            definition = row.definition if row is not None else None
            db.session.commit()  # end the read: another thread commits pages
            if definition is None:
                return None  # not cached: it may be published later
            self._forms[key] = compile_form(definition)
        return self._forms[key]

    @_reachable
    def apply(self, couch_db: str, outcomes: list[Outcome], last_seq: Any) -> None:
        # Whose survey it is comes from the database it is in, never from the device.
        volunteer = self._owner(couch_db)
        surveys = [outcome for outcome in outcomes if isinstance(outcome, SurveyRevision)]
        touched = {outcome.doc["_id"] for outcome in surveys}
        photos = []
        try:
            with db.session.no_autoflush:
                surveys_have_photos = q.store_surveys(couch_db, surveys, volunteer)
                for outcome in outcomes:
                    if isinstance(outcome, PhotoReceived):
                        photos.append(q.store_photo(outcome, volunteer))
                        touched.add(outcome.doc["survey_id"])
                        surveys_have_photos = True
                    elif isinstance(outcome, PhotoDeleted):
                        q.mark_photo_deleted(outcome)
                    elif isinstance(outcome, Quarantined):
                        q.store_quarantined(outcome)
                    elif isinstance(outcome, MergeNeeded):
                        q.store_merge(outcome)
            db.session.flush()
            index_photos([(photo.id, photo.phash) for photo in photos])
            if surveys_have_photos is not False:  # else there are no flags to refresh
                refresh_flags(couch_db, sorted(touched))
            q.save_checkpoint(couch_db, last_seq)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise

    def _owner(self, couch_db: str) -> str:
        if couch_db not in self._owners:
            owner = volunteer_by_db(couch_db)
            if owner is None:
                return ""  # not cached: the account may be created later
            self._owners[couch_db] = owner.username
        return self._owners[couch_db]

    @_reachable
    def expected_feedback(self, couch_db: str, survey_id: str) -> dict | None:
        fields = expected_feedback(couch_db, survey_id)
        db.session.commit()  # end the read: another thread commits pages
        return fields

    @_reachable
    def troubles(self) -> dict[str, bool]:
        troubles = q.database_troubles()
        db.session.commit()
        return troubles

    @_reachable
    def strike(self, couch_db: str, reason: str) -> bool:
        held = q.strike_db(couch_db, reason, STRIKES_TO_HOLD)
        db.session.commit()
        return held

    @_reachable
    def clear(self, couch_db: str) -> None:
        q.clear_db(couch_db)
        db.session.commit()

    @_reachable
    def touched_since(self, marker: datetime | None) -> tuple[list[str], datetime]:
        # Clocks of web and worker processes differ a little, and a mark may be
        # committed just after it was read: look back a little further.
        now = utcnow()
        dbs = q.touched_since(marker, MARK_OVERLAP)
        db.session.commit()
        return dbs, now

    @_reachable
    def revision_body(self, couch_db: str, doc_id: str, rev: str) -> dict | None:
        return q.revision_body(couch_db, doc_id, rev)

    @_reachable
    def known_revisions(self, couch_db: str, doc_id: str) -> set[str]:
        return q.known_revisions(couch_db, doc_id)

    @_reachable
    def merge_ancestry(self, couch_db: str, doc_id: str) -> dict[str, set[str]]:
        return {row.merged_rev: set(row.merged_from)
                for row in q.written_merges(couch_db, doc_id)}

    @_reachable
    def pending_merges(self) -> list[PendingMerge]:
        return [PendingMerge(row.id, row.couch_db, row.doc_id, tuple(row.leaf_revs.split(",")),
                             row.merged, row.winner_rev, tuple(row.losing_revs))
                for row in q.pending_merges()]

    @_reachable
    def finish_merge(self, key: int, state: str, merged_rev: str | None) -> None:
        row = q.get_merge(key)
        row.state = state
        row.merged_rev = merged_rev
        audit("ingest", f"merge.{state}", row.doc_id, merged_rev=merged_rev,
              leaf_revs=row.leaf_revs)
        db.session.commit()
