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
   (`evaluate_calculations`); what the phone stored for them is ignored. A
   result that JSON cannot hold (NaN, infinity) is stored as null.
3. Types (marshmallow schema built from the form version), choices, repeat
   bounds (of answered repeats: an empty repeat is unanswered, and only
   `required` demands rows), photo counts; then `required` (when relevant),
   `constraint` (on answered fields only) and `choice_filter`.

Inside a repeat row, rules see the top-level answers overlaid by that row's
answers. Each row must carry a unique `_row` id (docs/contracts.md).
Answers nested too deeply get that one error and are not examined further;
answers larger than `MAX_ANSWERS_BYTES` as JSON get an error for that too
(what makes them so large has its own error where a bound is exceeded: the
checks never look at more than a repeat's row limit or a text's length).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, ValidationError

from forms import jsonlogic
from forms.answers import (
    MAX_ANSWERS_BYTES,
    FieldError,
    answer_schema,
    answers_fit,
    answers_size,
    convert_errors,
    field_error,
    flatten,
    repeat_limit,
    wrong_row_count,
)
from forms.definition import check_definition
from forms.fastpath import SurelyValid, surely_valid
from forms.model import (
    ANSWER_TYPES,
    CHOICE_KEY,
    ROW_ID,
    RULE_KEYS,
    SELECT_TYPES,
    nested_deeper_than,
    storable,
    text,
    walk,
)
from messages import say

MAX_ANSWER_DEPTH = 16

# ---------------------------------------------------------------- compiled forms


@dataclass
class CompiledForm:
    """What validation needs of one form version, built once.

    A snapshot: what is worked out from `defn` (schema, rules, the steps of
    each level) is kept, so `defn` must not change afterwards. `compile_form`
    gives each compiled form a copy of its own.
    """

    defn: dict
    problems: list
    schema: Schema | None = None
    # id(rule) -> the rule compiled, for every rule object of a valid `defn`
    rules: dict[int, jsonlogic.CompiledRule] = field(default_factory=dict)

    # id(items) -> (items, what is worked out once for that level of the definition);
    # the items are kept alive with their id
    flat: dict[int, tuple[list, list[dict]]] = field(default_factory=dict)
    resolving: dict[int, tuple[list, list[_ResolveStep]]] = field(default_factory=dict)
    checking: dict[int, tuple[list, list[_CheckStep]]] = field(default_factory=dict)
    # True only for answers `validate_submission` finds no error in (forms/fastpath.py)
    surely_valid: SurelyValid | None = None

    def fields_of(self, items: list) -> list[dict]:
        """`flatten(items)` of one of the definition's levels, worked out once."""
        known = self.flat.get(id(items))
        if known is None or known[0] is not items:
            known = self.flat[id(items)] = (items, flatten(items))
        return known[1]

    def resolve_steps(self, items: list) -> list[_ResolveStep]:
        """What relevance and calculation do with each item of one level, worked out once."""
        known = self.resolving.get(id(items))
        if known is None or known[0] is not items:
            known = self.resolving[id(items)] = (items, [_ResolveStep.of(item, self)
                                                         for item in items])
        return known[1]

    def check_steps(self, items: list) -> list[_CheckStep]:
        """What the rule checks do with each answer field of one level, worked out once."""
        known = self.checking.get(id(items))
        if known is None or known[0] is not items:
            known = self.checking[id(items)] = (items, [_CheckStep.of(item, self)
                                                        for item in self.fields_of(items)])
        return known[1]

    def rule(self, rule: Any) -> jsonlogic.CompiledRule:
        """The compiled form of one of the definition's rules.

        A compiled rule holds its rule, so the id cannot have been reused. A
        rule that was not compiled with the form (the definition has problems,
        or the rule was put into it since) is compiled on the spot.
        """
        compiled = self.rules.get(id(rule))
        return compiled if compiled is not None else jsonlogic.compile_rule(rule)


_compiled: dict[str, CompiledForm] = {}
_CACHE_SIZE = 64


