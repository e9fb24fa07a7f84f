"""Answer types: what each field type accepts, as marshmallow fields, and the error catalogue.

`answer_schema(defn)` builds, from one form version, the marshmallow schema
that checks the types of a survey's answers (texts, numbers, dates, choices,
photos, locations, phone numbers, repeat rows with their `_row` ids); its
errors become `FieldError`s with the answer's path (`members[2].age`), a
stable code and a sentence in Vietnamese and English, from the message
catalogue (`forms.answer.<code>`).
`value_problem` checks a single value, as check_definition does for defaults.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import sys
import weakref
from collections.abc import Callable
from typing import Any

import orjson
from marshmallow import RAISE, Schema, ValidationError, fields

from forms import jsonlogic
from forms.model import ANSWER_TYPES, MAX_ROWS, ROW_ID, Report, has_lone_surrogate
from messages import catalogue, say

DEFAULT_MAX_PHOTOS = 10
# A text answer without the form's own max_length: a long note or an address
# with directions fits many times over (the shipped forms' longest real answers
# are addresses of well under 200 characters), and a survey stays a few
# kilobytes however many text fields it has (the phone's input stops here too).
DEFAULT_MAX_TEXT = 2000
# A survey's answers as UTF-8 JSON. A household of twenty members with every
# note filled is some 20 KB; texts are bounded one by one, but a form may have
# 500 fields and repeats of 1,000 rows, so the whole is bounded too: what the
# ingest reads, checks and stores per survey stays small and predictable.
MAX_ANSWERS_BYTES = 1_000_000
MAX_SAFE_INTEGER = 2**53 - 1

# Message codes of answer errors: the catalogue's `forms.answer.<code>`.
MESSAGE_PREFIX = "forms.answer."


class FieldError(Report):
    """One problem of one answer."""


def field_error(path: str, code: str, **params: Any) -> FieldError:
    return FieldError(path, code, *say(MESSAGE_PREFIX + code, **params))


def answers_size(answers: Any) -> int:
    """The size of the answers as UTF-8 JSON, in bytes (as the phone sends them)."""
    try:
        return len(orjson.dumps(answers))
    except (orjson.JSONEncodeError, TypeError):
        pass  # an integer beyond 64 bits, a lone surrogate: the standard encoder's way
    try:
        return len(json.dumps(answers, ensure_ascii=False, separators=(",", ":"),
                              default=str).encode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):  # an integer too long to write out in full
        return MAX_ANSWERS_BYTES + 1


# ---------------------------------------------------------------- types (marshmallow)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})\Z", re.ASCII
)
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,3})?)?\Z", re.ASCII)
_PHOTO_ID = re.compile(r"photo:[A-Za-z0-9_.-]{1,100}\Z", re.ASCII)


def _is_number(value: Any) -> bool:
    """A finite number as the phone reads JSON: an integer beyond a float's range
    is Infinity there, so it is no number here either."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -sys.float_info.max <= value <= sys.float_info.max
    return isinstance(value, float) and math.isfinite(value)


class _Answer(fields.Field):
    """A field whose type errors are answer message codes, checked by `check`."""

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
        # Counted in UTF-16 code units, as String.length on the phone counts: at
        # least one and at most two per character, so most texts need no encoding.
        if len(value) > limit or (
            len(value) * 2 > limit
            and len(value.encode("utf-16-le", "surrogatepass")) // 2 > limit
        ):
            raise self.fail(f"text_too_long:{limit}")
        if has_lone_surrogate(value):
            raise self.fail("broken_text")


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


class TimeAnswer(_Answer):
    code = "time_type"

    def check(self, value: Any) -> None:
        if not (isinstance(value, str) and _TIME.match(value)):
            raise self.fail()


class AcknowledgeAnswer(_Answer):
    code = "acknowledge_type"

    def check(self, value: Any) -> None:
        if value is not True:
            raise self.fail()


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
    "time": TimeAnswer,
    # a barcode is read as text (typed, or scanned where the phone can)
    "barcode": TextAnswer,
    "acknowledge": AcknowledgeAnswer,
    # a value the form sets (its default) and the volunteer never sees
    "hidden": TextAnswer,
    "calculate": CalculatedAnswer,
}


def wrong_row_count(count: Any, rows: Any) -> int | None:
    """The number of rows a repeat's `repeat_count` asks for when `rows` has another
    number of them; None when it fits, or when the count is not a whole number from
    0 to MAX_ROWS (an unanswered count asks nothing)."""
    if isinstance(count, bool) or not isinstance(count, int | float):
        return None
    if not math.isfinite(count) or count != int(count) or not 0 <= count <= MAX_ROWS:
        return None
    have = len(rows) if isinstance(rows, list) else 0
    return None if have == count else int(count)


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


