"""Images built here, never downloaded: scenes, encodings and EXIF blocks.

`scene(seed)` draws a street-side house (sky, roof, wall, windows, door, tree,
ground) with the same palette for every seed and the layout drawn from the
seed, plus grain like the noise a phone's sensor leaves. Different seeds are
"different photos of similar scenes"; the same seed re-encoded, resized or
cropped is "the same photo reused".
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from types import SimpleNamespace

import pytest
from PIL import Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

SKY = [(150, 190, 230), (120, 170, 220), (170, 200, 235)]
WALLS = [(235, 220, 180), (240, 200, 120), (200, 215, 230)]
ROOF = [(150, 60, 40), (120, 50, 40), (90, 90, 100)]
GREEN = [(60, 120, 50), (80, 140, 60), (40, 100, 40)]


def scene(seed: int, size: tuple[int, int] = (1600, 1200)) -> Image.Image:
    """A house by the street, same palette for every seed, layout from the seed."""
    rng = random.Random(seed)
    w, h = size
    image = Image.new("RGB", size, rng.choice(SKY))
    draw = ImageDraw.Draw(image)
    horizon = int(h * rng.uniform(0.55, 0.8))
    draw.rectangle((0, horizon, w, h), fill=(110, 105, 100))
    for _ in range(rng.randint(1, 3)):
        left = int(w * rng.uniform(-0.1, 0.6))
        right = left + int(w * rng.uniform(0.25, 0.6))
        top = int(h * rng.uniform(0.15, 0.45))
        draw.rectangle((left, top, right, horizon), fill=rng.choice(WALLS))
        peak = top - int(h * rng.uniform(0.05, 0.2))
        draw.polygon(
            [(left - w // 40, top), (right + w // 40, top), ((left + right) // 2, peak)],
            fill=rng.choice(ROOF),
        )
        cols, rows = rng.randint(1, 4), rng.randint(1, 3)
        cell_w, cell_h = (right - left) / (cols + 1), (horizon - top) / (rows + 1.5)
        for c in range(cols):
            for r in range(rows):
                x = left + cell_w * (c + 0.6)
                y = top + cell_h * (r + 0.5)
                draw.rectangle((x, y, x + cell_w * 0.6, y + cell_h * 0.6), fill=(40, 50, 60))
        door_x = left + (right - left) * rng.uniform(0.2, 0.7)
        door = (door_x, horizon - cell_h, door_x + cell_w * 0.5, horizon)
        draw.rectangle(door, fill=(90, 50, 30))
    for _ in range(rng.randint(0, 3)):
        x, r = int(w * rng.random()), int(h * rng.uniform(0.06, 0.16))
        y = horizon - r
        draw.rectangle((x - r // 8, y, x + r // 8, horizon), fill=(80, 60, 40))
        draw.ellipse((x - r, y - 2 * r, x + r, y), fill=rng.choice(GREEN))
    grain = Image.frombytes("L", size, rng.randbytes(w * h)).convert("RGB")
    return Image.blend(image, grain, 0.1)


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def exif_block(
    *,
    taken_at: str | None = "2026:11:20 09:15:00",
    offset: str | None = "+07:00",
    gps: tuple[float, float] | None = (20.2530, 105.9745),
    make: str | None = "Xiaomi",
    model: str | None = "Redmi Note 13",
    orientation: int | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if orientation:
        exif[0x0112] = orientation
    details = exif.get_ifd(0x8769)
    if taken_at:
        details[0x9003] = taken_at
    if offset:
        details[0x9011] = offset
    if gps:
        lat, lon = gps
        place = exif.get_ifd(0x8825)
        place[1], place[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        place[3], place[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    return exif


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 10000)
    return IFDRational(degrees), IFDRational(minutes), IFDRational(seconds, 10000)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(
    width: int,
    height: int,
    *,
    depth: int = 8,
    colour: int = 0,
    rows: bytes | None = None,
    extra: list[bytes] = (),
) -> bytes:
    """A PNG written by hand, so that any header (however absurd) can be declared.

    `rows` is the raw scanline data before compression (filter byte included);
    None means all-zero rows of the declared size, compressed.
    """
    if rows is None:
        channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        stride = (width * channels * depth + 7) // 8
        compressor = zlib.compressobj(9)
        zero_row = bytes(stride + 1)
        idat = b"".join(compressor.compress(zero_row) for _ in range(height))
        idat += compressor.flush()
    else:
        idat = zlib.compress(rows)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + b"".join(extra)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def with_segments(jpeg: bytes, segments: list[bytes]) -> bytes:
    """Insert marker segments right after SOI."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def jpeg_markers(jpeg: bytes) -> list[int]:
    """Markers of the header, SOI up to and including SOS."""
    assert jpeg[:2] == b"\xff\xd8"
    markers, at = [0xD8], 2
    while at < len(jpeg):
        marker = jpeg[at + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        (length,) = struct.unpack(">H", jpeg[at + 2 : at + 4])
        at += 2 + length
    raise AssertionError("no SOS")


# D50-adapted XYZ of the sRGB primaries, as an ICC matrix/TRC profile lists them.
SRGB_PRIMARIES = {
    "red": (0.4361, 0.2225, 0.0139),
    "green": (0.3851, 0.7169, 0.0971),
    "blue": (0.1431, 0.0606, 0.7141),
}


def icc_profile(description: str, red, green, blue, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix and gamma), written by hand."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(triple) -> bytes:
        return b"XYZ " + bytes(4) + b"".join(s15(v) for v in triple)

    text = description.encode("ascii") + b"\x00"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + bytes(4) + b"none\x00\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + bytes(4 + 16 + 28)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


@pytest.fixture
def build() -> SimpleNamespace:
    """The image builders above, for tests (they cannot import a conftest)."""
    return SimpleNamespace(
        scene=scene,
        encode=encode,
        exif=exif_block,
        png=png,
        png_chunk=png_chunk,
        jpeg_segment=jpeg_segment,
        with_segments=with_segments,
        jpeg_markers=jpeg_markers,
        icc_profile=icc_profile,
        srgb_primaries=SRGB_PRIMARIES,
    )


@pytest.fixture
def photo_jpeg() -> bytes:
    """A 1600×1200 phone-like JPEG with full EXIF: time, GPS, make, model."""
    return encode(scene(1), quality=90, exif=exif_block())
