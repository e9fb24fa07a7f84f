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
