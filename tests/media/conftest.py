"""Images built here, never downloaded: scenes, encodings and EXIF blocks.

`scene(seed)` draws a street-side house (sky, roof, wall, windows, door, tree,
ground) with the same palette for every seed and the layout drawn from the
seed, plus noise for the texture a camera sensor leaves. Different seeds are
"different photos of similar scenes"; the same seed re-encoded, resized or
cropped is "the same photo reused".
"""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw, ImageFilter
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
    noise = Image.effect_noise(size, 48).convert("RGB")
    return Image.blend(image.filter(ImageFilter.SMOOTH), noise, 0.12)


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


@pytest.fixture
def make_scene():
    return scene


@pytest.fixture
def make_exif():
    return exif_block


@pytest.fixture
def encode_image():
    return encode


@pytest.fixture
def photo_jpeg() -> bytes:
    """A 1600×1200 phone-like JPEG with full EXIF: time, GPS, make, model."""
    return encode(scene(1), quality=90, exif=exif_block())
