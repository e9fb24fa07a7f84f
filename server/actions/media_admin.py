"""Re-deriving every photo from its stored original, e.g. after a change of sizes."""

from __future__ import annotations

from collections.abc import Iterator

from media.pipeline import Limits, PhotoRejected, process_photo
from media.store import PhotoMissing
from server import services
from server.actions.auth import Actor, require_role
from server.actions.photos import refresh_flags
from server.queries.audit import audit
from server.queries.submissions import all_photo_ids, get_photo


def reprocess_photos(actor: Actor, limits: Limits) -> Iterator[tuple[int, str | None]]:
    """Re-derive each photo; yield (photo id, problem or None) as it goes.

    Each photo is its own unit of work: the caller commits after each step,
    so an interrupted run keeps what it finished and can simply be run again.
    """
    require_role(actor, "admin")
    store = services.photo_store()
    for photo_id in all_photo_ids():
        photo = get_photo(photo_id)
        try:
            processed = process_photo(store.get(photo.sha256), limits=limits)
        except (PhotoMissing, PhotoRejected) as err:
            yield photo_id, str(err)
            continue
        store.put_derivative(processed.sha256, "preview", processed.preview)
        store.put_derivative(processed.sha256, "thumbnail", processed.thumbnail)
        extras = {k: v for k, v in photo.facts.items() if k.endswith("_device") or k == "field"}
        photo.facts = {**processed.facts(), **extras}
        photo.phash = processed.phash
        photo.width, photo.height = processed.width, processed.height
        refresh_flags(photo.couch_db, photo.survey_doc_id)
        yield photo_id, None
    audit(actor.username, "media.reprocess", "photos")
