"""Validating a survey's answers against the exact form version it was filled with.

The server accepts exactly what the form allows and says what is wrong, field
by field, with the path of the answer (`members[2].age`) and a sentence in
Vietnamese and English. It treats answers the way the phone does:

1. Fields are resolved in document order. A field is relevant when its own
   `relevant` rule and those of all enclosing groups and repeats are truthy.
   An irrelevant field's answer is treated as absent: later rules read it as
   null, it is neither required nor validated, and it is left out of the
   cleaned answers (`resolve_answers`). The phone clears such answers when a
   survey is finalised; if an older phone still sends one, the server ignores
   it and lists it in `Resolution.ignored`, never rejects the survey for it.
2. Calculate fields are computed, in the same order, by the server itself
   (`evaluate_calculations`); what the phone stored for them is ignored.
3. Types (marshmallow schema built from the form version), choices, repeat
   bounds, photo counts; then `required` (when relevant), `constraint` (on
   answered fields only) and `choice_filter`.

Inside a repeat row, rules see the top-level answers overlaid by that row's
answers. Each row must carry a unique `_row` id (docs/contracts.md).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from forms import jsonlogic
from forms.definition import check_definition
from forms.model import (
    ANSWER_TYPES,
    CHOICE_KEY,
    MAX_ROWS,
    ROW_ID,
    SELECT_TYPES,
    nested_deeper_than,
    text,
)

DEFAULT_MAX_PHOTOS = 10
DEFAULT_MAX_TEXT = 2000
MAX_SAFE_INTEGER = 2**53 - 1
MAX_ANSWER_DEPTH = 16

MESSAGES: dict[str, tuple[str, str]] = {
    "too_deep": ("Câu trả lời lồng nhau quá sâu (tối đa {max} cấp).",
                 "The answers are nested too deeply (at most {max} levels)."),
    "not_object": ("Câu trả lời phải là một đối tượng JSON.", "Answers must be a JSON object."),
    "form_invalid": ("Định nghĩa biểu mẫu không hợp lệ: {detail}",
                     "The form definition is invalid: {detail}"),
    "unknown_field": ("Biểu mẫu không có trường này.", "The form has no such field."),
    "required": ("Câu hỏi này bắt buộc trả lời.", "This question is required."),
    "constraint": ("Câu trả lời không thỏa điều kiện.", "The answer does not meet the constraint."),
    "rule_error": ("Không tính được biểu thức '{rule}': {vi}", "Could not evaluate '{rule}': {en}"),
    "text_type": ("Phải là chuỗi ký tự.", "Must be text."),
    "text_too_long": ("Dài quá {value} ký tự.", "Longer than {value} characters."),
    "integer_type": ("Phải là số nguyên.", "Must be a whole number."),
    "decimal_type": ("Phải là một số.", "Must be a number."),
    "date_type": ("Phải là ngày dạng YYYY-MM-DD.", "Must be a date written YYYY-MM-DD."),
    "datetime_type": ("Phải là thời điểm ISO 8601 có múi giờ.",
                      "Must be an ISO 8601 date and time with an offset."),
    "choice_type": ("Phải là mã của một lựa chọn.", "Must be the value of a choice."),
    "not_a_choice": ("'{value}' không nằm trong danh sách lựa chọn.",
                     "'{value}' is not one of the choices."),
    "choice_filtered_out": ("Lựa chọn '{value}' không áp dụng với các câu trả lời trước.",
                            "Choice '{value}' does not apply given the earlier answers."),
    "multiple_type": ("Phải là danh sách các mã lựa chọn.", "Must be a list of choice values."),
    "duplicate_choice": ("Một lựa chọn được chọn hai lần.", "A choice is selected twice."),
    "photo_type": ("Phải là danh sách mã ảnh (photo:...).",
                   "Must be a list of photo ids (photo:...)."),
    "too_few_photos": ("Cần ít nhất {value} ảnh.", "At least {value} photos are needed."),
    "too_many_photos": ("Nhiều nhất {value} ảnh.", "At most {value} photos are allowed."),
    "geopoint_type": ("Phải là tọa độ {{lat, lon, accuracy}} hợp lệ.",
                      "Must be a valid {{lat, lon, accuracy}} location."),
    "phone_type": ("Phải là số điện thoại di động Việt Nam (0xxxxxxxxx hoặc +84xxxxxxxxx).",
                   "Must be a Vietnamese mobile number (0xxxxxxxxx or +84xxxxxxxxx)."),
    "repeat_type": ("Phải là danh sách các dòng.", "Must be a list of rows."),
    "row_type": ("Mỗi dòng phải là một đối tượng JSON.", "Each row must be a JSON object."),
    "row_id": ("Mỗi dòng cần mã '_row' (uuid) riêng.", "Each row needs its own '_row' id (uuid)."),
    "duplicate_row_id": ("Mã dòng '_row' bị trùng.", "The row id '_row' is used twice."),
    "too_few_rows": ("Cần ít nhất {min} dòng.", "At least {min} rows are needed."),
    "too_many_rows": ("Có {count} dòng, nhiều nhất {max}.",
                      "There are {count} rows, at most {max}."),
}


@dataclass(frozen=True)
class FieldError:
    """One problem of one answer."""

    path: str
    code: str
    vi: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}: [{self.code}] {self.vi} / {self.en}"


def field_error(path: str, code: str, **params: Any) -> FieldError:
    vi, en = MESSAGES[code]
    return FieldError(path, code, vi.format(**params), en.format(**params))


# ---------------------------------------------------------------- types (marshmallow)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})\Z", re.ASCII
)
_PHOTO_ID = re.compile(r"photo:[A-Za-z0-9_.-]{1,100}\Z", re.ASCII)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Answer(fields.Field):
    """A field whose type errors are message codes of MESSAGES, checked by `check`."""

    code = "text_type"

    def __init__(self, definition: dict, choices: list | None = None) -> None:
        super().__init__(allow_none=True, error_messages={"invalid": self.code})
        self.definition = definition
        self.choices = choices or []

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value in ("", []):
            return value
        self.check(value)
        return value

    def fail(self, code: str | None = None) -> ValidationError:
        return ValidationError(code or self.code)

    def check(self, value: Any) -> None:
        raise NotImplementedError


class TextAnswer(_Answer):
    code = "text_type"

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise self.fail()
        limit = self.definition.get("max_length", DEFAULT_MAX_TEXT)
        if len(value) > limit:
            raise self.fail(f"text_too_long:{limit}")


class IntegerAnswer(_Answer):
    code = "integer_type"

    def check(self, value: Any) -> None:
        # JSON from a phone cannot tell 5 from 5.0, so an integral float is an integer.
        if not _is_number(value) or value != int(value) or abs(value) > MAX_SAFE_INTEGER:
            raise self.fail()


class DecimalAnswer(_Answer):
    code = "decimal_type"

    def check(self, value: Any) -> None:
        if not _is_number(value):
            raise self.fail()


class DateAnswer(_Answer):
    code = "date_type"

    def check(self, value: Any) -> None:
        if not (isinstance(value, str) and _DATE.match(value) and jsonlogic.parse_date(value)):
            raise self.fail()


class DateTimeAnswer(_Answer):
    code = "datetime_type"

    def check(self, value: Any) -> None:
        if not (isinstance(value, str) and _DATETIME.match(value)):
            raise self.fail()
        try:
            _dt.datetime.fromisoformat(value)
        except ValueError:
            raise self.fail() from None


class SelectOneAnswer(_Answer):
    code = "choice_type"

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise self.fail()
        if value not in self.choices:
            raise ValidationError(f"not_a_choice:{value[:100]}")


class SelectMultipleAnswer(_Answer):
    code = "multiple_type"

    def check(self, value: Any) -> None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail()
        if len(set(value)) != len(value):
            raise self.fail("duplicate_choice")
        for item in value:
            if item not in self.choices:
                raise ValidationError(f"not_a_choice:{item[:100]}")


class PhotoAnswer(_Answer):
    code = "photo_type"

    def check(self, value: Any) -> None:
        if not isinstance(value, list) or not all(
            isinstance(v, str) and _PHOTO_ID.match(v) for v in value
        ) or len(set(value)) != len(value):
            raise self.fail()
        high = self.definition.get("max_count", DEFAULT_MAX_PHOTOS)
        low = self.definition.get("min_count", 0)
        if len(value) > high:
            raise self.fail(f"too_many_photos:{high}")
        if len(value) < low:
            raise self.fail(f"too_few_photos:{low}")


class GeopointAnswer(_Answer):
    code = "geopoint_type"

    def check(self, value: Any) -> None:
        if not isinstance(value, dict) or set(value) - {"lat", "lon", "accuracy"}:
            raise self.fail()
        lat, lon, accuracy = value.get("lat"), value.get("lon"), value.get("accuracy")
        if not (_is_number(lat) and -90 <= lat <= 90 and _is_number(lon) and -180 <= lon <= 180):
            raise self.fail()
        if accuracy is not None and not (_is_number(accuracy) and accuracy >= 0):
            raise self.fail()


class PhoneAnswer(_Answer):
    code = "phone_type"

    def check(self, value: Any) -> None:
        if not jsonlogic.is_vn_mobile(value):
            raise self.fail()


class CalculatedAnswer(_Answer):
    """Computed by the server; whatever the phone stored is replaced."""

    def check(self, value: Any) -> None:
        return None


_ANSWER_CLASSES: dict[str, type[_Answer]] = {
    "text": TextAnswer,
    "integer": IntegerAnswer,
    "decimal": DecimalAnswer,
    "date": DateAnswer,
    "datetime": DateTimeAnswer,
    "select_one": SelectOneAnswer,
    "select_multiple": SelectMultipleAnswer,
    "photo": PhotoAnswer,
    "geopoint": GeopointAnswer,
    "phone": PhoneAnswer,
    "calculate": CalculatedAnswer,
}


def repeat_limit(item: dict) -> int:
    return min(item.get("max_rows", MAX_ROWS), MAX_ROWS)


class RepeatAnswer(fields.List):
    """A repeat's rows; past the row limit the rows are not examined one by one.

    The limit itself is reported once by the resolution (too_many_rows), so a
    10,000-row repeat costs one error, not 10,000.
    """

    def __init__(self, inner: fields.Field, limit: int, **kwargs: Any) -> None:
        super().__init__(inner, **kwargs)
        self.limit = limit

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and len(value) > self.limit:
            return value
        return super()._deserialize(value, attr, data, **kwargs)


class RowId(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not (isinstance(value, str) and _UUID.match(value)):
            raise ValidationError("row_id")
        return value


def _schema_class(defn: dict, items: list, is_row: bool) -> type[Schema]:
    """A marshmallow Schema class for one level of answers (top level or a repeat row)."""
    declared: dict[str, fields.Field] = {}
    for item in _flatten(items):
        kind = item["type"]
        if kind == "repeat":
            row_schema = _schema_class(defn, item["fields"], is_row=True)
            declared[item["name"]] = RepeatAnswer(
                fields.Nested(row_schema, unknown=RAISE),
                limit=repeat_limit(item),
                allow_none=True,
                error_messages={"invalid": "repeat_type"},
            )
        else:
            values = [c["value"] for c in defn["choices"].get(item.get("choices"), [])]
            declared[item["name"]] = _ANSWER_CLASSES[kind](item, values)
    if is_row:
        declared[ROW_ID] = RowId(required=True, error_messages={"required": "row_id"})
    schema = Schema.from_dict(declared, name="RowAnswers" if is_row else "Answers")

    class Level(schema):  # type: ignore[misc, valid-type]
        class Meta:
            unknown = RAISE

        error_messages = {"unknown": "unknown_field", "type": "row_type"}

    return Level


def _flatten(items: list) -> list[dict]:
    """The answer-holding fields of one level: groups opened, repeats kept whole."""
    out = []
    for item in items:
        if item["type"] == "group":
            out += _flatten(item["fields"])
        elif item["type"] in ANSWER_TYPES:
            out.append(item)
    return out


# ---------------------------------------------------------------- compiled forms


@dataclass
class CompiledForm:
    """What validation needs of one form version, built once."""

    defn: dict
    problems: list
    schema: Schema | None = None
    choices: dict = field(default_factory=dict)


_compiled: dict[int, CompiledForm] = {}


def compile_form(defn: dict) -> CompiledForm:
    """Check and compile a definition; cached, since published versions never change."""
    cached = _compiled.get(id(defn))
    if cached is not None and cached.defn is defn:
        return cached
    problems = check_definition(defn)
    compiled = CompiledForm(defn, problems)
    if not problems:
        compiled.schema = _schema_class(defn, defn["fields"], is_row=False)()
        compiled.choices = defn["choices"]
    if len(_compiled) >= 64:
        _compiled.clear()
    _compiled[id(defn)] = compiled
    return compiled


# ---------------------------------------------------------------- relevance and calculation


@dataclass
class Resolution:
    """Answers as the phone sees them after relevance and calculation."""

    answers: dict
    relevant: dict[str, bool] = field(default_factory=dict)  # answer path -> relevant
    ignored: list[str] = field(default_factory=list)  # irrelevant answers that were sent
    errors: list[FieldError] = field(default_factory=list)  # rules that failed to evaluate
    row_problems: dict[str, FieldError] = field(default_factory=dict)  # repeat path -> bound


def run_rule(rule: Any, data: dict, path: str, key: str, errors: list[FieldError]) -> Any:
    """Evaluate one rule of one field; a failure becomes a FieldError, never an exception."""
    try:
        return jsonlogic.apply(rule, data)
    except jsonlogic.RuleError as error:
        errors.append(field_error(path, "rule_error", rule=key, vi=error.vi, en=error.en))
    except RecursionError:
        errors.append(field_error(path, "rule_error", rule=key, vi="dữ liệu lồng quá sâu.",
                                  en="the data is nested too deeply."))
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


class _Resolver:
    def __init__(self, defn: dict) -> None:
        self.defn = defn
        self.result = Resolution({})

    def rule(self, rule: Any, data: dict, path: str, key: str) -> Any:
        return run_rule(rule, data, path, key, self.result.errors)

    def level(self, items: list, values: dict, data: dict, prefix: str, relevant: bool) -> None:
        """Resolve one level in place: `values` is the level's answers, `data` what rules see."""
        for item in items:
            kind, name = item["type"], item["name"]
            path = f"{prefix}{name}"
            here = relevant and (
                "relevant" not in item
                or jsonlogic.truthy(self.rule(item["relevant"], data, path, "relevant"))
            )
            if kind == "group":
                self.level(item["fields"], values, data, prefix, here)
                continue
            if kind not in ANSWER_TYPES:
                continue
            self.result.relevant[path] = here
            if not here:
                if name in values:
                    if not _empty(values[name]):
                        self.result.ignored.append(path)
                    del values[name]
                if data is not values:
                    data.pop(name, None)
                continue
            if kind == "calculate":
                values[name] = self.rule(item["calculation"], data, path, "calculation")
                data[name] = values[name]
            elif kind == "repeat":
                self.repeat(item, values, data, path)

    def repeat(self, item: dict, values: dict, data: dict, path: str) -> None:
        rows = values.get(item["name"])
        if rows is not None and not isinstance(rows, list):
            return  # a type error, reported by the schema
        count, high = len(rows or []), repeat_limit(item)
        if count > high:
            self.result.row_problems[path] = field_error(
                path, "too_many_rows", count=count, max=high
            )
            return
        if count < item.get("min_rows", 0):
            self.result.row_problems[path] = field_error(
                path, "too_few_rows", min=item.get("min_rows", 0)
            )
        if not rows:
            return
        resolved = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                resolved.append(row)
                continue
            row_values = dict(row)
            overlay = {**data, **row_values}
            self.level(item["fields"], row_values, _Overlay(overlay, row_values),
                       f"{path}[{index}].", True)
            resolved.append(row_values)
        values[item["name"]] = resolved
        data[item["name"]] = resolved


