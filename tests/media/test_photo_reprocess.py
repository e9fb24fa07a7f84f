"""reprocess: new derivatives from stored originals, one bad original reported."""

from __future__ import annotations

import io

from PIL import Image

from media.pipeline import Limits, PhotoRejected, process_photo
from media.reprocess import reprocess
from media.store import FileStore, put_photo


def test_reprocess_replaces_derivatives_and_reports_bad_originals(tmp_path, build):
    store = FileStore(tmp_path)
    good = build.encode(build.scene(2), quality=85)
    photo = process_photo(good)
    put_photo(store, good, photo.preview, photo.thumbnail)
    gif = store.put(build.encode(build.scene(3, (64, 48)), "GIF"))  # stored by an old version
    tampered = store.put(b"will be changed on disk")
    (tmp_path / tampered[:2] / tampered / "original").write_bytes(b"changed")

    results = dict(
        reprocess(store, [photo.sha256, gif, tampered], limits=Limits(thumbnail_side=100))
    )

    assert results[photo.sha256].thumbnail_size == (100, 75)
    thumbnail = Image.open(io.BytesIO(store.get(f"{photo.sha256}/thumbnail")))
    assert thumbnail.size == (100, 75)
    assert isinstance(results[gif], PhotoRejected)
    assert results[gif].code == "photo.format_refused"
    assert results[tampered].code == "photo.corrupt"