def _level_schema(defn: dict, items: list, is_row: bool) -> type[Schema]:
    """A marshmallow Schema class for one level of answers (top level or a repeat row)."""
    declared: dict[str, fields.Field] = {}
    for item in flatten(items):
        kind = item["type"]
        if kind == "repeat":
            row_schema = _level_schema(defn, item["fields"], is_row=True)
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


def flatten(items: list) -> list[dict]:
    """The answer-holding fields of one level: groups opened, repeats kept whole."""
    out = []
    for item in items:
        if item["type"] == "group":
            out += flatten(item["fields"])
        elif item["type"] in ANSWER_TYPES:
            out.append(item)
    return out


def convert_errors(messages: Any, prefix: str) -> list[FieldError]:
    """marshmallow's nested error dict -> FieldErrors with answer paths."""
    out: list[FieldError] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                out += convert_errors(value, prefix.rstrip(".") or "$")
            elif isinstance(key, int):
                out += convert_errors(value, f"{prefix.rstrip('.')}[{key}].")
            else:
                out += convert_errors(value, f"{prefix}{key}.")
        return out
    path = prefix.rstrip(".") or "$"
    for message in messages if isinstance(messages, list) else [messages]:
        code, _, value = str(message).partition(":")
        if MESSAGE_PREFIX + code not in catalogue():
            code = "unknown_field" if "Unknown field" in str(message) else "row_type"
        out.append(field_error(path, code, value=value))
    return out


def answers_fit(schema: Schema, answers: dict) -> bool:
    """True only when `schema.load(answers)` would raise nothing; False when unsure.

    The ingest validates thousands of surveys a minute and nearly all of them
    are well typed: this walks the answers with the schema's own fields and
    their own `check` methods, without marshmallow's per-field machinery, and
    leaves every answer it cannot vouch for (unknown field, bad row, failed
    check) to `schema.load`, which explains what is wrong. The walk's plan is
    made once per schema.
    """
    plan = _PLANS.get(schema)
    if plan is None:
        plan = _PLANS[schema] = _level_plan(schema.fields)
    return _level_fits(plan, answers)


Fits = Callable[[Any], bool]
_PLANS: weakref.WeakKeyDictionary[Schema, dict[str, Fits]] = weakref.WeakKeyDictionary()


def _level_fits(plan: dict[str, Fits], values: dict) -> bool:
    for name, value in values.items():
        fits = plan.get(name)
        if fits is None or not fits(value):
            return False  # an unknown field, or a value to leave to marshmallow
    return True


def _level_plan(declared: dict) -> dict[str, Fits]:
    return {name: _value_plan(field) for name, field in declared.items()}


def _value_plan(field: fields.Field) -> Fits:
    """Whether one value surely fits one field (False: let marshmallow decide)."""
    allow_none = field.allow_none
    if isinstance(field, RepeatAnswer):
        row_plan, limit = _level_plan(field.inner.schema.fields), field.limit

        def fits(value: Any) -> bool:
            if value is None:
                return allow_none
            if not isinstance(value, list):
                return False
            if len(value) > limit:
                return True  # not examined row by row (RepeatAnswer._deserialize)
            return all(isinstance(row, dict) and ROW_ID in row and _level_fits(row_plan, row)
                       for row in value)
        return fits
    if isinstance(field, RowId):
        return lambda value: isinstance(value, str) and _UUID.match(value) is not None
    if isinstance(field, _Answer):
        check = field.check

        def fits_answer(value: Any) -> bool:
            if value is None:
                return allow_none
            if value in ("", []):
                return True
            try:
                check(value)
            except ValidationError:
                return False
            return True
        return fits_answer
    return lambda value: False  # a field kind this walk does not know


def answer_schema(defn: dict) -> Schema:
    """The marshmallow schema of a checked definition's answers."""
    return _level_schema(defn, defn["fields"], is_row=False)()


def value_problem(item: dict, choices: list[str], value: Any) -> str | None:
    """The error code of one value for one (non-repeat) field, or None when it fits."""
    answer = _ANSWER_CLASSES.get(item["type"])
    if answer is None:
        return None
    try:
        answer(item, choices).deserialize(value)
    except ValidationError as error:
        return str(error.messages[0] if isinstance(error.messages, list) else error.messages)
    return None
