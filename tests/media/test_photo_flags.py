"""photo_flags: one case per flag, and the quiet case raises none."""

from __future__ import annotations

import pytest

from media.flags import haversine_m, photo_flags
from media.measures import CROP_BOXES

HOME = {"lat": 20.2530, "lon": 105.9745, "accuracy": 10}


def facts(**changes) -> dict:
    photo = {
        "sha256": "1" * 64,
        "phash": "a36a9b721e1f0bc1a36a9b721e1f0bc1a36a",
        "crop_hashes": "f" * 36 * len(CROP_BOXES),
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
    # The other photo's sub-frame 7 is this photo: this one is a crop of it.
    crops = [far] * len(CROP_BOXES)
    crops[7] = facts()["phash"]
    other = {"survey_id": "survey:2", "phash": far, "crop_hashes": "".join(crops)}
    assert codes(photo_flags(facts(), VISIT, [other])) == ["photo.reused"]
    # This photo's sub-frame matches the other's whole frame: the other is a crop.
    mine_cropped = facts(crop_hashes=far * len(CROP_BOXES))
    alone = {"survey_id": "s:4", "phash": far}
    assert codes(photo_flags(mine_cropped, VISIT, [alone])) == ["photo.reused"]
    assert photo_flags(facts(), VISIT, [alone]) == []


def test_malformed_hashes_are_skipped():
    others = [
        {"survey_id": "s:2", "phash": "zz" * 18},
        {"survey_id": "s:3", "phash": facts()["phash"][:-2]},
        {"survey_id": "s:4", "phash": " " + facts()["phash"][1:]},
        {"survey_id": "s:5", "phash": facts()["phash"], "crop_hashes": "nonsense"},
    ]
    [flag] = photo_flags(facts(), VISIT, others)
    assert [m["survey_id"] for m in flag.detail["matches"]] == ["s:5"]


def test_a_visit_without_survey_id_still_compares_with_everything():
    other = {"phash": facts()["phash"]}
    assert codes(photo_flags(facts(), {"visited_at": None}, [other])) == ["photo.reused"]


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
    dark_and_flat = facts(brightness=12.0, sharpness=8.0)
    assert codes(photo_flags(dark_and_flat, VISIT, [])) == ["photo.too_dark"]


def test_no_exif_is_a_hint():
    photo = facts(exif={"present": False, "problem": None, "taken_at": None, "gps": None})
    [flag] = photo_flags(photo, VISIT, [])
    assert (flag.code, flag.severity) == ("photo.no_exif", "hint")
    assert flag.detail == {"reason": "absent"}


def test_haversine_one_degree_of_latitude():
    assert abs(haversine_m(0, 0, 1, 0) - 111_195) < 5


def test_reuse_distances_agree_with_a_plain_count():
    import random

    from media.measures import reuse_distances

    rng = random.Random(5)
    k = len(CROP_BOXES)

    def digest() -> str:
        return rng.randbytes(18).hex()

    def bits(a: str, b: str) -> int:
        return bin(int(a, 16) ^ int(b, 16)).count("1")

    mine, mine_crops = digest(), [digest() for _ in range(k)]
    others = [(digest(), [digest() for _ in range(k)]) for _ in range(20)]
    others.append((digest(), None))
    expected = [
        min(
            [bits(mine, full)]
            + [bits(mine, c) for c in (crops or [full])]
            + [bits(c, full) for c in mine_crops]
        )
        for full, crops in others
    ]
    got = reuse_distances(mine, "".join(mine_crops), [(f, "".join(c or [])) for f, c in others])
    assert got == expected
    # A malformed whole-frame hash among them is set aside, the rest still compared.
    broken = reuse_distances(
        mine, "".join(mine_crops), [("xyz", None), *[(f, None) for f, _ in others]]
    )
    assert broken[0] is None and broken[1:] == reuse_distances(
        mine, "".join(mine_crops), [(f, None) for f, _ in others]
    )


# The phone app's own copy: a JPEG of at most 1600 px whose EXIF the canvas
# dropped, with the capture time and place the phone read beside it.
def app_copy_facts(**device) -> dict:
    return facts(mime="image/jpeg", width=1600, height=1200,
                 exif={"present": False, "problem": None, "taken_at": None, "gps": None},
                 **device)


HANOI_FAR = {"lat": 21.0285, "lon": 105.8542 + 10, "accuracy": None}  # ~1,100 km away


def test_app_copy_old_and_far_is_flagged_from_the_device_facts():
    photo = app_copy_facts(taken_at_device="2024-05-01T10:00:00+07:00", gps_device=HANOI_FAR)
    flags = photo_flags(photo, VISIT, [])
    assert codes(flags) == ["photo.taken_before_visit", "photo.far_from_household"]
    assert all(flag.detail["source"] == "device" for flag in flags)
    assert all("phone" in flag.en and "điện thoại" in flag.vi for flag in flags)
    assert flags[1].detail["distance_m"] > 1_000_000


def test_app_copy_with_good_device_facts_raises_no_flag():
    photo = app_copy_facts(taken_at_device="2026-11-20T09:20:00+07:00",
                           gps_device={"lat": 20.2531, "lon": 105.9746, "accuracy": None})
    assert photo_flags(photo, VISIT, []) == []


def test_app_copy_whose_camera_file_had_no_exif_keeps_the_hint():
    [flag] = photo_flags(app_copy_facts(taken_at_device=None, gps_device=None), VISIT, [])
    assert flag.code == "photo.no_exif" and flag.severity == "hint"
    assert flag.detail == {"reason": "absent", "source": "device"}


@pytest.mark.parametrize("change", [{"width": 4000, "height": 3000}, {"mime": "image/png"}])
def test_other_uploads_without_exif_keep_the_hint_and_ignore_device_facts(change):
    photo = {**app_copy_facts(taken_at_device="2024-05-01T10:00:00+07:00",
                              gps_device=HANOI_FAR), **change}
    [flag] = photo_flags(photo, VISIT, [])
    assert flag.code == "photo.no_exif" and flag.detail == {"reason": "absent"}


def test_exif_facts_are_marked_as_such():
    photo = facts(exif={"present": True, "problem": None,
                        "taken_at": "2024-05-01T10:00:00+07:00", "gps": None})
    [flag] = photo_flags(photo, VISIT, [])
    assert flag.detail["source"] == "exif" and "phone" not in flag.en
