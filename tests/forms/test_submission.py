"""validate_submission and evaluate_calculations on the shipped forms and on hostile answers."""

from __future__ import annotations

import copy
import uuid

import pytest

from forms import answers as answer_checks
from forms import jsonlogic, submission
from forms.submission import evaluate_calculations, resolve_answers, validate_submission


def paths(errors) -> list[tuple[str, str]]:
    return sorted((e.path, e.code) for e in errors)


def field(name: str, kind: str = "text", **extra) -> dict:
    return {"name": name, "type": kind, "label": {"vi": name, "en": name}, **extra}


def form(*fields: dict, choices: dict | None = None) -> dict:
    return {
        "id": "t", "version": "1", "title": {"vi": "Thử", "en": "Test"}, "subject": "household",
        "fields": list(fields),
        "choices": choices or {"yn": [{"value": "yes", "label": {"vi": "Có", "en": "Yes"}},
                                      {"value": "no", "label": {"vi": "Không", "en": "No"}}]},
    }


ALL_TYPES = form(
    field("t", max_length=5), field("i", "integer"), field("d", "decimal"), field("day", "date"),
    field("when", "datetime"), field("one", "select_one", choices="yn"),
    field("many", "select_multiple", choices="yn"), field("pics", "photo", max_count=2),
    field("where", "geopoint"), field("tel", "phone"), field("c", "calculate", calculation=1),
    field("info", "note"),
)


def test_valid_shipped_surveys(household, household_answers, enterprise, enterprise_answers):
    assert validate_submission(household, household_answers) == []
    assert validate_submission(enterprise, enterprise_answers) == []


def test_field_error_shape(household, household_answers):
    household_answers["members"][1]["age"] = "bảy mươi"
    [error] = validate_submission(household, household_answers)
    assert error.as_dict() == {
        "path": "members[1].age", "code": "integer_type",
        "vi": "Phải là số nguyên.", "en": "Must be a whole number.",
    }


@pytest.mark.parametrize("name, value, code", [
    ("t", 5, "text_type"), ("t", "toolong", "text_too_long"), ("t", ["a"], "text_type"),
    ("i", "3", "integer_type"), ("i", 3.5, "integer_type"), ("i", True, "integer_type"),
    ("i", 2**60, "integer_type"), ("d", "1.5", "decimal_type"), ("d", False, "decimal_type"),
    ("day", "2026-02-30", "date_type"), ("day", "25/11/2026", "date_type"),
    ("day", "2026-11-25T10:00:00+07:00", "date_type"), ("when", "2026-11-25", "datetime_type"),
    ("when", "2026-11-25T10:00:00", "datetime_type"),
    ("when", "2026-13-25T10:00:00Z", "datetime_type"),
    ("one", "maybe", "not_a_choice"), ("one", ["yes"], "choice_type"), ("one", 1, "choice_type"),
    ("many", "yes", "multiple_type"), ("many", ["yes", "yes"], "duplicate_choice"),
    ("many", ["yes", "perhaps"], "not_a_choice"), ("many", [1], "multiple_type"),
    ("pics", "photo:1", "photo_type"), ("pics", ["img.jpg"], "photo_type"),
    ("pics", ["photo:1", "photo:2", "photo:3"], "too_many_photos"),
    ("pics", ["photo:1", "photo:1"], "photo_type"),
    ("where", {"lat": 91, "lon": 0}, "geopoint_type"), ("where", [20, 106], "geopoint_type"),
    ("where", {"lat": 20, "lon": 106, "alt": 3}, "geopoint_type"),
    ("where", {"lat": 20, "lon": 106, "accuracy": -1}, "geopoint_type"),
    ("tel", "0241234567", "phone_type"), ("tel", "12345", "phone_type"),
    ("tel", 912345678, "phone_type"),
    ("info", "a note has no answer", "unknown_field"), ("nope", 1, "unknown_field"),
])
def test_wrong_types(name, value, code):
    errors = validate_submission(ALL_TYPES, {name: value})
    assert paths(errors) == [(name, code)]
    assert errors[0].vi and errors[0].en


