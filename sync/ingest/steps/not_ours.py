"""Not ours: design documents (the server's) and changes without a document are skipped."""

from __future__ import annotations

from sync.ingest.outcomes import Handled

NAME = "not ours"


def accepts(change) -> bool:
    return change.doc is None or change.id.startswith("_design/")


def run(change, context) -> list[Handled]:
    return []
