"""check_definition: the JSON Schema and the rules a schema cannot express."""

from __future__ import annotations

import json

import jsonschema
import pytest

from forms.definition import check_definition, form_schema
from forms.model import MAX_FIELDS
from forms.shipped import shipped_forms


def minimal(**fields_by_name) -> dict:
    return {
        "id": "t",
        "version": "1",
        "title": {"vi": "Thử", "en": "Test"},
        "subject": "household",
        "fields": [{"name": "a", "type": "integer", "label": {"vi": "A", "en": "A"}}],
        "choices": {"yn": [{"value": "yes", "label": {"vi": "Có", "en": "Yes"}},
                           {"value": "no", "label": {"vi": "Không", "en": "No"}}]},
        **fields_by_name,
    }


def field(name: str, kind: str = "text", **extra) -> dict:
    return {"name": name, "type": kind, "label": {"vi": name, "en": name}, **extra}


def codes(defn: dict) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in check_definition(defn)]


def test_shipped_forms_pass() -> None:
    forms = shipped_forms()
    assert [f["id"] for f in forms] == ["enterprise", "household"]
    for form in forms:
        assert check_definition(form) == []
        jsonschema.Draft202012Validator(form_schema()).validate(form)


def test_schema_file_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(form_schema())


def test_every_problem_has_path_code_and_both_languages() -> None:
    defn = minimal(fields=[field("a", "select_one", choices="nope"), field("a", "wat")])
    problems = check_definition(defn)
    assert problems
    for problem in problems:
        assert problem.path.startswith("$") and problem.code and problem.vi and problem.en
        assert set(problem.as_dict()) == {"path", "code", "vi", "en"}


@pytest.mark.parametrize("defn", [None, [], "form", 3])
def test_not_an_object(defn) -> None:
    assert [p.code for p in check_definition(defn)] == ["not_object"]


def test_schema_problems_carry_json_paths() -> None:
    defn = minimal(version="", subject="school")
    defn["fields"].append({"name": "b", "type": "integer"})
    defn["fields"].append(field("c", "integer", colour="red"))
    found = codes(defn)
    assert ("$.version", "schema_pattern") in found
    assert ("$.subject", "schema_enum") in found
    assert ("$.fields[1]", "schema_required") in found
    assert ("$.fields[2]", "schema_additionalProperties") in found


def test_labels_need_both_languages() -> None:
    defn = minimal(fields=[{"name": "a", "type": "text", "label": {"vi": "Tên"}}])
    assert ("$.fields[0].label", "missing_translation") in codes(defn)


def test_duplicate_names_even_across_groups_and_repeats() -> None:
    defn = minimal(fields=[field("a"), field("g", "group", fields=[field("a")]),
                           field("r", "repeat", fields=[field("a")])])
    found = codes(defn)
    assert ("$.fields[1].fields[0].name", "duplicate_name") in found
    assert ("$.fields[2].fields[0].name", "duplicate_name") in found


def test_reserved_names() -> None:
    assert ("$.fields[0].name", "reserved_name") in codes(minimal(fields=[field("constructor")]))


def test_choice_lists_must_exist_and_only_for_selects() -> None:
    defn = minimal(fields=[field("s", "select_one", choices="missing_list"),
                           field("m", "select_multiple"),
                           field("t", "text", choices="yn")])
    found = codes(defn)
    assert ("$.fields[0].choices", "unknown_choice_list") in found
    assert ("$.fields[1]", "choices_missing") in found
    assert ("$.fields[2]", "choices_not_allowed") in found


def test_choice_values_must_be_unique() -> None:
    defn = minimal()
    defn["choices"]["yn"].append({"value": "yes", "label": {"vi": "Có", "en": "Yes"}})
    assert ("$.choices.yn[2].value", "duplicate_choice") in codes(defn)


def test_rules_must_name_existing_fields() -> None:
    defn = minimal(fields=[field("a", relevant={"==": [{"var": "ghost"}, 1]}),
                           field("b", constraint={"missing": ["a", "phantom"]})])
    found = codes(defn)
    assert ("$.fields[0].relevant", "unknown_field") in found
    assert ("$.fields[1].constraint", "unknown_field") in found
    assert len(found) == 2


def test_unknown_operators_are_rejected_with_path() -> None:
    defn = minimal(fields=[field("a", relevant={"and": [{"regex_magic": ["x"]}]})])
    assert codes(defn) == [("$.fields[0].relevant.and[0].regex_magic", "unknown_operator")]


def not_nested(depth: int) -> object:
    rule: object = True
    for _ in range(depth):
        rule = {"!": [rule]}
    return rule


def test_deeply_nested_rule_in_a_definition() -> None:
    found = codes(minimal(fields=[field("a", relevant=not_nested(70))]))
    assert len(found) == 1
    path, code = found[0]
    assert code == "rule_too_deep" and path.startswith("$.fields[0].relevant.!")


def test_rule_nested_past_the_json_depth_limit() -> None:
    [(path, code)] = codes(minimal(fields=[field("a", relevant=not_nested(100))]))
    assert code == "too_deep" and path.startswith("$.fields[0].relevant.!")


def test_absurdly_deep_definition_does_not_crash() -> None:
    text = '{"a":' * 50_000 + "1" + "}" * 50_000
    with pytest.raises(RecursionError):
        json.loads(text)
    deep: object = 1
    for _ in range(50_000):
        deep = [deep]
    assert [(p.path, p.code) for p in check_definition(minimal(fields=deep))] == [
        ("$.fields[0][0][0][0][0][0][0]", "too_deep")]


