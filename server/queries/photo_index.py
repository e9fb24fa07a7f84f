"""The photo reuse index: each live photo's hash bands, and the photos near a new one.

`media.measures` decides the keys (`hash_bands` for a stored photo,
`probe_keys` for a new one); this module keeps `photo_bands` in step with
`photos` and answers "which stored photos share a key with these, or have
this SHA-256" with index lookups, so the cost of a photo's reuse check does
not grow with the number of photos stored.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Integer, any_, bindparam, delete, func, literal_column, select, union
from sqlalchemy.dialects.postgresql import ARRAY

from media.measures import hash_bands
from server.models import Photo, PhotoBand, db
from server.queries.bulk import built, dialect_name, insert_rows


def index_photos(photos: list[tuple[int, str | None]]) -> None:
    """File these photos (id, whole-frame hash) under their bands, replacing what
    they were filed under; a photo without a usable hash is filed nowhere."""
    photos = list(dict(photos).items())  # each photo once
    if not photos:
        return
    ids = [photo_id for photo_id, _ in photos]
    db.session.execute(delete(PhotoBand).where(PhotoBand.photo_id.in_(ids)))
    insert_rows(PhotoBand, [{"key": key, "photo_id": photo_id} for photo_id, phash in photos
                            if isinstance(phash, str) for key in set(hash_bands(phash))])


def unindex_photo(couch_db: str, doc_id: str) -> None:
    """Take a photo out of the index (it was deleted)."""
    ids = select(Photo.id).where(Photo.couch_db == couch_db, Photo.doc_id == doc_id)
    db.session.execute(delete(PhotoBand).where(PhotoBand.photo_id.in_(ids.scalar_subquery())))


def _keys_param() -> Any:
    if dialect_name() == "postgresql":
        return bindparam("keys", type_=ARRAY(Integer))
    return select(literal_column("value")).select_from(func.json_each(bindparam("keys")))


def _near_statement() -> Any:
    columns = (Photo.survey_doc_id, Photo.doc_id, Photo.sha256, Photo.phash)
    keys = _keys_param()
    banded = select(PhotoBand.photo_id).where(
        PhotoBand.key == any_(keys) if dialect_name() == "postgresql"
        else PhotoBand.key.in_(keys))
    live = Photo.deleted_rev.is_(None)
    return union(select(*columns).where(Photo.id.in_(banded), live),
                 select(*columns).where(Photo.sha256 == bindparam("sha256"), live))


def near_photos(keys: list[int], sha256: str | None) -> list[dict]:
    """Live photos filed under any of `keys`, or with this SHA-256, as `photo_flags`
    takes its `others`."""
    statement = built("near_photos", _near_statement)
    sent = keys if dialect_name() == "postgresql" else json.dumps(keys)
    rows = db.session.execute(statement, {"keys": sent, "sha256": sha256 or ""})
    return [{"survey_id": survey_id, "photo_id": doc_id, "sha256": sha, "phash": phash}
            for survey_id, doc_id, sha, phash in rows]
