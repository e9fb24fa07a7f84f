"""Duplicate and revisit detection (sync.duplicates) on realistic surveys."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.duplicates import (
    NEAR_SIMILAR_NAME,
    SAME_ADDRESS,
    SAME_TAX_CODE,
    DuplicateRules,
    address_key,
    find_duplicates,
    fold,
    haversine_m,
    name_similarity,
    tax_code_key,
)

# Phường Thành Nam (the old Nam Định city centre), around Trần Hưng Đạo street.
HOME = {"lat": 20.42970, "lon": 106.17410, "accuracy": 8}


def moved(fix: dict, north_m: float = 0.0, east_m: float = 0.0, accuracy: float = 8) -> dict:
    return {"lat": fix["lat"] + north_m / 111_195, "lon": fix["lon"] + east_m / 104_230,
            "accuracy": accuracy}


def household(survey_id, address, group="tdp03", head="Nguyễn Văn An", gps=HOME,
              created_at="2026-03-02T09:00:00+07:00", **top):
    return {
        "_id": f"survey:{survey_id}",
        "type": "survey",
        "form_id": "household",
        "created_at": created_at,
        "gps": gps,
        "answers": {
            "residential_group": group,
            "address": address,
            "members": [{"_row": f"{survey_id}-1", "name": head, "age": 52}],
        },
        **top,
    }


def enterprise(survey_id, tax_code, name="Công ty TNHH Minh Phát", gps=HOME, group="tdp03"):
    return {
        "_id": f"survey:{survey_id}",
        "type": "survey",
        "form_id": "enterprise",
        "created_at": "2026-04-10T14:00:00+07:00",
        "gps": gps,
        "answers": {"tax_code": tax_code, "name": name, "residential_group": group},
    }


FAR = moved(HOME, north_m=400)


def codes(matches):
    return [(m.candidate_id, m.kind, [r.code for r in m.reasons]) for m in matches]


# --- addresses -------------------------------------------------------------

SAME_HOUSE = [
    "Số 12 ngõ 5 đường Trần Hưng Đạo",
    "số 12 ngõ 5 Trần Hưng Đạo",
    "So 12 ngo 5 Tran Hung Dao",
    "SO 12  NGO 05  TRAN HUNG DAO",
    "SN 12, ng. 5 Trần Hưng Đạo, P. Thành Nam, Ninh Bình",
    "Số nhà 12, ngõ 5, đường Trần Hưng Đạo, tổ dân phố 3",
    "Ngõ 5 số 12 Trần Hưng Đạo, tổ 3, phường Thành Nam",
    "12 ngõ 5 Trần Hưng Đạo TDP 3",
    "Số 12 Ngõ 5 Trần Hưng Đạo phường Thành Nam tỉnh Ninh Bình",
]


@pytest.mark.parametrize("address", SAME_HOUSE)
def test_ways_of_writing_one_address_give_one_key(address):
    assert address_key(address) == ("12", "5", "", "tran hung dao")


@pytest.mark.parametrize("address", [
    "Số 21 ngõ 5 Trần Hưng Đạo",       # another house
    "Số 12 ngõ 7 Trần Hưng Đạo",       # another alley
    "Số 12 ngõ 5 ngách 3 Trần Hưng Đạo",  # a lane off the alley
    "Số 12 Trần Hưng Đạo",             # on the street itself
    "Số 12 ngõ 5 Trần Đăng Ninh",      # another street
    "Số 12A ngõ 5 Trần Hưng Đạo",      # 12A is not 12
    "Số 12/3 ngõ 5 Trần Hưng Đạo",
])
def test_near_miss_addresses_differ(address):
    assert address_key(address) != ("12", "5", "", "tran hung dao")
    assert address_key(address) is not None


@pytest.mark.parametrize("address", [None, "", "Thành Nam", "Tổ 3", "ngõ 5 Trần Hưng Đạo",
                                     "gần chợ Rồng", 12])
def test_vague_addresses_have_no_key(address):
    assert address_key(address) is None


def test_street_names_that_start_with_an_admin_word_stay_streets():
    # Xã Đàn is a street in Hà Nội, not a commune.
    assert address_key("Số 12 Xã Đàn") == ("12", "", "", "xa dan")
    assert address_key("Số 12 Xã Đàn") != address_key("Số 12 Xã Tiên")


def test_alley_words_from_every_region_mean_alley():
    assert address_key("12 hẻm 5 Hùng Vương") == address_key("12 ngõ 5 Hùng Vương")
    assert address_key("12 kiệt 5 Hùng Vương") == address_key("12 ngõ 5 Hùng Vương")


def test_fold():
    assert fold("  Đặng   Thị  HUỆ ") == "dang thi hue"
    assert fold("Nguyễn Đức Thắng") == "nguyen duc thang"


DIACRITICS = st.sampled_from(SAME_HOUSE)


@settings(max_examples=300)
@given(address=DIACRITICS, spaces=st.integers(1, 3), upper=st.booleans(), strip=st.booleans())
def test_address_key_ignores_case_spacing_and_diacritics(address, spaces, upper, strip):
    variant = (" " * spaces).join(address.split())
    variant = fold(variant) if strip else variant
    variant = variant.upper() if upper else variant
    assert address_key(variant) == address_key(address)


# --- names -----------------------------------------------------------------


@pytest.mark.parametrize("a, b", [
    ("Nguyễn Văn An", "Nguyen Van An"),
    ("Nguyễn Văn An", "nguyễn văn an"),
    ("Nguyễn An", "Nguyễn Văn An"),            # middle name left out
    ("Phạm Thị Thu Hương", "Pham Thi Huong"),
    ("Nguyễn Văn An", "Nguyễn Văm An"),        # a typo in the middle name
    ("Đặng Thị Huệ", "Dang Thi Hue"),
])
def test_names_of_one_person(a, b):
    assert name_similarity(a, b) >= 0.8
    assert name_similarity(b, a) == name_similarity(a, b)


@pytest.mark.parametrize("a, b", [
    ("Nguyễn Văn An", "Nguyễn Văn Anh"),       # An and Anh are two people
    ("Nguyễn Thị Hà", "Nguyễn Thị Hạ"),        # so are Hà and Hạ, when typed with marks
    ("Nguyễn Văn An", "Trần Văn An"),
    ("Nguyễn Văn An", "Nguyễn Văn Bình"),
    ("An", "Nguyễn Văn An"),
    ("Lê Thị Lan", "Lê Thị Lan Anh"),
])
def test_names_of_different_people(a, b):
    assert name_similarity(a, b) < 0.8


@pytest.mark.parametrize("a, b, alike", [
    ("Công ty TNHH Minh Phát", "Cty Minh Phat", True),
    ("Cửa hàng điện thoại Hoa Mai", "Điện thoại Hoa Mai", True),
    ("Công ty CP Thành Nam", "CÔNG TY CỔ PHẦN THÀNH NAM", True),
    ("Minh Phát Co., Ltd.", "Công ty TNHH Minh Phát", True),
    ("Công ty TNHH Minh Phát", "Công ty TNHH Minh Phương", False),
    ("Công ty CP Thành Nam", "Công ty CP Thành Công", False),
])
def test_enterprise_names_without_legal_form(a, b, alike):
    assert (name_similarity(a, b, enterprise=True) >= 0.8) is alike


# --- tax codes and places --------------------------------------------------


def test_tax_code_key():
    assert tax_code_key("0600123451") == "0600123451"
    assert tax_code_key(" 0600 123 451 ") == "0600123451"
    assert tax_code_key("06.00.123.451") == "0600123451"
    assert tax_code_key("0600123451-001") == "0600123451001"
    assert tax_code_key("0600123451 - 001") == "0600123451001"
    assert tax_code_key("0600123451-001") != tax_code_key("0600123451")
    assert tax_code_key("060012345") is None
    assert tax_code_key("") is None and tax_code_key(None) is None


def test_haversine():
    assert haversine_m(20.4297, 106.1741, 20.4297, 106.1741) == 0
    # One degree of latitude is about 111.2 km.
    assert haversine_m(20.0, 106.0, 21.0, 106.0) == pytest.approx(111_195, rel=1e-3)
    assert haversine_m(**{"lat1": 20.4297, "lon1": 106.1741},
                       **{"lat2": moved(HOME, east_m=20)["lat"],
                          "lon2": moved(HOME, east_m=20)["lon"]}) == pytest.approx(20, abs=0.5)


# --- find_duplicates: households -------------------------------------------


def test_same_address_in_the_same_group_is_a_duplicate():
    new = household("b", "So 12 ngo 5 Tran Hung Dao", head="Nguyen Van An", gps=FAR)
    old = household("a", "Số 12 ngõ 5 đường Trần Hưng Đạo")
    (match,) = find_duplicates(new, [old])
    assert match.candidate_id == "survey:a"
    assert match.kind == "duplicate"
    assert [r.code for r in match.reasons] == [SAME_ADDRESS]
    assert "tdp03" in match.reasons[0].vi and "Số 12 ngõ 5" in match.reasons[0].en


def test_same_address_in_another_group_is_not_matched_by_address():
    new = household("b", "Số 12 ngõ 5 Trần Hưng Đạo", group="tdp04", gps=FAR)
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo", group="tdp03")
    assert find_duplicates(new, [old]) == []


def test_close_gps_and_similar_head_is_a_duplicate():
    new = household("b", "nhà cạnh chợ", head="Nguyen Van An", gps=moved(HOME, east_m=12))
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo", head="Nguyễn Văn An")
    (match,) = find_duplicates(new, [old])
    assert [r.code for r in match.reasons] == [NEAR_SIMILAR_NAME]
    assert match.distance_m == pytest.approx(12, abs=0.5)
    assert match.name_similarity == 1.0
    assert "12 m" in match.reasons[0].en and "Cách 12 m" in match.reasons[0].vi


def test_head_name_answer_is_preferred_to_the_first_member():
    new = household("b", "x", head="Trần Thị Bình", gps=moved(HOME, north_m=5))
    new["answers"]["head_name"] = "Nguyễn Văn An"
    old = household("a", "y", head="Nguyễn Văn An")
    assert codes(find_duplicates(new, [old])) == [("survey:a", "duplicate", [NEAR_SIMILAR_NAME])]


@pytest.mark.parametrize("case", [
    {"gps": moved(HOME, east_m=45), "head": "Nguyễn Văn An"},   # too far apart
    {"gps": moved(HOME, east_m=10), "head": "Nguyễn Văn Anh"},  # a neighbour, not the same man
    {"gps": moved(HOME, east_m=10, accuracy=120), "head": "Nguyễn Văn An"},  # fix too vague
    {"gps": None, "head": "Nguyễn Văn An"},
])
def test_gps_near_misses(case):
    new = household("b", "Số 14 ngõ 5 Trần Hưng Đạo", head=case["head"], gps=case["gps"])
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo", head="Nguyễn Văn An")
    assert find_duplicates(new, [old]) == []


def test_both_reasons_are_listed():
    new = household("b", "12 ngõ 5 Trần Hưng Đạo", gps=moved(HOME, north_m=3))
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo")
    assert codes(find_duplicates(new, [old])) == [
        ("survey:a", "duplicate", [SAME_ADDRESS, NEAR_SIMILAR_NAME])
    ]


def test_the_survey_itself_is_not_its_own_duplicate():
    new = household("a", "Số 12 ngõ 5 Trần Hưng Đạo")
    assert find_duplicates(new, [dict(new)]) == []


def test_matches_are_listed_strongest_first():
    new = household("new", "Số 12 ngõ 5 Trần Hưng Đạo")
    by_gps_far = household("g2", "x", gps=moved(HOME, north_m=20))
    by_gps_near = household("g1", "y", gps=moved(HOME, north_m=4))
    by_address = household("addr", "số 12 ngõ 5 trần hưng đạo", gps=FAR)
    other = household("other", "Số 3 Hàng Tiện", head="Lê Thị Lan", gps=FAR)
    result = find_duplicates(new, [other, by_gps_far, by_address, by_gps_near])
    assert [m.candidate_id for m in result] == ["survey:addr", "survey:g1", "survey:g2"]


# --- phases ----------------------------------------------------------------

PHASES = DuplicateRules(phases=(("2", "2027-07-01"), ("1", "2025-01-01")))


def test_a_match_in_a_later_phase_is_a_revisit():
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo", created_at="2026-03-02T09:00:00+07:00")
    new = household("b", "Số 12 ngõ 5 Trần Hưng Đạo", created_at="2028-03-05T08:00:00+07:00")
    assert codes(find_duplicates(new, [old], PHASES)) == [
        ("survey:a", "revisit", [SAME_ADDRESS, NEAR_SIMILAR_NAME])
    ]
    # And the other way round, when a late phase-1 survey syncs after a phase-2 one.
    assert find_duplicates(old, [new], PHASES)[0].kind == "revisit"


def test_same_phase_is_a_duplicate_and_an_explicit_phase_wins():
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo", created_at="2025-11-02T09:00:00+07:00")
    new = household("b", "Số 12 ngõ 5 Trần Hưng Đạo", created_at="2027-06-30T23:00:00+07:00")
    assert find_duplicates(new, [old], PHASES)[0].kind == "duplicate"
    assert find_duplicates({**new, "phase": "2"}, [old], PHASES)[0].kind == "revisit"


def test_unknown_phase_is_treated_as_the_same_phase():
    old = household("a", "Số 12 ngõ 5 Trần Hưng Đạo", created_at="2025-11-02")
    new = household("b", "Số 12 ngõ 5 Trần Hưng Đạo", created_at="2029-01-01")
    assert find_duplicates(new, [old])[0].kind == "duplicate"  # no phases configured
    assert find_duplicates({**new, "created_at": "soon"}, [old], PHASES)[0].kind == "duplicate"


# --- find_duplicates: enterprises ------------------------------------------


def test_same_tax_code_is_a_duplicate_wherever_it_was_surveyed():
    new = enterprise("e2", "0600 123 451", name="Cty Minh Phát", gps=FAR, group="tdp07")
    old = enterprise("e1", "0600123451")
    (match,) = find_duplicates(new, [old])
    assert [r.code for r in match.reasons] == [SAME_TAX_CODE]
    assert match.reasons[0].vi == "Cùng mã số thuế 0600123451"


def test_branch_and_head_office_are_different_enterprises():
    head_office = enterprise("e1", "0600123451")
    branch = enterprise("e2", "0600123451-001", gps=moved(HOME, east_m=2))
    # Same name, same place: the tax codes still say two enterprises.
    assert find_duplicates(branch, [head_office]) == []
    other_branch = enterprise("e3", "0600123451-002")
    assert find_duplicates(branch, [other_branch]) == []
    same_branch = enterprise("e4", "0600123451 - 001", gps=FAR)
    assert codes(find_duplicates(branch, [same_branch])) == [
        ("survey:e4", "duplicate", [SAME_TAX_CODE])
    ]


def test_enterprise_without_tax_code_matches_by_place_and_name():
    new = enterprise("e2", "", name="Cty Minh Phat", gps=moved(HOME, north_m=8))
    old = enterprise("e1", "0600123451", name="Công ty TNHH Minh Phát")
    assert codes(find_duplicates(new, [old])) == [("survey:e1", "duplicate", [NEAR_SIMILAR_NAME])]
    neighbour = enterprise("e3", "", name="Công ty TNHH Minh Phương", gps=moved(HOME, east_m=5))
    assert find_duplicates(neighbour, [old]) == []


def test_enterprise_with_the_tax_code_unanswered_is_still_an_enterprise():
    new = enterprise("e2", None, name="Cty Minh Phat", gps=moved(HOME, north_m=8))
    del new["answers"]["tax_code"]
    old = enterprise("e1", "0600123451", name="Công ty TNHH Minh Phát")
    assert codes(find_duplicates(new, [old])) == [("survey:e1", "duplicate", [NEAR_SIMILAR_NAME])]


def test_subject_given_by_the_ingest_wins():
    # A household form that asks for a "name" would look like an enterprise.
    old = household("h1", "Số 12 ngõ 5 Trần Hưng Đạo")
    new = household("h2", "Số 12 ngõ 5 Trần Hưng Đạo", gps=FAR)
    new["answers"]["name"] = "Gia đình ông An"
    assert find_duplicates(new, [old]) == []
    matches = find_duplicates({**new, "subject": "household"}, [old])
    assert [m.candidate_id for m in matches] == ["survey:h1"]


def test_households_and_enterprises_are_never_compared():
    shop = enterprise("e1", "0600123451", name="Nguyễn Văn An")
    home = household("h1", "Số 12 ngõ 5 Trần Hưng Đạo", head="Nguyễn Văn An")
    assert find_duplicates(home, [shop]) == []
    assert find_duplicates(shop, [home]) == []


@settings(max_examples=200)
@given(order=st.permutations(range(4)))
def test_candidate_order_does_not_matter(order):
    new = household("new", "Số 12 ngõ 5 Trần Hưng Đạo")
    pool = [
        household("a", "số 12 ngõ 5 trần hưng đạo", gps=FAR),
        household("b", "x", gps=moved(HOME, north_m=4)),
        household("c", "y", gps=moved(HOME, north_m=4), head="Nguyen Van An"),
        household("d", "Số 3 Hàng Tiện", head="Lê Thị Lan", gps=FAR),
    ]
    assert find_duplicates(new, [pool[i] for i in order]) == find_duplicates(new, pool)


# --- generated addresses and names -----------------------------------------

STREETS = ["Trần Hưng Đạo", "Hàng Tiện", "Hùng Vương", "Lê Hồng Phong", "Trần Đăng Ninh",
           "Bến Thóc", "Nguyễn Du", "Hàng Cấp", "Văn Cao", "Đặng Việt Châu"]


@st.composite
def written_address(draw, house, alley, lane, street):
    """One way a volunteer may write a given house's address."""
    words = [draw(st.sampled_from(["Số {}", "số nhà {}", "SN {}", "{}", "Số 0{}"])).format(house)]
    if alley is not None:
        words.append(draw(st.sampled_from(["ngõ {}", "Ngõ 0{}", "ng. {}", "hẻm {}"])).format(alley))
        if lane is not None:
            words.append(draw(st.sampled_from(["ngách {}", "Ngách {}", "ngh.{}"])).format(lane))
        if draw(st.booleans()):
            words = words[1:] + words[:1]  # "ngõ 5 số 12 ..."
    words.append(draw(st.sampled_from(["đường {}", "phố {}", "Đ. {}", "{}"])).format(street))
    text = draw(st.sampled_from([" ", ", "])).join(words)
    text += draw(st.sampled_from([
        "", ", tổ 3", " TDP 03", ", tổ dân phố số 3", " tổ dân phố số 3", ", phường Thành Nam",
        " P. Thành Nam", ", P. Thành Nam, Ninh Bình", ", tổ 3, phường Thành Nam, tỉnh Ninh Bình",
        " phường Thành Nam, Ninh Bình",
    ]))
    if draw(st.booleans()):
        text = fold(text)
    return draw(st.sampled_from([text, text.upper(), text.lower(), "  " + text + " "]))


