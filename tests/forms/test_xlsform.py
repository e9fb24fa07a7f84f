"""XLSForm import and export, on workbooks built the way form authors write them."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from forms import jsonlogic
from forms.definition import check_definition
from forms.shipped import shipped_forms
from forms.xlsform import export_xlsform, import_xlsform
from forms.xlsform_expr import Context, ExpressionError, to_logic, to_xlsform

VI, EN = "label::Vietnamese (vi)", "label::English (en)"


def workbook(survey: list[list], choices: list[list] | None = None,
             settings: list[list] | None = None) -> io.BytesIO:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "survey"
    for row in survey:
        sheet.append(row)
    if choices is not None:
        sheet = book.create_sheet("choices")
        for row in choices:
            sheet.append(row)
    sheet = book.create_sheet("settings")
    for row in settings or [["form_title", "form_title::English (en)", "form_id", "version",
                             "subject", "default_language"],
                            ["Khảo sát thử", "Trial survey", "trial", 2026110101, "household",
                             "Vietnamese (vi)"]]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


KOBO_SURVEY = [
    ["type", "name", VI, EN, "hint::Vietnamese (vi)", "hint::English (en)", "required",
     "relevant", "constraint", "constraint_message::Vietnamese (vi)",
     "constraint_message::English (en)", "calculation", "choice_filter", "appearance"],
    ["start", "start"],
    ["select_one yes_no", "consent", "Đồng ý?", "Consent?", None, None, "yes"],
    ["begin_group", "home", "Hộ", "Home", None, None, None, "${consent} = 'yes'"],
    ["select_one area", "area", "Khu", "Area", None, None, "TRUE"],
    ["select_one tdp", "tdp", "Tổ dân phố", "Residential group", None, None, "yes", None, None,
     None, None, None, "area = ${area}", "minimal"],
    ["text", "address", "Địa chỉ", "Address", "Số nhà, đường", "House, street", "true()"],
    ["end_group"],
    ["begin repeat", "people", "Thành viên", "Members", None, None, None, "${consent} = 'yes'"],
    ["text", "pname", "Họ tên", "Name"],
    ["integer", "age", "Tuổi", "Age", None, None, "yes", None, ". >= 15 and . <= 120",
     "Từ 15 đến 120", "From 15 to 120"],
    ["select_multiple apps", "apps", "Ứng dụng", "Apps", None, None, None, "${age} < 80",
     "not(selected(., 'none')) or count-selected(.) = 1"],
    ["calculate", "banks", None, None, None, None, None, None, None, None, None,
     "if(selected(${apps}, 'bank'), 1, 0)"],
    ["end repeat"],
    ["calculate", "n_people", None, None, None, None, None, None, None, None, None,
     "count(${people})"],
    ["image", "photo", "Ảnh", "Photo", None, None, "yes", "${consent} = 'yes'"],
    ["note", "bye", "Cảm ơn", "Thank you", None, None, None, "${consent} != ''"],
    ["end", "end"],
]
KOBO_CHOICES = [
    ["list_name", "name", VI, EN, "area"],
    ["yes_no", "yes", "Có", "Yes"],
    ["yes_no", "no", "Không", "No"],
    ["area", "north", "Bắc", "North"],
    ["area", "south", "Nam", "South"],
    ["tdp", "tdp01", "Tổ 1", "Group 1", "north"],
    ["tdp", "tdp02", "Tổ 2", "Group 2", "south"],
    ["apps", "bank", "Ngân hàng", "Banking"],
    ["apps", "zalo", "Zalo", "Zalo"],
    ["apps", "none", "Không", "None"],
]


def test_import_a_kobo_style_workbook():
    result = import_xlsform(workbook(KOBO_SURVEY, KOBO_CHOICES))
    assert result.problems == []
    defn = result.definition
    assert check_definition(defn) == []
    assert (defn["id"], defn["version"], defn["subject"]) == ("trial", "2026110101", "household")
    assert defn["title"] == {"vi": "Khảo sát thử", "en": "Trial survey"}
    names = [f["name"] for f in defn["fields"]]
    assert names == ["consent", "home", "people", "n_people", "photo", "bye"]
    home = defn["fields"][1]
    assert home["type"] == "group" and home["relevant"] == {"==": [{"var": "consent"}, "yes"]}
    area, tdp, address = home["fields"]
    assert area["required"] is True and tdp["choices"] == "tdp"
    assert tdp["choice_filter"] == {"==": [{"var": "_choice.area"}, {"var": "area"}]}
    assert address["hint"] == {"vi": "Số nhà, đường", "en": "House, street"}
    people = defn["fields"][2]
    assert people["type"] == "repeat"
    age, apps, banks = people["fields"][1:]
    assert age["constraint"] == {"and": [{">=": [{"var": "age"}, 15]},
                                         {"<=": [{"var": "age"}, 120]}]}
    assert age["constraint_message"] == {"vi": "Từ 15 đến 120", "en": "From 15 to 120"}
    assert apps["constraint"] == {"or": [{"!": [{"in": ["none", {"var": "apps"}]}]},
                                         {"==": [{"count": [{"var": "apps"}]}, 1]}]}
    assert banks["calculation"] == {"if": [{"in": ["bank", {"var": "apps"}]}, 1, 0]}
    assert banks["label"] == {"vi": "banks", "en": "banks"}
    assert defn["fields"][3]["calculation"] == {"count": [{"var": "people"}]}
    assert defn["fields"][4]["type"] == "photo"
    assert defn["choices"]["tdp"][0] == {"value": "tdp01", "label": {"vi": "Tổ 1", "en": "Group 1"},
                                         "area": "north"}
    assert sorted(w.code for w in result.warnings) == ["column_ignored", "metadata_ignored",
                                                       "metadata_ignored"]
    assert "survey:2" in result.warnings[0].path or "survey:2" in result.warnings[1].path


def test_answered_test_reads_like_xlsform():
    rule = to_logic("${x} != ''", Context())
    assert [jsonlogic.apply(rule, {"x": v}) for v in (None, "", "a", 0)] == [False, False, True,
                                                                              True]
    rule = to_logic("${x} = ''", Context())
    assert [jsonlogic.truthy(jsonlogic.apply(rule, {"x": v})) for v in (None, "", "a")] == [
        True, True, False]


@pytest.mark.parametrize("text, rule", [
    ("${a} = 'x'", {"==": [{"var": "a"}, "x"]}),
    ("${a}='x'", {"==": [{"var": "a"}, "x"]}),
    ('${a} != "x y"', {"!=": [{"var": "a"}, "x y"]}),
    ("${a} > 3 and ${b} <= 2.5 or ${c}", {"or": [{"and": [{">": [{"var": "a"}, 3]},
                                                          {"<=": [{"var": "b"}, 2.5]}]},
                                                 {"var": "c"}]}),
    ("${a} and (${b} or ${c})", {"and": [{"var": "a"}, {"or": [{"var": "b"}, {"var": "c"}]}]}),
    ("${a} + ${b} * 2 - 1", {"-": [{"+": [{"var": "a"}, {"*": [{"var": "b"}, 2]}]}, 1]}),
    ("${a} div 2 mod 3", {"%": [{"/": [{"var": "a"}, 2]}, 3]}),
    ("-${a}", {"-": [{"var": "a"}]}),
    ("-3", -3),
    ("not(${a} = 1)", {"!": [{"==": [{"var": "a"}, 1]}]}),
    ("concat(${a}, '-', ${b})", {"cat": [{"var": "a"}, "-", {"var": "b"}]}),
    ("today()", {"today": []}),
    ("years_between(${dob}, today()) >= 18", {">=": [{"years_between": [{"var": "dob"},
                                                                          {"today": []}]}, 18]}),
    ("vn_tax_code(.)", {"vn_tax_code": [{"var": "me"}]}),
    ("true()", True),
    ("regex(., '^[0-9]{10}$')", {"regex": [{"var": "me"}, "^[0-9]{10}$"]}),
    ("selected(${one}, 'a')", {"==": [{"var": "one"}, "a"]}),
    ("selected(${many}, 'a')", {"in": ["a", {"var": "many"}]}),
    ('{"in": [{"var": "a"}, ["x", "y"]]}', {"in": [{"var": "a"}, ["x", "y"]]}),
])
def test_expressions(text, rule):
    context = Context(own="me", key="constraint", types={"one": "select_one",
                                                         "many": "select_multiple"})
    assert to_logic(text, context) == rule


@pytest.mark.parametrize("text, code", [
    ("pulldata('streets', 'name', 'id', ${a})", "unsupported_function"),
    ("once(${a})", "unsupported_function"),
    ("${a} = ", "expression_syntax"),
    ("(${a} = 1", "expression_syntax"),
    ("${a} = 1)", "expression_syntax"),
    ("${a b} = 1", "expression_syntax"),
    ("a = 1", "unsupported_expression"),
    ("${a} ; 1", "expression_syntax"),
    ("if(${a}, 1)", "expression_syntax"),
    ("{not json", "expression_syntax"),
    ("", "expression_syntax"),
])
def test_bad_expressions(text, code):
    with pytest.raises(ExpressionError) as caught:
        to_logic(text, Context(own="me", key="relevant"))
    assert caught.value.code == code and caught.value.vi and caught.value.en


def problems_of(survey, choices=KOBO_CHOICES, settings=None):
    result = import_xlsform(workbook(survey, choices, settings))
    assert result.definition is None
    return [(p.path, p.code) for p in result.problems], result.problems


HEADER = ["type", "name", VI, EN, "relevant", "repeat_count"]


@pytest.mark.parametrize("row, where, code", [
    (["range", "r", "Mức", "Level"], "survey:3:type", "unsupported_type"),
    (["select_one_from_file streets.csv", "s", "Đường", "Street"], "survey:3:type",
     "unsupported_type"),
    (["audio", "s", "Có", "Yes"], "survey:3:type", "unsupported_type"),
    (["select_one_external streets", "s", "Đường", "Street"], "survey:3:type",
     "unsupported_type"),
    (["rank yes_no", "s", "Có", "Yes"], "survey:3:type", "unsupported_type"),
    (["text", "t", "Tên", "Name", "pulldata('a', 'b', 'c', ${consent}) = 1"],
     "survey:3:relevant", "unsupported_function"),
    (["text", "t", "Tên", "Name", "regex(${consent}, '(a+)+')"], "survey:3",
     "bad_regex"),
    (["text", "t", "Tên", "Name", "${consent} = = 'yes'"], "survey:3:relevant",
     "expression_syntax"),
    (["text", None, "Tên", "Name"], "survey:3:name", "name_missing"),
    (["text", "t", "Tên", "Name", "${ghost} = 1"], "survey:3", "unknown_field"),
    (["text", "consent", "Tên", "Name"], "survey:3", "duplicate_name"),
    (["select_one colours", "c", "Màu", "Colour"], "survey:3", "unknown_choice_list"),
    (["begin group", "g", "Nhóm", "Group"], "survey:3:type", "unbalanced"),
    (["end repeat"], "survey:3:type", "unbalanced"),
    (["text", "t", "Tên", "Name", None, 3], "survey:3", "repeat_count_not_allowed"),
    ([None, "t", "Tên", "Name"], "survey:3:type", "type_missing"),
])
def test_unsupported_things_name_sheet_and_row(row, where, code):
    survey = [HEADER, ["select_one yes_no", "consent", "Đồng ý?", "Consent?"], row]
    found, problems = problems_of(survey)
    assert (where, code) in found
    problem = next(p for p in problems if (p.path, p.code) == (where, code))
    sheet, row_number = where.split(":")[:2]
    assert problem.en.startswith(f"Sheet '{sheet}', row {row_number}")
    assert problem.vi.startswith(f"Trang '{sheet}', dòng {row_number}")
    assert problem.vi != problem.en


def test_unknown_language_column():
    survey = [["type", "name", VI, EN, "label::Klingon"], ["text", "t", "Tên", "Name", "Nom"]]
    assert ("survey:1:label::Klingon", "unknown_language") in problems_of(survey)[0]


def test_not_a_workbook(tmp_path):
    path = tmp_path / "form.xlsx"
    path.write_text("this is not a zip")
    result = import_xlsform(path)
    assert [p.code for p in result.problems] == ["not_xlsx"]


def test_plain_label_uses_the_default_language():
    survey = [["type", "name", "label", "label::English"], ["text", "t", "Tên", "Name"]]
    result = import_xlsform(workbook(survey, []))
    assert result.problems == []
    assert result.definition["fields"][0]["label"] == {"vi": "Tên", "en": "Name"}


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f["id"])
def test_shipped_forms_round_trip(tmp_path, form):
    path = tmp_path / f"{form['id']}.xlsx"
    export_xlsform(form, path)
    result = import_xlsform(path)
    assert result.problems == [] and result.warnings == []
    assert json.dumps(result.definition, sort_keys=True) == json.dumps(form, sort_keys=True)


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f["id"])
def test_shipped_forms_export_as_plain_xlsform(tmp_path, form):
    path = tmp_path / "form.xlsx"
    export_xlsform(form, path)
    sheet = openpyxl.load_workbook(path)["survey"]
    headers = [cell.value for cell in sheet[1]]
    assert VI in headers and EN in headers
    rules = [value for row in sheet.iter_rows(min_row=2, values_only=True)
             for column, value in zip(headers, row, strict=True)
             if column in ("relevant", "constraint", "calculation", "required") and value]
    assert len(rules) > 20
    assert not [rule for rule in rules if str(rule).startswith("{")]


def test_export_falls_back_to_json_for_rules_xlsform_cannot_say(tmp_path):
    rule = {"in": [{"var": "a"}, ["x", "y"]]}
    assert to_xlsform(rule, Context()) == json.dumps(rule)
    assert to_xlsform({"+": [1, 2, 3]}, Context()) == "1 + 2 + 3"
    assert to_xlsform({"+": [{"+": [1, 2]}, 3]}, Context()) == "(1 + 2) + 3"
    assert to_logic(to_xlsform({"+": [{"+": [1, 2]}, 3]}, Context()), Context()) == {
        "+": [{"+": [1, 2]}, 3]}
    assert to_xlsform(2.0, Context()) == "2.0" and to_logic("2.0", Context()) == 2.0


def test_a_thousand_question_workbook_gets_one_clear_problem():
    survey = [["type", "name", VI, EN]] + [["integer", f"q{i}", f"Câu {i}", f"Question {i}"]
                                           for i in range(1000)]
    found, problems = problems_of(survey, choices=[])
    assert found == [("survey:1", "too_many_fields")]
    assert "1000" in problems[0].en and problems[0].en.startswith("Sheet 'survey', row 1")


def test_deeply_nested_expression_cell():
    survey = [HEADER, ["select_one yes_no", "consent", "Đồng ý?", "Consent?"],
              ["text", "t", "Tên", "Name", "not(" * 5000 + "${consent} = 'yes'" + ")" * 5000]]
    found, _ = problems_of(survey)
    assert found == [("survey:3:relevant", "expression_too_deep")]
    survey[2][4] = "not(" * 80 + "${consent} = 'yes'" + ")" * 80
    found, _ = problems_of(survey)
    assert found == [("survey:3", "too_deep")]


def test_sum_over_a_repeat_field_reads_and_writes_back():
    survey = [["type", "name", VI, EN, "calculation"],
              ["begin repeat", "people", "Người", "People"],
              ["integer", "age", "Tuổi", "Age"],
              ["end repeat"],
              ["calculate", "total_age", None, None, "sum(${age})"],
              ["text", "t", "Tên", "Name", None]]
    result = import_xlsform(workbook(survey, []))
    assert result.problems == []
    total = result.definition["fields"][1]
    assert total["calculation"] == {"reduce": [
        {"var": "people"}, {"+": [{"var": "accumulator"}, {"var": "current.age"}]}, 0]}
    answers = {"people": [{"age": 30}, {"age": "12"}]}
    assert jsonlogic.apply(total["calculation"], answers) == 42
    out = io.BytesIO()
    export_xlsform(result.definition, out)
    out.seek(0)
    sheet = openpyxl.load_workbook(out)["survey"]
    headers = [cell.value for cell in sheet[1]]
    cells = [dict(zip(headers, row, strict=True)) for row in sheet.iter_rows(min_row=2,
                                                                             values_only=True)]
    assert next(c for c in cells if c["name"] == "total_age")["calculation"] == "sum(${age})"
    out.seek(0)
    assert import_xlsform(out).definition == result.definition


def test_sum_of_a_field_outside_repeats_is_unsupported():
    survey = [["type", "name", VI, EN, "calculation"], ["integer", "a", "A", "A"],
              ["calculate", "s", None, None, "sum(${a})"]]
    found, problems = problems_of(survey, choices=[])
    assert found == [("survey:3:calculation", "unsupported_expression")]
    assert "sum()" in problems[0].en


def test_workbook_without_a_survey_sheet():
    book = openpyxl.Workbook()
    book.active.title = "choices"
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    result = import_xlsform(out)
    assert ("survey:1", "survey_missing") in [(p.path, p.code) for p in result.problems]


def test_a_question_without_any_label_shows_its_name():
    survey = [HEADER, ["select_one yes_no", "consent", "Đồng ý?", "Consent?"], ["text", "t"]]
    result = import_xlsform(workbook(survey, KOBO_CHOICES))
    assert result.definition["fields"][1]["label"] == {"vi": "t", "en": "t"}
    assert ("survey:3:label", "label_missing") in [(w.path, w.code) for w in result.warnings]


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f["id"])
def test_exported_workbooks_convert_with_pyxform(tmp_path, form):
    """ODK's own converter reads what we write, so a ward can take its forms to ODK."""
    xls2xform = pytest.importorskip("pyxform.xls2xform")
    path = tmp_path / f"{form['id']}.xlsx"
    export_xlsform(form, path)
    converted = xls2xform.convert(xlsform=str(path), validate=False, pretty_print=False)
    assert "<h:html" in converted.xform and form["id"] in converted.xform


