"""Answers as people read them: each with its question's label and its choice labels.

For the review screen and exports: a list of rows in form order, in
Vietnamese and English; repeats become a list of row lists. Answers the form
does not know (an older draft, a merged-in field) are listed at the end under
their own names, so nothing a volunteer entered is hidden.
"""

from __future__ import annotations

from typing import Any

from forms.model import text

SKIPPED = {"note", "group"}


def _choice_labels(defn: dict, field: dict, value: Any) -> tuple[str, str]:
    options = {c.get("value"): c.get("label") for c in defn.get("choices", {}).get(
        field.get("choices"), []) if isinstance(c, dict)}
    values = value if isinstance(value, list) else [value]
    vi = ", ".join(text(options.get(v), "vi") or str(v) for v in values)
    en = ", ".join(text(options.get(v), "en") or str(v) for v in values)
    return vi, en


def _shown(defn: dict, field: dict, value: Any) -> tuple[str, str]:
    kind = field.get("type")
    if value is None or value == "" or value == []:
        return "—", "—"
    if kind in ("select_one", "select_multiple"):
        return _choice_labels(defn, field, value)
    if kind == "geopoint" and isinstance(value, dict):
        shown = f"{value.get('lat')}, {value.get('lon')} (±{value.get('accuracy', '?')} m)"
        return shown, shown
    if kind == "photo" and isinstance(value, list):
        return f"{len(value)} ảnh", f"{len(value)} photo(s)"
    return str(value), str(value)


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
        row = {"name": name, "vi": text(field.get("label"), "vi") or name,
               "en": text(field.get("label"), "en") or name}
        value = answers[name]
        if kind == "repeat" and isinstance(value, list):
            row["repeat"] = [_rows(defn, field.get("fields", []), item, set())
                             for item in value if isinstance(item, dict)]
        else:
            row["value_vi"], row["value_en"] = _shown(defn, field, value)
        rows.append(row)
    return rows


def labelled_answers(defn: dict | None, answers: dict) -> list[dict]:
    """Rows of {name, vi, en, value_vi, value_en} or {..., repeat: [[rows]]}, in form order."""
    seen: set[str] = set()
    rows = _rows(defn or {}, (defn or {}).get("fields", []), answers, seen)
    for name, value in answers.items():
        if name not in seen and not name.startswith("_"):
            shown = value if isinstance(value, str) else repr(value)
            rows.append({"name": name, "vi": name, "en": "(không có trong biểu mẫu / not in "
                         "the form)", "value_vi": shown, "value_en": shown})
    return rows