def compile_form(defn: dict) -> CompiledForm:
    """Check and compile a definition, cached by content.

    Keyed by the definition's canonical JSON rather than the object, since
    callers load the same version afresh for every survey (and a dict could
    change after being compiled); dumping a form costs far less than compiling it.
    """
    try:
        key: str | None = json.dumps(defn, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        key = None  # not JSON at all: check_definition will say why
    cached = _compiled.get(key) if key is not None else None
    if cached is not None:
        return cached
    if key is not None:
        defn = copy.deepcopy(defn)  # the caller's later changes must not reach the cache
    problems = check_definition(defn)
    compiled = CompiledForm(defn, problems)
    if not problems:
        compiled.schema = answer_schema(defn)
        compiled.rules = _compile_rules(defn)
        compiled.surely_valid = surely_valid(compiled, MAX_ANSWER_DEPTH)
    if key is not None:
        if len(_compiled) >= _CACHE_SIZE:
            _compiled.pop(next(iter(_compiled)))
        _compiled[key] = compiled
    return compiled


def _compile_rules(defn: dict) -> dict[int, jsonlogic.CompiledRule]:
    rules = (info.field[key] for info in walk(defn) for key in RULE_KEYS if key in info.field)
    return {id(rule): jsonlogic.compile_rule(rule) for rule in rules}


# ---------------------------------------------------------------- relevance and calculation


@dataclass
class Resolution:
    """Answers as the phone sees them after relevance and calculation."""

    answers: dict
    relevant: dict[str, bool] = field(default_factory=dict)  # answer path -> relevant
    ignored: list[str] = field(default_factory=list)  # irrelevant answers that were sent
    errors: list[FieldError] = field(default_factory=list)  # rules that failed to evaluate
    row_problems: dict[str, FieldError] = field(default_factory=dict)  # repeat path -> bound


def run_rule(
    rule: jsonlogic.CompiledRule, data: dict, path: str, key: str, errors: list[FieldError]
) -> Any:
    """Evaluate one rule of one field; a failure becomes a FieldError, never an exception."""
    try:
        return rule.apply(data)
    except jsonlogic.RuleError as error:
        errors.append(field_error(path, "rule_error", rule=key,
                                  reason={"vi": error.vi, "en": error.en}))
    except RecursionError:
        vi, en = say("forms.rule.data_too_deep")
        errors.append(field_error(path, "rule_error", rule=key, reason={"vi": vi, "en": en}))
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


# What an item is to the resolver.
_OTHER, _GROUP, _ANSWER, _CALCULATE, _REPEAT = range(5)


@dataclass(frozen=True, slots=True)
class _ResolveStep:
    kind: int
    name: str
    relevant: jsonlogic.CompiledRule | None  # None: always relevant
    calculation: jsonlogic.CompiledRule | None
    fields: list | None  # a group's or a repeat's items
    max_rows: int
    min_rows: Any

    @classmethod
    def of(cls, item: dict, form: CompiledForm) -> _ResolveStep:
        kind = item["type"]
        code = (_GROUP if kind == "group" else _CALCULATE if kind == "calculate"
                else _REPEAT if kind == "repeat" else _ANSWER if kind in ANSWER_TYPES
                else _OTHER)
        return cls(code, item["name"],
                   form.rule(item["relevant"]) if "relevant" in item else None,
                   form.rule(item.get("calculation")) if code == _CALCULATE else None,
                   item["fields"] if code == _GROUP else item.get("fields"),
                   repeat_limit(item) if code == _REPEAT else 0,
                   item.get("min_rows", 0) if code == _REPEAT else 0)


class _Resolver:
    """One pass of relevance and calculation over one survey."""

    def __init__(self, form: CompiledForm) -> None:
        self.form = form
        self.result = Resolution({})

    def level(self, items: list, values: dict, data: dict, prefix: str, relevant: bool) -> None:
        """Resolve one level in place: `values` is the level's answers, `data` what rules see."""
        result = self.result
        for step in self.form.resolve_steps(items):
            name = step.name
            path = prefix + name
            here = relevant and (step.relevant is None or jsonlogic.truthy(
                run_rule(step.relevant, data, path, "relevant", result.errors)))
            kind = step.kind
            if kind == _GROUP:
                self.level(step.fields, values, data, prefix, here)
                continue
            if kind == _OTHER:
                continue
            result.relevant[path] = here
            if not here:
                if name in values:
                    if not _empty(values[name]):
                        result.ignored.append(path)
                    del values[name]
                if data is not values:
                    data.pop(name, None)
                continue
            if kind == _CALCULATE:
                values[name] = storable(run_rule(step.calculation, data, path, "calculation",
                                                  result.errors))
                data[name] = values[name]
            elif kind == _REPEAT:
                self.repeat(step, values, data, path)

    def repeat(self, step: _ResolveStep, values: dict, data: dict, path: str) -> None:
        rows = values.get(step.name)
        if rows is not None and not isinstance(rows, list):
            return  # a type error, reported by the schema
        count, high = len(rows or []), step.max_rows
        if count > high:
            self.result.row_problems[path] = field_error(
                path, "too_many_rows", count=count, max=high
            )
            return
        if not rows:
            return  # unanswered: only `required` can demand rows, as on the phone
        if count < step.min_rows:
            self.result.row_problems[path] = field_error(
                path, "too_few_rows", min=step.min_rows
            )
        resolved = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                resolved.append(row)
                continue
            row_values = dict(row)
            overlay = {**data, **row_values}
            self.level(step.fields, row_values, _Overlay(overlay, row_values),
                       f"{path}[{index}].", True)
            resolved.append(row_values)
        values[step.name] = resolved
        data[step.name] = resolved


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


def resolve_answers(form: dict | CompiledForm, answers: dict) -> Resolution:
    """Apply relevance and calculations in document order, as the phone does.

    Returns a copy of the answers without irrelevant answers and with every
    calculate field computed; the input is not modified. `form` is a
    definition or what `compile_form` made of it.
    """
    compiled = form if isinstance(form, CompiledForm) else compile_form(form)
    resolver = _Resolver(compiled)
    values = dict(answers)
    resolver.level(compiled.defn["fields"], values, values, "", True)
    resolver.result.answers = values
    return resolver.result


def evaluate_calculations(defn: dict, answers: dict) -> dict:
    """The answers with calculations recomputed and irrelevant answers removed."""
    return resolve_answers(defn, answers).answers


# ---------------------------------------------------------------- validation


def validate_submission(form: dict | CompiledForm, answers: Any) -> list[FieldError]:
    """Every problem of a submission's answers against its form version; [] when valid.

    `form` is the version's definition, or what `compile_form` made of it (the
    ingest compiles each version once rather than once per survey).
    """
    compiled = form if isinstance(form, CompiledForm) else compile_form(form)
    if compiled.problems:
        detail = "; ".join(p.en for p in compiled.problems[:3])
        return [field_error("$", "form_invalid", detail=detail)]
    if compiled.surely_valid is not None and compiled.surely_valid(answers):
        return []
    return full_validation(compiled, answers)


def full_validation(compiled: CompiledForm, answers: Any) -> list[FieldError]:
    """`validate_submission` of a checked form without its fast path: every step,
    with the paths and messages of what is wrong."""
    if not isinstance(answers, dict):
        return [field_error("$", "not_object")]
    if nested_deeper_than(answers, MAX_ANSWER_DEPTH):
        return [field_error("$", "too_deep", max=MAX_ANSWER_DEPTH)]
    size = answers_size(answers)
    errors = [field_error("$", "too_large", size=size, max=MAX_ANSWERS_BYTES)
              ] if size > MAX_ANSWERS_BYTES else []
    resolution = resolve_answers(compiled, answers)
    errors += list(resolution.errors) + list(resolution.row_problems.values())
    type_errors = _type_errors(compiled, resolution.answers)
    errors += type_errors
    bad = {error.path for error in type_errors}
    errors += _rule_errors(compiled, resolution, bad)
    return errors


def _type_errors(compiled: CompiledForm, answers: dict) -> list[FieldError]:
    assert compiled.schema is not None
    if answers_fit(compiled.schema, answers):
        return []
    try:
        compiled.schema.load(answers, unknown=RAISE)
    except ValidationError as error:
        return convert_errors(error.messages, "")
    return []


def _rule_errors(form: CompiledForm, resolution: Resolution, bad: set[str]) -> list[FieldError]:
    """required, constraint and choice_filter, checked on the resolved answers."""
    checker = _RuleChecker(form, resolution, bad)
    checker.level(form.defn["fields"], resolution.answers, resolution.answers, "")
    return checker.errors


@dataclass(frozen=True, slots=True)
class _CheckStep:
    name: str
    required: Any  # True, False, or the rule deciding it
    constraint: jsonlogic.CompiledRule | None
    message: tuple[str, str] | None  # the form's own constraint message (vi, en)
    rows: list | None  # a repeat's items
    choices: list | None  # a filtered select's choices ...
    choice_filter: jsonlogic.CompiledRule | None  # ... and its filter
    row_count: jsonlogic.CompiledRule | None  # a repeat's repeat_count

    @classmethod
    def of(cls, item: dict, form: CompiledForm) -> _CheckStep:
        required = item.get("required", False)
        if required is not True and required is not False:
            required = form.rule(required)
        message = item.get("constraint_message")
        filtered = item["type"] in SELECT_TYPES and "choice_filter" in item
        return cls(item["name"], required,
                   form.rule(item["constraint"]) if "constraint" in item else None,
                   (text(message, "vi"), text(message, "en")) if message else None,
                   item["fields"] if item["type"] == "repeat" else None,
                   form.defn["choices"][item["choices"]] if filtered else None,
                   form.rule(item["choice_filter"]) if filtered else None,
                   form.rule(item["repeat_count"]) if "repeat_count" in item else None)


class _RuleChecker:
    """required, constraint and choice_filter over the resolved answers."""

    def __init__(self, form: CompiledForm, resolution: Resolution, bad: set[str]) -> None:
        self.form, self.resolution, self.bad = form, resolution, bad
        self.errors: list[FieldError] = []

    def level(self, items: list, values: dict, data: dict, prefix: str) -> None:
        relevant, bad, errors = self.resolution.relevant, self.bad, self.errors
        for step in self.form.check_steps(items):
            path = prefix + step.name
            if not relevant.get(path, False) or path in bad:
                continue
            value = values.get(step.name)
            if step.row_count is not None and path not in self.resolution.row_problems:
                count = wrong_row_count(run_rule(step.row_count, data, path, "repeat_count",
                                                 errors), value)
                if count is not None:
                    errors.append(field_error(path, "row_count", count=count))
            if value is None or value == "" or value == []:
                required = step.required
                if required is True or (required is not False and jsonlogic.truthy(
                        run_rule(required, data, path, "required", errors))):
                    errors.append(field_error(path, "required"))
                continue
            if step.rows is not None:
                self.rows(step, value, data, path)
                continue
            if step.constraint is not None and not jsonlogic.truthy(
                    run_rule(step.constraint, data, path, "constraint", errors)):
                errors.append(field_error(path, "constraint") if step.message is None
                              else FieldError(path, "constraint", *step.message))
            if step.choice_filter is not None:
                self.check_filter(step, value, data, path)

    def check_filter(self, step: _CheckStep, value: Any, data: dict, path: str) -> None:
        allowed = set()
        for choice in step.choices:
            scope = {**data, CHOICE_KEY: choice}
            if jsonlogic.truthy(run_rule(step.choice_filter, scope, path, "choice_filter",
                                         self.errors)):
                allowed.add(choice["value"])
        for chosen in value if isinstance(value, list) else [value]:
            if chosen not in allowed:
                self.errors.append(field_error(path, "choice_filtered_out", value=chosen))

    def rows(self, step: _CheckStep, rows: list, data: dict, path: str) -> None:
        bound = self.resolution.row_problems.get(path)
        if bound is not None and bound.code == "too_many_rows":
            return  # reported once; its rows are not examined
        seen: set[str] = set()
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                continue
            row_id = row.get(ROW_ID)
            if isinstance(row_id, str) and row_id in seen:
                self.errors.append(field_error(f"{path}[{index}]._row", "duplicate_row_id"))
            if isinstance(row_id, str):
                seen.add(row_id)
            self.level(step.rows, row, {**data, **row}, f"{path}[{index}].")


__all__ = [
    "FieldError",
    "Resolution",
    "compile_form",
    "evaluate_calculations",
    "resolve_answers",
    "validate_submission",
]