def test_forward_references_in_relevant_and_calculation() -> None:
    defn = minimal(fields=[field("a", relevant={"==": [{"var": "b"}, 1]}), field("b", "integer"),
                           field("c", "calculate", calculation={"var": "d"}),
                           field("d", "integer", constraint={">": [{"var": "d"}, {"var": "e"}]}),
                           field("e", "integer")])
    found = codes(defn)
    assert ("$.fields[0].relevant", "forward_reference") in found
    assert ("$.fields[2].calculation", "forward_reference") in found
    # constraints are checked on the finished answers, so they may look ahead
    assert not any(path.startswith("$.fields[3]") for path, _ in found)


def test_calculation_cycle() -> None:
    defn = minimal(fields=[field("x", "calculate", calculation={"+": [{"var": "y"}, 1]}),
                           field("y", "calculate", calculation={"+": [{"var": "x"}, 1]})])
    found = codes(defn)
    assert any(code == "calculation_cycle" for _, code in found)


def test_self_referencing_calculation_is_a_cycle() -> None:
    defn = minimal(fields=[field("x", "calculate", calculation={"+": [{"var": "x"}, 1]})])
    assert ("$.fields[0].calculation", "calculation_cycle") in codes(defn)


def test_repeat_scope() -> None:
    defn = minimal(fields=[
        field("people", "repeat", fields=[field("age", "integer")]),
        field("first_age", "calculate", calculation={"var": "age"}),
        field("n", "calculate", calculation={"count": {"var": "people"}}),
        field("other", "repeat", fields=[
            field("x", "integer", relevant={">": [{"var": "age"}, 1]}),
            field("y", "integer", relevant={">": [{"var": "n"}, 1]}),
        ]),
    ])
    found = codes(defn)
    assert ("$.fields[1].calculation", "field_out_of_scope") in found
    assert ("$.fields[3].fields[0].relevant", "field_out_of_scope") in found
    assert len(found) == 2


def test_type_specific_requirements() -> None:
    defn = minimal(fields=[
        field("c", "calculate"),
        field("t", "text", calculation=1),
        field("g", "group", fields=[]),
        field("i", "integer", fields=[field("z")]),
        field("n", "note", required=True),
        field("r", "repeat", fields=[field("q")], min_rows=5, max_rows=2),
        field("p", "photo", max_rows=3),
    ])
    found = codes(defn)
    for expected in [("$.fields[0]", "calculation_missing"),
                     ("$.fields[1].calculation", "calculation_not_allowed"),
                     ("$.fields[2]", "empty_container"),
                     ("$.fields[3].fields", "fields_not_allowed"),
                     ("$.fields[4].required", "required_not_allowed"),
                     ("$.fields[5].min_rows", "bounds_inverted"),
                     ("$.fields[6].max_rows", "bound_not_allowed")]:
        assert expected in found


def test_a_thousand_field_form_gets_one_clear_problem() -> None:
    defn = minimal(fields=[field(f"q{i}", "integer") for i in range(1_000)])
    problems = check_definition(defn)
    assert [(p.path, p.code) for p in problems] == [("$.fields", "too_many_fields")]
    assert "1000" in problems[0].en and "1000" in problems[0].vi


def test_largest_allowed_form_passes() -> None:
    fields = [field(f"q{i}", "integer", relevant={">": [{"var": f"q{i - 1}"}, 0]})
              for i in range(1, MAX_FIELDS)]
    assert check_definition(minimal(fields=[field("q0", "integer"), *fields])) == []


def test_choice_filter_reads_choice_properties() -> None:
    defn = minimal(fields=[
        field("zone", "select_one", choices="yn"),
        field("tdp", "select_one", choices="tdp",
              choice_filter={"==": [{"var": "_choice.zone"}, {"var": "zone"}]}),
    ])
    defn["choices"]["tdp"] = [{"value": "tdp01", "label": {"vi": "Tổ 1", "en": "Group 1"},
                               "zone": "yes"}]
    assert check_definition(defn) == []


def test_defaults_must_fit_their_field() -> None:
    defn = minimal(fields=[
        field("ok_int", "integer", default=3),
        field("bad_int", "integer", default="three"),
        field("ok_one", "select_one", choices="yn", default="yes"),
        field("bad_one", "select_one", choices="yn", default="maybe"),
        field("bad_many", "select_multiple", choices="yn", default="yes"),
        field("bad_date", "date", default="2026-02-30"),
        field("c", "calculate", calculation=1, default=2),
    ])
    problems = {(p.path, p.code): p for p in check_definition(defn)}
    assert set(problems) == {("$.fields[1].default", "bad_default"),
                             ("$.fields[3].default", "bad_default"),
                             ("$.fields[4].default", "bad_default"),
                             ("$.fields[5].default", "bad_default"),
                             ("$.fields[6].default", "default_not_allowed")}
    assert "'maybe'" in problems[("$.fields[3].default", "bad_default")].en


def test_texts_may_not_hold_control_characters() -> None:
    defn = minimal(fields=[field("a", hint={"vi": "Dòng 1\nDòng 2\tcột", "en": "ok"}),
                           {"name": "b", "type": "text", "label": {"vi": "x\x1f", "en": "b"}}])
    assert codes(defn) == [("$.fields[1].label.vi", "schema_pattern")]
