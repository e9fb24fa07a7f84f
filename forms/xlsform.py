"""XLSForm workbooks in and out: the authoring format of ODK and KoboToolbox.

`import_xlsform` reads the survey, choices and settings sheets the way form
authors write them (`label::Vietnamese (vi)` columns, `select_one list`,
`begin group` / `end group`, `begin repeat` / `end repeat`, rules in XLSForm's
expression syntax, see forms/xlsform_expr.py) into our JSON format, then runs
check_definition and reports every problem with the sheet and row it comes
from. `export_xlsform` writes a definition back; importing the result gives
the same definition.

Beyond standard XLSForm it reads Sotay's own columns `min_count`, `max_count`
(photos), `min_rows`, `max_rows` (repeats), `max_length` (text), the type
`phone`, and `subject` in the settings sheet.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openpyxl

from forms.definition import Problem, check_definition
from forms.model import walk
from forms.xlsform_expr import Context, ExpressionError, to_logic, to_xlsform

LANGUAGES = {"vi": "Vietnamese (vi)", "en": "English (en)"}
_LANGUAGE_NAMES = {
    "vi": "vi", "vietnamese": "vi", "tiếng việt": "vi", "tieng viet": "vi", "việt": "vi",
    "en": "en", "english": "en", "tiếng anh": "en", "anh": "en",
}
_TYPES = {
    "text": "text", "string": "text", "integer": "integer", "int": "integer",
    "decimal": "decimal", "date": "date", "datetime": "datetime", "image": "photo",
    "photo": "photo", "geopoint": "geopoint", "note": "note", "calculate": "calculate",
    "phone": "phone",
}
_METADATA_TYPES = {"start", "end", "today", "deviceid", "subscriberid", "simserial",
                   "phonenumber", "username", "email", "audit", "start-geopoint"}
_RULE_COLUMNS = ("relevant", "constraint", "calculation", "choice_filter", "required")
_NUMBER_COLUMNS = ("min_count", "max_count", "min_rows", "max_rows", "max_length")
_TEXT_COLUMNS = ("label", "hint", "constraint_message")
_IGNORED_COLUMNS = ("appearance", "guidance_hint", "media", "image", "audio", "video")
_SURVEY_COLUMNS = {"type", "name", "default", *_RULE_COLUMNS, *_NUMBER_COLUMNS, *_TEXT_COLUMNS}


@dataclass
class ImportResult:
    """The definition read from a workbook (None when it has problems), problems, warnings."""

    definition: dict | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _where(sheet: str, row: int, column: str | None = None) -> str:
    return f"{sheet}:{row}" + (f":{column}" if column else "")


def _problem(sheet: str, row: int, column: str | None, code: str, vi: str, en: str) -> Problem:
    place_vi = f"Trang '{sheet}', dòng {row}" + (f", cột '{column}'" if column else "")
    place_en = f"Sheet '{sheet}', row {row}" + (f", column '{column}'" if column else "")
    return Problem(_where(sheet, row, column), code, f"{place_vi}: {vi}", f"{place_en}: {en}")


def _language(suffix: str) -> str | None:
    match = re.search(r"\(\s*([A-Za-z-]+)\s*\)\s*$", suffix)
    if match:
        return match.group(1).lower()
    return _LANGUAGE_NAMES.get(suffix.strip().lower())


@dataclass
class _Sheet:
    """A worksheet as a list of (row number, {column: value}) with parsed headers."""

    name: str
    rows: list[tuple[int, dict[str, Any]]]
    headers: list[str]


def _read_sheet(workbook: Any, name: str) -> _Sheet | None:
    sheet = next((ws for ws in workbook.worksheets if ws.title.strip().lower() == name), None)
    if sheet is None:
        return None
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    headers = [str(cell).strip() if cell is not None else "" for cell in header]
    out = []
    for number, values in enumerate(rows, start=2):
        row = {}
        for column, value in zip(headers, values, strict=False):
            if column and value is not None and not (isinstance(value, str) and not value.strip()):
                row[column] = value.strip() if isinstance(value, str) else value
        if row:
            out.append((number, row))
    return _Sheet(sheet.title, out, headers)


def _split_column(column: str) -> tuple[str, str | None]:
    """'label::Vietnamese (vi)' -> ('label', 'vi'); 'relevant' -> ('relevant', None)."""
    base, _, suffix = column.partition("::")
    base = base.strip().lower()
    return base, (_language(suffix) if suffix else None) if suffix else None


class _Importer:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.origin: dict[str, tuple[str, int, str | None]] = {}  # JSON path -> sheet, row
        self.default_language = "vi"
        self.fields: list = []
        self.pending: list[tuple[dict, dict, int, str]] = []  # fields whose rules to translate

    def fail(self, sheet: str, row: int, column: str | None, code: str, vi: str, en: str) -> None:
        self.problems.append(_problem(sheet, row, column, code, vi, en))

    def warn(self, sheet: str, row: int, column: str | None, code: str, vi: str, en: str) -> None:
        self.warnings.append(_problem(sheet, row, column, code, vi, en))

    # ---------------------------------------------------------- columns

    def check_columns(self, sheet: _Sheet, known: set[str], extra_ok: bool = False) -> None:
        for column in sheet.headers:
            if not column:
                continue
            base, language = _split_column(column)
            if "::" in column and language not in LANGUAGES:
                self.fail(sheet.name, 1, column, "unsupported_language",
                          "ngôn ngữ không được hỗ trợ (chỉ Tiếng Việt (vi) và English (en)).",
                          "unsupported language (only Vietnamese (vi) and English (en)).")
            elif base not in known and base not in _IGNORED_COLUMNS and not extra_ok:
                if any(column in row for _, row in sheet.rows):
                    self.fail(sheet.name, 1, column, "unsupported_column",
                              "cột không được hỗ trợ.", "unsupported column.")

    def texts(self, sheet: _Sheet, number: int, row: dict, base: str,
              required: bool) -> dict | None:
        """The {vi, en} text of `base` columns in a row; once one language is there, both are."""
        found: dict[str, str] = {}
        for column, value in row.items():
            column_base, language = _split_column(column)
            if column_base != base:
                continue
            language = language or ("" if "::" in column else self.default_language)
            if language in LANGUAGES:
                found[language] = str(value)
        if not found and not required:
            return None
        for language, title in LANGUAGES.items():
            if language not in found:
                self.fail(sheet.name, number, f"{base}::{title}", "missing_translation",
                          f"thiếu '{base}' bằng {title}.", f"'{base}' in {title} is missing.")
        return found

    # ---------------------------------------------------------- settings

    def settings(self, sheet: _Sheet | None) -> dict:
        if sheet is None or not sheet.rows:
            self.fail("settings", 2, None, "settings_missing",
                      "cần trang 'settings' với form_id, version, form_title, subject.",
                      "a 'settings' sheet with form_id, version, form_title, subject is needed.")
            return {}
        self.check_columns(sheet, {"form_id", "version", "form_title", "subject",
                                   "default_language", "description", "id_string"})
        number, row = sheet.rows[0]
        language = row.get("default_language")
        if language is not None:
            self.default_language = _language(str(language)) or "vi"
        out: dict[str, Any] = {}
        for key, column in (("id", "form_id"), ("version", "version"), ("subject", "subject")):
            value = row.get(column, row.get("id_string") if key == "id" else None)
            if value is None:
                self.fail(sheet.name, number, column, "setting_missing",
                          f"thiếu '{column}'.", f"'{column}' is missing.")
                continue
            out[key] = _cell_text(value)
            self.origin[f"$.{key}"] = (sheet.name, number, column)
        out["title"] = self.texts(sheet, number, row, "form_title", True)
        description = self.texts(sheet, number, row, "description", False)
        if description:
            out["description"] = description
        self.origin["$.title"] = (sheet.name, number, "form_title")
        return out

    # ---------------------------------------------------------- choices

    def choices(self, sheet: _Sheet | None) -> dict:
        lists: dict[str, list] = {}
        if sheet is None:
            return lists
        self.check_columns(sheet, {"list_name", "name", "label"}, extra_ok=True)
        for number, row in sheet.rows:
            list_name, value = row.get("list_name"), row.get("name")
            if list_name is None or value is None:
                self.fail(sheet.name, number, None, "choice_incomplete",
                          "lựa chọn cần 'list_name' và 'name'.",
                          "a choice needs 'list_name' and 'name'.")
                continue
            choice: dict[str, Any] = {"value": _cell_text(value),
                                      "label": self.texts(sheet, number, row, "label", True)}
            for column, cell in row.items():
                base, _ = _split_column(column)
                if base not in ("list_name", "name", "label") and "::" not in column:
                    choice[column] = cell if isinstance(cell, int | float | bool) else str(cell)
            items = lists.setdefault(_cell_text(list_name), [])
            self.origin[f"$.choices.{_cell_text(list_name)}[{len(items)}]"] = (
                sheet.name, number, None)
            items.append(choice)
        return lists

    # ---------------------------------------------------------- survey

    def survey(self, sheet: _Sheet | None) -> list:
        if sheet is None:
            self.fail("survey", 1, None, "survey_missing", "không có trang 'survey'.",
                      "there is no 'survey' sheet.")
            return []
        self.check_columns(sheet, _SURVEY_COLUMNS)
        self.origin["$.fields"] = (sheet.name, 1, None)
        top: list = []
        self.fields = top
        stack: list[tuple[str, list, int, str]] = [("form", top, 1, "$.fields")]
        for number, row in sheet.rows:
            kind = " ".join(str(row.get("type", "")).split()).lower()
            parts = kind.replace("_", " ", 1).split() if kind.startswith(("begin", "end")) else \
                kind.split()
            if not parts:
                self.fail(sheet.name, number, "type", "type_missing", "thiếu loại câu hỏi.",
                          "the question type is missing.")
                continue
            head = parts[0]
            if head == "end" and len(parts) == 2 and parts[1] in ("group", "repeat"):
                if len(stack) == 1 or stack[-1][0] != parts[1]:
                    self.fail(sheet.name, number, "type", "unbalanced",
                              f"'end {parts[1]}' không khớp với 'begin'.",
                              f"'end {parts[1]}' does not match a 'begin'.")
                else:
                    stack.pop()
                continue
            _, items, _, base = stack[-1]
            path = f"{base}[{len(items)}]"
            built = self.field(sheet, number, row, parts, path)
            if built is None:
                continue
            self.origin[path] = (sheet.name, number, None)
            items.append(built)
            if built["type"] in ("group", "repeat"):
                built["fields"] = []
                stack.append((built["type"], built["fields"], number, f"{path}.fields"))
        for kind, _, number, _ in stack[1:]:
            self.fail(sheet.name, number, "type", "unbalanced",
                      f"'begin {kind}' không có 'end {kind}'.",
                      f"'begin {kind}' has no 'end {kind}'.")
        return top

    def field(self, sheet: _Sheet, number: int, row: dict, parts: list[str],
              path: str) -> dict | None:
        head = parts[0]
        list_name = None
        if head == "begin" and len(parts) == 2 and parts[1] in ("group", "repeat"):
            kind = parts[1]
        elif head in ("select_one", "select_multiple") and len(parts) == 2:
            kind, list_name = head, parts[1]
        elif head in ("select_one", "select_multiple") and parts[-1] == "or_other":
            self.fail(sheet.name, number, "type", "unsupported_type",
                      "không hỗ trợ 'or_other'; hãy thêm lựa chọn 'other' và một câu hỏi text.",
                      "'or_other' is not supported; add an 'other' choice and a text question.")
            return None
        elif len(parts) == 1 and head in _TYPES:
            kind = _TYPES[head]
        elif len(parts) == 1 and head in _METADATA_TYPES:
            self.warn(sheet.name, number, "type", "metadata_ignored",
                      f"bỏ qua '{head}': Sotay tự ghi thời điểm, thiết bị và người khảo sát.",
                      f"'{head}' ignored: Sotay records time, device and volunteer itself.")
            return None
        else:
            self.fail(sheet.name, number, "type", "unsupported_type",
                      f"loại câu hỏi '{' '.join(parts)}' không được hỗ trợ.",
                      f"question type '{' '.join(parts)}' is not supported.")
            return None
        name = row.get("name")
        if name is None:
            self.fail(sheet.name, number, "name", "name_missing", "thiếu tên (name).",
                      "the name is missing.")
            return None
        built: dict[str, Any] = {"name": _cell_text(name), "type": kind}
        # XLSForm lets calculations and groups go unlabelled; our format wants a label.
        label_needed = kind not in ("calculate", "group")
        built["label"] = self.texts(sheet, number, row, "label", label_needed) or {
            "vi": built["name"], "en": built["name"]}
        for key in ("hint", "constraint_message"):
            text = self.texts(sheet, number, row, key, False)
            if text:
                built[key] = text
        if list_name:
            built["choices"] = list_name
        for key in _NUMBER_COLUMNS:
            if key in row:
                built[key] = self.integer(sheet, number, key, row[key])
        if "default" in row:
            built["default"] = _default(kind, row["default"])
        for column in row:
            base, _ = _split_column(column)
            if base in _IGNORED_COLUMNS:
                self.warn(sheet.name, number, column, "column_ignored",
                          "cột chỉ về cách hiển thị, đã bỏ qua.",
                          "presentation-only column, ignored.")
        self.pending.append((built, row, number, sheet.name))
        return built

    def integer(self, sheet: _Sheet, number: int, column: str, value: Any) -> Any:
        try:
            return int(str(value).strip().removesuffix(".0"))
        except ValueError:
            self.fail(sheet.name, number, column, "not_a_number", "phải là số nguyên.",
                      "must be a whole number.")
            return value

    def rules(self) -> None:
        """Translate the expressions once every field's type is known (for selected())."""
        types = {built["name"]: built["type"] for built, _, _, _ in self.pending}
        repeat_of = {info.field["name"]: info.repeat for info in walk({"fields": self.fields})
                     if info.repeat and isinstance(info.field.get("name"), str)}
        for built, row, number, sheet_name in self.pending:
            for key in _RULE_COLUMNS:
                if key not in row:
                    continue
                value = row[key]
                if key == "required":
                    required = _yes_no(value)
                    if required is True:
                        built["required"] = True
                    if required is not None:
                        continue
                context = Context(own=built["name"], key=key, types=types, repeat_of=repeat_of)
                try:
                    built[key] = to_logic(value, context)
                except ExpressionError as error:
                    self.fail(sheet_name, number, key, error.code, error.vi, error.en)
                except RecursionError:
                    self.fail(sheet_name, number, key, "expression_too_deep",
                              "biểu thức lồng nhau quá sâu.",
                              "the expression is nested too deeply.")

    def locate(self, problem: Problem) -> Problem:
        """A check_definition problem, told in sheet and row terms."""
        path = problem.path
        while path and path not in self.origin:
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        if not path:
            return problem
        sheet, row, column = self.origin[path]
        return _problem(sheet, row, column, problem.code, problem.vi, problem.en)


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _yes_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "true", "true()", "1", "có"):
        return True
    if text in ("no", "false", "false()", "0", "không"):
        return False
    return None


