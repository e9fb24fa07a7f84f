"""Bad input found by an outside trial: each gets a clear error, never a traceback.

Form definitions (`sotay forms validate`), workbooks (`import-xlsform`) and
answers: JSON null, a field type that is an object, a choice value that is a
list, numbers beyond a float's range, damaged workbooks and lone surrogates
(half of a UTF-16 pair, which neither UTF-8 nor PostgreSQL can hold).
"""

from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from forms.commands import forms_cli
from forms.definition import check_definition
from forms.submission import compile_form, full_validation, validate_submission
from forms.xlsform import export_xlsform, import_xlsform

HUGE = 10**400


def run(*args: str):
    return CliRunner().invoke(forms_cli, list(args))


def field(name: str, kind: str = "text", **extra) -> dict:
    return {"name": name, "type": kind, "label": {"vi": name, "en": name}, **extra}


def form(*fields: dict, choices: dict | None = None) -> dict:
    return {"id": "t", "version": "1", "title": {"vi": "Thử", "en": "Test"},
            "subject": "household", "fields": list(fields),
            "choices": choices or {"yn": [{"value": "yes", "label": {"vi": "Có", "en": "Yes"}}]}}


def validate_file(tmp_path, text: str):
    path = tmp_path / "f.json"
    path.write_text(text, "utf-8")
    return run("validate", str(path))


