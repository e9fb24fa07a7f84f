"""Damaged files of every accepted format: processed, or refused, never a crash."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from media.pipeline import PhotoRejected, ProcessedPhoto, process_photo


def _seeds() -> dict[str, bytes]:
    image = Image.new("RGB", (48, 32), (90, 140, 200))
    image.paste((200, 60, 40), (8, 8, 30, 24))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8825)[1] = "N"
    out = {}
    for name, fmt, params in [
        ("jpeg", "JPEG", {"quality": 90, "exif": exif}),
        ("progressive", "JPEG", {"progressive": True}),
        ("png", "PNG", {"exif": exif}),
        ("webp", "WEBP", {"quality": 80, "exif": exif}),
        ("webp-lossless", "WEBP", {"lossless": True}),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        out[name] = buffer.getvalue()
    return out


SEEDS = _seeds()


@st.composite
def damaged(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


# Damage makes Pillow warn (corrupt EXIF, premature end of data); production
# logs those and goes on, which is the behaviour under test here.
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_files_are_processed_or_refused(data):
    try:
        photo = process_photo(data)
    except PhotoRejected as refusal:
        assert refusal.code.startswith("photo.") and refusal.vi and refusal.en
    else:
        assert isinstance(photo, ProcessedPhoto)
        assert Image.open(io.BytesIO(photo.preview)).format == "JPEG"
