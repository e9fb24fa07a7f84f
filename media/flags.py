"""Raise the flags a reviewer should see on one photo, each with its reason.

`photo_flags` compares the facts the pipeline found in a photo with the visit
it documents and with the photos of other surveys. A flag is a reason to look,
not a verdict: "no EXIF" is only a hint (many apps strip it), and every flag
carries the numbers behind it in `detail` so the review screen can show them.

Inputs are plain dicts, so the caller decides where they come from:

- photo: `ProcessedPhoto.facts()` (`phash`, `crop_hashes`, `sha256`,
  `brightness`, `sharpness`, `mime`, `width`, `height`, `exif` with
  `present`, `problem`, `taken_at`, `gps`), plus what the phone said with the
  photo, `taken_at_device` and `gps_device`;
- visit: `survey_id`, `visited_at` (ISO-8601), `gps` of the household
  (`lat`, `lon`, optional `accuracy` in metres) or None, `group` (the
  residential group: `lat`, `lon`, `radius_m`, optional `name`) or None;
- others: photos already attached to surveys, each `survey_id`, `phash`,
  optional `crop_hashes`, `sha256` and `photo_id`; those of this same survey
  are ignored.

The phone app reads the capture time and place from the camera's EXIF and
then downscales the picture on a canvas, which drops all metadata by design:
its copy (a JPEG of at most 1600 px without EXIF) carries them only as the
photo document's `taken_at` and `gps`. For such a copy those device facts
stand in for EXIF, and a flag raised from them says so (`detail.source` is
"device", and the sentence names the phone). The "no EXIF" hint is kept for
what should have had EXIF: any other file without it, and an app copy whose
camera file had neither time nor place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from media.measures import HASH_BITS, reuse_distances
from messages import say

EARTH_RADIUS_M = 6_371_008.8

# A flag's sentences are the catalogue's `media.flag.<code without "photo.">`;
# a note (`media.flag.device_note`, `media.flag.no_camera_facts`) may follow.


@dataclass(frozen=True)
class Flag:
    code: str
    vi: str
    en: str
    detail: dict = field(default_factory=dict)
    severity: str = "warning"

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "vi": self.vi,
            "en": self.en,
            "detail": dict(self.detail),
            "severity": self.severity,
        }


@dataclass(frozen=True)
class FlagThresholds:
    """When a flag is raised. The defaults are calibrated in tests/media."""

    reuse_bits: int = 24
    max_age: timedelta = timedelta(hours=48)
    max_distance_m: float = 300.0
    dark_below: float = 40.0
    blurry_below: float = 25.0
    local_offset: timezone = timezone(timedelta(hours=7))
    max_matches: int = 5
    app_max_side: int = 1600  # the phone app's downscale (MAX_SIDE in photo.js)


DEFAULT_THRESHOLDS = FlagThresholds()  # frozen, so one shared default is safe


def photo_flags(
    photo: dict,
    visit: dict,
    others: list[dict],
    *,
    thresholds: FlagThresholds = DEFAULT_THRESHOLDS,
) -> list[Flag]:
    """Every flag this photo deserves, in a stable order."""
    checks = (_reused, _taken_before, _far_away, _too_dark, _blurry, _no_exif)
    flags = []
    for check in checks:
        flag = check(photo, visit, others, thresholds)
        if flag is not None:
            flags.append(flag)
    return flags


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points (also the
    duplicate finder's, sync/duplicates.py)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _flag(code: str, detail: dict, severity: str = "warning", note: str | None = None) -> Flag:
    vi, en = say(f"media.flag.{code.removeprefix('photo.')}", **detail)
    if note is not None:
        note_vi, note_en = say(f"media.flag.{note}")
        vi, en = f"{vi} {note_vi}", f"{en} {note_en}"
    return Flag(code, vi, en, detail, severity)


def _sourced(code: str, detail: dict, source: str) -> Flag:
    """A flag from an EXIF fact, or from the phone's, marked as such."""
    return _flag(code, {**detail, "source": source},
                 note="device_note" if source == "device" else None)


def app_copy(photo: dict, limits: FlagThresholds = DEFAULT_THRESHOLDS) -> bool:
    """Whether this is the phone app's own downscaled copy, whose EXIF was dropped by design.

    The app sends a JPEG of at most `app_max_side` px without EXIF, with the
    device facts beside it; anything else (an EXIF block, a larger picture,
    PNG or WebP, no device facts) came by another route.
    """
    size = (_number(photo.get("width")), _number(photo.get("height")))
    return (not _exif(photo).get("present")
            and photo.get("mime") == "image/jpeg"
            and None not in size and max(size) <= limits.app_max_side
            and ("taken_at_device" in photo or "gps_device" in photo))


