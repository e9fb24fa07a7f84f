"""Checking a form definition before it is published.

`check_definition` reports every problem of a definition: first against the
JSON Schema shipped as forms/form.schema.json, then the rules a schema cannot
express: unique field names, choice lists that exist, rules that use known
operators and name existing fields in scope, no forward references in the
rules that shape data (relevant, calculation), no cycles among calculations,
sane bounds. Each problem carries the JSON path of the offending part, a
stable code and a sentence in Vietnamese and English.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from forms import jsonlogic
from forms.answers import field_error, value_problem
from forms.model import (
    CHOICE_KEY,
    FIELD_TYPES,
    MAX_FIELDS,
    RULE_KEYS,
    SELECT_TYPES,
    FieldInfo,
    Report,
    has_lone_surrogate,
    languages,
    nested_deeper_than,
    walk,
)
from messages import catalogue, say

MAX_JSON_DEPTH = 160
MAX_GROUP_DEPTH = 8

# Names that json-logic-js would resolve on Object.prototype (see forms/jsonlogic.py).
RESERVED_NAMES = frozenset(
    {
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
        "length",
    }
)

_SCHEMA_MESSAGES = {"minItems": "too_short", "minLength": "too_short"}


def _schema_problem(path: str, error: jsonschema.ValidationError) -> Problem:
    """A JSON Schema error in both languages (jsonschema itself speaks English only)."""
    kind, expected = str(error.validator), error.validator_value
    quoted = re.findall(r"'([^']*)'", error.message)
    code, params = _SCHEMA_MESSAGES.get(kind, kind), {"expected": expected}
    if kind == "required" and quoted:
        params = {"name": quoted[0]}
    elif kind == "additionalProperties":
        params = {"names": ", ".join(quoted) or error.message}
    elif kind == "enum":
        params = {"expected": ", ".join(map(str, expected))}
    elif f"forms.schema.{code}" not in catalogue() or kind == "required":
        code, params = "other", {"said": error.message}
    vi, en = say(f"forms.schema.{code}", **params)
    return Problem(path, f"schema_{error.validator}", vi, en)


class Problem(Report):
    """One problem of a form definition."""


def problem(path: str, code: str, **params: Any) -> Problem:
    """The problem `code` at `path`, in the words of the catalogue's `forms.definition.<code>`."""
    return Problem(path, code, *say(f"forms.definition.{code}", **params))


@cache
def form_schema() -> dict:
    """The JSON Schema of the form format (forms/form.schema.json)."""
    return json.loads(resources.files("forms").joinpath("form.schema.json").read_text("utf-8"))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(form_schema())


def check_definition(defn: Any) -> list[Problem]:
    """Every problem of a form definition; an empty list means it may be published."""
    if not isinstance(defn, dict):
        return [problem("$", "not_object")]
    depth_problem = _check_json_depth(defn)
    if depth_problem:
        return [depth_problem]
    problems = _schema_problems(defn) + _text_problems(defn) + _language_problems(defn)
    infos = list(walk(defn))
    if len(infos) > MAX_FIELDS:
        problems.append(problem("$.fields", "too_many_fields", count=len(infos), max=MAX_FIELDS))
        return problems
    problems += _name_problems(infos)
    problems += _choice_problems(defn)
    problems += _field_problems(defn, infos)
    problems += _rule_problems(infos)
    problems += _cycle_problems(infos)
    return problems


def _check_json_depth(value: Any) -> Problem | None:
    if not nested_deeper_than(value, MAX_JSON_DEPTH):
        return None
    return problem(_deep_path(value), "too_deep", max=MAX_JSON_DEPTH)