def test_the_xlsform_types_round_trip_and_convert_with_pyxform(tmp_path):
    survey = [["type", "name", "label::English (en)", "label::Kiswahili (sw)", "constraint",
               "repeat_count", "default", "bind::jr:constraintMsg"],
              ["integer", "n", "How many?", "Ngapi?"],
              ["time", "at", "Time", "Saa"],
              ["barcode", "code", "Code", "Nambari", "regex(., '^[0-9]+$')", None, None,
               "Digits only"],
              ["acknowledge", "ok", "OK", "Sawa"],
              ["hidden", "src", None, None, None, None, "wash"],
              ["begin repeat", "kids", "Kids", "Watoto", None, "${n}"],
              ["text", "kid", "Name", "Jina"],
              ["end repeat"]]
    result = import_xlsform(workbook(survey, [], settings=[["form_id", "version", "subject"],
                                                           ["water", "1", "household"]]))
    assert result.problems == []
    defn = result.definition
    assert defn["languages"] == ["en", "sw"]
    fields = {f["name"]: f for f in defn["fields"]}
    assert fields["code"]["constraint"] == {"regex": [{"var": "code"}, "^[0-9]+$"]}
    assert fields["code"]["constraint_message"] == {"en": "Digits only", "sw": "Digits only"}
    assert fields["kids"]["repeat_count"] == {"var": "n"}
    assert fields["src"]["default"] == "wash"
    assert ("settings:2", "translation_missing") not in [(w.path, w.code)
                                                         for w in result.warnings]
    assert "translation_missing" in [w.code for w in result.warnings]
    path = tmp_path / "water.xlsx"
    export_xlsform(defn, path)
    assert import_xlsform(path).definition == defn
    xls2xform = pytest.importorskip("pyxform.xls2xform")
    xls2xform.convert(xlsform=str(path), validate=False, pretty_print=False)


