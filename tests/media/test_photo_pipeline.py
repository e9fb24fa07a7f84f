"""process_photo on good input: facts right, derivatives upright and bare."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from media.pipeline import Limits, PhotoRejected, process_photo


def open_jpeg(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


def test_jpeg_with_exif_gives_facts_and_bounded_derivatives(photo_jpeg):
    photo = process_photo(photo_jpeg)
    assert photo.mime == "image/jpeg"
    assert (photo.width, photo.height) == (1600, 1200)
    assert photo.exif["taken_at"] == "2026-11-20T09:15:00+07:00"
    assert photo.exif["gps"] == pytest.approx({"lat": 20.2530, "lon": 105.9745}, abs=1e-5)
    assert (photo.exif["make"], photo.exif["model"]) == ("Xiaomi", "Redmi Note 13")
    assert photo.exif["orientation"] == 1
    assert open_jpeg(photo.preview).size == photo.preview_size == (1600, 1200)
    assert open_jpeg(photo.thumbnail).size == photo.thumbnail_size == (320, 240)
    assert len(photo.phash) == 16
    assert 0 < photo.brightness < 255


def test_sha256_is_of_the_original(photo_jpeg):
    import hashlib

    assert process_photo(photo_jpeg).sha256 == hashlib.sha256(photo_jpeg).hexdigest()


def test_twelve_megapixel_jpeg_preview_is_1600(make_scene, encode_image):
    data = encode_image(make_scene(2, (4000, 3000)), quality=88)
    photo = process_photo(data)
    assert (photo.width, photo.height) == (4000, 3000)
    assert photo.preview_size == (1600, 1200)
    assert photo.thumbnail_size == (320, 240)


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_accepted(make_scene, encode_image, fmt, mime):
    photo = process_photo(encode_image(make_scene(3, (800, 600)), fmt))
    assert photo.mime == mime
    assert photo.preview_size == (800, 600)
    assert photo.exif["present"] is False


def test_limits_are_per_call(photo_jpeg):
    with pytest.raises(PhotoRejected) as refused:
        process_photo(photo_jpeg, limits=Limits(max_pixels=1_000_000))
    assert refused.value.code == "photo.too_many_pixels"
    assert process_photo(photo_jpeg).width == 1600
