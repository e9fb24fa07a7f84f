"""FileStore: content addressing, atomic writes, keys that cannot be paths."""

from __future__ import annotations

import hashlib

import pytest

from media.store import FileStore, InvalidKey, PhotoMissing, PhotoStore


def test_put_returns_sha256_and_get_returns_bytes(tmp_path):
    store = FileStore(tmp_path)
    key = store.put(b"original bytes")
    assert key == hashlib.sha256(b"original bytes").hexdigest()
    assert store.get(key) == b"original bytes"
    assert store.exists(key)
    assert isinstance(store, PhotoStore)


def test_derivatives_live_under_the_original_key(tmp_path):
    store = FileStore(tmp_path)
    sha = store.put(b"x")
    assert store.put_derivative(sha, "preview", b"p") == f"{sha}/preview"
    assert store.get(f"{sha}/preview") == b"p"
    assert not store.exists(f"{sha}/thumbnail")
    with pytest.raises(PhotoMissing):
        store.get(f"{sha}/thumbnail")


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "a" * 63,
        "A" * 64,
        "a" * 64 + "/../../x",
        "a" * 64 + "/original",
        "a" * 64 + "\n",
        "/" + "a" * 64,
        "a" * 64 + "/preview/",
        "",
        None,
    ],
)
def test_path_like_keys_are_refused(tmp_path, key):
    store = FileStore(tmp_path)
    with pytest.raises(InvalidKey):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.exists(key)


def test_unknown_derivative_kind_refused(tmp_path):
    store = FileStore(tmp_path)
    with pytest.raises(InvalidKey):
        store.put_derivative("a" * 64, "../../evil", b"x")
    assert list(tmp_path.iterdir()) == []


def test_put_photo_stores_original_and_derivatives(tmp_path, photo_jpeg):
    from media.pipeline import process_photo
    from media.store import put_photo

    store = FileStore(tmp_path)
    photo = process_photo(photo_jpeg)
    sha = put_photo(store, photo_jpeg, photo.preview, photo.thumbnail)
    assert sha == photo.sha256
    assert store.get(sha) == photo_jpeg
    assert store.get(f"{sha}/preview") == photo.preview
    assert store.get(f"{sha}/thumbnail") == photo.thumbnail
    # Reprocessing replaces derivatives in place.
    put_photo(store, photo_jpeg, b"new preview", b"new thumbnail")
    assert store.get(f"{sha}/preview") == b"new preview"


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    import os

    store = FileStore(tmp_path)
    sha = store.put(b"first")
    store.put_derivative(sha, "preview", b"old")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.put_derivative(sha, "preview", b"half-written new preview")
    monkeypatch.undo()
    assert store.get(f"{sha}/preview") == b"old"
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_layout_is_fanned_out_by_digest(tmp_path):
    store = FileStore(tmp_path)
    sha = store.put(b"layout")
    store.put_derivative(sha, "thumbnail", b"t")
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == [f"{sha[:2]}/{sha}/original", f"{sha[:2]}/{sha}/thumbnail"]


def test_put_is_idempotent_and_keeps_the_first_copy(tmp_path):
    store = FileStore(tmp_path)
    sha = store.put(b"same")
    path = tmp_path / sha[:2] / sha / "original"
    before = path.stat().st_mtime_ns
    assert store.put(b"same") == sha
    assert path.stat().st_mtime_ns == before
