"""Draining many databases: one at a time, none of them able to stop the others.

A database whose reading stopped the CouchDB-API server (PouchDB Server dies
on some broken revision trees) gets a strike; after `STRIKES_TO_HOLD` in a
row it is held and skipped until an administrator releases it, and the
others go on being read. A database CouchDB refuses to serve this turn is
skipped this turn.
"""

from __future__ import annotations

import logging
from enum import Enum

from media.pipeline import Limits
from media.store import PhotoStore
from sync.conflicts import write_back_merges
from sync.couch import AdminRefused, Couch, CouchError
from sync.ingest.pipeline import IN_PROCESS, PAGE_SIZE, ingest_db
from sync.ingest.store import DatabaseQueue, IngestStore, LeaseLost
from sync.validation import Validator

log = logging.getLogger("sync.ingest")

# Stops of the server in a row while one database was read before it is held: one
# could be a coincidence (a restart), two on the same database are not.
STRIKES_TO_HOLD = 2

# How long a database CouchDB would not serve waits before a worker tries it again.
RETRY_SECONDS = 30.0


class Drained(Enum):
    READ = "read"  # read to its end
    SKIPPED = "skipped"  # CouchDB would not serve it this turn
    TAKEN = "taken"  # another worker took it over


def drain(couch: Couch, store: IngestStore, queue: DatabaseQueue, photos: PhotoStore,
          couch_db: str, limits: Limits, page_size: int,
          validator: Validator) -> tuple[Drained, int]:
    """Read one database to its end; (what came of it, changes handled).

    Raises what no other database would fare better with: a refused admin
    credential, the store out of reach, the server stopping while this database
    was read (a strike is counted against it first).
    """
    try:
        return Drained.READ, ingest_db(couch, store, photos, couch_db, limits, page_size,
                                       validator)
    except AdminRefused:
        raise  # no database can be read: not this one's fault
    except LeaseLost:
        log.warning("ingest: %s was taken over by another worker (this one stalled)", couch_db)
        return Drained.TAKEN, 0
    except CouchError as err:
        if err.status is None and not _answers(couch):
            _strike(queue, couch_db, err)
            raise CouchError(None, f"the server stopped while {couch_db} was read") from err
        # One database CouchDB cannot serve must not hold up the others.
        log.warning("ingest: %s skipped this turn: %s", couch_db, err)
        return Drained.SKIPPED, 0


def ingest_dbs(couch: Couch, store: IngestStore, photos: PhotoStore, limits: Limits,
               dbs: list[str], page_size: int = PAGE_SIZE,
               validator: Validator = IN_PROCESS, queue: DatabaseQueue | None = None) -> int:
    """Drain the given databases; return the number of changes handled.

    `queue` (the store itself where not given) keeps the strikes; held
    databases are skipped.
    """
    queue = queue if queue is not None else store  # type: ignore[assignment]
    total = write_back_merges(couch, store)
    troubles = queue.troubles() if dbs else {}
    dbs = [couch_db for couch_db in dbs if not troubles.get(couch_db)]
    if dbs:
        couch.server_info()  # up before the first read: a stop during one is that one's
    skipped = 0
    for couch_db in dbs:
        drained, handled = drain(couch, store, queue, photos, couch_db, limits, page_size,
                                 validator)
        total += handled
        skipped += drained is Drained.SKIPPED
        if drained is Drained.READ and couch_db in troubles:
            queue.clear(couch_db)
    if skipped and skipped == len(dbs):
        raise CouchError(None, f"no volunteer database could be read ({skipped})")
    return total


def ingest_all(couch: Couch, store: IngestStore, photos: PhotoStore, limits: Limits,
               page_size: int = PAGE_SIZE, validator: Validator = IN_PROCESS,
               queue: DatabaseQueue | None = None) -> int:
    """Drain every volunteer database once; return the number of changes handled."""
    queue = queue if queue is not None else store  # type: ignore[assignment]
    return ingest_dbs(couch, store, photos, limits, queue.volunteer_dbs(), page_size,
                      validator, queue)


def ingest_claimed(couch: Couch, store: IngestStore, queue: DatabaseQueue, photos: PhotoStore,
                   limits: Limits, batch: int, page_size: int = PAGE_SIZE,
                   validator: Validator = IN_PROCESS) -> tuple[int, int]:
    """Claim up to `batch` databases with news and drain each; (claimed, changes handled).

    A claimed database is given back whatever happens: read, skipped (tried
    again after `RETRY_SECONDS`), or on an error that stops this turn (at once,
    so another worker may take it).
    """
    claimed = queue.claim(batch)
    if not claimed:
        return 0, 0
    waiting = list(claimed)
    try:
        total = write_back_merges(couch, store)
        couch.server_info()  # up before the first read: a stop during one is that one's
        troubles = queue.troubles()
        while waiting:
            couch_db = waiting[0]
            drained, handled = drain(couch, store, queue, photos, couch_db, limits, page_size,
                                     validator)
            waiting.pop(0)
            total += handled
            if drained is Drained.READ:
                queue.done(couch_db)
                if couch_db in troubles:
                    queue.clear(couch_db)
            elif drained is Drained.SKIPPED:
                queue.give_back(couch_db, RETRY_SECONDS)
    finally:
        for couch_db in waiting:
            queue.give_back(couch_db, 0)
    return len(claimed), total


def _answers(couch: Couch) -> bool:
    try:
        couch.server_info()
        return True
    except CouchError:
        return False


def _strike(queue: DatabaseQueue, couch_db: str, err: CouchError) -> None:
    held = queue.strike(couch_db, str(err)[:500])
    if held:
        log.error("ingest: %s is held: the CouchDB-API server stopped while reading it "
                  "%d times in a row; the other databases go on. Check it, then "
                  "`sotay ingest release %s`", couch_db, STRIKES_TO_HOLD, couch_db)
    else:
        log.warning("ingest: the CouchDB-API server stopped while %s was read (%s)",
                    couch_db, err)