class _Overlay(dict):
    """Rule data inside a repeat row: top-level answers overlaid by the row's.

    Writes go to both the overlay and the row, so later rules in the row see
    calculations and cleared answers.
    """

    def __init__(self, overlay: dict, row: dict) -> None:
        super().__init__(overlay)
        self.row = row

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.row[key] = value

    def pop(self, key: str, *default: Any) -> Any:
        self.row.pop(key, None)
        return super().pop(key, *default)


def resolve_answers(defn: dict, answers: dict) -> Resolution:
    """Apply relevance and calculations in document order, as the phone does.

    Returns a copy of the answers without irrelevant answers and with every
    calculate field computed; the input is not modified.
    """
    resolver = _Resolver(defn)
    values = dict(answers)
    resolver.level(defn["fields"], values, values, "", True)
    resolver.result.answers = values
    return resolver.result


def evaluate_calculations(defn: dict, answers: dict) -> dict:
    """The answers with calculations recomputed and irrelevant answers removed."""
    return resolve_answers(defn, answers).answers


# ---------------------------------------------------------------- validation


def validate_submission(defn: dict, answers: Any) -> list[FieldError]:
    """Every problem of a submission's answers against its form version; [] when valid."""
    compiled = compile_form(defn)
    if compiled.problems:
        detail = "; ".join(p.en for p in compiled.problems[:3])
        return [field_error("$", "form_invalid", detail=detail)]
    if not isinstance(answers, dict):
        return [field_error("$", "not_object")]
    if nested_deeper_than(answers, MAX_ANSWER_DEPTH):
        return [field_error("$", "too_deep", max=MAX_ANSWER_DEPTH)]
    resolution = resolve_answers(defn, answers)
    errors = list(resolution.errors) + list(resolution.row_problems.values())
    type_errors = _type_errors(compiled, resolution.answers)
    errors += type_errors
    bad = {error.path for error in type_errors}
    errors += _rule_errors(defn, resolution, bad)
    return errors


