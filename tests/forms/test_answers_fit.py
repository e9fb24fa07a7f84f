"""The fast type check (`answers_fit`) never vouches for answers marshmallow would refuse.

Validation asks `answers_fit` first and only runs the marshmallow schema when
it says False, so a True here must mean "schema.load raises nothing".
"""

from __future__ import annotations

import copy
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import RAISE, ValidationError

from forms.answers import answer_schema, answers_fit
from forms.shipped import shipped_forms
from forms.submission import validate_submission
from tests.forms.test_fuzz import ANSWERS, JSON, VALUES
from tests.server.helpers import household_answers

FORMS = {form["id"]: form for form in shipped_forms()}
HOUSEHOLD_SCHEMA = answer_schema(FORMS["household"])
ENTERPRISE_SCHEMA = answer_schema(FORMS["enterprise"])


def loads_cleanly(schema, answers: dict) -> bool:
    try:
        schema.load(answers, unknown=RAISE)
    except ValidationError:
        return False
    return True


def test_valid_answers_take_the_fast_path():
    answers = household_answers(group="tdp04", photos=[f"photo:{uuid.uuid4()}"])
    assert loads_cleanly(HOUSEHOLD_SCHEMA, answers)
    assert answers_fit(HOUSEHOLD_SCHEMA, answers)


@pytest.mark.parametrize("change", [
    lambda a: a.update(bogus=1),                                  # unknown field
    lambda a: a.update(household_size="four"),                    # integer_type
    lambda a: a.update(residential_group="tdp99"),                # not_a_choice
    lambda a: a.update(members="x"),                              # repeat_type
    lambda a: a["members"].append(3),                             # row_type
    lambda a: a["members"][0].pop("_row"),                        # row_id required
    lambda a: a["members"][0].update(_row="not-a-uuid"),          # row_id
    lambda a: a["members"][0].update(age=None, nope=2),           # unknown field in a row
    lambda a: a.update(location={"lat": 200, "lon": 0}),          # geopoint_type
    lambda a: a["members"].append(None),                          # null row
])
def test_type_errors_are_left_to_the_schema(change):
    answers = household_answers(group="tdp04")
    change(answers)
    assert not loads_cleanly(HOUSEHOLD_SCHEMA, answers)
    assert not answers_fit(HOUSEHOLD_SCHEMA, answers)
    assert validate_submission(FORMS["household"], answers)


def _mutated(base: dict, draw_value) -> st.SearchStrategy:
    """Valid answers with some answers (top level or in a row) replaced."""
    def mutate(changes, row_changes):
        answers = copy.deepcopy(base)
        for name, value in changes:
            answers[name] = value
        rows = answers.get("members")
        if isinstance(rows, list):
            for index, name, value in row_changes:
                if rows and isinstance(rows[index % len(rows)], dict):
                    rows[index % len(rows)][name] = value
        return answers

    names = st.sampled_from(sorted(base) + ["bogus", "members"])
    row_names = st.sampled_from(["_row", "name", "age", "sex", "smartphone", "k1", "k4",
                                 "safety_practices", "basic_skills", "nope"])
    return st.builds(mutate, st.lists(st.tuples(names, draw_value), max_size=3),
                     st.lists(st.tuples(st.integers(0, 5), row_names, draw_value), max_size=3))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(household_answers(group="tdp02"), st.one_of(VALUES, JSON)))
def test_fit_implies_schema_accepts_mutated_households(answers):
    if answers_fit(HOUSEHOLD_SCHEMA, answers):
        assert loads_cleanly(HOUSEHOLD_SCHEMA, answers), answers


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANSWERS, st.sampled_from(["household", "enterprise"]))
def test_fit_implies_schema_accepts_arbitrary_answers(answers, form_id):
    schema = HOUSEHOLD_SCHEMA if form_id == "household" else ENTERPRISE_SCHEMA
    if answers_fit(schema, answers):
        assert loads_cleanly(schema, answers), answers


def _depth(value) -> int:
    """Levels of lists and objects around the deepest value (a scalar is at 0)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=-1)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=-1)
    return 0


@settings(max_examples=500, deadline=None)
@given(JSON, st.integers(-1, 5))
def test_nesting_limit_is_the_recursive_definition(value, limit):
    from forms.model import nested_deeper_than

    assert nested_deeper_than(value, limit) == (_depth(value) > limit), (value, limit)
