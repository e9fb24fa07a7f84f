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
    assert "mobile_only" not in fibre["values"] and len(set(fibre["values"])) == 2
    member = next(r for r in rows if r["name"] == "members")["repeat"][0]
    practices = next(r for r in member if r["name"] == "safety_practices")
    assert practices["values"][1].count(",") == 1
    assert all(r["name"] != "_row" for r in member)


def test_without_a_definition_every_answer_is_still_listed():
    rows = labelled_answers(None, {"a": 1, "b": "x"})
    assert [r["name"] for r in rows] == ["a", "b"]


def test_rows_are_in_the_form_languages_vietnamese_first():
    label = {"en": "Water", "sw": "Maji", "vi": "Nước"}
    form = {"languages": ["en", "sw", "vi"], "choices": {"w": [
        {"value": "tap", "label": {"en": "Tap", "sw": "Bomba", "vi": "Vòi"}}]},
        "fields": [{"name": "water", "type": "select_one", "choices": "w", "label": label}]}
    [row] = labelled_answers(form, {"water": "tap"})
    assert row["labels"] == ["Nước", "Water", "Maji"]
    assert row["values"] == ["Vòi", "Tap", "Bomba"]
