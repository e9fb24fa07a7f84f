"""Keep photo originals and their derivatives, addressed by SHA-256.

A key is the hex SHA-256 of an original (`<sha>`) or that digest and the name
of one of its derivatives (`<sha>/preview`, `<sha>/thumbnail`). Anything else
is refused before it comes near a path, so no part of a request can ever name
a file. `PhotoStore` is the interface the server and the ingest worker use;
`FileStore` keeps everything under one folder (the instance folder by
default) and an S3-compatible store implements the same four methods with
the key as the object name.

Writes are atomic: bytes go to a temporary file in the target folder, are
flushed to disk, then renamed over the final name, so a reader sees the old
file or the new one and a crash leaves at worst a stray temporary file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

_KEY = re.compile(r"^(?P<sha>[0-9a-f]{64})(?:/(?P<kind>preview|thumbnail))?\Z")


class InvalidKey(ValueError):
    """A key that is not `<sha256>` or `<sha256>/<derivative>`."""


class PhotoMissing(KeyError):
    """No photo or derivative is stored under this key."""


@runtime_checkable
class PhotoStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store an original; return its SHA-256 (the key). Idempotent."""

    def put_derivative(self, sha256: str, kind: str, data: bytes) -> str:
        """Store (or replace) a derivative of an original; return its key."""

    def get(self, key: str) -> bytes:
        """The bytes under a key; PhotoMissing if absent, InvalidKey if malformed."""

    def exists(self, key: str) -> bool:
        """Whether something is stored under a key; InvalidKey if malformed."""


def put_photo(store: PhotoStore, original: bytes, preview: bytes, thumbnail: bytes) -> str:
    """Store an original and its two derivatives; return the original's SHA-256.

    Derivatives first, original last: a reader that finds the original (the
    sign that a photo is stored) finds its derivatives too, and re-running
    after a crash, or after `sotay media reprocess`, simply replaces them.
    """
    sha = hashlib.sha256(original).hexdigest()
    store.put_derivative(sha, "preview", preview)
    store.put_derivative(sha, "thumbnail", thumbnail)
    store.put(original)
    return sha


def parse_key(key: object) -> tuple[str, str | None]:
    """Split a key into (sha256, derivative or None); InvalidKey if it is not one."""
    if not isinstance(key, str):
        raise InvalidKey(repr(key))
    match = _KEY.match(key)
    if match is None:
        raise InvalidKey(repr(key)[:80])
    return match["sha"], match["kind"]


def derivative_key(sha256: str, kind: str) -> str:
    key = f"{sha256}/{kind}"
    parse_key(key)
    return key


class FileStore:
    """Content-addressed files: `<root>/<sha[:2]>/<sha>/original|preview|thumbnail`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self._path(sha)
        if not path.exists():
            self._write(path, data)
        return sha

    def put_derivative(self, sha256: str, kind: str, data: bytes) -> str:
        key = derivative_key(sha256, kind)
        self._write(self._path(key), data)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise PhotoMissing(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _path(self, key: str) -> Path:
        sha, kind = parse_key(key)
        return self.root / sha[:2] / sha / (kind or "original")

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
