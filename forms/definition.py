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

def _schema_vi(error: jsonschema.ValidationError) -> str:
    """A Vietnamese sentence for a JSON Schema error (jsonschema speaks English only)."""
    kind, expected = str(error.validator), error.validator_value
    quoted = re.findall(r"'([^']*)'", error.message)
    if kind == "required" and quoted:
        return f"Thiếu thuộc tính bắt buộc '{quoted[0]}'."
    if kind == "additionalProperties":
        return f"Thuộc tính không được phép: {', '.join(quoted) or error.message}."
    if kind == "type":
        return f"Sai kiểu dữ liệu: cần {expected}."
    if kind == "enum":
        return f"Giá trị không thuộc danh sách cho phép: {', '.join(map(str, expected))}."
    if kind == "pattern":
        return f"Không đúng định dạng (mẫu {expected})."
    if kind in ("minLength", "minItems"):
        return f"Quá ngắn (tối thiểu {expected})."
    if kind == "maxLength":
        return f"Quá dài (tối đa {expected})."
    if kind == "minimum":
        return f"Giá trị nhỏ hơn {expected}."
    if kind == "maximum":
        return f"Giá trị lớn hơn {expected}."
    if kind == "propertyNames":
        return "Tên không hợp lệ."
    return "Không đúng lược đồ biểu mẫu."


class Problem(Report):
    """One problem of a form definition."""


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
        return [Problem("$", "not_object", "Định nghĩa biểu mẫu phải là một đối tượng JSON.",
                        "A form definition must be a JSON object.")]
    depth_problem = _check_json_depth(defn)
    if depth_problem:
        return [depth_problem]
    problems = _schema_problems(defn) + _text_problems(defn) + _language_problems(defn)
    infos = list(walk(defn))
    if len(infos) > MAX_FIELDS:
        problems.append(Problem(
            "$.fields", "too_many_fields",
            f"Biểu mẫu có {len(infos)} trường, tối đa {MAX_FIELDS}.",
            f"The form has {len(infos)} fields, at most {MAX_FIELDS} are allowed."))
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
    return Problem(_deep_path(value), "too_deep",
                   f"Định nghĩa lồng nhau quá sâu (tối đa {MAX_JSON_DEPTH} cấp).",
                   f"The definition is nested too deeply (at most {MAX_JSON_DEPTH}).")


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
        problems.append(Problem(_json_path(error.absolute_path), f"schema_{error.validator}",
                                _schema_vi(error), error.message))
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
            problems.append(Problem(_json_path(path), "broken_text",
                                    "Văn bản có ký tự hỏng (nửa cặp UTF-16), hãy gõ lại.",
                                    "The text holds a broken character (half of a UTF-16 "
                                    "pair); type it again."))
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
            problems.append(Problem(path, "missing_translation",
                                    f"Thiếu bản dịch: {', '.join(missing)}.",
                                    f"Translation missing: {', '.join(missing)}."))
        if extra:
            problems.append(Problem(path, "unknown_translation",
                                    f"Ngôn ngữ không có trong 'languages' của biểu mẫu: "
                                    f"{', '.join(map(str, extra))}.",
                                    f"Language not in the form's 'languages': "
                                    f"{', '.join(map(str, extra))}."))
    return problems


