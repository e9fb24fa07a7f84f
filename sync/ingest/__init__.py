"""The ingest: follow every volunteer database's changes and turn them into rows.

- `steps/`: what happens to one change (feedback guard, too deep, not ours,
  deleted, bad id, conflicted survey, survey, photo), each a small module.
- `outcomes`: what the steps produce; nothing is thrown for a bad document.
- `pipeline`: one database drained page by page, reading, handling,
  validating and committing overlapping, each page committed with its
  checkpoint in one transaction.
- `databases`: many databases drained, one unable to stop the others.
- `following`: the worker's loop: news from the gateway's marks, `_db_updates`
  and sweeps; databases leased to one worker at a time.
- `store`: the two narrow interfaces the relational side implements
  (`server/ingest_store.py` over SQL, `memory` in memory for tests).

`sync/` never imports `server/`.
"""

from sync.ingest.databases import STRIKES_TO_HOLD, ingest_all, ingest_claimed, ingest_dbs
from sync.ingest.following import DB_UPDATES, MARKS, RETRYING, News, follow
from sync.ingest.outcomes import (
    KEPT_DEPTH,
    Outcome,
    PhotoDeleted,
    PhotoReceived,
    Quarantined,
    StoreUnavailable,
    SurveyRevision,
    Unvalidated,
)
from sync.ingest.pipeline import PAGE_SIZE, ReadAhead, ingest_db
from sync.ingest.store import DatabaseQueue, IngestStore, LeaseLost

__all__ = ["DB_UPDATES", "KEPT_DEPTH", "MARKS", "PAGE_SIZE", "RETRYING", "STRIKES_TO_HOLD",
           "DatabaseQueue", "IngestStore", "LeaseLost", "News", "Outcome", "PhotoDeleted",
           "PhotoReceived", "Quarantined", "ReadAhead", "StoreUnavailable", "SurveyRevision",
           "Unvalidated", "follow", "ingest_all", "ingest_claimed", "ingest_db", "ingest_dbs"]
