"""Statements over a whole page of rows, and the pieces the ingest's page SQL shares.

A page of the ingest touches a few hundred surveys. Rendering and binding an
IN list or an executemany of that many rows through SQLAlchemy and psycopg
cost more Python than validating the surveys (bench/RESULTS.md), so a page
is sent the way each database takes it cheapest: an id list as one JSON
array (`one_of`, `one_of_param`); rows for `insert_rows` on PostgreSQL as
one JSON parameter unpacked by `json_to_recordset`, on SQLite through the
DB-API's executemany over rows bound as SQLAlchemy binds them; and, for the
ingest's own statements (server/queries/ingest.py), each column of a page as
one text split by PostgreSQL's `string_to_array` (`page_column`,
`json_column`). The rule for a revision's number in SQL lives here too
(`revision_number`, `revision_number_sql`).

The page statements are built once (`built`) and run with bound
parameters: building a statement afresh costs SQLAlchemy another walk of it
for its cache key on every page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
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
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from forms.model import without_broken_text
from server.models import db


def dialect_name() -> str:
    return db.session.get_bind().dialect.name


def dialect_insert(table: Table) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing` and `on_conflict_do_update`
    (PostgreSQL and SQLite alike; the project runs on nothing else)."""
    return pg_insert(table) if dialect_name() == "postgresql" else sqlite_insert(table)


T = TypeVar("T")
_BUILT: dict[tuple[str, Hashable], Any] = {}
_BUILT_MAX = 256


def built(key: Hashable, build: Callable[[], T]) -> T:
    """The statement `build()` makes, made once per SQL dialect and key.

    The statement must take its values as bound parameters: the same object
    is run for every page, so SQLAlchemy finds its compiled SQL at once.
    """
    slot = (dialect_name(), key)
    statement = _BUILT.get(slot)
    if statement is None:
        if len(_BUILT) >= _BUILT_MAX:  # keys are fixed in code; this only bounds a misuse
            _BUILT.clear()
        statement = _BUILT[slot] = build()
    return statement


def json_array(values: Iterable[str]) -> str:
    """The parameter `one_of_param` takes: the values as one JSON array."""
    values = sorted(values)
    if dialect_name() == "postgresql":
        # PostgreSQL text holds no NUL, so such a value matches nothing (and its
        # JSON functions would refuse it).
        values = [value for value in values if "\x00" not in value]
    return json.dumps(values, ensure_ascii=False)


def _in_json_array(column: Any, payload: Any) -> ColumnElement[bool]:
    if dialect_name() != "postgresql":
        return column.in_(select(literal_column("value")).select_from(func.json_each(payload)))
    return column.in_(select(func.json_array_elements_text(cast(payload, JSON))))


