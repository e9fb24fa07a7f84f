"""JPEG files cut short but closed with an end marker are refused, not shown grey."""

from __future__ import annotations

import pytest
from PIL import Image

from media.pipeline import PhotoRejected, process_photo
from tests.media.conftest import encode, exif_block, scene

EOI = b"\xff\xd9"


def closed_early(data: bytes, fraction: float) -> bytes:
    """The first `fraction` of the file, closed with an EOI marker as a whole file is."""
    return data[: int(len(data) * fraction)] + EOI


def refused(data: bytes) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        process_photo(data)
    return caught.value


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.99])
@pytest.mark.parametrize(("size", "params"), [
    ((1600, 1200), {"exif": exif_block()}),  # the phone app's size, decoded in full
    ((4000, 3000), {}),  # a camera's, decoded reduced (draft mode)
    ((1600, 1200), {"progressive": True}),
    ((1200, 900), {"restart_marker_rows": 2}),
])
def test_jpeg_cut_short_and_closed_is_refused(size, params, fraction):
    whole = encode(scene(3, size), quality=85, **params)
    assert process_photo(whole).width == size[0]
    problem = refused(closed_early(whole, fraction))
    assert problem.code == "photo.corrupt"


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_other_colour_modes_cut_short_are_refused(mode):
    whole = encode(scene(4).convert(mode), quality=85)
    assert refused(closed_early(whole, 0.5)).code == "photo.corrupt"


def test_a_photo_whose_corner_is_mid_grey_is_accepted():
    # The exact grey a cut leaves behind, where the picture really has it.
    picture = scene(5)
    picture.paste((128, 128, 128), (800, 600, 1600, 1200))
    photo = process_photo(encode(picture, quality=90))
    assert photo.preview_size == (1600, 1200)


def test_grey_picture_accepted_in_every_mode():
    for mode in ("L", "RGB", "CMYK"):
        process_photo(encode(Image.new(mode, (640, 480), (128,) * len(mode)), quality=90))


def test_progressive_jpeg_missing_its_last_scans_is_refused():
    whole = encode(scene(6), quality=85, progressive=True)
    first_scans = whole[: whole.index(b"\xff\xda", whole.index(b"\xff\xda") + 2)] + EOI
    problem = refused(first_scans)
    assert problem.code == "photo.corrupt" and "scans missing" in problem.detail["reason"]
