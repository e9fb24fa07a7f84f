"""Validation's fast path (forms/fastpath.py) against the full validation.

The fast path may only say "no errors" where the full validation finds none;
for the forms here it should also say so wherever the full validation finds
none (else it saves nothing). Answers are valid surveys changed at random:
values swapped for others that are valid, invalid, empty or of the wrong
kind, answers dropped, rows added, copied or broken.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms import fastpath, submission
from forms.shipped import shipped_forms
from forms.submission import compile_form, full_validation, validate_submission
from tests.forms.conftest import valid_enterprise, valid_household


def field(name: str, kind: str = "text", **extra: Any) -> dict:
    return {"name": name, "type": kind, "label": {"vi": name, "en": name}, **extra}


def choice(value: str, **extra: Any) -> dict:
    return {"value": value, "label": {"vi": value, "en": value}, **extra}


ADULT = {"var": "adult"}
# Every step of the resolution and the checks, on a form of our own: a group that
# is relevant or not, required by rule, choice filters on one and several choices,
# a calculation read by a later rule, a rule that fails on some answers, a repeat
# whose rows see the answers above them, a repeat inside it.
SYNTHETIC = {
    "id": "synthetic", "version": "1", "title": {"vi": "Thử", "en": "Test"},
    "subject": "household",
    "choices": {
        "yn": [choice("yes"), choice("no")],
        "zone": [choice("north"), choice("south")],
        "tdp": [choice("tdp01", zone="north"), choice("tdp02", zone="south"),
                choice("tdp03", zone="north")],
        "tags": [choice("a", kind="x"), choice("b", kind="y"), choice("c", kind="x")],
    },
    "fields": [
        field("consent", "select_one", choices="yn", required=True),
        field("about", "group", relevant={"==": [{"var": "consent"}, "yes"]}, fields=[
            field("zone", "select_one", choices="zone",
                  required={"==": [{"var": "consent"}, "yes"]}),
            field("tdp", "select_one", choices="tdp",
                  choice_filter={"==": [{"var": "_choice.zone"}, {"var": "zone"}]}),
            field("kind", "text", constraint={"in": [{"var": "kind"}, ["x", "y"]]}),
            field("tags", "select_multiple", choices="tags",
                  choice_filter={"or": [{"!": {"var": "kind"}},
                                        {"==": [{"var": "_choice.kind"}, {"var": "kind"}]}]}),
            field("size", "integer", constraint={">=": [{"var": "size"}, 1]}),
            field("double", "calculate", calculation={"*": [{"var": "size"}, 2]}),
            field("big", "note", relevant={">": [{"var": "double"}, 10]}),
            field("opts", "select_multiple", choices="yn"),
            field("risky", "text", relevant={"missing_some": [1, {"var": "opts"}]}),
            field("members", "repeat", min_rows=2, max_rows=3,
                  relevant={">": [{"var": "size"}, 0]}, fields=[
                      field("name", required=True),
                      field("age", "integer", constraint={"<=": [{"var": "age"}, 120]}),
                      field("rsize", "integer"),
                      field("adult", "calculate", calculation={">=": [{"var": "age"}, 18]}),
                      field("job", relevant={"and": [ADULT, {"==": [{"var": "consent"}, "yes"]}]},
                            required=True),
                      field("job_since", "integer", relevant={"!!": [{"var": "job"}]},
                            required=True),
                      field("zone_here", "calculate", calculation={"var": "zone"}),
                      field("kids", "repeat", max_rows=2, relevant={"==": [ADULT, True]},
                            fields=[field("kid", required=ADULT)]),
                  ]),
        ]),
        field("end", "note"),
        field("comment", max_length=10, relevant={"!=": [{"var": "consent"}, "no"]}),
        field("day", "date"),
        field("pics", "photo", max_count=2),
        field("where", "geopoint"),
        field("tel", "phone"),
    ],
}


def row_id() -> str:
    return str(uuid.uuid4())


def synthetic_answers() -> dict:
    return {
        "consent": "yes", "zone": "north", "tdp": "tdp03", "kind": "x", "tags": ["a", "c"],
        "size": 2, "opts": ["yes"], "risky": "r",
        "members": [{"_row": row_id(), "name": "An", "age": 40, "rsize": 9, "job": "dev",
                     "job_since": 2020, "kids": [{"_row": row_id(), "kid": "Bé"}]},
                    {"_row": row_id(), "name": "Bình", "age": 12}],
        "comment": "ok", "day": "2026-11-26", "pics": [f"photo:{row_id()}"],
        "where": {"lat": 20.4, "lon": 106.1, "accuracy": 5}, "tel": "0912345678",
    }


SHIPPED = {form["id"]: form for form in shipped_forms()}
FORMS = {"synthetic": (SYNTHETIC, synthetic_answers),
         "household": (SHIPPED["household"], valid_household),
         "enterprise": (SHIPPED["enterprise"], valid_enterprise)}


def keys_of(defn: dict) -> tuple[list[str], list[str]]:
    """Names of the top level's answers and of any row's, from the definition."""
    top: list[str] = []
    rows: list[str] = ["_row"]

    def walk(items: list, into: list[str]) -> None:
        for item in items:
            if item["type"] == "group":
                walk(item["fields"], into)
            else:
                into.append(item["name"])
                if item["type"] == "repeat":
                    walk(item["fields"], rows)
    walk(defn["fields"], top)
    return top, rows


def choice_values(defn: dict) -> list[str]:
    return sorted({c["value"] for choices in defn["choices"].values() for c in choices})


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 200),
                    st.sampled_from([0.5, 2.0, -1.0, 1e300, 2**60, "", "x", "y", "yes", "no",
                                     "2026-02-30", "2026-11-26", "0912345678",
                                     "photo:a", "a" * 11, [], 10**400, -(10**309),
                                     "a\ud800", "\udc00", "x😀\ud83d"]))


def likely_values(defn: dict) -> dict[str, list]:
    """Per answer name, values that are near what the field takes: its choices
    (one, several, none), numbers about its bounds, short texts."""
    likely: dict[str, list] = {}

    def walk(items: list) -> None:
        for item in items:
            kind = item["type"]
            if kind in ("group", "repeat"):
                walk(item["fields"])
                continue
            choices = [c["value"] for c in defn["choices"].get(item.get("choices"), [])]
            found = likely.setdefault(item["name"], [])
            if kind == "select_one":
                found += choices
            elif kind == "select_multiple":
                found += [[c] for c in choices] + [choices[:2], choices[-2:], []]
            elif kind in ("integer", "decimal"):
                found += [0, 1, 2, 5, 11, 17, 18, 60, 100, 121, 2.5, -1]
            else:
                found += ["x", "y", "dev", "Bé", ""]
    walk(defn["fields"])
    return likely


def values_for(defn: dict, likely: list) -> st.SearchStrategy:
    words = st.sampled_from(choice_values(defn))
    return st.one_of(st.sampled_from(likely or [None]), st.sampled_from(likely or [None]),
                     SCALARS, words, st.lists(words, max_size=3),
                     st.lists(SCALARS, max_size=2),
                     st.fixed_dictionaries({"lat": st.sampled_from([20, 95]), "lon": st.just(1)}),
                     st.dictionaries(st.sampled_from(["lat", "x"]), SCALARS, max_size=2))


@st.composite
def changed_answers(draw: st.DrawFn, name: str) -> tuple[str, dict]:
    defn, make = FORMS[name]
    answers = make()
    top, row_keys = keys_of(defn)
    likely = likely_values(defn)

    def value_of(key: str) -> Any:
        return draw(values_for(defn, likely.get(key, [])))
    for _ in range(draw(st.integers(0, 3))):
        rows = [(key, value) for key, value in answers.items()
                if isinstance(value, list) and value and isinstance(value[0], dict)]
        action = draw(st.sampled_from(["set", "drop", "row", "row", "row", "add row",
                                       "copy row", "drop row", "bad row"]
                                      if rows else ["set", "drop"]))
        if action == "set":
            key = draw(st.sampled_from([*top, "unknown"]))
            answers[key] = value_of(key)
        elif action == "drop":
            answers.pop(draw(st.sampled_from(top)), None)
        else:
            key, found = draw(st.sampled_from(rows))
            found = answers[key] = [dict(row) if isinstance(row, dict) else row
                                    for row in found]
            index = draw(st.integers(0, len(found) - 1))
            if action == "row" and isinstance(found[index], dict):
                target = found[index]
                if draw(st.booleans()):
                    row_key = draw(st.sampled_from([*row_keys, "unknown"]))
                    target[row_key] = value_of(row_key)
                else:
                    target.pop(draw(st.sampled_from(row_keys)), None)
            elif action == "add row":
                found.append({"_row": row_id(), **{k: value_of(k) for k in draw(
                    st.lists(st.sampled_from(row_keys[1:]), max_size=4))}})
            elif action == "copy row":
                found.append(copy.deepcopy(found[index]))  # the same _row twice
            elif action == "drop row":
                del found[index]
            else:
                found[index] = draw(st.sampled_from([None, "row", [], ["x"]]))
    return name, answers


def test_the_forms_here_are_valid_and_get_a_fast_path():
    for name, (defn, make) in FORMS.items():
        compiled = compile_form(defn)
        assert compiled.problems == [], name
        assert compiled.surely_valid is not None, name
        assert full_validation(compiled, make()) == [], name
        assert compiled.surely_valid(make()) is True, name


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FORMS)).flatmap(changed_answers))
def test_the_fast_path_says_valid_exactly_where_the_full_validation_finds_nothing(case):
    name, answers = case
    compiled = compile_form(FORMS[name][0])
    before = copy.deepcopy(answers)
    fast = compiled.surely_valid(answers)
    assert answers == before  # the answers are not changed
    assert fast is (full_validation(compiled, answers) == [])


def edited(**changes: Any) -> dict:
    """The synthetic survey with top-level answers changed (None: dropped) and
    `m0`/`m1` giving changes to the first and second member."""
    answers = synthetic_answers()
    for key, value in changes.items():
        if key in ("m0", "m1"):
            answers["members"][int(key[1])].update(value)
        elif value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    return answers


@pytest.mark.parametrize(("answers", "codes"), [
    (edited(), []),
    (edited(tdp="tdp02"), [("tdp", "choice_filtered_out")]),
    (edited(tags=["a", "b"]), [("tags", "choice_filtered_out")]),
    (edited(kind=None, tags=["b"]), []),
    (edited(tags=["a", "a"]), [("tags", "duplicate_choice")]),
    (edited(opts=["maybe"]), [("opts", "not_a_choice")]),
    (edited(m1={"_row": 5}), [("members[1]._row", "row_id")]),
    (edited(zone=None, tdp=None), [("zone", "required")]),
    (edited(kind="z", tags=None), [("kind", "constraint")]),
    (edited(m0={"kids": [{"_row": row_id()}]}), [("members[0].kids[0].kid", "required")]),
    (edited(m0={"job": None}), [("members[0].job", "required")]),
    (edited(m0={"job_since": None}), [("members[0].job_since", "required")]),
    (edited(m1={"job": "x", "job_since": 1}), []),  # a child's job is ignored
    (edited(m0={"age": 130}), [("members[0].age", "constraint")]),
    (edited(m1={"_row": "same"}, m0={"_row": "same"}),
     [("members[0]._row", "row_id"), ("members[1]._row", "duplicate_row_id"),
      ("members[1]._row", "row_id")]),
    (edited(size=6), []),  # the note `big` becomes relevant
    (edited(opts=None, risky=None), [("risky", "rule_error")]),
    (edited(consent="no", comment=None), []),  # the rest is ignored
    (edited(consent="no"), []),
    (edited(comment="a" * 11), [("comment", "text_too_long")]),
    (edited(members=synthetic_answers()["members"][:1]), [("members", "too_few_rows")]),
    (edited(members=synthetic_answers()["members"] * 2), [("members", "too_many_rows")]),
])
def test_each_step_of_validation_on_the_fast_path(answers, codes):
    """Each check the fast path makes, once: it says valid exactly when the full
    validation finds nothing, and the full validation says what is wrong."""
    compiled = compile_form(SYNTHETIC)
    assert sorted((e.path, e.code) for e in validate_submission(compiled, answers)) == codes
    assert compiled.surely_valid(answers) is (codes == [])


def test_rows_with_the_same_id_are_found():
    answers = synthetic_answers()
    answers["members"][1]["_row"] = answers["members"][0]["_row"]
    assert compile_form(SYNTHETIC).surely_valid(answers) is False
    assert [(e.path, e.code) for e in validate_submission(SYNTHETIC, answers)] == [
        ("members[1]._row", "duplicate_row_id")]


def test_shipped_surveys_take_the_fast_path(monkeypatch):
    calls: list[Any] = []
    monkeypatch.setattr(submission, "full_validation",
                        lambda *args: calls.append(args) or [])
    for name in ("household", "enterprise"):
        defn, make = FORMS[name]
        assert validate_submission(defn, make()) == []
    assert calls == []


def test_a_survey_with_errors_gets_them_from_the_full_validation():
    answers = synthetic_answers()
    answers["members"][0]["age"] = 130
    assert compile_form(SYNTHETIC).surely_valid(answers) is False
    assert [(e.path, e.code) for e in validate_submission(SYNTHETIC, answers)] == [
        ("members[0].age", "constraint")]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("answers", [None, [], "x", {"consent": {"a": nested(16)}}])
def test_what_is_not_an_object_or_too_deep_is_left_to_the_full_validation(answers):
    assert compile_form(SYNTHETIC).surely_valid(answers) is False
    assert validate_submission(SYNTHETIC, answers) != []


def test_an_irrelevant_answer_nested_too_deeply_is_still_too_deep():
    """Resolution drops an irrelevant answer, but the depth is checked first, as in
    the full validation."""
    answers = {**synthetic_answers(), "consent": "no", "zone": nested(17)}
    del answers["comment"]
    assert compile_form(SYNTHETIC).surely_valid(answers) is False
    assert [e.code for e in validate_submission(SYNTHETIC, answers)] == ["too_deep"]


def test_a_form_whose_code_would_not_compile_has_no_fast_path(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SyntaxError("too many statically nested blocks")
    monkeypatch.setattr(fastpath, "compile", refuse, raising=False)
    defn = {**SYNTHETIC, "version": "no-fast-path"}
    compiled = compile_form(defn)
    assert compiled.surely_valid is None
    assert validate_submission(compiled, synthetic_answers()) == []


def test_values_of_the_form_are_not_written_into_the_code():
    """Text of a rule or a label that looks like code is only a value."""
    hostile = "x'] or True #\"\"\"\n"
    defn = {**SYNTHETIC, "version": "hostile",
            "fields": [field("consent", "select_one", choices="yn", required=True,
                             label={"vi": hostile, "en": hostile}),
                       field("q", "text", constraint={"==": [{"var": "q"}, hostile]})]}
    compiled = compile_form(defn)
    assert compiled.problems == []
    assert compiled.surely_valid({"consent": "yes", "q": hostile}) is True
    assert compiled.surely_valid({"consent": "yes", "q": "y"}) is False
    assert [e.code for e in validate_submission(compiled, {"consent": "yes", "q": "y"})] == [
        "constraint"]


def chained_form(depth: int) -> dict:
    """Calculations wrapping a text in `depth` lists, 60 at a time, read by a
    constraint two repeats down (found by a review helper)."""
    def wrap(rule: Any, times: int) -> Any:
        for _ in range(times):
            rule = [rule]
        return rule
    fields, last, number = [field("x")], "x", 0
    while depth > 0:
        fields.append(field(f"c{number}", "calculate",
                            calculation=wrap({"var": last}, min(60, depth))))
        last, depth, number = f"c{number}", depth - 60, number + 1
    fields.append(field("r0", "repeat", fields=[field("r1", "repeat", fields=[
        field("t", constraint={"!=": [{"cat": [{"var": last}]}, "zz"]})])]))
    return {"id": "chained", "version": "1", "title": {"vi": "t", "en": "t"},
            "subject": "household", "choices": {}, "fields": fields}


def test_calculations_nested_near_the_recursion_limit_are_left_to_the_full_validation():
    """The full validation calls rules a few frames deeper than the fast path: a
    calculated value nesting near Python's recursion limit failed there (a rule
    error) and passed here. Whatever the depth, the two now agree."""
    answers = {"x": "v", "r0": [{"_row": row_id(), "r1": [{"_row": row_id(), "t": "hi"}]}]}
    for depth in [*range(1, 70, 17), *range(100, 330)]:
        compiled = compile_form(chained_form(depth))
        assert compiled.problems == [], depth
        full = full_validation(compiled, answers)
        fast = compiled.surely_valid(answers)
        assert not fast or full == [], depth  # True only where the full validation agrees
        if depth > fastpath.CALCULATED_DEPTH:
            assert fast is False, depth
        else:
            assert fast is (full == []) is True, depth


def test_the_xlsform_types_and_repeat_count_agree_with_the_full_validation():
    label = {"vi": "t", "en": "t"}
    defn = {"id": "x", "version": "1", "title": label, "subject": "household", "choices": {},
            "fields": [{"name": "n", "type": "integer", "label": label},
                       {"name": "at", "type": "time", "label": label},
                       {"name": "ok", "type": "acknowledge", "label": label},
                       {"name": "code", "type": "barcode", "label": label,
                        "constraint": {"regex": [{"var": "code"}, "^[0-9]+$"]}},
                       {"name": "kids", "type": "repeat", "label": label,
                        "repeat_count": {"var": "n"},
                        "fields": [{"name": "kid", "type": "text", "label": label}]}]}
    form = compile_form(defn)
    assert form.problems == [] and form.surely_valid is not None
    seen = set()
    for n in (None, 0, 1, 2, "2"):
        for rows in (None, [], [{"_row": row_id()}], [{"_row": row_id()}, {"_row": row_id()}]):
            for at, ok, code in (("09:30", True, "12"), ("9:30", "OK", "1a")):
                answers = {"n": n, "kids": rows, "at": at, "ok": ok, "code": code}
                fast = form.surely_valid(answers)
                full = full_validation(form, answers)
                assert fast == (full == []), (answers, full)
                seen.add(fast)
    assert seen == {True, False}