def _type_errors(compiled: CompiledForm, answers: dict) -> list[FieldError]:
    assert compiled.schema is not None
    try:
        compiled.schema.load(answers, unknown=RAISE)
    except ValidationError as error:
        return list(_convert(error.messages, ""))
    return []


def _convert(messages: Any, prefix: str) -> list[FieldError]:
    """marshmallow's nested error dict -> FieldErrors with answer paths."""
    out: list[FieldError] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                out += _convert(value, prefix.rstrip(".") or "$")
            elif isinstance(key, int):
                out += _convert(value, f"{prefix.rstrip('.')}[{key}].")
            else:
                out += _convert(value, f"{prefix}{key}.")
        return out
    path = prefix.rstrip(".") or "$"
    for message in messages if isinstance(messages, list) else [messages]:
        code, _, value = str(message).partition(":")
        if code not in MESSAGES:
            code = "unknown_field" if "Unknown field" in str(message) else "row_type"
        out.append(field_error(path, code, value=value))
    return out


def _rule_errors(defn: dict, resolution: Resolution, bad: set[str]) -> list[FieldError]:
    """required, constraint and choice_filter, checked on the resolved answers."""
    checker = _RuleChecker(defn, resolution, bad)
    checker.level(defn["fields"], resolution.answers, resolution.answers, "")
    return checker.errors


