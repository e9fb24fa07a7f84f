"""Nothing crashes: arbitrary JSON as rules, data, definitions, answers and workbooks
gives results or clear errors.

Besides arbitrary JSON, the values include what an outside trial found
crashing: integers beyond a float's range (and near Python's 4,300 digits),
lone surrogates (half of a UTF-16 pair) and control characters in texts, any
part of a real form replaced by something else, and damaged workbooks.
Every test has a fixed number of examples, derandomized, so CI runs the same
cases every time in a few seconds each.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import jsonlogic
from forms.definition import check_definition
from forms.model import same_json, walk
from forms.shipped import shipped_forms
from forms.submission import FieldError, compile_form, full_validation, validate_submission
from forms.xlsform import export_xlsform, import_xlsform
from forms.xlsform_expr import Context, to_logic, to_xlsform

# Any code point, lone surrogates and control characters included.
ANY_TEXT = st.text(st.one_of(st.characters(exclude_categories=()),
                             st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
                             st.sampled_from("\x00\t\n\x1f😀")), max_size=12)
HUGE = st.sampled_from([10**400, -(10**400), 10**309, 2**64, -(2**63) - 1, 10**4299])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    ANY_TEXT, HUGE)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=25)
OPERATORS = sorted(jsonlogic.KNOWN_OPERATORS) + ["nope", "Math.max"]
RULES = st.recursive(JSON, lambda inner: st.builds(
    lambda op, args: {op: args}, st.sampled_from(OPERATORS), st.lists(inner, max_size=4)),
    max_leaves=30)

HOUSEHOLD = next(f for f in shipped_forms() if f["id"] == "household")
NAMES = ["consent", "residential_group", "address", "fibre", "members", "evidence_photo",
         "household_size", "location", "contact_phone", "member_count", "intro", "bogus"]
MEMBER_NAMES = ["_row", "name", "age", "sex", "smartphone", "k1", "k4", "safety_practices",
                "basic_skills", "skills_note"]
VALUES = st.one_of(JSON, st.sampled_from(["yes", "no", "tdp01", "own", "none", "done",
                                         "ignore_check", str(uuid.uuid4()), "0912345678"]))
ROWS = st.lists(st.one_of(st.dictionaries(st.sampled_from(MEMBER_NAMES), VALUES, max_size=8),
                          JSON), max_size=4)
ANSWERS = st.dictionaries(st.sampled_from(NAMES), st.one_of(VALUES, ROWS), max_size=10)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(RULES, JSON)
def test_evaluator_returns_or_raises_rule_error(rule, data):
    try:
        jsonlogic.apply(rule, data)
    except jsonlogic.RuleError as error:
        assert error.code and error.vi and error.en


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS)
def test_validation_returns_field_errors_for_any_answers(answers):
    errors = validate_submission(HOUSEHOLD, answers)
    assert all(isinstance(e, FieldError) and e.path and e.code and e.vi and e.en for e in errors)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_check_definition_reports_problems_for_any_json(defn):
    for problem in check_definition(defn):
        assert problem.path.startswith("$") and problem.code and problem.vi and problem.en


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["relevant", "constraint", "calculation"]), RULES),
                max_size=3))
def test_check_definition_with_arbitrary_rules(rules):
    defn = {**HOUSEHOLD, "fields": [
        {"name": "a", "type": "integer", "label": {"vi": "a", "en": "a"}},
        *({"name": f"f{i}", "type": "calculate" if key == "calculation" else "integer",
           "label": {"vi": "f", "en": "f"}, key: rule} for i, (key, rule) in enumerate(rules)),
    ]}
    problems = check_definition(defn)
    if not problems:
        assert isinstance(validate_submission(defn, {"a": 1}), list)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(RULES, st.sampled_from(["relevant", "constraint", "calculation", "choice_filter"]))
def test_every_rule_survives_export_and_import(rule, key):
    context = Context(own="me", key=key, types={"me": "select_multiple", "one": "select_one"})
    cell = to_xlsform(rule, context)
    assert same_json(to_logic(cell, context), rule)



CELLS = st.one_of(
    st.none(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=15),
    st.sampled_from(["text", "integer", "select_one yn", "select_multiple yn", "begin group",
                     "end group", "begin repeat", "end repeat", "calculate", "note", "image",
                     "range", "start", "yes", "no", "${a} = 1", ". > 3", "sum(${b})",
                     "selected(${a}, 'x')", "not(", "{\"var\": \"a\"}", "json:null", "a", "b"]),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(CELLS, min_size=4, max_size=6), max_size=8))
def test_importing_any_workbook_gives_a_definition_or_problems(rows):
    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label::Vietnamese (vi)", "label::English (en)", "relevant",
                   "calculation"])
    for row in rows:
        survey.append([str(cell) if isinstance(cell, str) else cell for cell in row])
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label::Vietnamese (vi)", "label::English (en)"])
    choices.append(["yn", "yes", "Có", "Yes"])
    settings_sheet = book.create_sheet("settings")
    settings_sheet.append(["form_id", "version", "form_title::Vietnamese (vi)",
                           "form_title::English (en)", "subject"])
    settings_sheet.append(["f", "1", "Thử", "Test", "household"])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    result = import_xlsform(out)
    assert (result.definition is None) == bool(result.problems)
    if result.definition is not None:
        assert check_definition(result.definition) == []
    for problem in result.problems + result.warnings:
        assert problem.code and problem.vi and problem.en


# ---------------------------------------------------------------- definitions


def replace_at(value, path: list[int], new):
    """`value` with the node reached by `path` (each step: which child) replaced by `new`."""
    if not path or not isinstance(value, dict | list) or not value:
        return new
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    copied = dict(value) if isinstance(value, dict) else list(value)
    copied[key] = replace_at(value[key], path[1:], new)
    return copied


REPLACEMENTS = st.one_of(JSON, ANY_TEXT, HUGE, st.sampled_from(
    [{"x": 1}, ["a"], None, "select_one", "repeat", "group", {"var": "consent"}, []]))


def check_problems(problems) -> None:
    for problem in problems:
        assert problem.path.startswith("$") and problem.code and problem.vi and problem.en
        str(problem).encode("utf-8")  # printable and storable, whatever was sent


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 50), max_size=7), REPLACEMENTS)
def test_check_definition_of_a_real_form_with_any_part_replaced(path, new):
    defn = replace_at(HOUSEHOLD, path, new)
    problems = check_definition(defn)
    check_problems(problems)
    if not problems:
        assert isinstance(validate_submission(defn, {"consent": "yes"}), list)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 200), st.sampled_from(["label", "hint"]),
                          st.sampled_from(["vi", "en"]), ANY_TEXT), min_size=1, max_size=3))
def test_every_definition_validate_accepts_survives_export_and_import(texts):
    """What check_definition accepts, export writes and import reads back the same
    (but for spaces around a text, which XLSForm import drops from every cell)."""
    defn = json.loads(json.dumps(HOUSEHOLD))
    fields = [info.field for info in walk(defn)]
    for index, key, language, text in texts:
        field = fields[index % len(fields)]
        field.setdefault(key, {"vi": "x", "en": "x"})[language] = text
    if check_definition(defn):
        return
    out = io.BytesIO()
    export_xlsform(defn, out)
    out.seek(0)
    result = import_xlsform(out)
    assert result.problems == [] and result.definition == stripped(defn)


def stripped(value):
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {key: stripped(item) for key, item in value.items()}
    return [stripped(item) for item in value] if isinstance(value, list) else value


# ---------------------------------------------------------------- answers

HOSTILE_VALUES = st.one_of(VALUES, ANY_TEXT, HUGE)
HOSTILE_ROWS = st.lists(st.dictionaries(st.one_of(st.sampled_from(MEMBER_NAMES), ANY_TEXT),
                                        HOSTILE_VALUES, max_size=6), max_size=3)
HOSTILE_ANSWERS = st.dictionaries(st.one_of(st.sampled_from(NAMES), ANY_TEXT),
                                  st.one_of(HOSTILE_VALUES, HOSTILE_ROWS), max_size=10)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE_ANSWERS)
def test_hostile_answers_get_storable_field_errors_on_both_paths(answers):
    compiled = compile_form(HOUSEHOLD)
    errors = validate_submission(compiled, answers)
    assert errors == ([] if compiled.surely_valid(answers) else full_validation(compiled,
                                                                                 answers))
    for error in errors:
        assert isinstance(error, FieldError) and error.path and error.code
        json.dumps(error.as_dict(), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- workbooks


def _valid_workbook() -> bytes:
    out = io.BytesIO()
    export_xlsform(HOUSEHOLD, out)
    return out.getvalue()


WORKBOOK = _valid_workbook()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(WORKBOOK) - 1), st.integers(1, 255)),
                min_size=1, max_size=8), st.sampled_from(["flip", "cut", "flip and cut"]))
def test_a_damaged_workbook_gives_problems_not_a_crash(damage, how):
    data = bytearray(WORKBOOK)
    if "flip" in how:
        for offset, mask in damage:
            data[offset] ^= mask
    if "cut" in how:
        data = data[:damage[0][0]]
    result = import_xlsform(io.BytesIO(bytes(data)))
    assert (result.definition is None) == bool(result.problems)
    for problem in result.problems + result.warnings:
        assert problem.code and problem.vi and problem.en


def test_damage_inside_the_compressed_sheet_is_reached():
    """The flips above land anywhere; this one lands inside the survey sheet's deflate
    stream, which openpyxl only reads while reading rows (a zlib error there)."""
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(WORKBOOK)
    for offset in range(start + 40, start + info.compress_size - 40, 5):
        data[offset] ^= 0xA5
    result = import_xlsform(io.BytesIO(bytes(data)))
    assert result.definition is None and [p.code for p in result.problems] == ["not_xlsx"]
