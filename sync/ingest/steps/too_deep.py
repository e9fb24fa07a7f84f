"""Too deep: a document nested deeper than any form's answers can be is kept, cut.

JSON readers give up at about a thousand levels, and a page nests a few more
around each document; one the client could not read at all comes as
`unreadable` with an excerpt.
"""

from __future__ import annotations

from forms.model import nested_deeper_than
from sync.couch import first_rev
from sync.ingest.outcomes import KEPT_DEPTH, Handled, cut, quarantine, reason

NAME = "too deep"


def accepts(change) -> bool:
    return "unreadable" in change.row or (change.doc is not None
                                          and nested_deeper_than(change.doc, KEPT_DEPTH))


def run(change, context) -> list[Handled]:
    if "unreadable" in change.row:
        body = {"_id": change.id, "_rev": first_rev(change.row),
                "excerpt": change.row["unreadable"]}
    else:
        body = cut(change.doc, KEPT_DEPTH)
    return [quarantine(change.couch_db, body, "too_deep", reason("too_deep"))]
