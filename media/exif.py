"""Read the facts a reviewer needs from a photo's EXIF block, and nothing else.

EXIF is written by the phone and by whoever edited the file after it, so every
value is checked before it becomes a fact: a capture time must be a real date,
GPS must be a real coordinate, make and model are trimmed text. A block too big
to be a camera's or too broken to parse yields no facts and says why, never an
exception: the pixels may still be good evidence.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from PIL import Image

TAG_ORIENTATION = 0x0112
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_DATETIME = 0x0132
IFD_EXIF = 0x8769
IFD_GPS = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003
TAG_DATETIME_DIGITIZED = 0x9004
TAG_OFFSET_TIME = 0x9010
TAG_OFFSET_TIME_ORIGINAL = 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4

_OFFSET = re.compile(r"^[+-](?:0\d|1[0-4]):[0-5]\d$")
_TEXT_LIMIT = 64


def _no_facts(present: bool = False, problem: str | None = None) -> dict:
    return {
        "present": present,
        "problem": problem,
        "taken_at": None,
        "gps": None,
        "make": None,
        "model": None,
        "orientation": 1,
    }


def exif_facts(raw: bytes | None, *, max_bytes: int) -> dict:
    """Facts from raw EXIF bytes (with or without the "Exif\\0\\0" header)."""
    if not raw:
        return _no_facts()
    if len(raw) > max_bytes:
        return _no_facts(present=True, problem="oversized")
    try:
        exif = Image.Exif()
        exif.load(raw)
        return _facts(exif)
    except Exception:  # any parser failure on untrusted EXIF means "no facts", not a crash
        return _no_facts(present=True, problem="unreadable")


def _facts(exif: Image.Exif) -> dict:
    facts = _no_facts(present=True)
    facts["make"] = _text(exif.get(TAG_MAKE))
    facts["model"] = _text(exif.get(TAG_MODEL))
    orientation = exif.get(TAG_ORIENTATION)
    facts["orientation"] = orientation if orientation in range(1, 9) else 1
    details = exif.get_ifd(IFD_EXIF)
    facts["taken_at"] = _taken_at(
        details.get(TAG_DATETIME_ORIGINAL)
        or details.get(TAG_DATETIME_DIGITIZED)
        or exif.get(TAG_DATETIME),
        details.get(TAG_OFFSET_TIME_ORIGINAL) or details.get(TAG_OFFSET_TIME),
    )
    facts["gps"] = _gps(exif.get_ifd(IFD_GPS))
    return facts


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ").strip()
    return value[:_TEXT_LIMIT] or None


def _taken_at(stamp: object, offset: object) -> str | None:
    stamp = _text(stamp)
    if not stamp:
        return None
    try:
        moment = datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    iso = moment.isoformat()
    offset = _text(offset)
    if offset and _OFFSET.match(offset):
        iso += offset
    return iso


def _gps(ifd: dict) -> dict | None:
    lat = _degrees(ifd.get(GPS_LAT), ifd.get(GPS_LAT_REF), "NS")
    lon = _degrees(ifd.get(GPS_LON), ifd.get(GPS_LON_REF), "EW")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None  # "null island": a phone without a fix, not a place
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def _degrees(dms: object, ref: object, refs: str) -> float | None:
    if not isinstance(dms, tuple) or len(dms) != 3:
        return None
    try:
        d, m, s = (float(part) for part in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(x) and x >= 0 for x in (d, m, s)) or m >= 60 or s >= 60:
        return None
    ref = _text(ref)
    if ref not in (refs[0], refs[1]):
        return None
    value = d + m / 60 + s / 3600
    return -value if ref == refs[1] else value
