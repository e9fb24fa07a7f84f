"""Deleted: a photo the volunteer removed leaves the review; other deletions (a
discarded draft) leave nothing to undo."""

from __future__ import annotations

from sync.ingest.outcomes import Handled, PhotoDeleted, key_text

NAME = "deleted"


def accepts(change) -> bool:
    return bool(change.doc.get("_deleted"))


def run(change, context) -> list[Handled]:
    if change.id.startswith("photo:"):
        return [PhotoDeleted(change.couch_db, key_text(change.id),
                             key_text(change.doc.get("_rev", "")))]
    return []
