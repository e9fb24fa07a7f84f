"""process_photo on good input: facts right, derivatives upright and bare."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from media.measures import CROP_BOXES
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
    assert len(photo.phash) == 36 and len(photo.crop_hashes) == 36 * len(CROP_BOXES)
    assert 0 < photo.brightness < 255


def test_sha256_is_of_the_original(photo_jpeg):
    import hashlib

    assert process_photo(photo_jpeg).sha256 == hashlib.sha256(photo_jpeg).hexdigest()


def test_twelve_megapixel_jpeg_preview_is_1600(build):
    data = build.encode(build.scene(2, (4000, 3000)), quality=88)
    photo = process_photo(data)
    assert (photo.width, photo.height) == (4000, 3000)
    assert photo.preview_size == (1600, 1200)
    assert photo.thumbnail_size == (320, 240)


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_accepted(build, fmt, mime):
    photo = process_photo(build.encode(build.scene(3, (800, 600)), fmt))
    assert photo.mime == mime
    assert photo.preview_size == (800, 600)
    assert photo.exif["present"] is False


def test_derivative_sizes_follow_the_limits(photo_jpeg):
    # What `sotay media reprocess` relies on after a change of sizes.
    photo = process_photo(photo_jpeg, limits=Limits(preview_side=1000, thumbnail_side=200))
    assert photo.preview_size == (1000, 750) == open_jpeg(photo.preview).size
    assert photo.thumbnail_size == (200, 150) == open_jpeg(photo.thumbnail).size


def test_concurrent_calls_with_different_limits_do_not_interfere(build):
    from concurrent.futures import ThreadPoolExecutor

    big = build.encode(build.scene(9, (2400, 1800)), quality=85)
    calls = [Limits(), Limits(max_pixels=1_000_000)] * 6

    def outcome(limits: Limits) -> str:
        try:
            return process_photo(big, limits=limits).phash
        except PhotoRejected as refusal:
            return refusal.code

    alone = [outcome(limits) for limits in calls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(outcome, calls))
    assert together == alone
    assert set(alone) == {process_photo(big).phash, "photo.too_many_pixels"}


def test_limits_are_per_call(photo_jpeg):
    with pytest.raises(PhotoRejected) as refused:
        process_photo(photo_jpeg, limits=Limits(max_pixels=1_000_000))
    assert refused.value.code == "photo.too_many_pixels"
    assert process_photo(photo_jpeg).width == 1600


# --- orientation -----------------------------------------------------------

QUADRANTS = {
    "top left": (220, 30, 30),
    "top right": (30, 200, 30),
    "bottom left": (30, 30, 220),
    "bottom right": (240, 240, 240),
}

# EXIF orientation by the standard's own words: which side of the scene the
# stored image's 0th row shows, and which side its 0th column shows.
ORIENTATIONS = {
    1: ("top", "left"),
    2: ("top", "right"),
    3: ("bottom", "right"),
    4: ("bottom", "left"),
    5: ("left", "top"),
    6: ("right", "top"),
    7: ("right", "bottom"),
    8: ("left", "bottom"),
}


def upright(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height))
    for name, colour in QUADRANTS.items():
        vertical, horizontal = name.split()
        x0 = 0 if horizontal == "left" else width // 2
        y0 = 0 if vertical == "top" else height // 2
        image.paste(colour, (x0, y0, x0 + width // 2, y0 + height // 2))
    return image


def stored_as(scene: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera writes for `scene` when it tags `orientation`."""
    row_side, column_side = ORIENTATIONS[orientation]
    w, h = scene.size
    rows_run_across = row_side in ("left", "right")  # rows are the scene's columns
    out_w, out_h = (h, w) if rows_run_across else (w, h)
    source = scene.load()
    stored = Image.new("RGB", (out_w, out_h))
    target = stored.load()
    for y in range(out_h):
        for x in range(out_w):
            if rows_run_across:
                sx = y if row_side == "left" else w - 1 - y
                sy = x if column_side == "top" else h - 1 - x
            else:
                sy = y if row_side == "top" else h - 1 - y
                sx = x if column_side == "left" else w - 1 - x
            target[x, y] = source[sx, sy]
    return stored


def assert_upright(picture: Image.Image) -> None:
    w, h = picture.size
    for name, colour in QUADRANTS.items():
        vertical, horizontal = name.split()
        x = w // 4 if horizontal == "left" else 3 * w // 4
        y = h // 4 if vertical == "top" else 3 * h // 4
        got = picture.convert("RGB").getpixel((x, y))
        assert all(abs(a - b) < 40 for a, b in zip(got, colour, strict=True)), (name, got)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_ends_upright(build, orientation):
    data = build.encode(
        stored_as(upright(96, 64), orientation),
        quality=95,
        exif=build.exif(orientation=orientation),
    )
    photo = process_photo(data)
    assert photo.exif["orientation"] == orientation
    assert (photo.width, photo.height) == (96, 64)
    for derivative in (photo.preview, photo.thumbnail):
        picture = open_jpeg(derivative)
        assert picture.size == (96, 64)
        assert_upright(picture)