def one_of(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN values`, the values sent as one JSON array."""
    return _in_json_array(column, literal(json_array(values), String()))


def one_of_param(column: Any, name: str) -> ColumnElement[bool]:
    """`column IN` the JSON array (`json_array`) bound as parameter `name`, for `built`."""
    return _in_json_array(column, bindparam(name, type_=String()))


def json_records(columns: Iterable[tuple[str, TypeEngine]]) -> TableValuedAlias:
    """`json_to_recordset(:page) AS page(name type, ...)` (PostgreSQL): the rows of
    a page, sent as one JSON array of objects bound as parameter `page`."""
    return func.json_to_recordset(cast(bindparam("page", type_=String()), JSON)).table_valued(
        *(column(name, type_) for name, type_ in columns)
    ).render_derived(name="page", with_types=True)


def json_text(value: Any) -> str:
    """`value` as JSON text, encoded by orjson.

    `json.dumps` of a page of surveys was the ingest worker's largest piece of
    CPU, orjson about a fifth of it (bench/RESULTS.md). What orjson refuses,
    integers beyond 64 bits and strings holding a lone surrogate, `json.dumps`
    encodes (the first exactly; the second with U+FFFD in place of each lone
    surrogate, as `_sqlite_json` does: PostgreSQL refuses them). Where
    `json.dumps` would write NaN, orjson writes null; the documents come from
    CouchDB's JSON, which has no NaN.
    """
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except orjson.JSONEncodeError:
        return json.dumps(without_broken_text(value), default=_json_default,
                          ensure_ascii=False)


def page_payload(rows: list[dict]) -> str | None:
    """The `page` parameter for `json_records` (`json_text` of the rows); None if
    PostgreSQL's JSON functions would refuse it (they refuse \\u0000, which a json
    column keeps)."""
    payload = json_text(rows)
    return None if "\\u0000" in payload else payload


# A page's column as one text, for PostgreSQL's `string_to_array(text, SEPARATOR,
# NULL)` (ASCII's record and unit separators), as server/queries/ingest.py sends it.
SEPARATOR, NULL = "\x1e", "\x1f"
_SEPARATOR_BYTES, _NULL_BYTES = SEPARATOR.encode(), NULL.encode()


def page_column(values: list[str | None]) -> str | None:
    """Values as one text for `string_to_array(text, SEPARATOR, NULL)`; None if
    it cannot carry them (a value that is not text or holds a separator, or one
    empty value, which PostgreSQL splits into no value at all)."""
    try:
        text = SEPARATOR.join(NULL if value is None else value for value in values)
    except TypeError:  # not text: the caller sends the page another way
        return None
    if (text.count(SEPARATOR) != len(values) - 1
            or text.count(NULL) != sum(value is None for value in values)
            or values == [""]):
        return None
    return text


def json_column(values: list) -> str:
    """The JSON text of each value (None as NULL) as one text for `string_to_array`:
    JSON text holds no raw control character, so no separator. One orjson call per
    value and one decode for the whole column."""
    try:
        return _SEPARATOR_BYTES.join(_NULL_BYTES if value is None else orjson.dumps(value)
                                     for value in values).decode()
    except orjson.JSONEncodeError:  # what orjson refuses, `json_text` encodes
        return SEPARATOR.join(NULL if value is None else json_text(value)
                              for value in values)


# The generation of a CouchDB revision: its leading digits before "-" or the end.
REVISION_DIGITS = r"^([0-9]+)(-|$)"


def revision_number(rev: Any) -> ColumnElement:
    """The generation of a CouchDB revision (`3` of `3-abc`) in SQL; 0 when it has none.

    What sync.merge.revision_number gives, in either database.
    """
    if dialect_name() == "postgresql":
        digits = func.substring(rev, REVISION_DIGITS)
        return func.coalesce(cast(digits, Numeric), 0)
    head = case((func.instr(rev, "-") > 0, func.substr(rev, 1, func.instr(rev, "-") - 1)),
                else_=rev)
    digits_only = and_(head != "", not_(head.op("GLOB", is_comparison=True)("*[^0-9]*")))
    return case((digits_only, cast(head, Integer)), else_=0)


def revision_number_sql(column: str) -> str:
    """`revision_number` of a column, as PostgreSQL SQL text."""
    return f"coalesce(substring({column} from '{REVISION_DIGITS}')::numeric, 0)"


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
    `json_to_recordset`; on SQLite the DB-API's executemany (C) runs the
    statement over the page's rows (`_sqlite_insert`).
    """
    if not rows:
        return
    if db.session.autoflush:  # what the session's own execute does first
        db.session.flush()
    table, dialect = model.__table__, dialect_name()
    if dialect == "sqlite" and _sqlite_insert(table, rows, on_conflict):
        return
    if dialect == "postgresql":
        defaults = _python_defaults(table, set(rows[0]))
        full = [{**defaults, **row} for row in rows] if defaults else rows
        payload = page_payload(full)
        if payload is not None:
            names = tuple(full[0])

            def build() -> Any:
                record = json_records((name, table.c[name].type) for name in names)
                statement = pg_insert(table).from_select(names, select(*record.c))
                return on_conflict(statement) if on_conflict else statement

            db.session.connection().execute(
                built(("insert_rows", table.name, names, on_conflict), build), {"page": payload})
            return
        statement = pg_insert(table)
    else:
        statement = sqlite_insert(table)
    db.session.execute(on_conflict(statement) if on_conflict else statement, rows)


def _sqlite_json(value: Any) -> str:
    """What SQLAlchemy's JSON type binds on SQLite (None and `JSON.NULL` as JSON
    null, as the models' JSON columns do), encoded by orjson where it can: the same
    value read back, as compact text. What orjson refuses, `json.dumps` encodes as
    SQLAlchemy did, a lone surrogate replaced by U+FFFD as PostgreSQL needs (half
    of a UTF-16 pair is no character: both databases store the same text, and
    validation has said where it was); NaN and the infinities, which JSON has
    not, become null, as in `json_text`."""
    if value is None or value is JSON.NULL:
        return "null"
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(without_broken_text(value))


def _sqlite_json_or_null(value: Any) -> str | None:
    return None if value is None else _sqlite_json(value)


def _sqlite_insert(table: Table, rows: list[dict], on_conflict: OnConflict | None) -> bool:
    """`insert_rows` on SQLite: the statement compiled once and run by the DB-API's
    executemany over tuples bound as SQLAlchemy binds them (its JSON columns through
    orjson, `_sqlite_json`). SQLAlchemy's own executemany spent about as much Python
    per page of 300 surveys on each row's parameters and JSON (stdlib `json.dumps`)
    as SQLite's own work. False, having done nothing, where the compiled statement
    takes a parameter this does not know how to give (one expanded when run, such as
    an IN list, or none at all): the caller inserts the usual way."""
    given = tuple(rows[0])
    defaults = _python_defaults(table, set(given))
    names = given + tuple(defaults)

    def build() -> tuple[str, list] | tuple[()]:
        statement = sqlite_insert(table)
        dialect = db.session.get_bind().dialect
        compiled = (on_conflict(statement) if on_conflict else statement).compile(
            dialect=dialect, column_keys=list(names))
        if (compiled.insert_prefetch or not compiled.positiontup
                or compiled.literal_execute_params or compiled.post_compile_params):
            return ()
        # Per parameter: a column of the rows and how to bind it, or a constant bound once.
        params: list = []
        for name in compiled.positiontup:
            if name in names:
                kind = table.c[name].type
                if isinstance(kind, JSON):
                    process = _sqlite_json_or_null if kind.none_as_null else _sqlite_json
                else:  # the dialect's own type binds (the model's may not: DateTime)
                    process = kind.dialect_impl(dialect).bind_processor(dialect)
                params.append((name, process))
                continue
            bind = compiled.binds[name]
            if bind.required or bind.callable is not None or bind.expanding:
                return ()
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            params.append((None, process(bind.value) if process else bind.value))
        return compiled.string, params

    plan = built(("sqlite_insert", table.name, names, on_conflict), build)
    if not plan:
        return False
    sql, params = plan
    full = [{**defaults, **row} for row in rows] if defaults else rows
    columns = []
    for name, how in params:
        if name is None:
            columns.append([how] * len(full))
        elif how is None:
            columns.append([row[name] for row in full])
        else:
            columns.append([how(row[name]) for row in full])
    db.session.connection().exec_driver_sql(sql, list(zip(*columns, strict=True)))
    return True
