"""photo_flags: one case per flag, and the quiet case raises none."""

from __future__ import annotations

from media.flags import haversine_m, photo_flags

HOME = {"lat": 20.2530, "lon": 105.9745, "accuracy": 10}


def facts(**changes) -> dict:
    photo = {
        "sha256": "1" * 64,
        "phash": "a36a9b721e1f0bc1a36a9b721e1f0bc1a36a",
        "crop_hashes": ["ffffffffffffffffffffffffffffffffffff"],
        "brightness": 120.0,
        "sharpness": 500.0,
        "exif": {
            "present": True,
            "problem": None,
            "taken_at": "2026-11-20T09:15:00+07:00",
            "gps": {"lat": 20.2531, "lon": 105.9746},
        },
    }
    photo.update(changes)
    return photo


VISIT = {"survey_id": "survey:1", "visited_at": "2026-11-20T09:40:00+07:00", "gps": HOME}


def codes(flags) -> list[str]:
    return [flag.code for flag in flags]


def test_good_photo_raises_no_flag():
    assert photo_flags(facts(), VISIT, []) == []


def test_reused_photo_from_another_survey():
    mine = facts()["phash"]
    others = [
        {"survey_id": "survey:2", "phash": mine[:-1] + "b", "photo_id": "photo:9"},
        {"survey_id": "survey:1", "phash": mine},
        {"survey_id": "survey:3", "phash": "5c95648de1e0f43e5c95648de1e0f43e5c95"},
    ]
    [flag] = photo_flags(facts(), VISIT, others)
    assert flag.code == "photo.reused"
    assert flag.detail["matches"] == [
        {"survey_id": "survey:2", "photo_id": "photo:9", "distance": 1}
    ]
    assert "1/144" in flag.en and "1/144" in flag.vi


def test_reuse_found_through_crop_hashes_both_ways():
    far = "0" * 36
    other = {"survey_id": "survey:2", "phash": far, "crop_hashes": [facts()["phash"]]}
    assert codes(photo_flags(facts(), VISIT, [other])) == ["photo.reused"]
    mine_cropped = facts(crop_hashes=[far])
    assert codes(photo_flags(mine_cropped, VISIT, [{"survey_id": "s:4", "phash": far}])) == [
        "photo.reused"
    ]
    assert photo_flags(facts(), VISIT, [{"survey_id": "s:4", "phash": far}]) == []


def test_identical_original_is_reused_whatever_the_hash():
    other = {"survey_id": "survey:2", "sha256": "1" * 64, "phash": None}
    [flag] = photo_flags(facts(), VISIT, [other])
    assert flag.detail["distance"] == 0


def test_taken_long_before_visit():
    photo = facts(exif={**facts()["exif"], "taken_at": "2026-10-01T08:00:00+07:00"})
    [flag] = photo_flags(photo, VISIT, [])
    assert flag.code == "photo.taken_before_visit"
    assert flag.detail["days"] == 50.1


def test_local_time_without_offset_is_read_as_vietnam_time():
    # 09:30 on the 18th is 48 h 10 min before the visit in Vietnam time, but
    # only 41 h before it if the same wall-clock time were read as UTC.
    naive = facts(exif={**facts()["exif"], "taken_at": "2026-11-18T09:30:00"})
    utc = facts(exif={**facts()["exif"], "taken_at": "2026-11-18T09:30:00+00:00"})
    assert codes(photo_flags(naive, VISIT, [])) == ["photo.taken_before_visit"]
    assert photo_flags(utc, VISIT, []) == []


def test_gps_far_from_household():
    photo = facts(exif={**facts()["exif"], "gps": {"lat": 20.2630, "lon": 105.9745}})
    [flag] = photo_flags(photo, VISIT, [])
    assert flag.code == "photo.far_from_household"
    assert 1100 < flag.detail["distance_m"] < 1125


def test_gps_far_from_group_when_household_has_no_position():
    visit = {**VISIT, "gps": None, "group": {"lat": 20.2530, "lon": 105.9745, "radius_m": 400}}
    near = facts(exif={**facts()["exif"], "gps": {"lat": 20.2580, "lon": 105.9745}})
    far = facts(exif={**facts()["exif"], "gps": {"lat": 20.2630, "lon": 105.9745}})
    assert photo_flags(near, visit, []) == []
    assert codes(photo_flags(far, visit, [])) == ["photo.far_from_group"]


def test_too_dark_and_blurry():
    assert codes(photo_flags(facts(brightness=12.0), VISIT, [])) == ["photo.too_dark"]
    assert codes(photo_flags(facts(sharpness=8.0), VISIT, [])) == ["photo.blurry"]


def test_no_exif_is_a_hint():
    photo = facts(exif={"present": False, "problem": None, "taken_at": None, "gps": None})
    [flag] = photo_flags(photo, VISIT, [])
    assert (flag.code, flag.severity) == ("photo.no_exif", "hint")
    assert flag.detail == {"reason": "absent"}


def test_haversine_one_degree_of_latitude():
    assert abs(haversine_m({"lat": 0, "lon": 0}, {"lat": 1, "lon": 0}) - 111_195) < 5
