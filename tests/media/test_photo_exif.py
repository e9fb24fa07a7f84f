"""EXIF facts as cameras really write them: blank times, offsets, odd GPS forms."""

from __future__ import annotations

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from media.exif import exif_facts
from tests.media.conftest import exif_block

LIMIT = 256 * 1024


def facts_of(exif: Image.Exif) -> dict:
    return exif_facts(exif.tobytes(), max_bytes=LIMIT)


@pytest.mark.parametrize("blank", ["    :  :     :  :  ", "0000:00:00 00:00:00", ""])
def test_blank_original_time_falls_back_to_datetime(blank):
    exif = exif_block(taken_at=blank, offset=None)
    exif[0x0132] = "2024:03:05 08:00:00"
    exif.get_ifd(0x8769)[0x9010] = "+07:00"
    assert facts_of(exif)["taken_at"] == "2024-03-05T08:00:00+07:00"


def test_each_time_takes_its_own_offset():
    exif = exif_block(taken_at="0000:00:00 00:00:00", offset="+09:00")
    details = exif.get_ifd(0x8769)
    details[0x9004] = "2024:03:05 08:00:00"
    details[0x9012] = "-03:30"
    assert facts_of(exif)["taken_at"] == "2024-03-05T08:00:00-03:30"


@pytest.mark.parametrize(("written", "kept"), [("+07:00", "+07:00"), ("+0700", "+07:00"),
                                               ("-05:45", "-05:45"), ("+07:00\x00", "+07:00"),
                                               ("+25:00", ""), ("local", "")])
def test_offsets_are_kept_in_standard_form(written, kept):
    exif = exif_block(offset=written)
    assert facts_of(exif)["taken_at"] == "2026-11-20T09:15:00" + kept


def gps_exif(lat, lat_ref, lon, lon_ref) -> Image.Exif:
    exif = exif_block(gps=None)
    place = exif.get_ifd(0x8825)
    place[1], place[2], place[3], place[4] = lat_ref, lat, lon_ref, lon
    return exif


def r(value) -> IFDRational:
    return IFDRational(value)


@pytest.mark.parametrize(("lat", "lat_ref", "lon", "lon_ref", "expected"), [
    ((r(20), r(15), r(10)), "n", (r(105), r(58), r(30)), "e", (20.2527778, 105.975)),
    ((r(20), r(15), r(60)), "N", (r(105), r(58), r(60)), "W", (20.2666667, -105.9833333)),
    ((r(20.253),), "S", (r(105.9745),), "E", (-20.253, 105.9745)),
    ((r(20), r(15.18)), "N", (r(105), r(58.47)), "E", (20.253, 105.9745)),
])
def test_gps_forms_exiftool_reads(lat, lat_ref, lon, lon_ref, expected):
    gps = facts_of(gps_exif(lat, lat_ref, lon, lon_ref))["gps"]
    assert (gps["lat"], gps["lon"]) == pytest.approx(expected)


def test_gps_with_the_wrong_axis_reference_is_not_a_place():
    assert facts_of(gps_exif((r(20), r(15), r(10)), "E", (r(105), r(0), r(0)), "E"))["gps"] is None
