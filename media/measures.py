"""Numbers computed from pixels: perceptual hash, brightness, sharpness.

The perceptual hash is the classic 64-bit DCT hash (pHash), computed the same
way as ImageHash's `phash` (32×32 greyscale by Lanczos, 2-D DCT-II, the 8×8
lowest frequencies compared with their median) so hashes stay comparable with
that widely used library, but in a few lines of plain Python over Pillow: only
64 of the 1024 DCT coefficients are needed, so NumPy and SciPy would buy
nothing but weight. Re-encoding, resizing and small crops move few bits;
different scenes move about half of them.
"""

from __future__ import annotations

import math
from operator import mul

from PIL import Image, ImageFilter, ImageStat

HASH_SIDE = 32
HASH_BITS_SIDE = 8
SHARPNESS_SIDE = 640

_COS = [
    [math.cos(math.pi * k * (2 * n + 1) / (2 * HASH_SIDE)) for n in range(HASH_SIDE)]
    for k in range(HASH_BITS_SIDE)
]
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)


def phash(image: Image.Image) -> str:
    """64-bit perceptual hash as 16 hex digits, first bit = lowest frequency."""
    small = image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS)
    data = list(small.tobytes())
    rows = [data[i * HASH_SIDE : (i + 1) * HASH_SIDE] for i in range(HASH_SIDE)]
    by_row = [[sum(map(mul, row, cos)) for cos in _COS] for row in rows]
    low = [
        sum(_COS[u][i] * by_row[i][v] for i in range(HASH_SIDE))
        for u in range(HASH_BITS_SIDE)
        for v in range(HASH_BITS_SIDE)
    ]
    median = _median(low)
    bits = 0
    for value in low:
        bits = (bits << 1) | (value > median)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of equal length."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def brightness(grey: Image.Image) -> float:
    """Mean luma, 0 (black) to 255 (white)."""
    return round(ImageStat.Stat(grey).mean[0], 1)


def sharpness(grey: Image.Image) -> float:
    """Variance of the Laplacian at a fixed scale (longest side 640 px).

    Blur removes the fine detail the Laplacian responds to, so a low variance
    means a blurry (or featureless) photo. Measured at one scale so that the
    same scene scores the same whatever the camera's resolution.
    """
    if max(grey.size) > SHARPNESS_SIDE:
        grey = grey.copy()
        grey.thumbnail((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR)
    edges = grey.filter(_LAPLACIAN)
    return round(ImageStat.Stat(edges).var[0], 1)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return (ordered[middle - 1] + ordered[middle]) / 2
