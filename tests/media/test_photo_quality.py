"""Darkness and blur measured on real pixels, with the default thresholds."""

from __future__ import annotations

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from media.flags import photo_flags
from media.pipeline import process_photo

VISIT = {"survey_id": "survey:1", "visited_at": "2026-11-20T09:40:00+07:00", "gps": None}


def quality_flags(build, image: Image.Image) -> list[str]:
    photo = process_photo(build.encode(image, quality=88, exif=build.exif()))
    codes = [flag.code for flag in photo_flags(photo.facts(), VISIT, [])]
    return [code for code in codes if code in ("photo.too_dark", "photo.blurry")]


@pytest.mark.parametrize("size", [(1600, 1200), (4000, 3000)])
def test_a_sharp_well_lit_photo_raises_nothing(build, size):
    assert quality_flags(build, build.scene(1, size)) == []


@pytest.mark.parametrize("size", [(1600, 1200), (4000, 3000)])
def test_an_out_of_focus_photo_is_blurry(build, size):
    # A blur of 2 px at 1600 px wide (5 px on a 12 MP sensor).
    image = build.scene(1, size).filter(ImageFilter.GaussianBlur(2 * size[0] / 1600))
    assert quality_flags(build, image) == ["photo.blurry"]


def test_a_featureless_photo_is_flagged_with_the_blurry_ones(build):
    assert quality_flags(build, Image.new("RGB", (1600, 1200), (200, 190, 170))) == ["photo.blurry"]


def test_an_underexposed_photo_is_too_dark(build):
    image = ImageEnhance.Brightness(build.scene(3)).enhance(0.2)
    assert quality_flags(build, image) == ["photo.too_dark"]