def test_orientation_applied_after_draft_decode(build):
    # 3200×2400 stored sideways: decoded at 1/2 scale, then turned.
    stored = stored_as(upright(120, 90), 6).resize((2400, 3200), Image.Resampling.NEAREST)
    photo = process_photo(build.encode(stored, quality=90, exif=build.exif(orientation=6)))
    assert (photo.width, photo.height) == (3200, 2400)
    assert photo.preview_size == (1600, 1200)
    assert_upright(open_jpeg(photo.preview))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_exif_orientation(build, fmt):
    data = build.encode(stored_as(upright(96, 64), 8), fmt, exif=build.exif(orientation=8))
    photo = process_photo(data)
    assert photo.exif["orientation"] == 8
    assert photo.exif["taken_at"] == "2026-11-20T09:15:00+07:00"
    assert_upright(open_jpeg(photo.preview))


# --- colour modes ------------------------------------------------------------


def test_cmyk_jpeg(build):
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red ink
    photo = process_photo(build.encode(cmyk, quality=95))
    r, g, b = open_jpeg(photo.preview).convert("RGB").getpixel((32, 24))
    assert r > 220 and g < 40 and b < 40


def test_greyscale_jpeg(build):
    photo = process_photo(build.encode(Image.new("L", (2000, 1000), 90), quality=95))
    assert photo.preview_size == (1600, 800)
    assert abs(photo.brightness - 90) < 3


def test_sixteen_bit_grey_png_keeps_its_tones(build):
    # A left-to-right ramp over the whole 16-bit range; a naive conversion
    # clips everything above 255 to white.
    width = 256
    row = b"\x00" + b"".join(struct.pack(">H", x * 65535 // (width - 1)) for x in range(width))
    photo = process_photo(build.png(width, 16, depth=16, colour=0, rows=row * 16))
    picture = open_jpeg(photo.preview).convert("L")
    left, middle, right = (picture.getpixel((x, 8)) for x in (2, 128, 253))
    assert left < 10 and 115 < middle < 140 and right > 245


def test_sixteen_bit_rgb_png(build):
    pixel = struct.pack(">HHH", 0xFFFF, 0x8000, 0x0000)
    row = b"\x00" + pixel * 32
    photo = process_photo(build.png(32, 32, depth=16, colour=2, rows=row * 32))
    r, g, b = open_jpeg(photo.preview).convert("RGB").getpixel((16, 16))
    assert r > 240 and 115 < g < 140 and b < 15


def test_transparent_png_is_flattened_on_white(build):
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 32, 48))
    picture = open_jpeg(process_photo(build.encode(image, "PNG")).preview)
    assert picture.getpixel((50, 24))[0] > 245 and picture.getpixel((50, 24))[1] > 245
    assert picture.getpixel((10, 24))[0] > 180 and picture.getpixel((10, 24))[1] < 40


def test_colour_profile_is_applied_not_just_stripped(build):
    # Pixels stored as pure "red" in a profile whose red primary is sRGB's blue.
    p = build.srgb_primaries
    swapped = build.icc_profile("Swapped test RGB", p["blue"], p["green"], p["red"])
    data = build.encode(Image.new("RGB", (64, 48), (255, 0, 0)), quality=95, icc_profile=swapped)
    r, g, b = open_jpeg(process_photo(data).preview).getpixel((32, 24))
    assert b > 220 and r < 40 and g < 40


def test_unreadable_colour_profile_is_ignored(build):
    data = build.encode(Image.new("RGB", (64, 48), (255, 0, 0)), icc_profile=b"not a profile")
    r, g, b = open_jpeg(process_photo(data).preview).getpixel((32, 24))
    assert r > 220 and g < 40 and b < 40


# --- derivatives are bare ------------------------------------------------------

BARE_JPEG_MARKERS = {0xD8, 0xE0, 0xDB, 0xC0, 0xC4, 0xDA}  # SOI JFIF DQT SOF0 DHT SOS


@pytest.mark.parametrize("with_profile", [True, False])
def test_derivatives_carry_no_metadata(build, with_profile):
    # Without a profile a 1600 px JPEG goes out as the very image object that
    # was decoded, comment and all, unless the pipeline drops its metadata.
    p = build.srgb_primaries
    icc = build.icc_profile("Plain test RGB", p["red"], p["green"], p["blue"])
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>GPSLatitude 20.25</x:xmpmeta>"
    params = {"icc_profile": icc} if with_profile else {}
    data = build.with_segments(
        build.encode(build.scene(8), quality=90, exif=build.exif(), **params),
        [build.jpeg_segment(0xE1, xmp), build.jpeg_segment(0xFE, b"volunteer: Nguyen Van A")],
    )
    photo = process_photo(data)
    assert photo.exif["gps"] is not None  # the facts were there to strip
    for derivative in (photo.preview, photo.thumbnail):
        assert set(build.jpeg_markers(derivative)) <= BARE_JPEG_MARKERS
        for secret in (b"Exif", b"GPS", b"xmp", b"ICC_PROFILE", b"Nguyen", b"Xiaomi"):
            assert secret not in derivative
        picture = open_jpeg(derivative)
        assert not picture.getexif()
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(picture.info)


def test_multi_picture_jpeg_uses_its_primary_image(build):
    # Dual-camera phones write MPO: a JPEG whose primary image comes first.
    primary = build.scene(1, (800, 600))
    second = Image.new("RGB", (800, 600), (255, 0, 0))
    out = io.BytesIO()
    primary.save(out, "MPO", save_all=True, append_images=[second], exif=build.exif())
    photo = process_photo(out.getvalue())
    assert (photo.mime, photo.preview_size, photo.exif["make"]) == (
        "image/jpeg",
        (800, 600),
        "Xiaomi",
    )
    r, g, b = open_jpeg(photo.preview).getpixel((10, 10))
    assert b > r  # the sky of the primary image, not the red second picture