def _capture(photo: dict, limits: FlagThresholds) -> tuple[str | None, object, object]:
    """(source, taken_at, gps): EXIF's where it has them, else the phone's for its own copy."""
    if app_copy(photo, limits):
        return "device", photo.get("taken_at_device"), photo.get("gps_device")
    exif = _exif(photo)
    return "exif", exif.get("taken_at"), exif.get("gps")


def _reused(photo, visit, others, limits: FlagThresholds) -> Flag | None:
    mine, sha, own = photo.get("phash"), photo.get("sha256"), visit.get("survey_id")
    matches, candidates = [], []
    for other in others:
        if own is not None and other.get("survey_id") == own:
            continue
        if sha and other.get("sha256") == sha:
            matches.append(_match(other, 0))
        elif isinstance(other.get("phash"), str):
            candidates.append(other)
    if isinstance(mine, str) and candidates:
        distances = reuse_distances(
            mine,
            photo.get("crop_hashes"),
            [(other["phash"], other.get("crop_hashes")) for other in candidates],
        )
        for other, distance in zip(candidates, distances, strict=True):
            if distance is not None and distance <= limits.reuse_bits:
                matches.append(_match(other, distance))
    if not matches:
        return None
    matches.sort(key=lambda m: (m["distance"], str(m["survey_id"])))
    surveys = {m["survey_id"] for m in matches}
    return _flag(
        "photo.reused",
        {
            "count": len(surveys),
            "distance": matches[0]["distance"],
            "bits": HASH_BITS,
            "matches": matches[: limits.max_matches],
        },
    )


def _match(other: dict, distance: int) -> dict:
    return {
        "survey_id": other.get("survey_id"),
        "photo_id": other.get("photo_id"),
        "distance": distance,
    }


def _taken_before(photo, visit, others, limits: FlagThresholds) -> Flag | None:
    source, taken_at, _ = _capture(photo, limits)
    taken = _moment(taken_at, limits.local_offset)
    visited = _moment(visit.get("visited_at"), limits.local_offset)
    if taken is None or visited is None:
        return None
    age = visited - taken
    if age <= limits.max_age:
        return None
    return _sourced(
        "photo.taken_before_visit",
        {
            "days": round(age / timedelta(days=1), 1),
            "taken_at": taken_at,
            "visited_at": visit["visited_at"],
        },
        source,
    )


def _far_away(photo, visit, others, limits: FlagThresholds) -> Flag | None:
    source, _, gps = _capture(photo, limits)
    where = _point(gps)
    if where is None:
        return None
    household = _point(visit.get("gps"))
    if household is not None:
        accuracy = _number(visit["gps"].get("accuracy")) or 0.0
        limit = limits.max_distance_m + max(0.0, accuracy)
        code, centre = "photo.far_from_household", household
    else:
        group = _point(visit.get("group"))
        if group is None:
            return None
        radius = _number(visit["group"].get("radius_m")) or 0.0
        limit = limits.max_distance_m + max(0.0, radius)
        code, centre = "photo.far_from_group", group
    distance = haversine_m(where["lat"], where["lon"], centre["lat"], centre["lon"])
    if distance <= limit:
        return None
    return _sourced(code, {"distance_m": round(distance), "limit_m": round(limit)}, source)


def _too_dark(photo, visit, others, limits: FlagThresholds) -> Flag | None:
    value = _number(photo.get("brightness"))
    if value is None or value >= limits.dark_below:
        return None
    return _flag("photo.too_dark", {"brightness": round(value), "limit": limits.dark_below})


def _blurry(photo, visit, others, limits: FlagThresholds) -> Flag | None:
    value = _number(photo.get("sharpness"))
    if value is None or value >= limits.blurry_below:
        return None
    if _too_dark(photo, visit, others, limits) is not None:
        return None  # darkness hides detail too; one reason is enough
    return _flag("photo.blurry", {"sharpness": round(value), "limit": limits.blurry_below})


def _no_exif(photo, visit, others, limits: FlagThresholds) -> Flag | None:
    exif = _exif(photo)
    if app_copy(photo, limits):
        device_time = _moment(photo.get("taken_at_device"), limits.local_offset)
        if device_time is not None or _point(photo.get("gps_device")) is not None:
            return None
        return _flag("photo.no_exif", {"reason": "absent", "source": "device"},
                     severity="hint", note="no_camera_facts")
    if not exif.get("present"):
        reason = "absent"
    elif exif.get("problem"):
        reason = exif["problem"]
    elif not any(exif.get(fact) for fact in ("taken_at", "gps", "make", "model")):
        reason = "empty"
    else:
        return None
    return _flag("photo.no_exif", {"reason": reason}, severity="hint")


def _exif(photo: dict) -> dict:
    exif = photo.get("exif")
    return exif if isinstance(exif, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _point(value: object) -> dict | None:
    if not isinstance(value, dict):
        return None
    lat, lon = _number(value.get("lat")), _number(value.get("lon"))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return {"lat": lat, "lon": lon}


def _moment(value: object, local: timezone) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=local)