@pytest.mark.parametrize("name, value", [
    ("t", "hello"), ("i", 5), ("i", 5.0), ("i", -3), ("d", 2), ("d", 2.5), ("day", "2024-02-29"),
    ("when", "2026-11-25T10:00:00+07:00"), ("when", "2026-11-25T03:00:00.123Z"),
    ("one", "no"), ("many", ["yes", "no"]), ("pics", ["photo:1", "photo:2"]),
    ("where", {"lat": 20.4, "lon": 106.1, "accuracy": None}), ("tel", "+84 912 345 678"),
    ("c", "whatever the phone stored"), ("t", None), ("t", ""), ("many", []),
])
def test_right_types(name, value):
    assert validate_submission(ALL_TYPES, {name: value}) == []


def test_values_outside_choices_on_shipped_form(household, household_answers):
    household_answers["fibre"] = "satellite"
    household_answers["residential_group"] = "tdp13"
    household_answers["members"][0]["safety_practices"] = ["two_factor", "hack_back"]
    errors = validate_submission(household, household_answers)
    assert paths(errors) == [("fibre", "not_a_choice"),
                             ("members[0].safety_practices", "not_a_choice"),
                             ("residential_group", "not_a_choice")]
    by_path = {error.path: error for error in errors}
    assert "'hack_back'" in by_path["members[0].safety_practices"].en
    assert "'satellite'" in by_path["fibre"].vi


def test_no_consent_makes_everything_else_irrelevant(household):
    answers = {"consent": "no", "address": "x", "members": [{"age": "not even a number"}],
               "evidence_photo": "garbage"}
    assert validate_submission(household, answers) == []
    resolution = resolve_answers(household, answers)
    assert resolution.answers == {"consent": "no"}
    assert sorted(resolution.ignored) == ["address", "evidence_photo", "members"]


def test_consent_is_required_first(household):
    assert paths(validate_submission(household, {})) == [("consent", "required")]


def test_required_when_relevant(household, household_answers, member):
    household_answers["members"] = [
        member(smartphone="none", k1=None, k2=None, k3=None, k4=None, k5=None),
        member(k2=None),
    ]
    del household_answers["address"]
    errors = validate_submission(household, household_answers)
    assert paths(errors) == [("address", "required"), ("members[1].k2", "required")]


def test_irrelevant_skills_check_answers_are_ignored_not_rejected(household, household_answers,
                                                                  member):
    household_answers["members"] = [member(smartphone="none", k1="bogus", k4=42)]
    assert validate_submission(household, household_answers) == []
    resolution = resolve_answers(household, household_answers)
    assert resolution.ignored == [f"members[0].k{i}" for i in range(1, 6)]
    row = resolution.answers["members"][0]
    assert "k1" not in row and "k2" not in row and row["basic_skills"] == 0


def test_constraints_with_their_messages(household, household_answers, member):
    household_answers["members"].append(member(age=14))
    household_answers["members"].append(member(safety_practices=["none", "two_factor"]))
    errors = validate_submission(household, household_answers)
    assert paths(errors) == [("members[2].age", "constraint"),
                             ("members[3].safety_practices", "constraint")]
    assert errors[0].vi == "Chỉ ghi thành viên từ 15 đến 120 tuổi."
    assert errors[0].en == "Only members aged 15 to 120 are recorded."


def test_constraint_applies_only_to_answered_fields():
    defn = form(field("n", "integer", constraint={">": [{"var": "n"}, 10]}))
    assert validate_submission(defn, {}) == []
    assert paths(validate_submission(defn, {"n": 3})) == [("n", "constraint")]


def test_tax_code(enterprise, enterprise_answers):
    for good in ["0100233488", "0314409058-002"]:
        enterprise_answers["tax_code"] = good
        assert validate_submission(enterprise, enterprise_answers) == []
    for bad in ["0100233480", "01002334", "0314409058002", "0314409058-000", "0100233488 "]:
        enterprise_answers["tax_code"] = bad
        errors = validate_submission(enterprise, enterprise_answers)
        assert paths(errors) == [("tax_code", "constraint")], bad
        assert "Mã số thuế" in errors[0].vi