def _deep_path(value: Any, shown: int = 8) -> str:
    """The JSON path, first `shown` steps, towards a node deeper than MAX_JSON_DEPTH."""
    stack: list[tuple[Any, tuple, int]] = [(value, (), 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return _json_path(path[:shown])
        items = node.items() if isinstance(node, dict) else (
            enumerate(node) if isinstance(node, list) else ())
        stack.extend((item, path + (key,) if len(path) < shown else path, depth + 1)
                     for key, item in items)
    return "$"


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _schema_problems(defn: dict) -> list[Problem]:
    problems = []
    for error in sorted(_validator().iter_errors(defn), key=lambda e: list(map(str, e.path))):
        problems.append(_schema_problem(_json_path(error.absolute_path), error))
    return problems


def _text_problems(defn: dict) -> list[Problem]:
    """Texts (names and values alike) holding half of a UTF-16 pair, which a JSON
    writer may escape but no UTF-8 text, spreadsheet or PostgreSQL can hold."""
    problems = []
    stack: list[tuple[Any, tuple]] = [(defn, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                stack.append((item, (*path, key)))
                if has_lone_surrogate(key):
                    stack.append((key, (*path, key)))
        elif isinstance(node, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(node))
        elif isinstance(node, str) and has_lone_surrogate(node):
            problems.append(problem(_json_path(path), "broken_text"))
    return sorted(problems, key=lambda problem: problem.path)


def _texts(defn: dict) -> list[tuple[str, Any]]:
    """(JSON path, text) of every translatable text of the form."""
    found = [(f"$.{key}", defn[key]) for key in ("title", "description") if key in defn]
    for info in walk(defn):
        found += [(f"{info.path}.{key}", info.field[key])
                  for key in ("label", "hint", "constraint_message") if key in info.field]
    lists = defn.get("choices") if isinstance(defn.get("choices"), dict) else {}
    for list_name, items in lists.items():
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and "label" in item:
                found.append((f"$.choices.{list_name}[{index}].label", item["label"]))
    return found


def _language_problems(defn: dict) -> list[Problem]:
    """Every text in exactly the form's languages (vi and en unless it says others)."""
    expected = languages(defn)
    if not all(isinstance(code, str) for code in expected):
        return []  # the schema says what the list should hold
    problems = []
    for path, value in _texts(defn):
        if not isinstance(value, dict):
            continue
        missing = [code for code in expected if code not in value]
        extra = [code for code in value if code not in expected]
        if missing:
            problems.append(problem(path, "missing_translation", languages=", ".join(missing)))
        if extra:
            problems.append(problem(path, "unknown_translation",
                                    languages=", ".join(map(str, extra))))
    return problems


def _name_problems(infos: list[FieldInfo]) -> list[Problem]:
    problems = []
    seen: dict[str, str] = {}
    for info in infos:
        name = info.field.get("name")
        if not isinstance(name, str):
            continue
        if name in RESERVED_NAMES:
            problems.append(problem(f"{info.path}.name", "reserved_name", name=repr(name)))
        if name in seen:
            problems.append(problem(f"{info.path}.name", "duplicate_name", name=repr(name),
                                    first=seen[name]))
        else:
            seen[name] = info.path
    return problems


def _choice_problems(defn: dict) -> list[Problem]:
    problems = []
    lists = defn.get("choices") if isinstance(defn.get("choices"), dict) else {}
    for list_name, items in lists.items():
        seen: set = set()
        for index, item in enumerate(items if isinstance(items, list) else []):
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str):
                continue  # the schema says what it should be
            if value in seen:
                problems.append(problem(f"$.choices.{list_name}[{index}].value",
                                        "duplicate_choice", value=repr(value)))
            seen.add(value)
    return problems


def _field_problems(defn: dict, infos: list[FieldInfo]) -> list[Problem]:
    problems = []
    choices = defn.get("choices") if isinstance(defn.get("choices"), dict) else {}
    for info in infos:
        field, path, kind = info.field, info.path, info.field.get("type")
        if not isinstance(kind, str):
            kind = None  # the schema says what it should be
        groups = sum(1 for c in info.containers)
        if groups > MAX_GROUP_DEPTH:
            problems.append(Problem(path, "too_deep", *say("forms.definition.groups_too_deep",
                                                           max=MAX_GROUP_DEPTH)))
        list_name = field.get("choices")
        if kind in SELECT_TYPES:
            if list_name is None:
                problems.append(problem(path, "choices_missing"))
            elif isinstance(list_name, str) and list_name not in choices:
                problems.append(problem(f"{path}.choices", "unknown_choice_list",
                                        list=repr(list_name)))
        elif list_name is not None or "choice_filter" in field:
            problems.append(problem(path, "choices_not_allowed"))
        if kind in ("group", "repeat") and not field.get("fields"):
            problems.append(problem(path, "empty_container"))
        if kind not in ("group", "repeat") and "fields" in field:
            problems.append(problem(f"{path}.fields", "fields_not_allowed"))
        if kind == "calculate" and "calculation" not in field:
            problems.append(problem(path, "calculation_missing"))
        if kind != "calculate" and "calculation" in field:
            problems.append(problem(f"{path}.calculation", "calculation_not_allowed"))
        if kind != "repeat" and "repeat_count" in field:
            problems.append(problem(f"{path}.repeat_count", "repeat_count_not_allowed"))
        if kind in ("note", "group", "calculate") and field.get("required") not in (None, False):
            problems.append(problem(f"{path}.required", "required_not_allowed"))
        problems += _bound_problems(field, path, kind)
        if "default" in field:
            problems += _default_problems(field, path, kind, choices)
    return problems


def _default_problems(field: dict, path: str, kind: Any, choices: dict) -> list[Problem]:
    if kind in ("note", "group", "repeat", "calculate", "photo"):
        return [problem(f"{path}.default", "default_not_allowed", type=repr(kind))]
    items = choices.get(field.get("choices")) if isinstance(field.get("choices"), str) else None
    values = [c.get("value") for c in items or [] if isinstance(c, dict)]
    code = value_problem(field, values, field["default"]) if kind in FIELD_TYPES else None
    if code is None:
        return []
    code, _, value = code.partition(":")
    error = field_error(f"{path}.default", code, value=value)
    return [problem(error.path, "bad_default", reason={"vi": error.vi, "en": error.en})]


_BOUNDS = {
    "repeat": ("min_rows", "max_rows"),
    "photo": ("min_count", "max_count"),
}


def _bound_problems(field: dict, path: str, kind: Any) -> list[Problem]:
    problems = []
    for key in ("min_rows", "max_rows", "min_count", "max_count", "max_length"):
        if key in field and key not in _BOUNDS.get(kind, ()) and not (
            key == "max_length" and kind == "text"
        ):
            problems.append(problem(f"{path}.{key}", "bound_not_allowed", key=repr(key),
                                    type=repr(kind)))
    low_key, high_key = _BOUNDS.get(kind, (None, None))
    low, high = field.get(low_key), field.get(high_key)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(problem(f"{path}.{low_key}", "bounds_inverted", low=low_key, high=high_key))
    return problems


def _rule_problems(infos: list[FieldInfo]) -> list[Problem]:
    """Unknown operators, too deep rules, and rules naming fields out of scope."""
    problems = []
    by_name = {
        info.field["name"]: info for info in infos if isinstance(info.field.get("name"), str)
    }
    for info in infos:
        for key in RULE_KEYS:
            if key not in info.field:
                continue
            rule, path = info.field[key], f"{info.path}.{key}"
            problems += [Problem(path + sub, code, vi, en)
                         for sub, code, vi, en in jsonlogic.check_rule(rule)]
            for name in sorted(jsonlogic.variables(rule)):
                problems += _reference_problems(info, key, path, name, by_name)
    return problems


def _reference_problems(info: FieldInfo, key: str, path: str, name: str,
                        by_name: dict[str, FieldInfo]) -> list[Problem]:
    own = info.field.get("name")
    if key == "choice_filter" and name == CHOICE_KEY:
        return []
    target = by_name.get(name)
    if target is None:
        return [problem(path, "unknown_field", name=repr(name))]
    if target.repeat is not None and target.repeat != info.repeat and not _inside(info, target):
        return [problem(path, "field_out_of_scope", name=repr(name), repeat=repr(target.repeat))]
    if key in ("relevant", "calculation", "choice_filter", "repeat_count") and not _before(
            target, info):
        if name == own and key == "choice_filter":
            return []
        return [problem(path, "forward_reference", key=key, name=repr(name))]
    return []


def _inside(info: FieldInfo, target: FieldInfo) -> bool:
    return any(c.get("name") == target.repeat for c in info.containers)


def _before(target: FieldInfo, info: FieldInfo) -> bool:
    """Is target complete before info is reached (earlier, and not an ancestor of info)?"""
    return target.order < info.order and not any(c is target.field for c in info.containers)


def _cycle_problems(infos: list[FieldInfo]) -> list[Problem]:
    """Cycles among calculations (a calculation that, through others, needs itself)."""
    calcs = {info.field["name"]: info for info in infos
             if info.field.get("type") == "calculate" and isinstance(info.field.get("name"), str)}
    graph = {name: sorted(jsonlogic.variables(info.field.get("calculation")) & calcs.keys())
             for name, info in calcs.items()}
    problems, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done
    for start in graph:
        if state[start]:
            continue
        path, stack = [start], [iter(graph[start])]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                stack.pop()
            elif state[step] == 1:
                cycle = " → ".join(path[path.index(step):] + [step])
                problems.append(problem(f"{calcs[step].path}.calculation", "calculation_cycle",
                                        cycle=cycle))
            elif state[step] == 0:
                state[step] = 1
                path.append(step)
                stack.append(iter(graph[step]))
    return problems
