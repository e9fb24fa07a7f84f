"""Statements over a whole page of rows, each one statement with one parameter.

A page of the ingest touches a hundred surveys. An IN list of a hundred ids
or an executemany of a hundred rows costs SQLAlchemy and psycopg about a
millisecond of Python to render and bind, more than validating the surveys;
as one JSON parameter, unpacked by the database, it costs one `json.dumps`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    not_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

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


def revision_number(rev: Any) -> ColumnElement:
    """The generation of a CouchDB revision (`3` of `3-abc`) in SQL; 0 when it has none.

    What `int(rev.split("-", 1)[0])` gives for digits, in either database.
    """
    if _dialect() == "postgresql":
        digits = func.substring(rev, r"^([0-9]+)(-|$)")
        return func.coalesce(cast(digits, Numeric), 0)
    head = case((func.instr(rev, "-") > 0, func.substr(rev, 1, func.instr(rev, "-") - 1)),
                else_=rev)
    digits_only = and_(head != "", not_(head.op("GLOB", is_comparison=True)("*[^0-9]*")))
    return case((digits_only, cast(head, Integer)), else_=0)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _python_defaults(table: Table, given: set[str]) -> dict[str, Any]:
    """The values SQLAlchemy's own insert would fill in for the columns not given."""
    values = {}
    for col in table.c:
        default = col.default
        if col.name in given or default is None:
            continue
        if default.is_scalar:
            values[col.name] = default.arg
        elif default.is_callable:
            values[col.name] = default.arg(None)
    return values


OnConflict = Callable[[Any], Any]


def insert_rows(model: type[db.Model], rows: list[dict],
                on_conflict: OnConflict | None = None) -> None:
    """Insert rows (all with the same keys) in one statement per page.

    `on_conflict` adds the conflict clause to the dialect's insert (PostgreSQL
    and SQLite share `on_conflict_do_nothing`, `on_conflict_do_update` and
    `excluded`), so a page needs no read first to find what is already there.
    On PostgreSQL the whole page travels as one JSON parameter unpacked by
    `json_to_recordset`; SQLite's executemany runs in C.
    """
    table = model.__table__
    if _dialect() == "postgresql":
        defaults = _python_defaults(table, set(rows[0]))
        full = [{**defaults, **row} for row in rows] if defaults else rows
        payload = json.dumps(full, default=_json_default, ensure_ascii=False)
        # PostgreSQL's JSON functions refuse \u0000, which a json column keeps as sent.
        if "\\u0000" not in payload:
            names = list(full[0])
            record = func.json_to_recordset(cast(literal(payload, String()), JSON)).table_valued(
                *(column(name, table.c[name].type) for name in names)
            ).render_derived(name="page", with_types=True)
            statement = pg_insert(table).from_select(names, select(*record.c))
            db.session.execute(on_conflict(statement) if on_conflict else statement)
            return
        statement = pg_insert(table)
    else:
        statement = sqlite_insert(table)
    db.session.execute(on_conflict(statement) if on_conflict else statement, rows)
