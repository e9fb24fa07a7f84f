"""Numbers computed from pixels: perceptual hashes, brightness, sharpness.

The perceptual hash is a DCT hash in the manner of pHash: the picture as a
32×32 greyscale grid, its 2-D DCT-II, and the 12×12 lowest frequencies each
compared with their median, 144 bits written as 36 hex digits. The classic
8×8 (64-bit) pHash was measured and rejected: on synthetic street scenes that
share palette and structure (tests/media) two different houses came within 6
bits, as close as a cropped copy of one photo; at 12×12 the copies stay within
18 bits and different scenes 28 or more apart (100 scenes, 4950 pairs).

A whole-frame hash survives re-encoding and resizing but not cropping, so each
photo also gets `crop_hashes`, the hashes of 39 fixed sub-frames (85–95 % of
the frame at nine anchors, and one-sided cuts of 4, 8 and 15 %). A cropped copy's
whole frame lands near one of the original's sub-frames, or the other way
round; `reuse_distance` takes the best of those comparisons.

NumPy does the arithmetic: each sub-frame's resampling to 32×32 (exact area
averaging) and its DCT fold into two fixed 12×128 matrices, so all 36 hashes
are one batched product, about a millisecond. ImageHash was not used: its
64-bit hashes are the ones rejected above, and it would add SciPy and
PyWavelets for one function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter, ImageStat

HASH_SIDE = 32
HASH_BITS_SIDE = 12
HASH_BITS = HASH_BITS_SIDE * HASH_BITS_SIDE
BASE_SIDE = 128
SHARPNESS_SIDE = 640


def _crop_boxes() -> list[tuple[float, float, float, float]]:
    """Sub-frames as fractions (x0, y0, x1, y1) of the whole frame."""
    boxes = []
    for scale in (0.95, 0.9, 0.85):
        for ax in (0.0, 0.5, 1.0):
            for ay in (0.0, 0.5, 1.0):
                x0, y0 = (1 - scale) * ax, (1 - scale) * ay
                boxes.append((x0, y0, x0 + scale, y0 + scale))
    for cut in (0.04, 0.08, 0.15):
        boxes += [(cut, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0 - cut, 1.0)]
        boxes += [(0.0, cut, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0 - cut)]
    return boxes


CROP_BOXES = _crop_boxes()

_DCT = np.array(
    [
        [np.cos(np.pi * k * (2 * n + 1) / (2 * HASH_SIDE)) for n in range(HASH_SIDE)]
        for k in range(HASH_BITS_SIDE)
    ]
)


def _area_matrix(start: float, end: float) -> np.ndarray:
    """HASH_SIDE × BASE_SIDE weights averaging [start, end) (fractions) into 32 cells."""
    lo, hi = start * BASE_SIDE, end * BASE_SIDE
    edges = np.linspace(lo, hi, HASH_SIDE + 1)
    pixels = np.arange(BASE_SIDE)
    overlap = np.clip(
        np.minimum(edges[1:, None], pixels[None, :] + 1) - np.maximum(edges[:-1, None], pixels),
        0,
        None,
    )
    return overlap / overlap.sum(axis=1, keepdims=True)


# For each frame (whole, then the sub-frames) the DCT folded with its
# resampling: low = (C @ Ry) @ base @ (C @ Rx).T, one batched product.
_FRAMES = [(0.0, 0.0, 1.0, 1.0), *CROP_BOXES]
_ROWS = np.stack([_DCT @ _area_matrix(y0, y1) for _, y0, _, y1 in _FRAMES])
_COLS = np.stack([_DCT @ _area_matrix(x0, x1) for x0, _, x1, _ in _FRAMES])

_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)


def perceptual_hashes(grey: Image.Image) -> tuple[str, tuple[str, ...]]:
    """The whole frame's hash and the hashes of the sub-frames in CROP_BOXES."""
    base = grey.convert("L").resize((BASE_SIDE, BASE_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(base, dtype=np.float64)
    lows = (_ROWS @ pixels @ _COLS.transpose(0, 2, 1)).reshape(len(_FRAMES), -1)
    bits = np.packbits(lows > np.median(lows, axis=1, keepdims=True), axis=1)
    hashes = [row.tobytes().hex() for row in bits]
    return hashes[0], tuple(hashes[1:])


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two hex hashes of equal length."""
    if len(a) != len(b):
        raise ValueError("hashes of different lengths")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def reuse_distance(a_hash: str, a_crops: Sequence[str], b_hash: str, b_crops: Sequence[str]) -> int:
    """Bits apart, at the best alignment: whole frames, or either one a crop of the other."""
    a, b = int(a_hash, 16), int(b_hash, 16)
    best = (a ^ b).bit_count()
    for crop in b_crops:
        best = min(best, (a ^ int(crop, 16)).bit_count())
    for crop in a_crops:
        best = min(best, (b ^ int(crop, 16)).bit_count())
    return best


def brightness(grey: Image.Image) -> float:
    """Mean luma, 0 (black) to 255 (white)."""
    return round(ImageStat.Stat(grey).mean[0], 1)


def sharpness(grey: Image.Image) -> float:
    """Variance of the Laplacian; give it the picture at SHARPNESS_SIDE.

    Blur removes the fine detail the Laplacian responds to, so a low variance
    means a blurry (or featureless) photo. Measured at one scale (longest side
    640 px) so that the same scene scores the same whatever the camera's
    resolution.
    """
    edges = grey.filter(_LAPLACIAN)
    return round(ImageStat.Stat(edges).var[0], 1)
