"""Bad id: what the phone writes is `survey:<uuid>` or `photo:<uuid>` with a matching
`type` (docs/contracts.md); anything else is kept for inspection."""

from __future__ import annotations

import re

from sync.ingest.outcomes import Handled, quarantine, reason

NAME = "bad id"

DOC_ID = re.compile(r"^(survey|photo):[A-Za-z0-9._\-]{1,100}$")


def accepts(change) -> bool:
    return not DOC_ID.match(change.id) or not change.id.startswith(f"{change.doc.get('type')}:")


def run(change, context) -> list[Handled]:
    return [quarantine(change.couch_db, change.doc, "bad_id", reason("bad_id"))]