def assert_clean_failure(result, code: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"[{code}]" in result.output, result.output


def test_validate_a_file_holding_null(tmp_path):
    assert_clean_failure(validate_file(tmp_path, "null"), "not_object")


def test_validate_a_file_holding_a_list(tmp_path):
    assert_clean_failure(validate_file(tmp_path, "[1, 2]"), "not_object")


def test_validate_a_field_type_that_is_an_object(tmp_path):
    defn = form({"name": "a", "type": {"x": 1}, "label": {"vi": "a", "en": "a"}})
    assert_clean_failure(validate_file(tmp_path, json.dumps(defn)), "schema_enum")


def test_a_field_name_or_choices_that_is_an_object():
    defn = form({"name": {"x": 1}, "type": "select_one", "choices": ["yn"],
                 "label": {"vi": "a", "en": "a"}})
    assert {p.code for p in check_definition(defn)} >= {"schema_type"}


def test_validate_a_choice_value_that_is_a_list(tmp_path):
    defn = form(field("a", "select_one", choices="yn"),
                choices={"yn": [{"value": ["yes"], "label": {"vi": "Có", "en": "Yes"}},
                                {"value": ["yes"], "label": {"vi": "Có", "en": "Yes"}}]})
    assert_clean_failure(validate_file(tmp_path, json.dumps(defn)), "schema_type")


@pytest.mark.parametrize("kind", ["integer", "decimal"])
def test_validate_a_default_beyond_a_float(tmp_path, kind):
    defn = form(field("a", kind, default=HUGE))
    result = validate_file(tmp_path, json.dumps(defn))
    assert_clean_failure(result, "bad_default")


def test_validate_a_number_with_too_many_digits_for_python(tmp_path):
    text = json.dumps(form(field("a", "integer"))).replace('"a", "type"', '"a", "x": '
                                                           + "9" * 5000 + ', "type"')
    assert_clean_failure(validate_file(tmp_path, text), "not_json")


def test_a_lone_surrogate_in_a_definition_is_a_problem(tmp_path):
    defn = form(field("a", label={"vi": "Tên \ud800", "en": "Name"}),
                choices={"yn": [{"value": "yes", "label": {"vi": "Có", "en": "Yes"},
                                 "note": "x\udfff"}]})
    problems = check_definition(defn)
    assert {(p.path, p.code) for p in problems} == {
        ("$.fields[0].label.vi", "broken_text"), ("$.choices.yn[0].note", "broken_text")}
    assert all("\ud800" not in str(p) for p in problems)
    # written as JSON (escaped, as any JSON writer may) the file is refused too
    assert_clean_failure(validate_file(tmp_path, json.dumps(defn)), "broken_text")


def test_export_refuses_a_lone_surrogate(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(form(field("a", hint={"vi": "\udc00", "en": "h"}))), "utf-8")
    result = run("export-xlsform", str(path), "-o", str(tmp_path / "f.xlsx"))
    assert_clean_failure(result, "broken_text")
    assert not (tmp_path / "f.xlsx").exists()


def test_a_valid_pair_is_fine():
    assert check_definition(form(field("a", label={"vi": "Tên 😀", "en": "Name"}))) == []


def _damaged_workbook() -> bytes:
    """A real workbook whose survey sheet's compressed data is corrupted (a zlib error)."""
    book = openpyxl.Workbook()
    book.active.title = "survey"
    book.active.append(["type", "name", "label::Vietnamese (vi)", "label::English (en)"])
    for number in range(200):
        book.active.append(["text", f"f{number}", f"Câu {number}", f"Question {number}"])
    out = io.BytesIO()
    book.save(out)
    data = bytearray(out.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for offset in range(start + 20, start + info.compress_size - 20, 7):
        data[offset] ^= 0x5A
    return bytes(data)


def test_import_a_workbook_with_damaged_compressed_data(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(_damaged_workbook())
    result = run("import-xlsform", str(path))
    assert_clean_failure(result, "not_xlsx")
    assert "Không đọc được" in result.output


def test_import_a_damaged_workbook_from_a_stream():
    result = import_xlsform(io.BytesIO(_damaged_workbook()))
    assert result.definition is None and [p.code for p in result.problems] == ["not_xlsx"]


def test_export_then_import_of_every_valid_text(tmp_path):
    defn = form(field("a", label={"vi": "Tab\tvà\nxuống dòng 😀", "en": "ok"}))
    assert check_definition(defn) == []
    target = tmp_path / "f.xlsx"
    export_xlsform(defn, target)
    assert import_xlsform(target).definition == defn


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize("value", [HUGE, -HUGE, 10**309])
def test_an_integer_answer_beyond_a_float_is_a_field_error(value):
    errors = validate_submission(form(field("n", "integer")), {"n": value})
    assert [(e.path, e.code) for e in errors] == [("n", "integer_type")]


def test_a_decimal_answer_beyond_a_float_is_a_field_error():
    errors = validate_submission(form(field("x", "decimal")), {"x": HUGE})
    assert [(e.path, e.code) for e in errors] == [("x", "decimal_type")]


def test_a_huge_integer_in_a_rule_is_a_field_error_not_a_crash():
    defn = form(field("n", "integer", constraint={"<": [{"*": [{"var": "n"}, 1.5]}, 10]}),
                field("c", "calculate", calculation={"+": [{"var": "n"}, 0.5]}))
    errors = validate_submission(defn, {"n": HUGE})
    assert ("n", "integer_type") in [(e.path, e.code) for e in errors]


@pytest.mark.parametrize("text", ["\ud800", "a\udc00b", "😀\ud83d", "\udfff😀"])
def test_a_lone_surrogate_in_a_text_answer_is_a_field_error(text):
    defn = form(field("t"))
    for errors in (validate_submission(defn, {"t": text}),
                   full_validation(compile_form(defn), {"t": text})):
        assert [(e.path, e.code) for e in errors] == [("t", "broken_text")]
        assert "UTF-16" in errors[0].en and errors[0].vi


def test_a_lone_surrogate_elsewhere_never_reaches_a_message():
    defn = form(field("one", "select_one", choices="yn"))
    errors = validate_submission(defn, {"one": "x\ud800", "bad\udc00key": 1})
    for error in errors:
        json.dumps(error.as_dict(), ensure_ascii=False).encode("utf-8")


def test_answers_beyond_the_overall_size_are_an_error():
    """Each text within its bound (1,900 characters, 3,800 bytes), but 300 of them: over 1 MB."""
    defn = form({"name": "rows", "type": "repeat", "label": {"vi": "r", "en": "r"},
                 "fields": [field("note")]})
    rows = [{"_row": f"00000000-0000-4000-8000-{n:012d}", "note": "ư" * 1900}
            for n in range(150)]
    compiled = compile_form(defn)
    assert validate_submission(defn, {"rows": rows}) == []
    assert compiled.surely_valid({"rows": rows})
    rows += [{**row, "_row": row["_row"].replace("-8000-", "-9000-")} for row in rows]
    for errors in (validate_submission(defn, {"rows": rows}),
                   full_validation(compiled, {"rows": rows})):
        assert [(e.path, e.code) for e in errors] == [("$", "too_large")]
        assert "at most 1000000" in errors[0].en
    assert not compiled.surely_valid({"rows": rows})
