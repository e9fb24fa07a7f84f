"""Statements over a whole page of rows, each one statement with one parameter.

A page of the ingest touches a hundred surveys. An IN list of a hundred ids
or an executemany of a hundred rows costs SQLAlchemy and psycopg about a
millisecond of Python to render and bind, more than validating the surveys;
as one JSON parameter, unpacked by the database, it costs one `json.dumps`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
    Table,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from server.models import db


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def one_of(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN values`, the values sent as one JSON array."""
    values = sorted(values)
    if _dialect() != "postgresql":
        payload = json.dumps(values, ensure_ascii=False)
        return column.in_(select(literal_column("value")).select_from(func.json_each(payload)))
    # PostgreSQL text holds no NUL, so such a value matches nothing (and its
    # JSON functions would refuse it).
    payload = json.dumps([value for value in values if "\x00" not in value], ensure_ascii=False)
    return column.in_(select(func.json_array_elements_text(cast(literal(payload, String()), JSON))))


def _record_type(column_type: TypeEngine) -> str:
    """The column's type in a `json_to_recordset` record definition."""
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, DateTime):
        return "timestamp"
    if isinstance(column_type, Integer):
        return "bigint"
    if isinstance(column_type, String):
        return "text"
    raise TypeError(f"no record type for {column_type!r}")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _python_defaults(table: Table, given: set[str]) -> dict[str, Any]:
    """The values SQLAlchemy's own insert would fill in for the columns not given."""
    values = {}
    for column in table.c:
        default = column.default
        if column.name in given or default is None:
            continue
        if default.is_scalar:
            values[column.name] = default.arg
        elif default.is_callable:
            values[column.name] = default.arg(None)
    return values


def insert_rows(model: type[db.Model], rows: list[dict]) -> None:
    """Insert rows (all with the same keys) in one statement per page.

    On PostgreSQL the whole page travels as one JSON parameter unpacked by
    `json_to_recordset`.
    """
    table = model.__table__
    if _dialect() == "postgresql":
        defaults = _python_defaults(table, set(rows[0]))
        full = [{**defaults, **row} for row in rows] if defaults else rows
        payload = json.dumps(full, default=_json_default, ensure_ascii=False)
        # PostgreSQL's JSON functions refuse \u0000, which a json column keeps as sent.
        if "\\u0000" not in payload:
            _insert_json_rows(table, list(full[0]), payload)
            return
    db.session.execute(insert(model), rows)  # SQLite's executemany runs in C


def _insert_json_rows(table: Table, names: list[str], payload: str) -> None:
    record = ", ".join(f'"{name}" {_record_type(table.c[name].type)}' for name in names)
    columns = ", ".join(f'"{name}"' for name in names)
    db.session.execute(text(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
        f"FROM json_to_recordset(CAST(:rows AS json)) AS r({record})"), {"rows": payload})