def test_enterprise_cross_field_constraint(enterprise, enterprise_answers):
    enterprise_answers["staff_trained"] = 21
    assert paths(validate_submission(enterprise, enterprise_answers)) == [
        ("staff_trained", "constraint")]


def test_cashless_share_only_when_cashless(enterprise, enterprise_answers):
    enterprise_answers["cashless"] = ["none"]
    enterprise_answers["cashless_share"] = 500
    assert validate_submission(enterprise, enterprise_answers) == []
    enterprise_answers["cashless"] = ["pos"]
    assert paths(validate_submission(enterprise, enterprise_answers)) == [
        ("cashless_share", "constraint")]
    del enterprise_answers["cashless_share"]
    assert paths(validate_submission(enterprise, enterprise_answers)) == [
        ("cashless_share", "required")]


@pytest.mark.parametrize("tasks, expected", [
    ({"k1": "done", "k2": "done", "k3": "done", "k4": "ignore_check", "k5": "could_not"}, 1),
    ({"k1": "done", "k2": "done", "k3": "done", "k4": "tap_link", "k5": "done"}, 0),
    ({"k1": "done", "k2": "needed_help", "k3": "done", "k4": "ignore_check", "k5": "declined"}, 0),
    ({"k1": "done", "k2": "done", "k3": "done", "k4": "ignore_check", "k5": "done"}, 1),
])
def test_basic_skills_is_computed_by_the_server(household, household_answers, member, tasks,
                                                expected):
    household_answers["members"] = [member(basic_skills=1 - expected, **tasks)]
    result = evaluate_calculations(household, household_answers)
    assert result["members"][0]["basic_skills"] == expected
    assert result["member_count"] == 1
    assert household_answers["members"][0]["basic_skills"] == 1 - expected  # input untouched


@pytest.mark.parametrize("sector, staff, revenue, capital, size", [
    ("agriculture", 10, 3, 100, "micro"), ("agriculture", 10, 4, 3, "micro"),
    ("industry_construction", 11, 1, 1, "small"), ("industry_construction", 150, 250, 90, "medium"),
    ("industry_construction", 201, 1, 1, "large"), ("trade_services", 10, 10, 50, "micro"),
    ("trade_services", 50, 100, 60, "small"), ("trade_services", 100, 301, 100, "medium"),
    ("trade_services", 100, 301, 101, "large"),
])
def test_size_class(enterprise, enterprise_answers, sector, staff, revenue, capital, size):
    enterprise_answers.update(sector=sector, staff_total=staff, revenue=revenue, capital=capital,
                              staff_trained=0)
    assert evaluate_calculations(enterprise, enterprise_answers)["size_class"] == size


def test_repeat_bounds(household, household_answers):
    household_answers["members"] = []
    assert paths(validate_submission(household, household_answers)) == [("members", "required")]
    del household_answers["members"]
    assert paths(validate_submission(household, household_answers)) == [("members", "required")]
    defn = form(field("r", "repeat", min_rows=2, max_rows=3, fields=[field("v")]))
    rows = [{"_row": str(uuid.uuid4())} for _ in range(4)]
    assert validate_submission(defn, {"r": []}) == []  # not required: may stay unanswered
    assert paths(validate_submission(defn, {"r": rows[:1]})) == [("r", "too_few_rows")]
    assert validate_submission(defn, {"r": rows[:3]}) == []
    assert paths(validate_submission(defn, {"r": rows})) == [("r", "too_many_rows")]


def test_text_length_counts_like_the_phone():
    defn = form(field("t", max_length=4))
    assert validate_submission(defn, {"t": "Việt"}) == []
    assert validate_submission(defn, {"t": "ab😀"}) == []  # a, b and an emoji: 4 units
    assert paths(validate_submission(defn, {"t": "ab😀x"})) == [("t", "text_too_long")]


def test_repeat_with_ten_thousand_rows(household, household_answers, member, count_calls):
    household_answers["members"] = [member() for _ in range(10_000)]
    levels = [count_calls(submission._Resolver, "level", 100),
              count_calls(submission._RuleChecker, "level", 100),
              count_calls(answer_checks, "_level_fits", 100)]
    errors = validate_submission(household, household_answers)
    assert [calls[0] for calls in levels] == [2, 1, 1]  # no row is looked at, one by one
    assert paths(errors) == [("$", "too_large"), ("members", "too_many_rows")]
    assert "10000" in errors[1].en and "30" in errors[1].en