class _RuleChecker:
    def __init__(self, defn: dict, resolution: Resolution, bad: set[str]) -> None:
        self.defn, self.resolution, self.bad = defn, resolution, bad
        self.errors: list[FieldError] = []

    def rule(self, rule: Any, data: dict, path: str, key: str) -> Any:
        return run_rule(rule, data, path, key, self.errors)

    def level(self, items: list, values: dict, data: dict, prefix: str) -> None:
        for item in _flatten(items):
            path = f"{prefix}{item['name']}"
            if not self.resolution.relevant.get(path, False) or path in self.bad:
                continue
            value = values.get(item["name"])
            required = item.get("required", False)
            if _empty(value):
                if required is True or (
                    required is not False and jsonlogic.truthy(
                        self.rule(required, data, path, "required"))
                ):
                    self.errors.append(field_error(path, "required"))
                continue
            if item["type"] == "repeat":
                self.rows(item, value, data, path)
                continue
            self.check_answer(item, value, data, path)

    def check_answer(self, item: dict, value: Any, data: dict, path: str) -> None:
        if "constraint" in item and not jsonlogic.truthy(
            self.rule(item["constraint"], data, path, "constraint")
        ):
            message = item.get("constraint_message")
            error = field_error(path, "constraint")
            if message:
                error = FieldError(path, "constraint", text(message, "vi"), text(message, "en"))
            self.errors.append(error)
        if item["type"] in SELECT_TYPES and "choice_filter" in item:
            self.check_filter(item, value, data, path)

    def check_filter(self, item: dict, value: Any, data: dict, path: str) -> None:
        allowed = set()
        for choice in self.defn["choices"][item["choices"]]:
            scope = {**data, CHOICE_KEY: choice}
            if jsonlogic.truthy(self.rule(item["choice_filter"], scope, path, "choice_filter")):
                allowed.add(choice["value"])
        for chosen in value if isinstance(value, list) else [value]:
            if chosen not in allowed:
                self.errors.append(field_error(path, "choice_filtered_out", value=chosen))

    def rows(self, item: dict, rows: list, data: dict, path: str) -> None:
        if path in self.resolution.row_problems and "too_many" in self.resolution.row_problems[
            path
        ].code:
            return
        seen: set[str] = set()
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                continue
            row_id = row.get(ROW_ID)
            if isinstance(row_id, str) and row_id in seen:
                self.errors.append(field_error(f"{path}[{index}]._row", "duplicate_row_id"))
            if isinstance(row_id, str):
                seen.add(row_id)
            self.level(item["fields"], row, {**data, **row}, f"{path}[{index}].")


__all__ = [
    "FieldError",
    "Resolution",
    "compile_form",
    "evaluate_calculations",
    "resolve_answers",
    "validate_submission",
]
