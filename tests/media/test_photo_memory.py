"""Decoding one photo takes bounded memory, whatever its format, measured for real.

Each file is processed in a child process of its own, which reports how far
its peak resident memory rose during `process_photo`: the figure is the
kernel's high-water mark of the child's memory (`VmHWM`), not an estimate.
Not `ru_maxrss`: Linux carries the parent's peak into it across exec, and
the parent here has just drawn a 49-megapixel picture. Files just under the
50-megapixel limit are the ones the trial found decoded in full (a 1.9 KB
WebP took 787 MB); they must now be refused cheaply or decoded reduced.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from media.pipeline import Limits

BUDGET_MB = 192  # measured at the limit: PNG 88, progressive JPEG 130, WebP 151

CHILD = """
import json, sys
from media.pipeline import PhotoRejected, process_photo

def peak_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

data = open(sys.argv[1], "rb").read()
before = peak_kb()
try:
    process_photo(data)
    outcome = "accepted"
except PhotoRejected as refusal:
    outcome = refusal.code
print(json.dumps({"outcome": outcome, "grew_mb": (peak_kb() - before) / 1024,
                  "peak_mb": peak_kb() / 1024}))
"""


def peak_growth(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                          text=True, check=True, timeout=120)
    return json.loads(done.stdout)


def picture(mode: str, side: int) -> Image.Image:
    image = Image.new(mode, (side, side), (90, 120, 200, 160)[: len(mode)])
    draw = ImageDraw.Draw(image)
    for x in range(0, side, side // 16):
        draw.line([(x, 0), (side - x, side)], fill=(250, 200, 40, 255)[: len(mode)], width=9)
    return image


UNDER_THE_PIXEL_LIMIT = 7000  # 49 MP
AT_THE_FULL_DECODE_LIMIT = math.isqrt(Limits().max_full_decode_pixels)

CASES = {
    "png-49mp": ("RGBA", UNDER_THE_PIXEL_LIMIT, "PNG", {}),
    "webp-49mp": ("RGB", UNDER_THE_PIXEL_LIMIT, "WEBP", {"lossless": True}),
    "progressive-jpeg-49mp": ("RGB", UNDER_THE_PIXEL_LIMIT, "JPEG", {"progressive": True}),
    "jpeg-49mp": ("RGB", UNDER_THE_PIXEL_LIMIT, "JPEG", {}),
    "png-at-limit": ("RGBA", AT_THE_FULL_DECODE_LIMIT, "PNG", {}),
    "webp-at-limit": ("RGBA", AT_THE_FULL_DECODE_LIMIT, "WEBP", {"lossless": True}),
    "progressive-jpeg-at-limit": ("RGB", AT_THE_FULL_DECODE_LIMIT, "JPEG",
                                  {"progressive": True, "subsampling": 0}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_peak_memory_of_one_photo_is_bounded(case, tmp_path):
    mode, side, fmt, params = CASES[case]
    path = tmp_path / "photo"
    picture(mode, side).save(path, fmt, **params)
    result = peak_growth(path)
    assert result["grew_mb"] < BUDGET_MB, result
    if side == AT_THE_FULL_DECODE_LIMIT or case == "jpeg-49mp":
        assert result["outcome"] == "accepted"
    else:
        assert result["outcome"] == "photo.too_many_pixels_for_format"
