"""Re-deriving every photo from its stored original, e.g. after a change of sizes."""

from __future__ import annotations

from collections.abc import Iterator

from media.pipeline import Limits
from media.problems import PhotoRejected
from media.reprocess import reprocess
from messages import both
from server import services
from server.actions.auth import Actor, require_role
from server.actions.photos import refresh_flags
from server.queries.audit import audit
from server.queries.photo_index import index_photos
from server.queries.submissions import all_photo_shas, get_photo_by_sha, set_photo_measures


def reprocess_photos(actor: Actor, limits: Limits) -> Iterator[tuple[str, str | None]]:
    """Re-derive each stored photo; yield (sha256, problem or None) as it goes.

    The caller commits after each step (`server.transaction`), so an interrupted run keeps what it
    finished and can simply be run again.
    """
    require_role(actor, "admin")
    store = services.photo_store()
    shas = all_photo_shas()
    for sha in [sha for sha in shas if not store.exists(sha)]:
        yield sha, both("server.media.original_missing")
    for sha, result in reprocess(store, [sha for sha in shas if store.exists(sha)],
                                 limits=limits):
        if isinstance(result, PhotoRejected):
            yield sha, f"{result.code}: {result.en} / {result.vi}"
            continue
        for photo in get_photo_by_sha(sha):
            extras = {k: v for k, v in photo.facts.items()
                      if k.endswith("_device") or k == "field"}
            set_photo_measures(photo, {**result.facts(), **extras}, result.phash, result.width,
                               result.height)
            index_photos([(photo.id, photo.phash)])
            refresh_flags(photo.couch_db, [photo.survey_doc_id])
        yield sha, None
    audit(actor.username, "media.reprocess", "photos", count=len(shas))
