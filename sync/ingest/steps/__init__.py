"""The ingest's steps: each change goes to the first step that accepts it.

Like CHT's sentinel transitions, each step is a small module with a `NAME`,
`accepts(change)` (a cheap look at the change alone) and `run(change,
context)` (what it does, returning outcomes; never raising for a bad
document: that is a `Quarantined` outcome). The order below is the order
they are asked in; a change no step accepts leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from media.pipeline import Limits
from media.store import PhotoStore
from sync.couch import AdminRefused, Couch, CouchError
from sync.ingest.outcomes import (
    Handled,
    StoreUnavailable,
    internal_error,
    quarantine,
    reason,
    without_attachments,
)
from sync.ingest.store import IngestStore

log = logging.getLogger("sync.ingest")


@dataclass(frozen=True)
class Change:
    """One row of a database's `_changes` feed, as the steps see it."""

    couch_db: str
    row: dict

    @property
    def id(self) -> str:
        return self.row.get("id", "")

    @property
    def doc(self) -> dict | None:
        return self.row.get("doc")

    def body(self) -> dict:
        """What a quarantine keeps: the document (or its id), without attachments."""
        return without_attachments(self.doc or {"_id": self.id})


@dataclass(frozen=True)
class Context:
    """What the steps may use besides the change."""

    couch: Couch
    store: IngestStore
    photos: PhotoStore
    limits: Limits


from sync.ingest.steps import (  # noqa: E402  (the steps use Change and Context)
    bad_id,
    conflicted_survey,
    deleted,
    feedback_guard,
    not_ours,
    photo,
    survey,
    too_deep,
)

STEPS: tuple[ModuleType, ...] = (too_deep, feedback_guard, not_ours, deleted, bad_id,
                                 conflicted_survey, survey, photo)


def handle_change(change: Change, context: Context) -> list[Handled]:
    """One change in, its outcomes out; nothing for what the ingest skips."""
    for step in STEPS:
        if step.accepts(change):
            return step.run(change, context)
    return []


def handled(change: Change, context: Context) -> list[Handled]:
    """`handle_change`, with an unexpected error recorded as a quarantine, not thrown."""
    try:
        return handle_change(change, context)
    except CouchError as err:
        if err.status is None or err.status >= 500 or isinstance(err, AdminRefused):
            raise
        # CouchDB refuses this document's parts for good (e.g. an attachment it
        # cannot serve): record it, do not retry it forever.
        return [quarantine(change.couch_db, change.body(), "couch_refused",
                           reason("couch_refused"), status=err.status, error=str(err)[:300])]
    except (StoreUnavailable, OSError):
        raise
    except Exception as err:
        log.exception("ingest: error handling %s in %s", change.id, change.couch_db)
        return [internal_error(change.couch_db, change.body(), repr(err)[:500])]


def handle_rows(rows: list[dict[str, Any]], couch_db: str, context: Context) -> list[Handled]:
    """Every change of a page, handled in order."""
    return [outcome for row in rows for outcome in handled(Change(couch_db, row), context)]
