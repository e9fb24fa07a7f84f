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
the frame at nine anchors, and one-sided cuts of 4, 8 and 15 %) written one
after the other as one hex string. A cropped copy's whole frame lands near
one of the original's sub-frames, or the other way round; `reuse_distances`
takes the best of those comparisons, for many stored photos at once.

NumPy does the arithmetic: the thumbnail is resized to 64×64 grey once, and
each frame's resampling to 32×32 (exact area averaging) and its DCT fold into
two fixed 12×64 matrices, so all 40 hashes are one batched product, under a
millisecond (a 128×128 base measured the same separation at twice the cost).
ImageHash was not used: its 64-bit hashes are the ones rejected above, and it
would add SciPy and PyWavelets for one function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter, ImageStat

HASH_SIDE = 32
HASH_BITS_SIDE = 12
HASH_BITS = HASH_BITS_SIDE * HASH_BITS_SIDE
HASH_BYTES = HASH_BITS // 8
BASE_SIDE = 64
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


def perceptual_hashes(grey: Image.Image) -> tuple[str, str]:
    """The whole frame's hash, and the sub-frames' hashes (CROP_BOXES order) joined."""
    base = grey.convert("L").resize((BASE_SIDE, BASE_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(base, dtype=np.float64)
    lows = (_ROWS @ pixels @ _COLS.transpose(0, 2, 1)).reshape(len(_FRAMES), -1)
    bits = np.packbits(lows > np.median(lows, axis=1, keepdims=True), axis=1)
    return bits[0].tobytes().hex(), bits[1:].tobytes().hex()


def reuse_distances(
    phash: str, crop_hashes: str | None, others: Sequence[tuple[str, str | None]]
) -> list[int | None]:
    """Bits between one photo and each of `others` at the best alignment.

    Each photo is (whole-frame hash, joined crop hashes or None) in hex. The
    best alignment is the least of: whole against whole, this whole frame
    against each of the other's sub-frames, and each of this photo's
    sub-frames against the other's whole frame. A photo whose whole-frame
    hash is malformed gets None; malformed crop hashes count as absent.
    """
    count = len(CROP_BOXES)
    mine = _parse([phash], 1)
    if mine is None or not others:
        return [None] * len(others)
    mine_crops = _parse([crop_hashes], count)
    if mine_crops is None:
        mine_crops = np.repeat(mine, count, axis=1)
    whole = _parse([full for full, _ in others], 1)
    if whole is None:  # rare: some are malformed, so set those aside one by one
        kept = [i for i, (full, _) in enumerate(others) if _parse([full], 1) is not None]
        result: list[int | None] = [None] * len(others)
        distances = reuse_distances(phash, crop_hashes, [others[i] for i in kept])
        for i, distance in zip(kept, distances, strict=True):
            result[i] = distance
        return result
    crops = [theirs or full * count for full, theirs in others]
    their_crops = _parse(crops, count)
    if their_crops is None:
        crops = [
            crop if _parse([crop], count) is not None else full * count
            for crop, (full, _) in zip(crops, others, strict=True)
        ]
        their_crops = _parse(crops, count)
    apart = np.concatenate(
        [_bits_apart(whole, mine), _bits_apart(their_crops, mine), _bits_apart(whole, mine_crops)],
        axis=1,
    )
    return apart.min(axis=1).tolist()


def _parse(hexes: list, count: int) -> np.ndarray | None:
    """Hex hashes as an array of 16-bit words, shape (len, count, words); None if malformed.

    Words rather than bytes: half the elements for NumPy, the same bits.
    """
    size = 2 * HASH_BYTES * count
    if not all(isinstance(h, str) and len(h) == size for h in hexes):
        return None
    try:
        raw = bytes.fromhex("".join(hexes))
    except ValueError:
        return None
    if len(raw) != HASH_BYTES * count * len(hexes):
        return None  # fromhex skips whitespace: a spaced string is not a hash
    return np.frombuffer(raw, np.uint16).reshape(len(hexes), count, HASH_BYTES // 2)


def _bits_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int32)


# The reuse index. A stored photo is filed under the six 24-bit bands of its
# whole-frame hash. A new photo looks up every band value within one bit of
# its own whole-frame hash's, and each band of its 39 sub-frame hashes as it
# is: at most 384 keys. By the pigeonhole principle a stored hash within 11
# bits of the new whole frame shares a band within one bit, so it is always
# found (re-encoding, resizing, format changes move 4 bits or fewer); a crop
# is found when one of the new sub-frames matches a band exactly: 414 of the
# 430 copy pairs within 24 bits on 30 calibration scenes were found
# (tests/media/test_photo_reuse.py). Each key looked up costs an index probe,
# which at a million photos is a page read, so few keys keep the cost flat:
# two bits around the whole frame (about 2,000 keys) found 425 of the 430
# but cost 2.8 times as much at a million as at 10,000 on SQLite. A random
# unrelated photo shares a key about once in 40,000: some 25 to compare at
# a million stored.
BAND_BITS = 24
BANDS = HASH_BITS // BAND_BITS
_BAND_TAGS = np.arange(BANDS, dtype=np.int64) << BAND_BITS
_WITHIN_ONE_BIT = np.concatenate([[0], np.int64(1) << np.arange(BAND_BITS, dtype=np.int64)])


def _band_values(hexes: str, count: int) -> np.ndarray | None:
    """(count, BANDS) band values of `count` hashes joined in hex; None if malformed."""
    parsed = _parse([hexes], count)
    if parsed is None:
        return None
    raw = parsed.view(np.uint8).reshape(count, BANDS, BAND_BITS // 8).astype(np.int64)
    return (raw[..., 0] << 16) | (raw[..., 1] << 8) | raw[..., 2]


def hash_bands(phash: str) -> list[int]:
    """The keys a stored photo is filed under: each band's value tagged with its number."""
    values = _band_values(phash, 1)
    return [] if values is None else (values[0] | _BAND_TAGS).tolist()


def probe_keys(phash: str, crop_hashes: str | None) -> list[int]:
    """The keys to look up for a new photo: every value within one bit of each
    band of its whole-frame hash, and each band of its sub-frame hashes when
    they are well-formed."""
    values = _band_values(phash, 1)
    if values is None:
        return []
    keys = [((values[0, :, None] ^ _WITHIN_ONE_BIT) | _BAND_TAGS[:, None]).ravel()]
    crops = _band_values(crop_hashes, len(CROP_BOXES)) if crop_hashes else None
    if crops is not None:
        keys.append((crops | _BAND_TAGS).ravel())
    return np.unique(np.concatenate(keys)).tolist()


def brightness(grey: Image.Image) -> float:
    """Mean luma, 0 (black) to 255 (white)."""
    return round(ImageStat.Stat(grey).mean[0], 1)


def sharpness(grey: Image.Image) -> float:
    """Variance of the Laplacian; give it the picture at SHARPNESS_SIDE.

    Blur removes the fine detail the Laplacian responds to, so a low variance
    means a blurry (or featureless) photo. The response is offset by 128 and
    clipped to 0..255, which only caps very sharp photos. Measured at one scale (longest side
    640 px) so that the same scene scores the same whatever the camera's
    resolution.
    """
    width, height = grey.size
    if width < 3 or height < 3:
        return 0.0
    # Pillow leaves the outermost pixels unfiltered: they are not edges.
    edges = grey.filter(_LAPLACIAN).crop((1, 1, width - 1, height - 1))
    return round(ImageStat.Stat(edges).var[0], 1)