HOUSES = st.tuples(
    st.integers(1, 250), st.one_of(st.none(), st.integers(1, 60)),
    st.one_of(st.none(), st.integers(1, 30)), st.sampled_from(STREETS),
).map(lambda h: h if h[1] is not None else (h[0], None, None, h[3]))


def expected_key(house, alley, lane, street):
    return (str(house), "" if alley is None else str(alley), "" if lane is None else str(lane),
            fold(street))


@settings(max_examples=500)
@given(house=HOUSES, data=st.data())
def test_generated_addresses_normalise_to_their_house(house, data):
    text = data.draw(written_address(*house))
    assert address_key(text) == expected_key(*house), text


@settings(max_examples=500)
@given(first=HOUSES, second=HOUSES, data=st.data())
def test_two_writings_match_exactly_when_the_house_is_the_same(first, second, data):
    new = household("b", data.draw(written_address(*first)), gps=FAR)
    old = household("a", data.draw(written_address(*second)))
    same_house = expected_key(*first) == expected_key(*second)
    assert bool(find_duplicates(new, [old])) is same_house
    assert bool(find_duplicates(old, [new])) is same_house


GIVEN = ["An", "Anh", "Bình", "Hà", "Hạ", "Hương", "Lan", "Minh", "Thắng", "Huệ"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Đặng", "Vũ"]
MIDDLE = ["Văn", "Thị", "Đức", "Thu", "Minh"]
NAMES = st.builds(lambda f, m, g: f"{f} {m} {g}", st.sampled_from(FAMILY), st.sampled_from(MIDDLE),
                  st.sampled_from(GIVEN))


@settings(max_examples=500)
@given(a=NAMES, b=NAMES, east=st.floats(0, 60), strip=st.booleans())
def test_matching_is_symmetric(a, b, east, strip):
    new = household("b", "nhà sau chợ", head=fold(a) if strip else a, gps=moved(HOME, east_m=east))
    old = household("a", "nhà cạnh đình", head=b)
    there = [m.reasons for m in find_duplicates(new, [old])]
    back = [m.reasons for m in find_duplicates(old, [new])]
    assert bool(there) is bool(back)
    assert (name_similarity(a, b) >= 0.8) is (name_similarity(b, a) >= 0.8)
    if there:
        assert east <= 30.5 and fold(a).split()[-1] == fold(b).split()[-1]


def test_oversized_texts_give_no_keys_and_are_not_normalised(monkeypatch):
    """A megabyte typed as an address or a name is no address or name: refused before
    any normalisation, whose cost grows with the text."""
    from sync import duplicates

    folded = []
    monkeypatch.setattr(duplicates, "fold", lambda text: folded.append(text) or text)
    doc = household("big", "Số 12 ngõ 5 phố Lê Lợi " + "x" * 1_000_000, head="A" * 1_000_000)
    keys = duplicates.match_keys(doc)
    assert (keys.address, keys.address_key, keys.name) == (None, None, None)
    assert folded == []
    assert find_duplicates(doc, [household("b2", doc["answers"]["address"])]) == []


def test_keys_hold_only_storable_text():
    from sync.duplicates import match_keys

    doc = household("odd", "Số 12 ngõ 5 phố Lê Lợi\x00", group="tdp\ud80003", head="An\udc00")
    doc["created_at"] = "2026-03-02\x00"
    keys = match_keys(doc)
    assert (keys.address_key, keys.group, keys.name, keys.created_at) == (None, None, None, None)
    keys = match_keys(household("ok", "Số 12 ngõ 5 phố Lê Lợi"))
    assert keys.address_key == "12|5||le loi" and keys.group == "tdp03"


@pytest.mark.parametrize("fix", [{"lat": 10**400, "lon": 106}, {"lat": 20, "lon": "106"},
                                 {"lat": 91, "lon": 106}, {"lat": True, "lon": 106}, "here"])
def test_no_place_from_a_fix_that_is_not_one(fix):
    from sync.duplicates import match_keys, search_box

    keys = match_keys(household("x", "Số 1 phố Lê Lợi", gps=fix))
    assert (keys.lat, keys.lon, search_box(keys)) == (None, None, None)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.floats(-89.99, 89.99), st.floats(-180, 180), st.floats(0, 1), st.floats(0, 360),
       st.floats(1, 500))
def test_the_search_box_holds_every_point_within_the_radius(lat, lon, part, bearing, radius):
    from sync.duplicates import MatchKeys, search_box

    rules = DuplicateRules(radius_m=radius)
    south, north, west, east = search_box(MatchKeys("s", "household", lat=lat, lon=lon), rules)
    # a point `part` of the radius away, towards `bearing`
    distance = part * radius / 6_371_008.8
    phi, theta = math.radians(lat), math.radians(bearing)
    lat2 = math.asin(math.sin(phi) * math.cos(distance)
                     + math.cos(phi) * math.sin(distance) * math.cos(theta))
    lon2 = math.radians(lon) + math.atan2(math.sin(theta) * math.sin(distance) * math.cos(phi),
                                          math.cos(distance) - math.sin(phi) * math.sin(lat2))
    lat2, lon2 = math.degrees(lat2), (math.degrees(lon2) + 540) % 360 - 180
    if haversine_m(lat, lon, lat2, lon2) <= radius:
        assert south <= lat2 <= north and west <= lon2 <= east