def test_or_other_adds_the_choice_and_the_question():
    survey = [["type", "name", "label"], ["select_one water or_other", "water", "Water?"]]
    choices = [["list name", "name", "label"], ["water", "tap", "Tap"]]
    result = import_xlsform(workbook(survey, choices, settings=[["form_id"], ["w"]]))
    assert result.problems == []
    water, other = result.definition["fields"]
    assert water["choices"] == "water_or_other"
    assert [c["value"] for c in result.definition["choices"]["water_or_other"]] == [
        "tap", "other"]
    assert other["name"] == "water_other"
    assert other["relevant"] == {"==": [{"var": "water"}, "other"]}


def test_legacy_spellings_and_header_case():
    survey = [["TYPE", "Name", "Label:English", "Relevance", "constraint message"],
              ["select one from yn", "a", "A?"],
              ["select all that apply from yn", "b", "B?", "${a} = 'yes'", "!"]]
    choices = [["List Name", "NAME", "label:english"], ["yn", "yes", "Yes"], ["yn", "no", "No"]]
    result = import_xlsform(workbook(survey, choices, settings=[["form_id"], ["w"]]))
    assert result.problems == []
    a, b = result.definition["fields"]
    assert (a["type"], b["type"]) == ("select_one", "select_multiple")
    assert b["relevant"] == {"==": [{"var": "a"}, "yes"]}
    assert b["label"] == {"en": "B?"}