def test_row_ids(household, household_answers, member):
    twin = member()
    household_answers["members"] = [twin, copy.deepcopy(twin), member(_row="not-a-uuid"),
                                    {k: v for k, v in member().items() if k != "_row"}]
    assert paths(validate_submission(household, household_answers)) == [
        ("members[1]._row", "duplicate_row_id"), ("members[2]._row", "row_id"),
        ("members[3]._row", "row_id")]


def test_bad_rows(household, household_answers, member):
    household_answers["members"] = [member(), "a row", member(shoe_size=42)]
    assert paths(validate_submission(household, household_answers)) == [
        ("members[1]", "row_type"), ("members[2].shoe_size", "unknown_field")]
    household_answers["members"] = {"0": member()}
    assert paths(validate_submission(household, household_answers)) == [("members", "repeat_type")]


def test_photo_count(household, household_answers):
    household_answers["evidence_photo"] = []
    assert paths(validate_submission(household, household_answers)) == [
        ("evidence_photo", "required")]
    household_answers["evidence_photo"] = [f"photo:{uuid.uuid4()}" for _ in range(4)]
    errors = validate_submission(household, household_answers)
    assert paths(errors) == [("evidence_photo", "too_many_photos")]
    assert "3" in errors[0].en


@pytest.mark.parametrize("answers", [None, [], "answers", 42])
def test_answers_must_be_an_object(household, answers):
    assert paths(validate_submission(household, answers)) == [("$", "not_object")]


def test_deeply_nested_answer_value(household, household_answers):
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    household_answers["address"] = deep
    assert paths(validate_submission(household, household_answers)) == [("$", "too_deep")]


def test_huge_text_is_refused(household, household_answers):
    household_answers["address"] = "ngõ " * 1_000_000
    assert paths(validate_submission(household, household_answers)) == [
        ("$", "too_large"), ("address", "text_too_long")]


def test_invalid_definition_is_reported_not_raised():
    defn = form(*[field(f"q{i}", "integer") for i in range(1_000)])
    errors = validate_submission(defn, {"q1": 1})
    assert paths(errors) == [("$", "form_invalid")]
    assert "1000" in errors[0].en


def test_rule_that_fails_at_run_time_is_an_error_not_a_crash(count_calls):
    # A small rule, legal JSON Logic, that would make a million evaluations.
    inner = {"some": [list(range(1000)), {"==": [{"var": ""}, -1]}]}
    nested_loops = {"some": [{"var": "r"}, inner]}
    defn = form(field("r", "repeat", max_rows=1000, fields=[field("v")]),
                field("n", "text", relevant=nested_loops))
    rows = [{"_row": str(uuid.uuid4()), "v": "a"} for _ in range(1000)]
    compared = count_calls(jsonlogic, "loose_equals", jsonlogic.MAX_STEPS)
    errors = validate_submission(defn, {"r": rows, "n": "a"})
    assert 0 < compared[0] <= jsonlogic.MAX_STEPS  # of a million
    assert paths(errors) == [("n", "rule_error")]
    assert "too much work" in errors[0].en and "quá nhiều" in errors[0].vi


def test_choice_filter():
    choices = {
        "zone": [{"value": "north", "label": {"vi": "Bắc", "en": "North"}},
                 {"value": "south", "label": {"vi": "Nam", "en": "South"}}],
        "tdp": [{"value": "tdp01", "label": {"vi": "Tổ 1", "en": "Group 1"}, "zone": "north"},
                {"value": "tdp02", "label": {"vi": "Tổ 2", "en": "Group 2"}, "zone": "south"}],
    }
    defn = form(field("zone", "select_one", choices="zone"),
                field("tdp", "select_one", choices="tdp",
                      choice_filter={"==": [{"var": "_choice.zone"}, {"var": "zone"}]}),
                choices=choices)
    assert validate_submission(defn, {"zone": "north", "tdp": "tdp01"}) == []
    assert paths(validate_submission(defn, {"zone": "north", "tdp": "tdp02"})) == [
        ("tdp", "choice_filtered_out")]