def _default(kind: str, value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.date().isoformat() if kind == "date" else value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if kind == "select_multiple":
        return str(value).split()
    if kind == "integer":
        try:
            return int(str(value))
        except ValueError:
            return value
    if kind == "decimal":
        try:
            return float(str(value))
        except ValueError:
            return value
    return value if isinstance(value, str) else _cell_text(value)


def _read_workbook(source: str | Path | IO[bytes]) -> dict[str, _Sheet | None]:
    """The three sheets of a workbook, read in full.

    A damaged file fails wherever openpyxl meets the damage, with whatever the
    layer below raises (zipfile, zlib, the XML parser, openpyxl's own checks:
    BadZipFile, zlib.error, EOFError, ParseError, KeyError, ...), and read-only
    mode meets it while the rows are read, not when the file is opened. The
    caller turns any of them into one problem: the file cannot be read.
    """
    workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    try:
        return {name: _read_sheet(workbook, name) for name in ("survey", "choices", "settings")}
    finally:
        workbook.close()


def import_xlsform(source: str | Path | IO[bytes]) -> ImportResult:
    """Read an XLSForm workbook into a form definition, with every problem found."""
    importer = _Importer()
    try:
        sheets = _read_workbook(source)
    except Exception as error:  # a damaged file: see _read_workbook
        problem = Problem("workbook", "not_xlsx", f"Không đọc được tệp Excel: {error}",
                          f"Cannot read the Excel file: {error}")
        return ImportResult(None, [problem])
    defn: dict[str, Any] = importer.settings(sheets["settings"])
    defn["choices"] = importer.choices(sheets["choices"])
    defn["fields"] = importer.survey(sheets["survey"])
    importer.rules()
    if not importer.problems:
        importer.problems = [importer.locate(p) for p in check_definition(defn)]
    result = ImportResult(None if importer.problems else defn, importer.problems,
                          importer.warnings)
    return result


# ---------------------------------------------------------------- export


def _text_columns(base: str) -> list[str]:
    return [f"{base}::{title}" for title in LANGUAGES.values()]


SURVEY_HEADERS = [
    "type", "name", *_text_columns("label"), *_text_columns("hint"), "required", "relevant",
    "constraint", *_text_columns("constraint_message"), "calculation", "choice_filter",
    "default", *_NUMBER_COLUMNS,
]


def export_xlsform(defn: dict, target: str | Path | IO[bytes]) -> None:
    """Write a definition as an XLSForm workbook (survey, choices, settings)."""
    workbook = openpyxl.Workbook()
    survey = workbook.active
    survey.title = "survey"
    survey.append(SURVEY_HEADERS)
    types = {info.field["name"]: info.field["type"] for info in walk(defn)}
    repeat_of = {info.field["name"]: info.repeat for info in walk(defn) if info.repeat}
    _export_fields(survey, defn["fields"], Context(types=types, repeat_of=repeat_of))
    choices = workbook.create_sheet("choices")
    extra = sorted({key for items in defn["choices"].values() for item in items
                    for key in item if key not in ("value", "label")})
    choices.append(["list_name", "name", *_text_columns("label"), *extra])
    for list_name, items in defn["choices"].items():
        for item in items:
            labels = [item["label"][language] for language in LANGUAGES]
            choices.append([list_name, item["value"], *labels, *[item.get(k) for k in extra]])
    settings = workbook.create_sheet("settings")
    settings.append(["form_id", "version", *_text_columns("form_title"),
                     *_text_columns("description"), "subject", "default_language"])
    description = defn.get("description") or {}
    settings.append([defn["id"], defn["version"],
                     *[defn["title"][language] for language in LANGUAGES],
                     *[description.get(language) for language in LANGUAGES],
                     defn["subject"], LANGUAGES["vi"]])
    for sheet in workbook.worksheets:
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    workbook.save(target)


def _export_fields(sheet: Any, fields: list, scope: Context) -> None:
    for item in fields:
        kind = item["type"]
        if kind in ("group", "repeat"):
            type_text = f"begin {kind}"
        elif kind in ("select_one", "select_multiple"):
            type_text = f"{kind} {item['choices']}"
        else:
            type_text = kind
        row: dict[str, Any] = {"type": type_text, "name": item["name"]}
        for base in _TEXT_COLUMNS:
            for language, title in LANGUAGES.items():
                if base in item:
                    row[f"{base}::{title}"] = item[base][language]
        for key in _RULE_COLUMNS:
            if key in item:
                rule = item[key]
                if key == "required" and isinstance(rule, bool):
                    row[key] = "yes" if rule else None
                else:
                    context = Context(own=item["name"], key=key, types=scope.types,
                                      repeat_of=scope.repeat_of)
                    row[key] = to_xlsform(rule, context)
        if "default" in item:
            default = item["default"]
            row["default"] = " ".join(default) if isinstance(default, list) else default
        for key in _NUMBER_COLUMNS:
            if key in item:
                row[key] = item[key]
        sheet.append([row.get(column) for column in SURVEY_HEADERS])
        if kind in ("group", "repeat"):
            _export_fields(sheet, item["fields"], scope)
            sheet.append([f"end {kind}"] + [None] * (len(SURVEY_HEADERS) - 1))
