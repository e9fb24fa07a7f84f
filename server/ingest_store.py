"""The SQL side of the ingest: the `IngestStore` and `DatabaseQueue` that
`sync.ingest` works through.

`apply` writes a page of outcomes, refreshes the photo flags of the surveys
the page touched, and saves the database's new checkpoint, all in one
transaction: a crash before the commit replays the page, after it nothing is
left to do. Every method runs in a transaction of its own, in an app context
of its own, so any of the ingest's threads may call any of them.

The queue's leases belong to this store's `worker_id`. `apply` on a
database this store claimed renews the lease in the same transaction, or
stores nothing if another worker has taken the database over.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

from forms.submission import CompiledForm, compile_form
from server.actions.photos import refresh_flags
from server.actions.reviews import expected_feedback
from server.errors import DATABASE_UNAVAILABLE
from server.models import db, utcnow
from server.queries import ingest as q
from server.queries import ingest_queue as queue
from server.queries.audit import audit
from server.queries.forms import get_form_version
from server.queries.photo_index import index_photos
from server.queries.users import active_volunteer_dbs, volunteer_by_db
from server.transaction import transacting
from sync.conflicts import MergeNeeded, PendingMerge
from sync.ingest import (
    STRIKES_TO_HOLD,
    LeaseLost,
    Outcome,
    PhotoDeleted,
    PhotoReceived,
    Quarantined,
    StoreUnavailable,
    SurveyRevision,
)

# How long a worker's claim on a database lasts unless renewed (every few seconds
# while the worker lives): after a worker dies, its databases wait this long.
LEASE_SECONDS = 60.0


def _transaction(method: Callable) -> Callable:
    """Run `method` in an app context and a transaction of its own: committed if it
    returns, rolled back if it raises; SQL out of reach is `StoreUnavailable`."""
    @functools.wraps(method)
    def wrapper(self: SqlIngestStore, *args: Any, **kwargs: Any) -> Any:
        with self.app.app_context():
            try:
                with transacting():
                    return method(self, *args, **kwargs)
            except DATABASE_UNAVAILABLE as err:
                raise StoreUnavailable(str(err)[:300]) from err
    return wrapper


def _running(owner: str) -> bool:
    """Whether the process named in a lease owner (`host:pid:random`) on this machine runs."""
    try:
        pid = int(owner.split(":")[1])
    except (IndexError, ValueError):
        return True  # not ours to judge: its lease runs out
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqlIngestStore:
    def __init__(self, app: Flask | None = None, worker_id: str | None = None,
                 lease_seconds: float | None = None) -> None:
        self.app = app if app is not None else current_app._get_current_object()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:" \
                                      f"{secrets.token_hex(3)}"
        seconds = lease_seconds if lease_seconds is not None else self.app.config.get(
            "INGEST_LEASE_SECONDS", LEASE_SECONDS)
        self.lease = timedelta(seconds=seconds)
        self._forms: dict[tuple[str, str], CompiledForm] = {}
        self._owners: dict[str, str] = {}  # volunteer database -> username, which never changes
        self._claimed: set[str] = set()

    # -- IngestStore ----------------------------------------------------------

    @_transaction
    def checkpoint(self, couch_db: str) -> Any:
        return q.get_checkpoint(couch_db)

    def form(self, form_id: str, version: str) -> CompiledForm | None:
        # A published version never changes, so it is compiled once per store.
        key = (form_id, version)
        if key not in self._forms:
            definition = self._form_definition(form_id, version)
            if definition is None:
                return None  # not cached: it may be published later
            self._forms[key] = compile_form(definition)
        return self._forms[key]

    @_transaction
    def _form_definition(self, form_id: str, version: str) -> dict | None:
        row = get_form_version(form_id, version)
        return row.definition if row is not None else None

    @_transaction
    def apply(self, couch_db: str, outcomes: list[Outcome], last_seq: Any) -> None:
        if couch_db in self._claimed and not queue.renew_lease(couch_db, self.worker_id,
                                                               self.lease):
            raise LeaseLost(couch_db)
        # Whose survey it is comes from the database it is in, never from the device.
        volunteer = self._owner(couch_db)
        surveys = [outcome for outcome in outcomes if isinstance(outcome, SurveyRevision)]
        touched = {outcome.doc["_id"] for outcome in surveys}
        photos = []
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

    def _owner(self, couch_db: str) -> str:
        if couch_db not in self._owners:
            owner = volunteer_by_db(couch_db)
            if owner is None:
                return ""  # not cached: the account may be created later
            self._owners[couch_db] = owner.username
        return self._owners[couch_db]

    @_transaction
    def expected_feedback(self, couch_db: str, survey_id: str) -> dict | None:
        return expected_feedback(couch_db, survey_id)

    # -- MergeStore -----------------------------------------------------------

    @_transaction
    def revision_body(self, couch_db: str, doc_id: str, rev: str) -> dict | None:
        return q.revision_body(couch_db, doc_id, rev)

    @_transaction
    def known_revisions(self, couch_db: str, doc_id: str) -> set[str]:
        return q.known_revisions(couch_db, doc_id)

    @_transaction
    def merge_ancestry(self, couch_db: str, doc_id: str) -> dict[str, set[str]]:
        return {row.merged_rev: set(row.merged_from)
                for row in q.written_merges(couch_db, doc_id)}

    @_transaction
    def pending_merges(self) -> list[PendingMerge]:
        return [PendingMerge(row.id, row.couch_db, row.doc_id, tuple(row.leaf_revs.split(",")),
                             row.merged, row.winner_rev, tuple(row.losing_revs))
                for row in q.pending_merges()]

    @_transaction
    def finish_merge(self, key: int, state: str, merged_rev: str | None) -> None:
        row = q.get_merge(key)
        row.state = state
        row.merged_rev = merged_rev
        audit("ingest", f"merge.{state}", row.doc_id, merged_rev=merged_rev,
              leaf_revs=row.leaf_revs)

    # -- DatabaseQueue --------------------------------------------------------

    @_transaction
    def volunteer_dbs(self) -> list[str]:
        return active_volunteer_dbs()

    @_transaction
    def notice(self, couch_dbs: list[str]) -> None:
        queue.touch_dbs(queue.volunteer_dbs_among(couch_dbs))

    @_transaction
    def claim(self, limit: int) -> list[str]:
        claimed = queue.claim_dbs(self.worker_id, limit, self.lease)
        self._claimed.update(claimed)
        return claimed

    @_transaction
    def done(self, couch_db: str) -> None:
        self._claimed.discard(couch_db)
        queue.finish_db(couch_db, self.worker_id)

    @_transaction
    def give_back(self, couch_db: str, retry_seconds: float) -> None:
        self._claimed.discard(couch_db)
        queue.give_back_db(couch_db, self.worker_id, timedelta(seconds=retry_seconds))

    @_transaction
    def troubles(self) -> dict[str, bool]:
        return q.database_troubles()

    @_transaction
    def strike(self, couch_db: str, reason: str) -> bool:
        return q.strike_db(couch_db, reason, STRIKES_TO_HOLD)

    @_transaction
    def clear(self, couch_db: str) -> None:
        q.clear_db(couch_db)

    @_transaction
    def sweep_due(self, every_seconds: float) -> bool:
        return queue.take_sweep_turn(timedelta(seconds=every_seconds))

    @_transaction
    def recover(self) -> list[str]:
        host = socket.gethostname()
        stopped = [owner for owner in queue.lease_owners_like(f"{host}:")
                   if owner != self.worker_id and not _running(owner)]
        return queue.release_leases_of(stopped)

    @_transaction
    def report(self, mode: str, detail: str = "") -> None:
        queue.renew_leases(self.worker_id, self.lease)
        queue.report_worker(self.worker_id, socket.gethostname(), os.getpid(), mode, detail)
        queue.forget_workers(utcnow() - timedelta(days=1))
