"""Photo: the one image a photo document carries is fetched, checked and processed
(`media.pipeline`), and its files put in the photo store; the row follows."""

from __future__ import annotations

from media.pipeline import PhotoRejected, process_photo
from media.store import put_photo
from sync.ingest.outcomes import (
    Handled,
    PhotoReceived,
    quarantine,
    reason,
    without_attachments,
)
from sync.ingest.steps.bad_id import DOC_ID

NAME = "photo"


def accepts(change) -> bool:
    return change.doc.get("type") == "photo"


def run(change, context) -> list[Handled]:
    couch_db, doc = change.couch_db, change.doc
    attachments = doc.get("_attachments") or {}
    survey_id = doc.get("survey_id")
    if not isinstance(survey_id, str) or not DOC_ID.match(survey_id) or len(attachments) != 1:
        return [quarantine(couch_db, doc, "malformed", reason("photo_shape"))]
    name = next(iter(attachments))
    body = without_attachments(doc)
    if not isinstance(name, str) or name in (".", "..") or name.startswith("_") or "/" in name:
        return [quarantine(couch_db, body, "malformed", reason("photo_file_name"),
                           attachment=str(name)[:100])]
    data = context.couch.attachment(couch_db, doc["_id"], name, doc["_rev"])
    try:
        processed = process_photo(data, limits=context.limits)
    except PhotoRejected as err:
        return [quarantine(couch_db, body, err.code, (err.vi, err.en), attachment=name)]
    put_photo(context.photos, data, processed.preview, processed.thumbnail)
    return [PhotoReceived(couch_db, body, processed.sha256, processed.mime, processed.width,
                          processed.height, processed.phash, processed.facts())]
