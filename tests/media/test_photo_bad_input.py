"""Bad input: every file is processed correctly or refused with a clear reason.

Each case is built here. A refusal must be a PhotoRejected with a stable code
and a reason in both languages; any other exception is a bug.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from media.flags import photo_flags
from media.pipeline import Limits, PhotoRejected, process_photo


def refused(data: bytes, **limits) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        process_photo(data, limits=Limits(**limits))
    error = caught.value
    assert error.vi and error.en and error.vi != error.en
    return error


def test_zero_bytes():
    assert refused(b"").code == "photo.empty"


def test_a_refusal_survives_pickling(photo_jpeg):
    import pickle

    error = refused(photo_jpeg, max_bytes=10)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.as_dict() == error.as_dict()


def test_over_the_size_limit(photo_jpeg):
    error = refused(photo_jpeg, max_bytes=len(photo_jpeg) - 1)
    assert error.code == "photo.too_large"
    assert str(len(photo_jpeg)) in error.en


def test_default_size_limit_is_15_mb():
    data = b"\xff\xd8\xff" + bytes(15 * 1024 * 1024)
    assert refused(data).code == "photo.too_large"


@pytest.mark.parametrize("keep", [0.03, 0.3, 0.6, 0.95])
def test_truncated_jpeg(photo_jpeg, keep):
    assert refused(photo_jpeg[: int(len(photo_jpeg) * keep)]).code == "photo.corrupt"


def test_jpeg_magic_then_garbage():
    assert refused(b"\xff\xd8\xff\xe0" + b"\x13\x37" * 500).code == "photo.corrupt"


def test_png_pixel_bomb(build):
    # 144 megapixels of 1-bit black: 18 kB on disk, 432 MB once decoded to RGB.
    bomb = build.png(12_000, 12_000, depth=1)
    assert len(bomb) < 50_000
    error = refused(bomb)
    assert error.code == "photo.too_many_pixels"
    assert "12000×12000" in error.en


def test_pixel_limit_is_per_call_and_leaves_pillow_alone(build):
    before = Image.MAX_IMAGE_PIXELS
    assert refused(build.png(2000, 2000), max_pixels=1_000_000).code == "photo.too_many_pixels"
    assert process_photo(build.png(2000, 2000)).width == 2000
    assert Image.MAX_IMAGE_PIXELS == before


def test_huge_png_dimensions_in_a_tiny_file(build):
    tiny = build.png(100_000, 100_000, rows=b"\x00" * 10)
    assert len(tiny) < 100
    assert refused(tiny).code == "photo.too_many_pixels"


def test_huge_jpeg_dimensions_in_a_tiny_file(photo_jpeg):
    # Rewrite the frame header of a real JPEG to declare 65000×65000.
    at = photo_jpeg.index(b"\xff\xc0")
    forged = photo_jpeg[: at + 5] + struct.pack(">HH", 65_000, 65_000) + photo_jpeg[at + 9 :]
    assert refused(forged[:4096]).code == "photo.too_many_pixels"


def webp(*chunks: bytes) -> bytes:
    body = b"WEBP" + b"".join(
        kind + struct.pack("<I", len(data)) + data + bytes(len(data) % 2) for kind, data in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("side", [12_000, 16_384])
def test_huge_webp_canvas_is_refused_before_libwebp_sees_it(side, monkeypatch):
    # libwebp allocates the whole canvas when Pillow merely opens the file,
    # and Pillow's own guard only stops canvases over 179 MP: 12000² passes it.
    from media import pipeline

    def never(_):
        raise AssertionError("the WebP decoder was created")

    monkeypatch.setitem(pipeline._OPENERS, "WEBP", never)
    canvas = bytes(4) + (side - 1).to_bytes(3, "little") + (side - 1).to_bytes(3, "little")
    lossless = b"\x2f" + struct.pack("<I", (side - 1) | ((side - 1) << 14)) + bytes(20)
    error = refused(webp((b"VP8X", canvas), (b"VP8L", lossless)))
    assert error.code == "photo.too_many_pixels"
    assert f"{side}×{side}" in error.en


def test_webp_declaring_zero_width():
    frame = bytes(3) + b"\x9d\x01\x2a" + struct.pack("<HH", 0, 100) + bytes(30)
    error = refused(webp((b"VP8 ", frame)))
    assert error.code == "photo.bad_dimensions"
    assert error.detail == {"width": 0, "height": 100}


def test_webp_with_an_unreadable_header():
    assert refused(webp((b"VP8 ", bytes(40)))).code == "photo.corrupt"


def test_absurd_strip_refused_by_side_limit(build):
    assert refused(build.png(40_000, 10)).code == "photo.too_many_pixels"


def test_zero_height_png(build):
    assert refused(build.png(10, 0, rows=b"")).code == "photo.corrupt"


@pytest.mark.parametrize(
    "content,kind",
    [
        (b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "html"),
        (b"  \n<html><head><title>x</title></head></html>", "html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "svg"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "svg"),
        (b'<?php system($_GET["cmd"]); ?>', "php"),
        (b"\xef\xbb\xbf<?php echo 1; ?>", "php"),
        (b"#!/bin/sh\nrm -rf /\n", "script"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "pdf"),
        (b"just some words, named photo.jpg\n", "text"),
    ],
)
def test_not_an_image_named_jpg(content, kind):
    error = refused(content)
    assert error.code == "photo.not_an_image"
    assert error.detail == {"kind": kind}


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_other_image_formats_refused_by_name(build, fmt):
    data = build.encode(build.scene(4, (64, 48)), fmt)
    error = refused(data)
    assert error.code == "photo.format_refused"
    assert error.detail == {"format": fmt}
    assert fmt in error.vi and fmt in error.en


@pytest.mark.parametrize(
    "brand,name", [(b"heic", "HEIC"), (b"avif", "AVIF"), (b"mp42", "MP4/MOV video")]
)
def test_iso_media_refused_by_name(brand, name):
    header = struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00mif1" + brand
    assert refused(header + bytes(100)).detail == {"format": name}


def test_unknown_binary():
    assert refused(bytes(range(256)) * 4).code == "photo.unknown_format"


def test_php_in_a_jpeg_comment(photo_jpeg, build):
    payload = b'<?php system($_GET["c"]); ?>'
    poly = build.with_segments(photo_jpeg, [build.jpeg_segment(0xFE, payload)])
    error = refused(poly)
    assert error.code == "photo.embedded_markup"
    assert error.detail == {"marker": "<?php"}


def test_html_appended_after_the_jpeg(photo_jpeg):
    error = refused(photo_jpeg + b"<html><script>fetch('/steal')</script></html>")
    assert error.code == "photo.embedded_markup"


def test_svg_in_png_text_chunk(build):
    text = build.png_chunk(
        b"tEXt", b'Comment\x00<svg onload="x" xmlns="http://www.w3.org/2000/svg">'
    )
    assert refused(build.png(64, 64, extra=[text])).code == "photo.embedded_markup"


def test_zip_appended_to_a_jpeg_is_processed_and_never_served(photo_jpeg):
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.txt", "secret payload")
    photo = process_photo(photo_jpeg + archive.getvalue())
    for derivative in (photo.preview, photo.thumbnail):
        assert b"PK\x03\x04" not in derivative
        assert b"payload" not in derivative


def test_oversized_exif_is_ignored_not_fatal(photo_jpeg, build):
    # Pillow joins every "Exif" APP1 segment: six of 60 kB make a 360 kB block.
    block = b"Exif\x00\x00" + bytes(60_000)
    big = build.with_segments(photo_jpeg, [build.jpeg_segment(0xE1, block)] * 6)
    photo = process_photo(big)
    assert photo.exif["problem"] == "oversized"
    assert photo.exif["taken_at"] is None and photo.exif["gps"] is None
    flags = photo_flags(photo.facts(), {"survey_id": "s"}, [])
    assert [(f.code, f.detail) for f in flags] == [("photo.no_exif", {"reason": "oversized"})]


def test_oversized_exif_limit_is_configurable(photo_jpeg):
    photo = process_photo(photo_jpeg, limits=Limits(max_exif_bytes=100))
    assert photo.exif["problem"] == "oversized"


# Pillow reads a JPEG's EXIF while opening it (for the DPI) and warns about the
# damage; production logs that warning and carries on, as this test does.
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_broken_exif_is_ignored_not_fatal(build):
    # A TIFF header whose first IFD claims 60000 entries that are not there.
    broken = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + struct.pack(">H", 60000) + bytes(64)
    data = build.encode(build.scene(5, (320, 240)), exif=broken)
    photo = process_photo(data)
    assert photo.exif["present"] is True
    assert photo.exif["taken_at"] is None and photo.exif["make"] is None
    [flag] = photo_flags(photo.facts(), {"survey_id": "s"}, [])
    assert (flag.code, flag.detail) == ("photo.no_exif", {"reason": "empty"})


def test_huge_png_exif_chunk(build):
    exif = build.exif().tobytes()
    chunk = build.png_chunk(b"eXIf", exif + bytes(1_000_000))
    photo = process_photo(build.png(64, 64, extra=[chunk]))
    assert photo.exif["problem"] == "oversized"


def test_progressive_jpeg_scan_limit(build):
    data = build.encode(build.scene(6, (320, 240)), progressive=True)
    assert process_photo(data).width == 320
    assert refused(data, max_jpeg_scans=3).code == "photo.too_complex"


def test_animated_webp_refused(build):
    frames = [build.scene(seed, (64, 48)) for seed in (1, 2)]
    data = build.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:])
    assert refused(data).code == "photo.animated"


def test_animated_png_refused(build):
    frames = [build.scene(seed, (64, 48)) for seed in (1, 2)]
    data = build.encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert refused(data).code == "photo.animated"


def test_corrupt_png_data(build):
    good = build.png(64, 64, colour=2, rows=b"".join(b"\x00" + bytes(192) for _ in range(64)))
    at = good.index(b"IDAT") + 4
    broken = good[:at] + zlib.compress(b"x")[:3] + b"\xde\xad" * 10 + good[at + 26 :]
    assert refused(broken).code == "photo.corrupt"
