"""Nothing crashes: arbitrary JSON as rules, data and answers gives results or clear errors."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import jsonlogic
from forms.definition import check_definition
from forms.model import same_json
from forms.shipped import shipped_forms
from forms.submission import FieldError, validate_submission
from forms.xlsform_expr import Context, to_logic, to_xlsform

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RULES, JSON)
def test_evaluator_returns_or_raises_rule_error(rule, data):
    try:
        jsonlogic.apply(rule, data)
    except jsonlogic.RuleError as error:
        assert error.code and error.vi and error.en


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS)
def test_validation_returns_field_errors_for_any_answers(answers):
    errors = validate_submission(HOUSEHOLD, answers)
    assert all(isinstance(e, FieldError) and e.path and e.code and e.vi and e.en for e in errors)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_check_definition_reports_problems_for_any_json(defn):
    for problem in check_definition(defn):
        assert problem.path.startswith("$") and problem.code and problem.vi and problem.en


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RULES, st.sampled_from(["relevant", "constraint", "calculation", "choice_filter"]))
def test_every_rule_survives_export_and_import(rule, key):
    context = Context(own="me", key=key, types={"me": "select_multiple", "one": "select_one"})
    cell = to_xlsform(rule, context)
    assert same_json(to_logic(cell, context), rule)

