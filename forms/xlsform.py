"""XLSForm workbooks in and out: the authoring format of ODK, KoboToolbox and Ona.

`import_xlsform` reads a workbook as people write it (see forms/xlsform_read.py
for the sheets and headers): any set of languages (`label::English (en)`,
`label:English`, plain `label` in the default language), with a missing
translation taken from the default language and reported; the types and
columns of the XLSForm specification that Sotay can honour, including
`or_other`, `repeat_count`, `regex()`, `time`, `barcode`, `acknowledge`,
`hidden`, label pictures (`media::image`) and `bind::*` spellings; rules in
XLSForm's expression syntax (forms/xlsform_expr.py). A workbook without a
settings sheet gets its form id and title from the file name, its version
from the file's date, and the subject `household`, each reported as a
warning. What Sotay cannot do (audio, external selects, `pulldata()`,
entities, ...) is a problem naming the sheet, row and column, the feature,
and the Sotay way where there is one. check_definition then runs on the
result and its problems are told in sheet and row terms too.

`export_xlsform` writes a definition back: importing the result gives the
same definition, and pyxform (ODK's converter) converts it, so a ward can take
its forms to ODK or Kobo. Sotay's own columns `min_count`, `max_count`
(photos), `min_rows`, `max_rows` (repeats), `max_length` (text), `sotay_type`
(the type `phone`) and the setting `subject` are read and written too.
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import openpyxl

from forms.definition import Problem, check_definition
from forms.model import DEFAULT_LANGUAGES, languages, walk
from forms.xlsform_expr import Context, ExpressionError, to_logic, to_xlsform, way_param
from forms.xlsform_read import Column, Sheet, read_workbook
from messages import say

LANGUAGE_NAMES = {
    "vi": "Vietnamese (vi)", "en": "English (en)", "fr": "Français (fr)", "es": "Español (es)",
    "pt": "Português (pt)", "sw": "Kiswahili (sw)", "zh": "中文 (zh)", "ja": "日本語 (ja)",
    "ko": "한국어 (ko)", "km": "ខ្មែរ (km)", "lo": "ລາວ (lo)", "th": "ไทย (th)",
}
# Language names as authors write them in headers (`label::English`), lower case.
_LANGUAGE_CODES = {
    "vietnamese": "vi", "tiếng việt": "vi", "tieng viet": "vi", "việt": "vi",
    "english": "en", "tiếng anh": "en", "anh": "en", "french": "fr", "français": "fr",
    "spanish": "es", "español": "es", "portuguese": "pt", "swahili": "sw", "kiswahili": "sw",
    "chinese": "zh", "mandarin": "zh", "japanese": "ja", "korean": "ko", "italian": "it",
    "german": "de", "russian": "ru", "arabic": "ar", "hindi": "hi", "bengali": "bn",
    "khmer": "km", "lao": "lo", "thai": "th", "indonesian": "id", "burmese": "my",
    "nepali": "ne", "urdu": "ur", "amharic": "am", "hausa": "ha", "yoruba": "yo",
    "somali": "so", "macedonian": "mk", "dutch": "nl", "turkish": "tr", "polish": "pl",
    "ukrainian": "uk", "tagalog": "tl", "persian": "fa", "farsi": "fa", "pashto": "ps",
    "kinyarwanda": "rw", "chichewa": "ny", "zulu": "zu", "tigrinya": "ti", "oromo": "om",
}
_TYPES = {
    "text": "text", "string": "text", "integer": "integer", "int": "integer",
    "decimal": "decimal", "date": "date", "datetime": "datetime", "time": "time",
    "image": "photo", "photo": "photo", "add image prompt": "photo",
    "add photo prompt": "photo", "geopoint": "geopoint", "gps": "geopoint",
    "location": "geopoint", "note": "note", "calculate": "calculate", "phone": "phone",
    "barcode": "barcode", "acknowledge": "acknowledge", "trigger": "acknowledge",
    "hidden": "hidden", "date time": "datetime", "phone number": "text",
    "add text prompt": "text", "add integer prompt": "integer",
    "add decimal prompt": "decimal", "add date prompt": "date",
    "add date time prompt": "datetime", "add datetime prompt": "datetime",
    "add note prompt": "note", "add location prompt": "geopoint",
    "add barcode prompt": "barcode", "add acknowledge prompt": "acknowledge",
    "add calculate prompt": "calculate", "percentage": "integer",
    "q string": "text", "q int": "integer", "q decimal": "decimal", "q date": "date",
    "q date time": "datetime", "q datetime": "datetime", "q note": "note",
    "q geopoint": "geopoint", "q location": "geopoint", "q image": "photo",
    "q picture": "photo", "q barcode": "barcode", "q acknowledge": "acknowledge",
    "q calculate": "calculate",
}
_METADATA_TYPES = {"start", "end", "today", "deviceid", "subscriberid", "simserial",
                   "phonenumber", "username", "email", "audit", "imei", "uri:deviceid",
                   "uri:email", "uri:username", "uri:phonenumber", "uri:subscriberid",
                   "uri:simserial", "start time", "end time", "device id", "sim id",
                   "subscriber id", "get start time", "get end time", "get today",
                   "get device id", "get sim id", "get subscriber id", "get phone number",
                   "background-geopoint"}
# ODK question types Sotay has no counterpart for: (vi, en) of the Sotay way, if any.
# Question types Sotay has no counterpart for, with the Sotay way where there is one
# (the catalogue's `forms.xlsform.way.<way>`).
_UNSUPPORTED_TYPES = {
    "audio": "photos_only", "video": "photos_only", "file": "photos_only",
    "background-audio": None,
    "geotrace": "points", "geoshape": "points",
    "range": "number_constraint",
    "rank": "select_multiple",
    "select_one_from_file": "choices_sheet", "select_multiple_from_file": "choices_sheet",
    "select_one_external": "choices_sheet_filter",
    "csv-external": None, "xml-external": None,
    "osm": None, "start-geotrace": None,
    "include": None,
}
_SELECT_SPELLINGS = {
    "select_one": "select_one", "select one": "select_one", "select1": "select_one",
    "select one from": "select_one", "add select one prompt using": "select_one",
    "select_multiple": "select_multiple", "select all that apply": "select_multiple",
    "select all that apply from": "select_multiple", "select multiple": "select_multiple",
    "select multiple from": "select_multiple", "select multiple using": "select_multiple",
    "select one using": "select_one", "q select1": "select_one", "q select": "select_multiple",
    "add select multiple prompt using": "select_multiple",
}
_CONTAINERS = {"group": "group", "repeat": "repeat", "lgroup": "repeat",
               "looped group": "repeat", "loop": "group"}
_RULE_COLUMNS = ("relevant", "constraint", "calculation", "choice_filter", "required",
                 "repeat_count")
_NUMBER_COLUMNS = ("min_count", "max_count", "min_rows", "max_rows", "max_length")
_TEXT_COLUMNS = ("label", "hint", "constraint_message")
_SURVEY_COLUMNS = {"type", "name", "default", "image", "sotay_type", *_RULE_COLUMNS,
                   *_NUMBER_COLUMNS, *_TEXT_COLUMNS}
_SETTINGS_IGNORED = {"instance_name", "submission_url", "public_key", "style",
                     "omit_instanceid", "allow_choice_duplicates", "clean_text_values",
                     "add_none_option", "namespaces", "auto_send", "auto_delete", "name",
                     "xml_root", "flat", "prefix", "delimiter", "sms_keyword",
                     "sms_separator", "sms_allow_media", "sms_date_format",
                     "sms_datetime_format", "sms_response", "compact_prefix",
                     "compact_delimiter", "client_editable"}
MAX_IMAGE_BYTES = 200_000
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"))
# letters only Vietnamese writes, to tell which language plain `label` columns are in
_VIETNAMESE = re.compile("[ăâđêôơưĂÂĐÊÔƠƯạảãặẳẵắằậẩẫấầẹẻẽệểễếềịỉĩọỏõộổỗốồợởỡớờ"
                         "ụủũựửữứừỵỷỹỳ]")


@dataclass
class ImportResult:
    """The definition read from a workbook (None when it has problems), problems, warnings."""

    definition: dict | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _where(sheet: str, row: int, column: str | None = None) -> str:
    return f"{sheet}:{row}" + (f":{column}" if column else "")


def _problem(sheet: str, row: int, column: str | None, code: str, vi: str, en: str) -> Problem:
    """A problem of one cell (or row), its place said before the reason."""
    place_vi, place_en = (say("forms.xlsform.place_column", sheet=sheet, row=row, column=column)
                          if column else say("forms.xlsform.place", sheet=sheet, row=row))
    return Problem(_where(sheet, row, column), code, f"{place_vi}: {vi}", f"{place_en}: {en}")


def language_code(written: str) -> str | None:
    """`English (en)`, `en`, `EN`, `English`, `Tiếng Việt` -> a language code, or None."""
    match = re.search(r"\(\s*([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\s*\)\s*$", written)
    if match:
        return match.group(1).lower()
    name = " ".join(written.split()).lower()
    if name in _LANGUAGE_CODES:
        return _LANGUAGE_CODES[name]
    if re.fullmatch(r"[a-z]{2,3}", name):
        return name
    return None


def _slug(text: str) -> str:
    """A form id from a file name: lower case ASCII letters, digits, _ and -."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    plain = re.sub(r"[^a-z0-9_-]+", "_", plain).strip("_-")
    if not plain or not plain[0].isalpha():
        plain = "form_" + plain
    return plain[:64].rstrip("_-")


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass
class _Texts:
    """The languages of a workbook and the translations it lacks."""

    default: str
    order: list[str]
    # (sheet, language) -> rows whose text in that language came from the fallback
    fallbacks: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(list))


