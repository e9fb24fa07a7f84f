"""Reading an XLSForm workbook's sheets as form authors write them.

Workbooks come as `.xlsx` and `.xlsm` (read with openpyxl; macros are never
run) or as the old binary `.xls` (read with xlrd), told apart by their first
bytes rather than their name. Sheet names are matched without regard to case
or surrounding spaces. Column headers are normalised as pyxform does: case
and runs of spaces do not matter (`List Name`, `LIST_NAME`), a header
splits on `::` (or on `:` in a sheet that uses no `::`, the legacy
spelling), old and alternative names are mapped to one (`list name`,
`caption`, `relevance`, `constraint-msg`, `jr:count`, `bind::relevant`,
`media::image`, ...). Each header becomes a `Column`: its base name, its
language as written (None when it has none) and the header as written, for
messages.
"""

from __future__ import annotations

import datetime as _dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import openpyxl
import xlrd

MAX_BLANK_ROWS = 1000
SHEETS = ("survey", "choices", "settings", "external_choices", "entities")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# First token of a header (snake case) -> the base name we use.
_ALIASES = {
    "list name": "list_name", "listname": "list_name", "caption": "label",
    "relevance": "relevant", "constraint-msg": "constraint_message",
    "constraining_message": "constraint_message", "jr:constraintmsg": "constraint_message",
    "calculate": "calculation", "count": "repeat_count", "jr:count": "repeat_count",
    "readonly": "read_only", "requiredmsg": "required_message",
    "jr:requiredmsg": "required_message", "value": "name", "big-image": "image",
    "noapperrorstring": "no_app_error_string", "jr:noapperrorstring": "no_app_error_string",
}
# `bind::<attribute>` headers that are ordinary columns under another name.
_BIND = {"relevant": "relevant", "constraint": "constraint", "required": "required",
         "calculate": "calculation", "readonly": "read_only",
         "jr:constraintmsg": "constraint_message", "jr:requiredmsg": "required_message"}
_MEDIA = {"image", "audio", "video", "big-image"}


@dataclass(frozen=True)
class Column:
    """One header: base name (`label`), language as written (`English (en)`) or None."""

    base: str
    language: str | None
    header: str


@dataclass
class Sheet:
    """A worksheet: its name as written, its columns, and its rows (row number, cells)."""

    name: str
    columns: list[Column]
    rows: list[tuple[int, dict[Column, Any]]]


def _snake(text: str) -> str:
    return "_".join(text.split()).lower()


def parse_header(header: str, double_colon: bool) -> Column:
    """A header as a Column, the way pyxform reads it."""
    if double_colon or "::" in header:
        tokens = [token.strip() for token in header.split("::")]
    else:
        tokens = [token.strip() for token in header.split(":")]
        while "jr" in tokens[:-1]:  # `bind:jr:constraintMsg` keeps its `jr:`
            at = tokens.index("jr")
            tokens[at:at + 2] = [f"jr:{tokens[at + 1]}"]
    first = _snake(tokens[0])
    first = _ALIASES.get(first, _ALIASES.get(" ".join(tokens[0].lower().split()), first))
    rest = tokens[1:]
    if first == "bind" and rest:
        attribute = rest[0].lower()
        if attribute in _BIND:
            return Column(_BIND[attribute], None, header)
        return Column(f"bind::{rest[0]}", None, header)
    if first == "media" and rest and rest[0].lower() in _MEDIA:
        first, rest = _ALIASES.get(rest[0].lower(), rest[0].lower()), rest[1:]
    language = "::".join(rest) if rest else None
    return Column(first, language or None, header)


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _sheet(name: str, table: list[list[Any]]) -> Sheet:
    header = table[0] if table else []
    texts = [str(cell).strip() if cell is not None else "" for cell in header]
    double_colon = any("::" in text for text in texts)
    columns = [parse_header(text, double_colon) if text else None for text in texts]
    rows = []
    for number, values in enumerate(table[1:], start=2):
        row = {column: value for column, value in zip(columns, map(_cell, values),
                                                        strict=False)
               if column is not None and value is not None}
        if row:
            rows.append((number, row))
    return Sheet(name, [column for column in columns if column is not None], rows)


def _xlrd_value(book: xlrd.Book, cell: xlrd.sheet.Cell) -> Any:
    if cell.ctype == xlrd.XL_CELL_DATE:
        moment = xlrd.xldate_as_datetime(cell.value, book.datemode)
        if moment.date() == _dt.date(1899, 12, 31) or cell.value < 1:
            return moment.time()
        return moment
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return None
    return cell.value


def _xls_tables(content: bytes) -> dict[str, list[list[Any]]]:
    book = xlrd.open_workbook(file_contents=content, on_demand=True)
    try:
        tables = {}
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            tables[sheet.name] = _rows_in_use(
                tuple(_xlrd_value(book, cell) for cell in sheet.row(row))
                for row in range(sheet.nrows))
            book.unload_sheet(index)
        return tables
    finally:
        book.release_resources()


def _rows_in_use(rows: Iterator[tuple]) -> list[list[Any]]:
    """The rows up to the last one with a value, read no further than MAX_BLANK_ROWS
    blank rows past it: a sheet formatted down to Excel's millionth row is not read
    a million rows deep. Cells right of the header are never used, so not kept."""
    table: list[list[Any]] = []
    width, blank = None, 0
    for row in rows:
        if width is None:
            cells = list(row)
            while cells and cells[-1] is None:
                cells.pop()
            width = len(cells)
        values = list(row[:width])
        if any(value is not None and value != "" for value in values):
            table.extend([[]] * blank)
            table.append(values)
            blank = 0
        else:
            blank += 1
            if blank > MAX_BLANK_ROWS:
                break
    return table


def _xlsx_tables(content: bytes) -> dict[str, list[list[Any]]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        return {sheet.title: _rows_in_use(sheet.iter_rows(values_only=True))
                for sheet in workbook.worksheets}
    finally:
        workbook.close()


def read_workbook(source: str | Path | IO[bytes]) -> dict[str, Sheet]:
    """The XLSForm sheets of a workbook (those of SHEETS it has), read in full.

    A damaged file fails wherever the reader meets the damage, with whatever
    the layer below raises (zipfile, zlib, the XML parser, xlrd, openpyxl:
    BadZipFile, zlib.error, EOFError, ParseError, KeyError, XLRDError, ...);
    the caller turns any of them into one problem: the file cannot be read.
    """
    if isinstance(source, str | Path):
        content = Path(source).read_bytes()
    else:
        content = source.read()
    tables = _xls_tables(content) if content.startswith(_OLE2) else _xlsx_tables(content)
    sheets: dict[str, Sheet] = {}
    for title, table in tables.items():
        key = title.strip().lower()
        if key in SHEETS and key not in sheets:
            sheets[key] = _sheet(title, table)
    if not sheets and len(tables) == 1:  # pyxform reads a lone sheet as the survey
        ((title, table),) = tables.items()
        sheets["survey"] = _sheet(title, table)
    return sheets
