"""Re-derive previews, thumbnails and facts from stored originals.

The loop behind `sotay media reprocess`: after a change of derivative sizes,
quality or hashing, every original in the store is processed again and its
derivatives replaced. One bad original never stops the others: each yields
either its new `ProcessedPhoto` or the `PhotoRejected` that explains it, and
the caller (which owns the progress bar and the SQL) records both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from media.pipeline import DEFAULT_LIMITS, Limits, ProcessedPhoto, process_photo
from media.problems import PhotoRejected
from media.store import PhotoStore, put_photo


def reprocess(
    store: PhotoStore, sha256s: Iterable[str], *, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[str, ProcessedPhoto | PhotoRejected]]:
    """For each original, (sha256, new photo facts and bytes) or (sha256, refusal)."""
    for sha in sha256s:
        original = store.get(sha)
        if hashlib.sha256(original).hexdigest() != sha:
            yield sha, PhotoRejected("photo.corrupt", {"reason": "stored bytes do not match"})
            continue
        try:
            photo = process_photo(original, limits=limits)
        except PhotoRejected as refusal:
            yield sha, refusal
            continue
        put_photo(store, original, photo.preview, photo.thumbnail)
        yield sha, photo