class _Importer:
    def __init__(self, sheets: dict[str, Sheet], source_name: str | None,
                 source_date: _dt.date | None, subject: str | None,
                 media_dirs: list[Path]) -> None:
        self.sheets = sheets
        self.source_name = source_name
        self.source_date = source_date
        self.subject = subject
        self.media_dirs = media_dirs
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.origin: dict[str, tuple[str, int, str | None]] = {}  # JSON path -> sheet, row
        self.fields: list = []
        self.pending: list[tuple[dict, dict, int, str]] = []  # fields whose rules to translate
        self.renamed: dict[str, str] = {}  # XLSForm name -> our field name
        self.extra_lists: dict[str, list] = {}  # or_other lists to add
        self.texts = _Texts("vi", [])

    def fail(self, sheet: str, row: int, column: str | None, code: str, vi: str, en: str) -> None:
        self.problems.append(_problem(sheet, row, column, code, vi, en))

    def warn(self, sheet: str, row: int, column: str | None, code: str, vi: str, en: str) -> None:
        self.warnings.append(_problem(sheet, row, column, code, vi, en))

    # ---------------------------------------------------------- languages

    def languages(self) -> None:
        """The form's languages: every language a text column names, plus the default
        language of columns that name none (`label`)."""
        found: list[str] = []
        plain_texts: list[str] = []
        for sheet in self.sheets.values():
            text_bases = ("label", "hint", "constraint_message", "form_title", "description",
                          "sotay_title", "sotay_description")
            for column in sheet.columns:
                if column.base not in text_bases:
                    continue
                if column.language is None:
                    plain_texts += [str(row[column]) for _, row in sheet.rows if column in row]
                    continue
                code = language_code(column.language)
                if code is None:
                    self.fail(sheet.name, 1, column.header, "unknown_language",
                              *say("forms.xlsform.unknown_language_column",
                                   language=column.language))
                elif code not in found:
                    found.append(code)
        settings = self.sheets.get("settings")
        written = None
        if settings is not None and settings.rows:
            written = next((value for column, value in settings.rows[0][1].items()
                            if column.base == "default_language"), None)
        default = language_code(str(written)) if written is not None else None
        if written is not None and default is None:
            self.fail(settings.name, settings.rows[0][0], "default_language",
                      "unknown_language",
                      *say("forms.xlsform.unknown_language", language=written))
        if default is None and plain_texts:
            default = "vi" if any(_VIETNAMESE.search(t) for t in plain_texts) else "en"
            self.warn(settings.name if settings else "settings", 1, "default_language",
                      "default_language_guessed",
                      *say("forms.xlsform.default_language_guessed",
                           language=LANGUAGE_NAMES[default]))
        if default is None:
            default = "vi" if "vi" in found or not found else found[0]
        order = [default] + [code for code in found if code != default]
        self.texts = _Texts(default, order)

    def text(self, sheet: Sheet, number: int, row: dict[Column, Any], base: str,
             fallback: str | None = None) -> dict | None:
        """The text of `base` columns in a row in every form language; a missing
        translation is the default language's text (or the first there is), with a
        warning; a missing text is `fallback` in every language, or None."""
        found: dict[str, str] = {}
        for column, value in row.items():
            if column.base != base:
                continue
            code = self.texts.default if column.language is None else language_code(
                column.language)
            if code is not None:
                found.setdefault(code, _cell_text(value))
        if not found:
            return None if fallback is None else dict.fromkeys(self.texts.order, fallback)
        source = found.get(self.texts.default) or found[next(
            code for code in self.texts.order if code in found)]
        out = {}
        for code in self.texts.order:
            if code in found:
                out[code] = found[code]
            else:
                out[code] = source
                self.texts.fallbacks[(sheet.name, code)].append(number)
        return out

    def report_fallbacks(self) -> None:
        for (sheet, code), rows in sorted(self.texts.fallbacks.items()):
            shown = ", ".join(map(str, rows[:10])) + (", …" if len(rows) > 10 else "")
            name = LANGUAGE_NAMES.get(code, code)
            default = LANGUAGE_NAMES.get(self.texts.default, self.texts.default)
            self.warn(sheet, rows[0], None, "translation_missing",
                      *say("forms.xlsform.translation_missing", count=len(rows),
                           language=name, rows=shown, default=default))

    # ---------------------------------------------------------- settings

    def settings(self) -> dict:
        sheet = self.sheets.get("settings")
        number, row = (sheet.rows[0] if sheet is not None and sheet.rows
                       else (2, {}))
        name = sheet.name if sheet is not None else "settings"
        cells = {column.base: value for column, value in row.items() if column.language is None}
        for column in row:
            base = column.base
            if base.lower() in _SETTINGS_IGNORED:
                self.warn(name, number, column.header, "setting_ignored",
                          *say("forms.xlsform.setting_ignored"))
            elif base not in ("form_id", "id_string", "set_form_id", "version", "form_title",
                              "set_form_title", "title", "subject", "default_language",
                              "description", "sotay_title", "sotay_description"):
                self.warn(name, number, column.header, "setting_ignored",
                          *say("forms.xlsform.setting_unknown"))
        stem = Path(self.source_name).stem if self.source_name else "form"
        out: dict[str, Any] = {}
        written_id = cells.get("form_id", cells.get("id_string", cells.get("set_form_id")))
        if written_id is None:
            out["id"] = _slug(stem)
            self.warn(name, number, "form_id", "default_form_id",
                      *say("forms.xlsform.default_form_id", id=out["id"]))
        else:
            out["id"] = _cell_text(written_id)
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", out["id"]):
                out["id"] = _slug(out["id"])
                self.warn(name, number, "form_id", "form_id_changed",
                          *say("forms.xlsform.form_id_changed", id=out["id"]))
        self.origin["$.id"] = (name, number, "form_id")
        version = cells.get("version")
        if version is None:
            when = self.source_date or _dt.date.today()
            out["version"] = when.strftime("%Y.%m.%d")
            self.warn(name, number, "version", "default_version",
                      *say("forms.xlsform.default_version", version=out["version"]))
        else:
            out["version"] = _cell_text(version)
        self.origin["$.version"] = (name, number, "version")
        title = None
        for base in ("sotay_title", "form_title", "set_form_title", "title"):
            title = title or self.text(sheet, number, row, base) if sheet else title
        if title is None:
            title = dict.fromkeys(self.texts.order, stem)
            self.warn(name, number, "form_title", "default_title",
                      *say("forms.xlsform.default_title", title=stem))
        out["title"] = title
        self.origin["$.title"] = (name, number, "form_title")
        description = (self.text(sheet, number, row, "sotay_description")
                       or self.text(sheet, number, row, "description")) if sheet else None
        if description:
            out["description"] = description
        out["subject"] = self.form_subject(name, number, cells.get("subject"))
        self.origin["$.subject"] = (name, number, "subject")
        if list(self.texts.order) != list(DEFAULT_LANGUAGES) or self.texts.default != "vi":
            if set(self.texts.order) != set(DEFAULT_LANGUAGES):
                out["languages"] = list(self.texts.order)
        return out

    def form_subject(self, sheet: str, number: int, written: Any) -> str:
        if self.subject is not None:
            if written is not None and _cell_text(written) != self.subject:
                self.warn(sheet, number, "subject", "subject_overridden",
                          *say("forms.xlsform.subject_overridden", subject=self.subject,
                               written=_cell_text(written)))
            return self.subject
        if written is not None:
            return _cell_text(written)
        self.warn(sheet, number, "subject", "default_subject",
                  *say("forms.xlsform.default_subject"))
        return "household"

    # ---------------------------------------------------------- choices

    def choices(self) -> dict:
        lists: dict[str, list] = {}
        sheet = self.sheets.get("choices")
        if sheet is None:
            return lists
        for number, row in sheet.rows:
            cells = {column.base: value for column, value in row.items()
                     if column.language is None}
            list_name, value = cells.get("list_name"), cells.get("name")
            if list_name is None and value is None:
                continue
            if list_name is None or value is None:
                self.fail(sheet.name, number, None, "choice_incomplete",
                          *say("forms.xlsform.choice_incomplete"))
                continue
            choice: dict[str, Any] = {"value": _cell_text(value)}
            choice["label"] = self.text(sheet, number, row, "label",
                                        fallback=choice["value"])
            image = self.image(sheet, number, row)
            if image:
                choice["image"] = image
            for column, cell in row.items():
                if column.base in ("list_name", "name", "label", "image", "audio", "video"):
                    continue
                if column.language is None:
                    choice[column.header] = cell if isinstance(cell, int | float | bool) \
                        else _cell_text(cell)
            items = lists.setdefault(_cell_text(list_name), [])
            self.origin[f"$.choices.{_cell_text(list_name)}[{len(items)}]"] = (
                sheet.name, number, None)
            items.append(choice)
        return lists

    def image(self, sheet: Sheet, number: int, row: dict[Column, Any]) -> str | None:
        """The label picture of a row (media::image), embedded as a data URL."""
        names = {language_code(c.language) if c.language else self.texts.default: v
                 for c, v in row.items() if c.base == "image"}
        if not names:
            return None
        file_name = _cell_text(names.get(self.texts.default) or next(iter(names.values())))
        for folder in self.media_dirs:
            path = folder / file_name
            if path.is_file() and Path(file_name).name == file_name:
                content = path.read_bytes()[:MAX_IMAGE_BYTES + 1]
                kind = next((k for magic, k in _IMAGE_MAGIC if content.startswith(magic)),
                            "webp" if content[8:12] == b"WEBP" else None)
                if kind is None or len(content) > MAX_IMAGE_BYTES:
                    self.warn(sheet.name, number, "image", "image_unusable",
                              *say("forms.xlsform.image_unusable", file=file_name))
                    return None
                return f"data:image/{kind};base64," + base64.b64encode(content).decode()
        self.warn(sheet.name, number, "image", "image_not_found",
                  *say("forms.xlsform.image_not_found", file=file_name))
        return None

    # ---------------------------------------------------------- survey

    def survey(self) -> list:
        sheet = self.sheets.get("survey")
        if sheet is not None and sheet.name.strip().lower() != "survey":
            self.warn(sheet.name, 1, None, "survey_sheet_guessed",
                      *say("forms.xlsform.survey_sheet_guessed", sheet=sheet.name))
        if sheet is None:
            self.fail("survey", 1, None, "survey_missing", *say("forms.xlsform.survey_missing"))
            return []
        for column in sheet.columns:
            if column.base not in _SURVEY_COLUMNS and any(column in r for _, r in sheet.rows):
                self.warn(sheet.name, 1, column.header, "column_ignored",
                          *say("forms.xlsform.column_ignored"))
        self.origin["$.fields"] = (sheet.name, 1, None)
        top: list = []
        self.fields = top
        stack: list[tuple[str, list, int, str]] = [("form", top, 1, "$.fields")]
        for number, row in sheet.rows:
            cells = {column.base: value for column, value in row.items()
                     if column.language is None}
            kind = " ".join(_cell_text(cells.get("type", "")).split())
            if not kind:
                if "name" in cells or any(c.base == "label" for c in row):
                    self.fail(sheet.name, number, "type", "type_missing",
                              *say("forms.xlsform.type_missing"))
                continue
            ended = self.end(kind)
            if ended is not None:
                if len(stack) == 1 or stack[-1][0] != ended:
                    self.fail(sheet.name, number, "type", "unbalanced",
                              *say("forms.xlsform.unbalanced_end", kind=ended))
                else:
                    stack.pop()
                continue
            _, items, _, base = stack[-1]
            path = f"{base}[{len(items)}]"
            built = self.field(sheet, number, row, cells, kind)
            if built is None:
                continue
            self.origin[path] = (sheet.name, number, None)
            items.append(built)
            if built["type"] in ("group", "repeat"):
                built["fields"] = []
                stack.append((built["type"], built["fields"], number, f"{path}.fields"))
            elif built.pop("_or_other", False):
                items.append(self.other_field(built))
                self.origin[f"{base}[{len(items) - 1}]"] = (sheet.name, number, None)
        for kind, _, number, _ in stack[1:]:
            self.fail(sheet.name, number, "type", "unbalanced",
                      *say("forms.xlsform.unbalanced_begin", kind=kind))
        return top

    @staticmethod
    def end(kind: str) -> str | None:
        words = kind.lower().replace("_", " ").split()
        if len(words) >= 2 and words[0] == "end" and " ".join(words[1:]) in _CONTAINERS:
            return _CONTAINERS[" ".join(words[1:])]
        return None

    def parse_type(self, sheet: Sheet, number: int, kind: str) -> tuple[str, str | None,
                                                                         bool] | None:
        """(our type, choice list, or_other) of an XLSForm type, or None (reported)."""
        lower = kind.lower()
        words = lower.replace("_", " ", 1).split() if lower.startswith(("begin", "end")) \
            else lower.split()
        if words and words[0] == "begin" and " ".join(words[1:]) in _CONTAINERS:
            return _CONTAINERS[" ".join(words[1:])], None, False
        if lower.split()[:3] == ["begin", "loop", "over"] and len(lower.split()) == 4:
            return "group", kind.split()[-1], False  # a group per choice: expand_loops
        for spelling in sorted(_SELECT_SPELLINGS, key=len, reverse=True):
            if lower.startswith(spelling + " "):
                rest = kind[len(spelling):].split()
                or_other = len(rest) >= 2 and " ".join(rest[1:]).lower() in (
                    "or_other", "or other", "or specify other")
                rest = rest[:1] + (["or_other"] if or_other else rest[1:])
                if len(rest) == 1 or or_other:
                    return _SELECT_SPELLINGS[spelling], rest[0], or_other
        if lower in _TYPES:
            return _TYPES[lower], None, False
        head = " ".join(words[:2]) if words[:2] == ["begin", "loop"] else words[0]
        if lower in _METADATA_TYPES:
            self.warn(sheet.name, number, "type", "metadata_ignored",
                      *say("forms.xlsform.metadata_ignored", kind=kind))
            return None
        if lower == "start-geopoint":
            self.warn(sheet.name, number, "type", "start_geopoint_asked",
                      *say("forms.xlsform.start_geopoint_asked"))
            return "geopoint", None, False
        if head in _UNSUPPORTED_TYPES:
            way = _UNSUPPORTED_TYPES[head]
            self.fail(sheet.name, number, "type", "unsupported_type",
                      *(say("forms.xlsform.unsupported_type_way", kind=kind,
                            way=way_param(way)) if way
                        else say("forms.xlsform.unsupported_type_named", kind=kind)))
            return None
        self.fail(sheet.name, number, "type", "unsupported_type",
                  *say("forms.xlsform.unsupported_type", kind=kind))
        return None

    def field(self, sheet: Sheet, number: int, row: dict[Column, Any], cells: dict,
              kind_text: str) -> dict | None:
        sotay_type = cells.get("sotay_type")
        parsed = self.parse_type(sheet, number, kind_text)
        if parsed is None:
            return None
        kind, list_name, or_other = parsed
        if sotay_type is not None:
            kind = _cell_text(sotay_type)
        name = cells.get("name")
        if name is None and kind == "note":
            name = f"note_{number}"  # a note holds no answer: pyxform names it too
        if name is None:
            self.fail(sheet.name, number, "name", "name_missing",
                      *say("forms.xlsform.name_missing"))
            return None
        written = _cell_text(name)
        field_name = re.sub(r"[-.]", "_", written)
        if field_name != written:
            self.renamed[written] = field_name
            self.warn(sheet.name, number, "name", "name_changed",
                      *say("forms.xlsform.name_changed", written=written, name=field_name))
        built: dict[str, Any] = {"name": field_name, "type": kind}
        # XLSForm lets calculations, groups and hidden fields go unlabelled.
        quiet = kind in ("calculate", "group", "repeat", "hidden")
        built["label"] = self.text(sheet, number, row, "label", fallback=field_name)
        if not quiet and not any(c.base == "label" for c in row):
            self.warn(sheet.name, number, "label", "label_missing",
                      *say("forms.xlsform.label_missing"))
        image = self.image(sheet, number, row)
        if image:
            built["image"] = image
        for key in ("hint", "constraint_message"):
            text = self.text(sheet, number, row, key)
            if text:
                built[key] = text
        if list_name and kind == "group":
            built["_loop"] = list_name
        elif list_name:
            built["choices"] = list_name
            if or_other:
                built["choices"] = self.or_other_list(list_name)
                built["_or_other"] = True
        for key in _NUMBER_COLUMNS:
            if key in cells:
                built[key] = self.integer(sheet, number, key, cells[key])
        if "default" in cells:
            built["default"] = self.default(sheet, number, kind, cells["default"])
        self.pending.append((built, cells, number, sheet.name))
        return built

    def or_other_list(self, list_name: str) -> str:
        """The choice list plus 'other', as ODK's `or_other` makes it."""
        name = f"{list_name}_or_other"
        if name not in self.extra_lists:
            label = {code: {"vi": "Khác"}.get(code, "Other") for code in self.texts.order}
            self.extra_lists[name] = [list_name, {"value": "other", "label": label}]
        return name

    def other_field(self, select: dict) -> dict:
        """The text question `<name>_other` that ODK's `or_other` adds after a select."""
        label = {code: {"vi": "Ghi rõ lựa chọn khác"}.get(code, "Specify other")
                 for code in self.texts.order}
        test = ({"==": [{"var": select["name"]}, "other"]} if select["type"] == "select_one"
                else {"in": ["other", {"var": select["name"]}]})
        return {"name": f"{select['name']}_other", "type": "text", "label": label,
                "relevant": test, "required": True}

    def default(self, sheet: Sheet, number: int, kind: str, value: Any) -> Any:
        if isinstance(value, str) and ("${" in value or re.fullmatch(r"[a-z-]+\(.*\)", value)):
            self.fail(sheet.name, number, "default", "dynamic_default",
                      *say("forms.xlsform.dynamic_default"))
            return value
        return _default(kind, value)

    def integer(self, sheet: Sheet, number: int, column: str, value: Any) -> Any:
        try:
            return int(_cell_text(value))
        except ValueError:
            self.fail(sheet.name, number, column, "not_a_number",
                      *say("forms.xlsform.not_a_number"))
            return value

    def rules(self) -> None:
        """Translate the expressions once every field's type is known (for selected())."""
        types = {built["name"]: built["type"] for built, _, _, _ in self.pending}
        repeat_of = {info.field["name"]: info.repeat for info in walk({"fields": self.fields})
                     if info.repeat and isinstance(info.field.get("name"), str)}
        for built, cells, number, sheet_name in self.pending:
            for key in _RULE_COLUMNS:
                if key not in cells:
                    continue
                value = cells[key]
                if key == "required":
                    required = _yes_no(value)
                    if required is True:
                        built["required"] = True
                    if required is not None:
                        continue
                if isinstance(value, str):
                    for written, name in self.renamed.items():
                        value = value.replace("${" + written + "}", "${" + name + "}")
                context = Context(own=built["name"], key=key, types=types, repeat_of=repeat_of)
                try:
                    built[key] = to_logic(value, context)
                except ExpressionError as error:
                    self.fail(sheet_name, number, key, error.code, error.vi, error.en)
                except RecursionError:
                    self.fail(sheet_name, number, key, "expression_too_deep",
                              *say("forms.xlsform.expression_too_deep"))

    def expand_loops(self, items: list, lists: dict) -> None:
        """`begin loop over LIST` as pyxform makes it: a group per choice of LIST, its
        questions named `<name>_<choice>` and `%(label)s` in their texts the choice's."""
        for item in items:
            loop = item.pop("_loop", None)
            if loop is not None:
                item["fields"] = [self.loop_group(item, choice) for choice in lists.get(loop, [])]
            elif item.get("type") in ("group", "repeat"):
                self.expand_loops(item.get("fields", []), lists)

    def loop_group(self, loop: dict, choice: dict) -> dict:
        value = re.sub(r"[^A-Za-z0-9_]", "_", choice["value"])

        def copy(field: dict) -> dict:
            out = {key: val for key, val in field.items() if key != "fields"}
            out["name"] = f"{field['name']}_{value}"
            for key in ("label", "hint"):
                if key in out:
                    out[key] = {code: text.replace("%(label)s", choice["label"].get(code, ""))
                                for code, text in out[key].items()}
            if "fields" in field:
                out["fields"] = [copy(child) for child in field["fields"]]
            return out

        return {"name": f"{loop['name']}_{value}", "type": "group", "label": choice["label"],
                "fields": [copy(child) for child in loop.get("fields", [])]}

    def refuse_sheets(self) -> None:
        entities = self.sheets.get("entities")
        if entities is not None and entities.rows:
            self.fail(entities.name, entities.rows[0][0], None, "unsupported_sheet",
                      *say("forms.xlsform.entities"))
        external = self.sheets.get("external_choices")
        if external is not None and external.rows:
            self.warn(external.name, external.rows[0][0], None, "sheet_ignored",
                      *say("forms.xlsform.external_choices"))

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
        if kind == "time":
            return value.time().isoformat(timespec="seconds")[:5]
        return value.date().isoformat() if kind == "date" else value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, _dt.time):
        return value.isoformat(timespec="minutes")
    if kind == "select_multiple":
        return str(value).split()
    if kind == "acknowledge":
        return _yes_no(value) if _yes_no(value) is not None else value
    if kind == "integer":
        try:
            return int(_cell_text(value))
        except ValueError:
            return value
    if kind == "decimal":
        try:
            return float(str(value))
        except ValueError:
            return value
    return value if isinstance(value, str) else _cell_text(value)


