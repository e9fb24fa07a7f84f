"""Feedback guard: put the server's feedback back if the phone changed, deleted or forged it.

Feedback documents are the server's: the gateway refuses a phone's direct
write to one, but a `_bulk_docs` push can still carry one. Whatever the
phone wrote is kept in quarantine for inspection.
"""

from __future__ import annotations

from sync.ingest.outcomes import Handled, quarantine, reason, without_attachments
from sync.provision import FEEDBACK_PREFIX, is_server_feedback, restore_feedback

NAME = "feedback guard"


def accepts(change) -> bool:
    return change.doc is not None and change.id.startswith(FEEDBACK_PREFIX)


def run(change, context) -> list[Handled]:
    doc = change.doc
    expected = context.store.expected_feedback(change.couch_db,
                                               change.id[len(FEEDBACK_PREFIX):])
    if is_server_feedback(doc, expected):
        return []
    if doc.get("_deleted") and expected is None and not doc.get("_conflicts"):
        return []  # nothing to give, nothing there
    restore_feedback(context.couch, change.couch_db, change.id, expected)
    return [quarantine(change.couch_db, without_attachments(doc), "forged_feedback",
                       reason("forged_feedback"))]
