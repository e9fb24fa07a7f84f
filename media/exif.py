"""Read the facts a reviewer needs from a photo's EXIF block, and nothing else.

EXIF is written by the phone and by whoever edited the file after it, so every
value is checked before it becomes a fact: a capture time must be a real date,
GPS must be a real coordinate, make and model are trimmed text. A block too big
to be a camera's or too broken to parse yields no facts and says why, never an
exception: the pixels may still be good evidence.
"""

from __future__ import annotations

import math
import numbers
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
TAG_OFFSET_TIME_DIGITIZED = 0x9012
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4

# "+07:00" as the standard writes it; "+0700" as some phones do.
_OFFSET = re.compile(r"^([+-])(0\d|1[0-4]):?([0-5]\d)$")
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
    facts["taken_at"] = _capture_time(exif, details)
    facts["gps"] = _gps(exif.get_ifd(IFD_GPS))
    return facts


def _capture_time(exif: Image.Exif, details: dict) -> str | None:
    """The first real time of DateTimeOriginal, DateTimeDigitized and DateTime.

    Cameras that do not know the time write blanks or zeros ("0000:00:00
    00:00:00") rather than leave a tag out, so a tag that is there but not a
    date gives way to the next. Each time takes its own offset tag, else the
    general OffsetTime, as exiftool pairs them.
    """
    general = details.get(TAG_OFFSET_TIME)
    candidates = (
        (details.get(TAG_DATETIME_ORIGINAL), details.get(TAG_OFFSET_TIME_ORIGINAL)),
        (details.get(TAG_DATETIME_DIGITIZED), details.get(TAG_OFFSET_TIME_DIGITIZED)),
        (exif.get(TAG_DATETIME), None),
    )
    for stamp, offset in candidates:
        taken = _taken_at(stamp, _offset(offset) or _offset(general))
        if taken is not None:
            return taken
    return None


def _offset(value: object) -> str | None:
    """A time zone offset as "+HH:MM", or None if it is not one."""
    found = _OFFSET.match(_text(value) or "")
    return f"{found[1]}{found[2]}:{found[3]}" if found else None


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ").strip()
    return value[:_TEXT_LIMIT] or None


def _taken_at(stamp: object, offset: str | None) -> str | None:
    stamp = _text(stamp)
    if not stamp:
        return None
    try:
        moment = datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    return moment.isoformat() + (offset or "")


def _gps(ifd: dict) -> dict | None:
    lat = _degrees(ifd.get(GPS_LAT), ifd.get(GPS_LAT_REF), "NS")
    lon = _degrees(ifd.get(GPS_LON), ifd.get(GPS_LON_REF), "EW")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None  # "null island": a phone without a fix, not a place
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def _degrees(dms: object, ref: object, refs: str) -> float | None:
    """Degrees from one to three numbers, read as exiftool reads them.

    Most cameras write degrees, minutes and seconds; some write decimal degrees
    alone (or degrees and decimal minutes), some round seconds up to 60, some
    write the reference in lower case. A reference that names the other axis
    or nothing known makes the value unusable; a missing one reads as N or E.
    """
    if isinstance(dms, numbers.Real):  # one value: Pillow gives it bare, not in a tuple
        dms = (dms,)
    if not isinstance(dms, tuple) or not 1 <= len(dms) <= 3:
        return None
    try:
        parts = [float(part) for part in dms]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(x) and x >= 0 for x in parts) or any(x > 60 for x in parts[1:]):
        return None
    ref = (_text(ref) or refs[0]).upper()[:1]
    if ref not in (refs[0], refs[1]):
        return None
    value = sum(part / 60**power for power, part in enumerate(parts))
    return -value if ref == refs[1] else value