def import_xlsform(source: str | Path | IO[bytes], *, name: str | None = None,
                   subject: str | None = None) -> ImportResult:
    """Read an XLSForm workbook (.xlsx, .xlsm or .xls) into a form definition, with every
    problem found and every default or change reported as a warning.

    `name` is the workbook's file name when `source` is a stream (for the
    defaults of form id and title); `subject` overrides the settings' subject.
    Label pictures (media::image) are looked for beside a workbook given as a
    path, and in its `<name>-media` folder.
    """
    path = Path(source) if isinstance(source, str | Path) else None
    try:
        sheets = read_workbook(source)
    except Exception as error:  # a damaged file: see read_workbook
        problem = Problem("workbook", "not_xlsx",
                          *say("forms.xlsform.not_xlsx", error=str(error)))
        return ImportResult(None, [problem])
    source_date = None
    media_dirs: list[Path] = []
    if path is not None:
        name = name or path.name
        source_date = _dt.date.fromtimestamp(path.stat().st_mtime)
        media_dirs = [path.parent, path.parent / f"{path.stem}-media"]
    importer = _Importer(sheets, name, source_date, subject, media_dirs)
    importer.languages()
    importer.refuse_sheets()
    defn: dict[str, Any] = importer.settings()
    choices = importer.choices()
    defn["fields"] = importer.survey()
    for list_name, (base, other) in importer.extra_lists.items():
        items = [dict(item) for item in choices.get(base, [])]
        choices[list_name] = items + ([other] if all(i["value"] != "other" for i in items)
                                      else [])
    defn["choices"] = choices
    importer.rules()
    importer.expand_loops(defn["fields"], choices)
    importer.report_fallbacks()
    if not importer.problems:
        importer.problems = [importer.locate(p) for p in check_definition(defn)]
    return ImportResult(None if importer.problems else defn, importer.problems,
                        importer.warnings)


