"""The shape of a form definition as the rest of forms/ walks it.

A definition is plain JSON (see forms/form.schema.json and docs/forms.md).
This module names the field types and walks the field tree in document order,
telling for each field its JSON path and the repeat it belongs to, so the
definition checks, submission validation and XLSForm conversion all see the
same order and the same scopes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

ANSWER_TYPES = frozenset(
    {
        "text",
        "integer",
        "decimal",
        "date",
        "datetime",
        "select_one",
        "select_multiple",
        "photo",
        "geopoint",
        "phone",
        "time",
        "barcode",
        "acknowledge",
        "hidden",
        "repeat",
        "calculate",
    }
)
CONTAINER_TYPES = frozenset({"group", "repeat"})
SELECT_TYPES = frozenset({"select_one", "select_multiple"})
FIELD_TYPES = ANSWER_TYPES | {"note", "group"}
RULE_KEYS = ("relevant", "required", "constraint", "calculation", "choice_filter",
             "repeat_count")
# The languages of a form without a `languages` key: Sotay's shipped forms.
DEFAULT_LANGUAGES = ("vi", "en")
ROW_ID = "_row"
CHOICE_KEY = "_choice"
MAX_FIELDS = 500
MAX_ROWS = 1000


@dataclass(frozen=True)
class FieldInfo:
    """One field met while walking a form."""

    field: dict
    path: str  # JSON path of the field in the definition, e.g. $.fields[3].fields[0]
    repeat: str | None  # name of the innermost enclosing repeat, None at top level
    order: int  # position in document order
    containers: tuple[dict, ...]  # enclosing groups and repeats, outermost first


def walk(defn: dict) -> Iterator[FieldInfo]:
    """Every field of the form, depth first, in document order.

    Tolerates malformed definitions (skips what is not a field object), since
    check_definition walks before it knows the definition is well formed.
    """
    order = 0
    stack: list[tuple[list, str, str | None, tuple[dict, ...], int]] = []
    fields = defn.get("fields") if isinstance(defn, dict) else None
    if isinstance(fields, list):
        stack.append((fields, "$.fields", None, (), 0))
    while stack:
        items, base, repeat, containers, start = stack.pop()
        for index in range(start, len(items)):
            field = items[index]
            if not isinstance(field, dict):
                continue
            path = f"{base}[{index}]"
            yield FieldInfo(field, path, repeat, order, containers)
            order += 1
            children, kind = field.get("fields"), field.get("type")
            if isinstance(kind, str) and kind in CONTAINER_TYPES and isinstance(children, list):
                stack.append((items, base, repeat, containers, index + 1))
                inner = field.get("name") if kind == "repeat" else repeat
                stack.append((children, f"{path}.fields", inner, (*containers, field), 0))
                break


def text(value: Any, language: str = "vi") -> str:
    """The text of a label in one language, else in Vietnamese, else in the first
    language it has; '' when absent."""
    if isinstance(value, dict):
        found = value.get(language) or value.get("vi") or next(iter(value.values()), "")
        return str(found or "")
    return ""


def languages(defn: Any) -> list[str]:
    """The form's languages as they are shown: Vietnamese first when the form has it,
    then the others in the form's order."""
    declared = defn.get("languages") if isinstance(defn, dict) else None
    if not isinstance(declared, list) or not declared:
        declared = list(DEFAULT_LANGUAGES)
    codes = [code for code in declared if isinstance(code, str)]
    return sorted(codes, key=lambda code: code != "vi")


def storable(value: Any) -> Any:
    """A calculation's result as stored: NaN and infinities have no JSON form, null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Does a JSON value nest lists and objects more than `limit` levels?

    Recursion goes at most `limit` levels down, however deep the value.
    """
    return limit < 0 or _deeper(value, limit)


def _deeper(node: Any, room: int) -> bool:
    """Is anything inside `node` more than `room` levels below it?"""
    if isinstance(node, dict):
        items: Any = node.values()
    elif isinstance(node, list):
        items = node
    else:
        return False
    if not items:
        return False
    if room == 0:
        return True
    room -= 1
    for item in items:
        if isinstance(item, (dict, list)) and _deeper(item, room):
            return True
    return False


# A surrogate code point in a Python string is half of a UTF-16 pair (JSON's
# "\ud83d\ude00" decodes to one code point, 😀): UTF-8, PostgreSQL and
# spreadsheets cannot hold it, so no definition or answer may carry one.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Does the text hold half of a UTF-16 pair (a character no UTF-8 text can hold)?"""
    return not text.isascii() and _LONE_SURROGATE.search(text) is not None


def without_lone_surrogates(text: str) -> str:
    """The text with each half of a UTF-16 pair replaced by U+FFFD (�)."""
    return _LONE_SURROGATE.sub("\ufffd", text) if has_lone_surrogate(text) else text


def without_broken_text(value: Any) -> Any:
    """A JSON value with every lone surrogate, in its texts and keys, replaced by U+FFFD:
    what UTF-8 text and PostgreSQL can hold. The value itself is not changed."""
    if isinstance(value, str):
        return without_lone_surrogates(value)
    if isinstance(value, dict):
        return {without_lone_surrogates(key) if isinstance(key, str) else key:
                without_broken_text(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_broken_text(item) for item in value]
    return value


@dataclass(frozen=True)
class Report:
    """Something wrong, where (a JSON path or an answer path), a stable code, vi and en.

    A path or sentence quoting what was sent (a key, a value) is made printable:
    a lone surrogate in it becomes U+FFFD, so the report can be stored and shown.
    """

    path: str
    code: str
    vi: str
    en: str

    def __post_init__(self) -> None:
        for name in ("path", "vi", "en"):
            value = getattr(self, name)
            if has_lone_surrogate(value):
                object.__setattr__(self, name, without_lone_surrogates(value))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}: [{self.code}] {self.vi} / {self.en}"


def same_json(a: Any, b: Any) -> bool:
    """Equality of JSON values that tells 1 from 1.0 and True from 1, as JSON does."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return a == b
