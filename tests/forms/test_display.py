"""Answers shown with their questions' and choices' labels, in form order."""

from __future__ import annotations

from forms.display import labelled_answers
from forms.shipped import shipped_forms

HOUSEHOLD = next(f for f in shipped_forms() if f["id"] == "household")


def test_labels_choices_repeats_and_unknown_answers():
    answers = {"consent": "yes", "fibre": "mobile_only", "stray": 3,
               "members": [{"_row": "r1", "age": 40, "smartphone": "own",
                            "safety_practices": ["two_factor", "official_apps"]}]}
    rows = labelled_answers(HOUSEHOLD, answers)
    names = [r["name"] for r in rows]
    assert names.index("consent") < names.index("fibre") < names.index("members")
    assert names[-1] == "stray"
    fibre = next(r for r in rows if r["name"] == "fibre")
    assert fibre["value_vi"] != "mobile_only" and fibre["value_en"] != "mobile_only"
    member = next(r for r in rows if r["name"] == "members")["repeat"][0]
    practices = next(r for r in member if r["name"] == "safety_practices")
    assert practices["value_en"].count(",") == 1
    assert all(r["name"] != "_row" for r in member)


def test_without_a_definition_every_answer_is_still_listed():
    rows = labelled_answers(None, {"a": 1, "b": "x"})
    assert [r["name"] for r in rows] == ["a", "b"]