def _name_problems(infos: list[FieldInfo]) -> list[Problem]:
    problems = []
    seen: dict[str, str] = {}
    for info in infos:
        name = info.field.get("name")
        if not isinstance(name, str):
            continue
        if name in RESERVED_NAMES:
            problems.append(Problem(f"{info.path}.name", "reserved_name",
                                    f"Tên trường {name!r} là tên dành riêng.",
                                    f"Field name {name!r} is reserved."))
        if name in seen:
            problems.append(Problem(f"{info.path}.name", "duplicate_name",
                                    f"Tên trường {name!r} bị trùng (đã có ở {seen[name]}).",
                                    f"Field name {name!r} is used twice (first at {seen[name]})."))
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
                problems.append(Problem(f"$.choices.{list_name}[{index}].value",
                                        "duplicate_choice",
                                        f"Giá trị lựa chọn {value!r} bị trùng.",
                                        f"Choice value {value!r} is used twice."))
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
            problems.append(Problem(path, "too_deep",
                                    f"Nhóm lồng nhau quá sâu (tối đa {MAX_GROUP_DEPTH}).",
                                    f"Groups are nested too deeply (at most {MAX_GROUP_DEPTH})."))
        list_name = field.get("choices")
        if kind in SELECT_TYPES:
            if list_name is None:
                problems.append(Problem(path, "choices_missing",
                                        "Câu hỏi lựa chọn cần thuộc tính 'choices'.",
                                        "A select field needs a 'choices' list name."))
            elif isinstance(list_name, str) and list_name not in choices:
                problems.append(Problem(f"{path}.choices", "unknown_choice_list",
                                        f"Không có danh sách lựa chọn {list_name!r}.",
                                        f"There is no choice list {list_name!r}."))
        elif list_name is not None or "choice_filter" in field:
            problems.append(Problem(path, "choices_not_allowed",
                                    "Chỉ câu hỏi lựa chọn mới có 'choices' và 'choice_filter'.",
                                    "Only select fields take 'choices' and 'choice_filter'."))
        if kind in ("group", "repeat") and not field.get("fields"):
            problems.append(Problem(path, "empty_container",
                                    "Nhóm hoặc phần lặp cần ít nhất một trường.",
                                    "A group or repeat needs at least one field."))
        if kind not in ("group", "repeat") and "fields" in field:
            problems.append(Problem(f"{path}.fields", "fields_not_allowed",
                                    "Chỉ nhóm và phần lặp mới chứa trường con.",
                                    "Only groups and repeats contain fields."))
        if kind == "calculate" and "calculation" not in field:
            problems.append(Problem(path, "calculation_missing",
                                    "Trường tính toán cần thuộc tính 'calculation'.",
                                    "A calculate field needs a 'calculation'."))
        if kind != "calculate" and "calculation" in field:
            problems.append(Problem(f"{path}.calculation", "calculation_not_allowed",
                                    "Chỉ trường tính toán mới có 'calculation'.",
                                    "Only calculate fields take a 'calculation'."))
        if kind != "repeat" and "repeat_count" in field:
            problems.append(Problem(f"{path}.repeat_count", "repeat_count_not_allowed",
                                    "Chỉ phần lặp mới có 'repeat_count'.",
                                    "Only repeats take a 'repeat_count'."))
        if kind in ("note", "group", "calculate") and field.get("required") not in (None, False):
            problems.append(Problem(f"{path}.required", "required_not_allowed",
                                    "Trường này không có câu trả lời nên không thể bắt buộc.",
                                    "This field holds no typed answer and cannot be required."))
        problems += _bound_problems(field, path, kind)
        if "default" in field:
            problems += _default_problems(field, path, kind, choices)
    return problems


def _default_problems(field: dict, path: str, kind: Any, choices: dict) -> list[Problem]:
    if kind in ("note", "group", "repeat", "calculate", "photo"):
        return [Problem(f"{path}.default", "default_not_allowed",
                        f"Loại {kind!r} không có giá trị mặc định.",
                        f"Type {kind!r} takes no default.")]
    items = choices.get(field.get("choices")) if isinstance(field.get("choices"), str) else None
    values = [c.get("value") for c in items or [] if isinstance(c, dict)]
    code = value_problem(field, values, field["default"]) if kind in FIELD_TYPES else None
    if code is None:
        return []
    code, _, value = code.partition(":")
    error = field_error(f"{path}.default", code, value=value)
    return [Problem(error.path, "bad_default", f"Giá trị mặc định sai: {error.vi}",
                    f"Invalid default: {error.en}")]


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
            problems.append(Problem(f"{path}.{key}", "bound_not_allowed",
                                    f"Thuộc tính {key!r} không áp dụng cho loại {kind!r}.",
                                    f"{key!r} does not apply to type {kind!r}."))
    low_key, high_key = _BOUNDS.get(kind, (None, None))
    low, high = field.get(low_key), field.get(high_key)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(Problem(f"{path}.{low_key}", "bounds_inverted",
                                f"{low_key} lớn hơn {high_key}.",
                                f"{low_key} is greater than {high_key}."))
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
        return [Problem(path, "unknown_field",
                        f"Biểu thức nhắc đến trường không tồn tại: {name!r}.",
                        f"The rule names a field that does not exist: {name!r}.")]
    if target.repeat is not None and target.repeat != info.repeat and not _inside(info, target):
        return [Problem(path, "field_out_of_scope",
                        f"Trường {name!r} nằm trong phần lặp {target.repeat!r}, "
                        "chỉ dùng được trong cùng phần lặp.",
                        f"Field {name!r} is inside repeat {target.repeat!r} and can only "
                        "be used within that repeat.")]
    if key in ("relevant", "calculation", "choice_filter", "repeat_count") and not _before(
            target, info):
        if name == own and key == "choice_filter":
            return []
        return [Problem(path, "forward_reference",
                        f"'{key}' chỉ được dùng các trường đứng trước, không dùng {name!r}.",
                        f"'{key}' may only use fields that come before it, not {name!r}.")]
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
                problems.append(Problem(f"{calcs[step].path}.calculation", "calculation_cycle",
                                        f"Các phép tính phụ thuộc vòng tròn: {cycle}.",
                                        f"Calculations depend on each other in a cycle: {cycle}."))
            elif state[step] == 0:
                state[step] = 1
                path.append(step)
                stack.append(iter(graph[step]))
    return problems
