"""Validation's fast path: one generated Python function per form version that
says, for most surveys much faster, that a survey has no errors at all.

`validate_submission` (forms/submission.py) resolves relevance and
calculations, checks types and then the rule checks, building answer paths,
a relevance map and error objects as it goes. Nearly every survey the ingest
sees has no errors, and for those all that work only shows that there is
nothing to report. `surely_valid(form)` writes, from one form version, the
same steps as straight-line Python: each field's relevance, calculation,
removal when irrelevant, repeat rows, then the types (as `answers_fit`) and
`required`, `constraint` and `choice_filter`, in the order and with the data
`validate_submission` uses. It builds no paths and no errors: at the first
sign of a problem (a failing check, a rule that raises, anything it does not
expect) it answers False, and `validate_submission` does the full work,
which says what is wrong. So it can only ever skip work, never decide a
result: True means `validate_submission` would have returned no errors.

Every value of the definition (field names, rules, choices, bounds) reaches
the generated code by name from its namespace, never written into its source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forms import jsonlogic
from forms.answers import (
    _UUID,
    MAX_ANSWERS_BYTES,
    CalculatedAnswer,
    RepeatAnswer,
    RowId,
    SelectMultipleAnswer,
    SelectOneAnswer,
    _Answer,
    answers_size,
    flatten,
    repeat_limit,
    wrong_row_count,
)
from forms.model import (
    ANSWER_TYPES,
    CHOICE_KEY,
    ROW_ID,
    SELECT_TYPES,
    nested_deeper_than,
    storable,
)

if TYPE_CHECKING:
    from forms.submission import CompiledForm

SurelyValid = Callable[[Any], bool]


# A calculation can nest lists in lists far deeper than answers may (each one
# wraps the last), and a rule reading such a value recurses as deep. The full
# validation calls rules a few frames deeper than this code: a value nesting
# within a few levels of Python's recursion limit could evaluate here and fail
# there. Surveys whose calculations nest deeper than this are left to it.
CALCULATED_DEPTH = 64


def _deep(value: Any) -> bool:
    return isinstance(value, list | dict) and nested_deeper_than(value, CALCULATED_DEPTH)


class _Writer:
    """The source of the generated functions, and the namespace their names refer to."""

    def __init__(self, form: CompiledForm) -> None:
        self.form = form
        self.names: dict[str, Any] = {"truthy": jsonlogic.truthy, "storable": storable,
                                      "ROW_ID": ROW_ID, "CHOICE_KEY": CHOICE_KEY,
                                      "EMPTY": ("", []), "uuid": _UUID.match,
                                      "deep": _deep, "wrong_row_count": wrong_row_count}
        self.lines: list[str] = []
        self.levels = 0
        self.levels_of: dict[int, int] = {}  # id(repeat item) -> the level of its rows
        self.locals = 0

    def value(self, value: Any, stem: str) -> str:
        """A namespace name for `value` (never its text in the source)."""
        name = f"{stem}{len(self.names)}"
        self.names[name] = value
        return name

    def rule(self, rule: Any) -> str:
        """A name for the rule's `apply`."""
        return self.value(self.form.rule(rule).apply, "r")

    def local(self) -> str:
        self.locals += 1
        return f"h{self.locals}"

    def level(self, items: list) -> int:
        """Write `resolve_<k>` and `check_<k>` for one level; return k."""
        number = self.levels
        self.levels += 1
        top = number == 0
        resolve: list[str] = [f"def resolve_{number}(values, data, rel):"]
        self.resolve_items(items, "True", top, resolve)
        resolve.append("    return True")
        check: list[str] = [f"def check_{number}(values, data, rel):"]
        for item in flatten(items):
            self.check_field(item, check)
        check.append("    return True")
        self.lines += resolve + check
        return number

    # -- relevance and calculation, in document order (submission._Resolver)

    def resolve_items(self, items: list, parent: str, top: bool, out: list[str]) -> None:
        for item in items:
            kind = item["type"]
            here = self.local()
            if "relevant" in item:
                out.append(f"    {here} = {parent} and truthy({self.rule(item['relevant'])}(data))")
            else:
                out.append(f"    {here} = {parent}")
            if kind == "group":
                self.resolve_items(item["fields"], here, top, out)
            elif kind in ANSWER_TYPES:
                self.resolve_answer(item, here, top, out)

    def resolve_answer(self, item: dict, here: str, top: bool, out: list[str]) -> None:
        name = self.value(item["name"], "n")
        out += [f"    rel[{name}] = {here}",
                f"    if not {here}:",
                f"        values.pop({name}, None)"]
        if not top:  # a row's rules see the row over the answers above it
            out.append(f"        data.pop({name}, None)")
        kind = item["type"]
        if kind == "calculate":
            calculation = self.rule(item.get("calculation"))
            out += ["    else:",
                    f"        values[{name}] = storable({calculation}(data))",
                    f"        if deep(values[{name}]):",
                    "            return False"]
            if not top:
                out.append(f"        data[{name}] = values[{name}]")
        elif kind == "repeat":
            rows = self.levels_of[id(item)] = self.level(item["fields"])
            most = self.value(repeat_limit(item), "c")
            fewest = self.value(item.get("min_rows", 0), "c")
            out += ["    else:",
                    f"        rows = values.get({name})",
                    "        if rows is not None:",
                    "            if type(rows) is not list or len(rows) > " + most + ":",
                    "                return False",
                    "            if rows:",
                    f"                if len(rows) < {fewest}:",
                    "                    return False",
                    "                resolved, rels = [], []",
                    "                for row in rows:",
                    "                    if type(row) is not dict:",
                    "                        return False",
                    "                    row = dict(row)",
                    "                    row_rel = {}",
                    f"                    if not resolve_{rows}(row, {{**data, **row}}, row_rel):",
                    "                        return False",
                    "                    resolved.append(row)",
                    "                    rels.append(row_rel)",
                    f"                values[{name}] = resolved",
                    f"                rel[({name},)] = rels"]
            if not top:
                out.append(f"                data[{name}] = resolved")

    # -- types, as `answers.answers_fit` decides them, from the form's schema

    def fits(self, declared: dict) -> int:
        """Write `fits_<k>` for one level of the schema (its fields by name); return k.

        A value fits as in `answers_fit`: None and empty ("" or []) fit any
        answer, anything else passes the field's own `check` (which raises
        when it does not fit); choices are looked up here, the commonest.
        """
        number = self.levels
        self.levels += 1
        known = self.value(frozenset(declared), "k")
        out = [f"def fits_{number}(values):",
               f"    if not {known}.issuperset(values):",
               "        return False"]
        for key, answer in declared.items():
            name = self.value(key, "n")
            if isinstance(answer, RepeatAnswer):
                # Resolution has already refused more rows than `answer.limit`.
                rows = self.fits(answer.inner.schema.fields)
                out += [f"    value = values.get({name})",
                        "    if value is not None:",
                        "        if type(value) is not list:",
                        "            return False",
                        "        for row in value:",
                        f"            if type(row) is not dict or not fits_{rows}(row):",
                        "                return False"]
            elif isinstance(answer, RowId):
                out += [f"    value = values.get({name})",
                        "    if type(value) is not str or uuid(value) is None:",
                        "        return False"]
            elif isinstance(answer, CalculatedAnswer):
                continue  # anything fits: the server computed it
            elif isinstance(answer, SelectOneAnswer):
                choices = self.value(frozenset(answer.choices), "c")
                out += [f"    value = values.get({name})",
                        "    if value is not None and value not in EMPTY and (",
                        f"            type(value) is not str or value not in {choices}):",
                        "        return False"]
            elif isinstance(answer, SelectMultipleAnswer):
                choices = self.value(frozenset(answer.choices), "c")
                out += [f"    value = values.get({name})",
                        "    if value is not None and value not in EMPTY and (",
                        f"            type(value) is not list or not {choices}.issuperset(value)",
                        "            or len(set(value)) != len(value)):",
                        "        return False"]
            elif isinstance(answer, _Answer):
                check = self.value(answer.check, "f")
                out += [f"    value = values.get({name})",
                        "    if value is not None and value not in EMPTY:",
                        f"        {check}(value)"]
            else:  # a kind answers_fit does not know: it leaves the value to marshmallow
                out += [f"    if {name} in values:",
                        "        return False"]
        out.append("    return True")
        self.lines += out
        return number

    # -- required, constraint and choice_filter (submission._RuleChecker)

    def check_field(self, item: dict, out: list[str]) -> None:
        name = self.value(item["name"], "n")
        out += [f"    if rel.get({name}) is True:",
                f"        value = values.get({name})"]
        if "repeat_count" in item:
            count = self.rule(item["repeat_count"])
            out += [f"        if wrong_row_count({count}(data), value) is not None:",
                    "            return False"]
        out.append("        if value is None or value == '' or value == []:")
        required = item.get("required", False)
        if required is True:
            out.append("            return False")
        elif required is False:
            out.append("            pass")
        else:
            out += [f"            if truthy({self.rule(required)}(data)):",
                    "                return False"]
        out.append("        else:")
        if item["type"] == "repeat":
            rows = self.levels_of[id(item)]
            out += ["            seen = set()",
                    f"            for row, row_rel in zip(value, rel[({name},)]):",
                    "                row_id = row.get(ROW_ID)",
                    "                if isinstance(row_id, str):",
                    "                    if row_id in seen:",
                    "                        return False",
                    "                    seen.add(row_id)",
                    f"                if not check_{rows}(row, {{**data, **row}}, row_rel):",
                    "                    return False"]
            return
        out.append("            pass")
        if "constraint" in item:
            out += [f"            if not truthy({self.rule(item['constraint'])}(data)):",
                    "                return False"]
        if item["type"] in SELECT_TYPES and "choice_filter" in item:
            choices = self.value(self.form.defn["choices"][item["choices"]], "c")
            keep = self.rule(item["choice_filter"])
            out += ["            allowed = {choice['value'] for choice in " + choices,
                    f"                       if truthy({keep}({{**data, CHOICE_KEY: choice}}))}}",
                    "            for chosen in value if isinstance(value, list) else [value]:",
                    "                if chosen not in allowed:",
                    "                    return False"]


def surely_valid(form: CompiledForm, max_depth: int) -> SurelyValid | None:
    """The fast path of a checked, compiled form version; None if it cannot be made.

    `max_depth` is `validate_submission`'s limit on the answers' nesting.
    """
    if form.problems or form.schema is None:
        return None
    writer = _Writer(form)
    try:
        writer.level(form.defn["fields"])
        fits_top = writer.fits(form.schema.fields)
        code = compile("\n".join(writer.lines), f"<fast path of {form.defn.get('id')!r}>", "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    namespace = dict(writer.names)
    exec(code, namespace)  # noqa: S102 - our own source; the form's values are names in it
    resolve, check, fits = namespace["resolve_0"], namespace["check_0"], namespace[
        f"fits_{fits_top}"]

    def valid(answers: Any) -> bool:
        if type(answers) is not dict:
            return False
        relevant: dict = {}
        try:
            if nested_deeper_than(answers, max_depth) or answers_size(answers) > MAX_ANSWERS_BYTES:
                return False
            values = dict(answers)
            return bool(resolve(values, values, relevant) and fits(values)
                        and check(values, values, relevant))
        except Exception:  # whatever it is, the full validation says it
            return False
    return valid
