"""Answers as people read them: each with its question's label and its choice labels.

For the review screen and exports: a list of rows in form order, each with
its label and shown value in every language of the form (Vietnamese first
when the form has it: `labels`, `values`); repeats become a list of row lists. Answers the form
does not know (an older draft, a merged-in field) are listed at the end under
their own names, so nothing a volunteer entered is hidden.
"""

from __future__ import annotations

from typing import Any

from forms.model import languages, text
from messages import both

SKIPPED = {"note", "group"}


def _choice_labels(defn: dict, field: dict, value: Any, codes: list[str]) -> list[str]:
    options = {c.get("value"): c.get("label") for c in defn.get("choices", {}).get(
        field.get("choices"), []) if isinstance(c, dict)}
    values = value if isinstance(value, list) else [value]
    return [", ".join(text(options.get(v), code) or str(v) for v in values) for code in codes]


def _shown(defn: dict, field: dict, value: Any, codes: list[str]) -> list[str]:
    kind = field.get("type")
    if value is None or value == "" or value == []:
        return ["—"] * len(codes)
    if kind in ("select_one", "select_multiple"):
        return _choice_labels(defn, field, value, codes)
    if kind == "geopoint" and isinstance(value, dict):
        shown = f"{value.get('lat')}, {value.get('lon')} (±{value.get('accuracy', '?')} m)"
    elif kind == "photo" and isinstance(value, list):
        shown = both("forms.display.photos", count=len(value))
    else:
        shown = str(value)
    return [shown] * len(codes)


def _rows(defn: dict, fields: list, answers: dict, seen: set[str]) -> list[dict]:
    rows: list[dict] = []
    for field in fields:
        if not isinstance(field, dict):
            continue
        kind, name = field.get("type"), field.get("name")
        if kind == "group":
            rows.extend(_rows(defn, field.get("fields", []), answers, seen))
            continue
        if kind in SKIPPED or name not in answers:
            continue
        seen.add(name)
        codes = languages(defn)
        row = {"name": name, "labels": [text(field.get("label"), code) or name
                                        for code in codes]}
        value = answers[name]
        if kind == "repeat" and isinstance(value, list):
            row["repeat"] = [_rows(defn, field.get("fields", []), item, set())
                             for item in value if isinstance(item, dict)]
        else:
            row["values"] = _shown(defn, field, value, codes)
        rows.append(row)
    return rows


def labelled_answers(defn: dict | None, answers: dict) -> list[dict]:
    """Rows of {name, labels, values} or {name, labels, repeat: [[rows]]}, in form order;
    labels and values in the form's languages, Vietnamese first."""
    seen: set[str] = set()
    rows = _rows(defn or {}, (defn or {}).get("fields", []), answers, seen)
    for name, value in answers.items():
        if name not in seen and not name.startswith("_"):
            shown = value if isinstance(value, str) else repr(value)
            rows.append({"name": name, "labels": [name, both("forms.display.not_in_form")],
                         "values": [shown]})
    return rows