# ---------------------------------------------------------------- export

# Sotay's own types, written with the ODK type that holds the same answer so that
# pyxform (ODK, Kobo) reads the workbook; the `sotay_type` column keeps ours.
_ODK_TYPE = {"photo": "image", "phone": "text"}


def _language_header(code: str) -> str:
    name = LANGUAGE_NAMES.get(code, f"{code} ({code})")
    return name if name.endswith(f"({code})") else f"{name} ({code})"


def _text_columns(base: str, codes: list[str]) -> list[str]:
    return [f"{base}::{_language_header(code)}" for code in codes]


def _survey_headers(codes: list[str]) -> list[str]:
    return ["type", "name", *_text_columns("label", codes), *_text_columns("hint", codes),
            "required", "relevant", "constraint", *_text_columns("constraint_message", codes),
            "calculation", "choice_filter", "repeat_count", "default", "sotay_type",
            *_NUMBER_COLUMNS]


def export_xlsform(defn: dict, target: str | Path | IO[bytes]) -> None:
    """Write a definition as an XLSForm workbook (survey, choices, settings) that
    importing reads back as the same definition and pyxform converts for ODK.

    Label pictures are not written (a workbook names its media files)."""
    codes = languages(defn)
    headers = _survey_headers(codes)
    workbook = openpyxl.Workbook()
    survey = workbook.active
    survey.title = "survey"
    survey.append(headers)
    types = {info.field["name"]: info.field["type"] for info in walk(defn)}
    repeat_of = {info.field["name"]: info.repeat for info in walk(defn) if info.repeat}
    _export_fields(survey, headers, codes, defn["fields"],
                   Context(types=types, repeat_of=repeat_of))
    choices = workbook.create_sheet("choices")
    extra = sorted({key for items in defn["choices"].values() for item in items
                    for key in item if key not in ("value", "label", "image")})
    choices.append(["list_name", "name", *_text_columns("label", codes), *extra])
    for list_name, items in defn["choices"].items():
        for item in items:
            labels = [item["label"][code] for code in codes]
            choices.append([list_name, item["value"], *labels, *[item.get(k) for k in extra]])
    settings = workbook.create_sheet("settings")
    # pyxform takes one form_title; the translations go in columns only Sotay reads.
    settings.append(["form_id", "version", "form_title", *_text_columns("sotay_title", codes),
                     *_text_columns("sotay_description", codes), "subject",
                     "default_language"])
    description = defn.get("description") or {}
    settings.append([defn["id"], defn["version"], defn["title"][codes[0]],
                     *[defn["title"][code] for code in codes],
                     *[description.get(code) for code in codes],
                     defn["subject"], _language_header(codes[0])])
    for sheet in workbook.worksheets:
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    workbook.save(target)


def _export_fields(sheet: Any, headers: list[str], codes: list[str], fields: list,
                   scope: Context) -> None:
    for item in fields:
        kind = item["type"]
        if kind in ("group", "repeat"):
            type_text = f"begin {kind}"
        elif kind in ("select_one", "select_multiple"):
            type_text = f"{kind} {item['choices']}"
        else:
            type_text = _ODK_TYPE.get(kind, kind)
        row: dict[str, Any] = {"type": type_text, "name": item["name"]}
        if _ODK_TYPE.get(kind, kind) != kind:
            row["sotay_type"] = kind
        for base in _TEXT_COLUMNS:
            for code in codes:
                if base in item:
                    row[f"{base}::{_language_header(code)}"] = item[base][code]
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
            row["default"] = " ".join(default) if isinstance(default, list) else (
                "yes" if default is True else default)
        for key in _NUMBER_COLUMNS:
            if key in item:
                row[key] = item[key]
        sheet.append([row.get(column) for column in headers])
        if kind in ("group", "repeat"):
            _export_fields(sheet, headers, codes, item["fields"], scope)
            sheet.append([f"end {kind}"] + [None] * (len(headers) - 1))