def test_rows_see_top_level_answers_overlaid_by_the_row():
    defn = form(
        field("limit", "integer"),
        field("r", "repeat", fields=[
            field("limit_here", "calculate", calculation={"var": "limit"}),
            field("v", "integer", constraint={"<=": [{"var": "v"}, {"var": "limit"}]}),
        ]),
    )
    rows = [{"_row": str(uuid.uuid4()), "v": 3}, {"_row": str(uuid.uuid4()), "v": 30}]
    answers = {"limit": 10, "r": rows}
    assert paths(validate_submission(defn, answers)) == [("r[1].v", "constraint")]
    assert [row["limit_here"] for row in evaluate_calculations(defn, answers)["r"]] == [10, 10]


def test_each_survey_is_checked_against_its_own_version(household, household_answers):
    newer = copy.deepcopy(household)
    newer["version"] = "2026.2"
    newer["choices"]["fibre"].append({"value": "satellite",
                                      "label": {"vi": "Vệ tinh", "en": "Satellite"}})
    household_answers["fibre"] = "satellite"
    assert validate_submission(newer, household_answers) == []
    assert [e.code for e in validate_submission(household, household_answers)] == ["not_a_choice"]


def test_calculation_without_a_json_value_is_stored_as_null():
    defn = form(field("a", "integer"), field("ratio", "calculate",
                                             calculation={"/": [1, {"var": "a"}]}))
    assert evaluate_calculations(defn, {"a": 0})["ratio"] is None
    assert evaluate_calculations(defn, {"a": 4})["ratio"] == 0.25
    assert evaluate_calculations(defn, {})["ratio"] is None


def test_a_definition_loaded_afresh_is_compiled_once(household, household_answers, monkeypatch):
    import forms.submission as submission

    calls = []
    real = submission.check_definition
    monkeypatch.setattr(submission, "check_definition", lambda d: calls.append(1) or real(d))
    for _ in range(3):
        assert validate_submission(copy.deepcopy(household), household_answers) == []
    assert len(calls) <= 1
    household["fields"][1]["choices"] = "fibre"  # same id and version, other content
    household_answers["consent"] = "mobile_only"
    assert validate_submission(household, household_answers) == []


def test_a_compiled_form_validates_without_interpreting_or_compiling_rules(
        household, household_answers, enterprise, enterprise_answers, monkeypatch):
    compile_form = submission.compile_form

    compiled = [compile_form(household), compile_form(enterprise)]
    household_answers["members"][0]["age"] = 12  # a failing constraint is checked too

    def refuse(*args):
        raise AssertionError("a rule was interpreted or compiled during validation")

    monkeypatch.setattr(jsonlogic._Evaluation, "run", refuse)
    monkeypatch.setattr(jsonlogic, "compile_rule", refuse)
    assert paths(validate_submission(compiled[0], household_answers)) == [
        ("members[0].age", "constraint")]
    assert validate_submission(compiled[1], enterprise_answers) == []


def test_a_definition_changed_after_compiling_is_compiled_again():
    """A compiled form keeps a copy of its own: changing the caller's definition
    changes neither it nor what the cache gives for the old content."""
    from forms.submission import compile_form

    definition = form(field("a", "integer", constraint={">": [{"var": "a"}, 1]}))
    compiled = compile_form(definition)
    assert validate_submission(compiled, {"a": 2}) == []
    definition["fields"][0]["constraint"] = {">": [{"var": "a"}, 5]}
    assert validate_submission(compiled, {"a": 2}) == []
    assert paths(validate_submission(definition, {"a": 2})) == [("a", "constraint")]
    assert compile_form(form(field("a", "integer", constraint={">": [{"var": "a"}, 1]}))) \
        is compiled


def test_resolve_answers_takes_a_definition_or_its_compiled_form(household, household_answers):
    from forms.submission import compile_form

    plain = resolve_answers(household, household_answers)
    compiled = resolve_answers(compile_form(household), household_answers)
    assert plain == compiled
    assert [row["basic_skills"] for row in compiled.answers["members"]] == [1, 0]
