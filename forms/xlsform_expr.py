"""Translating XLSForm expressions to JSON Logic and back.

XLSForm authors write rules in ODK's XPath subset: `${age} >= 15 and
selected(${software}, 'cloud_storage')`. `to_logic` parses that subset into
the JSON Logic our forms use; `to_xlsform` writes a rule back, and falls
back to the rule's JSON text whenever the written expression would not read
back as exactly the same rule (a cell that starts with `{` or `[` is taken
as JSON Logic by `to_logic`, one that starts with `json:` as a JSON value, so
nothing is lost either way).

Supported: `${name}`, `.` (the field itself), numbers, 'strings', `and or not()
= != < <= > >= + - * div mod`, parentheses, `if() selected() count-selected()
count() sum() concat() today() true() false()` and Sotay's own `days_between()
years_between() vn_tax_code() vn_mobile()`. In a choice_filter a bare name
is a column of the choices sheet (`_choice.<name>`). Comparing a field with
'' tests whether it is answered. Anything else is reported as unsupported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from forms.model import same_json
from messages import say

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<ref>\$\{(?P<refname>[^}]*)\})
    | (?P<num>\d+\.\d*|\.\d+|\d+)
    | (?P<str>'[^']*'|"[^"]*")
    | (?P<op><=|>=|!=|=|<|>|\+|-|\*|\(|\)|,)
    | (?P<dot>\.)
    | (?P<name>[A-Za-z_][A-Za-z0-9_:-]*)
    )""",
    re.VERBOSE,
)

# Binary operators: XPath spelling -> (JSON Logic operator, precedence, n-ary).
_BINARY = {
    "or": ("or", 1, True),
    "and": ("and", 2, True),
    "=": ("==", 3, False),
    "!=": ("!=", 3, False),
    "<": ("<", 4, False),
    "<=": ("<=", 4, False),
    ">": (">", 4, False),
    ">=": (">=", 4, False),
    "+": ("+", 5, True),
    "-": ("-", 5, False),
    "*": ("*", 6, True),
    "div": ("/", 6, False),
    "mod": ("%", 6, False),
}
_XPATH_OF = {logic: (xpath, prec, nary) for xpath, (logic, prec, nary) in _BINARY.items()}
_UNARY_PREC = 7
_ATOM_PREC = 8

# XLSForm function -> JSON Logic operator, for functions that map one to one.
_FUNCTIONS = {
    "not": ("!", 1),
    "if": ("if", 3),
    "count-selected": ("count", 1),
    "count": ("count", 1),
    "concat": ("cat", None),
    "today": ("today", 0),
    "days_between": ("days_between", 2),
    "years_between": ("years_between", 2),
    "vn_tax_code": ("vn_tax_code", 1),
    "vn_mobile": ("vn_mobile", 1),
    "regex": ("regex", 2),
}
# Functions of ODK's that Sotay has no counterpart for, with the Sotay way where there
# is one (the catalogue's `forms.xlsform.way.<way>`).
_WITHOUT = {
    "pulldata": "data_choices_filter",
    "instance": "choices_sheet",
    "indexed-repeat": "sum_count",
    "position": None,
    "once": "calculate_field",
    "now": "survey_time",
    "uuid": "survey_id",
    "jr:choice-name": None,
    "digest": None,
    "geofence": None,
}
_FUNCTION_OF = {"!": "not", "if": "if", "cat": "concat", "today": "today",
                "days_between": "days_between", "years_between": "years_between",
                "vn_tax_code": "vn_tax_code", "vn_mobile": "vn_mobile", "regex": "regex"}


class ExpressionError(ValueError):
    """An expression that cannot be translated; vi and en say why."""

    def __init__(self, code: str, message: str | None = None, **params: Any) -> None:
        """`code` is the stable code; `message` the catalogue's `forms.xlsform.<message>`
        when one code has several sentences (default: the code's own)."""
        self.vi, self.en = say(f"forms.xlsform.{message or code}", **params)
        super().__init__(self.en)
        self.code = code


def way_param(way: str) -> dict[str, str]:
    """The Sotay way `way` (the catalogue's forms.xlsform.way.<way>) as a message parameter."""
    vi, en = say(f"forms.xlsform.way.{way}")
    return {"vi": vi, "en": en}


@dataclass(frozen=True)
class Context:
    """What a translation needs to know about where the expression sits."""

    own: str | None = None  # the field the rule belongs to (`.`)
    key: str = "relevant"  # relevant, constraint, calculation, required, choice_filter
    types: dict[str, str] = field(default_factory=dict)  # field name -> type
    repeat_of: dict[str, str] = field(default_factory=dict)  # field name -> its repeat


def _part(code: str, **params: Any) -> dict[str, str]:
    vi, en = say(f"forms.xlsform.{code}", **params)
    return {"vi": vi, "en": en}


def _unsupported(what: str, **params: Any) -> ExpressionError:
    """`what` is the catalogue's forms.xlsform.unsupported.<what>."""
    return ExpressionError("unsupported_expression",
                           what=_part(f"unsupported.{what}", **params))


def _syntax(text: str, detail: str, **params: Any) -> ExpressionError:
    """`detail` is the catalogue's forms.xlsform.syntax.<detail>."""
    return ExpressionError("expression_syntax", expression=text,
                           detail=_part(f"syntax.{detail}", **params))


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _syntax(text, "unexpected_character", position=position + 1)
        kind = match.lastgroup if match.lastgroup != "refname" else "ref"
        if match.group("ref") is not None:
            kind = "ref"
        value = match.group(kind) if kind != "ref" else match.group("refname")
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, context: Context) -> None:
        self.text, self.context = text, context
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _syntax(self.text, "unexpected_end")
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        kind, got = self.take()
        if got != value:
            raise _syntax(self.text, "expected", expected=repr(value), got=repr(got))

    def parse(self) -> Any:
        if not self.tokens:
            raise _syntax(self.text, "empty")
        result = self.expression(0)
        if self.peek() is not None:
            raise _syntax(self.text, "extra", got=repr(self.peek()[1]))
        return result

    def binary_operator(self) -> str | None:
        token = self.peek()
        if token and token[0] in ("op", "name") and token[1] in _BINARY:
            return token[1]
        return None

    def expression(self, floor: int) -> Any:
        left = self.unary()
        while True:
            op = self.binary_operator()
            if op is None:
                return left
            logic, prec, nary = _BINARY[op]
            if prec <= floor:
                return left
            self.take()
            operands = [left, self.expression(prec)]
            while nary and self.binary_operator() == op:
                self.take()
                operands.append(self.expression(prec))
            left = self.combine(logic, operands)

    def combine(self, logic: str, operands: list) -> Any:
        if logic in ("==", "!=") and len(operands) == 2:
            for this, other in (operands, operands[::-1]):
                if other == "" and _is_var(this):
                    missing = {"missing": this["var"]}
                    return {"!!": [missing]} if logic == "==" else {"!": [missing]}
        return {logic: operands}

    def unary(self) -> Any:
        token = self.peek()
        if token == ("op", "-"):
            self.take()
            operand = self.unary()
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand
            return {"-": [operand]}
        return self.primary()

    def primary(self) -> Any:
        kind, value = self.take()
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "str":
            return value[1:-1]
        if kind == "ref":
            return self.reference(value)
        if kind == "dot":
            if self.context.own is None or self.context.key == "choice_filter":
                raise _unsupported("dot")
            return {"var": self.context.own}
        if kind == "op" and value == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if kind == "name":
            if self.peek() == ("op", "("):
                return self.call(value)
            if self.context.key == "choice_filter":
                # a choice's `name` column is its value in our format
                return {"var": "_choice." + ("value" if value == "name" else value)}
            raise _unsupported("bare_name", name=value, field=f"${{{value}}}")
        raise _syntax(self.text, "unexpected", got=repr(value))

    def reference(self, name: str) -> dict:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise _syntax(self.text, "field_name", field=f"${{{name}}}")
        return {"var": name}

    def sum(self, target: Any) -> dict:
        name = target["var"] if _is_var(target) else None
        repeat = self.context.repeat_of.get(name) if name else None
        if repeat is None:
            raise _unsupported("sum")
        return _sum_rule(repeat, name)

    def call(self, name: str) -> Any:
        self.expect("(")
        args = []
        if self.peek() != ("op", ")"):
            args.append(self.expression(0))
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expression(0))
        self.expect(")")
        if name in ("true", "false") and not args:
            return name == "true"
        if name == "sum" and len(args) == 1:
            return self.sum(args[0])
        if name == "selected" and len(args) == 2:
            target, value = args
            if _is_var(target) and self.context.types.get(target["var"]) == "select_one":
                return {"==": [target, value]}
            return {"in": [value, target]}
        if name in _WITHOUT:
            way = _WITHOUT[name]
            if way is None:
                raise ExpressionError("unsupported_function", "unsupported_function_named",
                                      name=name)
            raise ExpressionError("unsupported_function", "unsupported_function_way",
                                  name=name, way=way_param(way))
        if name not in _FUNCTIONS:
            raise _unsupported("function", name=name)
        logic, arity = _FUNCTIONS[name]
        if arity is not None and len(args) != arity:
            raise _syntax(self.text, "arity", name=name, arity=arity)
        return {logic: args}


def _sum_rule(repeat: str, name: str) -> dict:
    """sum(${name}) over the rows of `repeat` in JSON Logic."""
    return {"reduce": [{"var": repeat},
                       {"+": [{"var": "accumulator"}, {"var": f"current.{name}"}]}, 0]}


def _is_var(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"var"} and isinstance(value["var"], str)


JSON_PREFIX = "json:"


def to_logic(text: Any, context: Context) -> Any:
    """An XLSForm expression as JSON Logic.

    A cell starting with `{` or `[` is JSON Logic written as JSON, and one
    starting with `json:` any JSON value (how the exporter writes a value
    such as `null` that no expression can say).
    """
    if isinstance(text, bool | int | float):
        return text
    text = str(text).strip()
    raw = text.removeprefix(JSON_PREFIX) if text.startswith(JSON_PREFIX) else None
    if raw is not None or text.startswith(("{", "[")):
        try:
            return json.loads(text if raw is None else raw)
        except (json.JSONDecodeError, RecursionError) as error:
            raise _syntax(text, "json", error=str(error)) from None
    return _Parser(text, context).parse()


# ---------------------------------------------------------------- back to XLSForm


class _CannotWrite(Exception):
    pass


def _write(rule: Any, context: Context) -> tuple[str, int]:
    """(expression text, precedence) of a rule, or _CannotWrite."""
    if isinstance(rule, bool):
        return ("true()" if rule else "false()"), _ATOM_PREC
    if isinstance(rule, int | float):
        text = repr(rule) if isinstance(rule, float) else str(rule)
        return text, (_UNARY_PREC if rule < 0 else _ATOM_PREC)
    if isinstance(rule, str):
        if "'" not in rule:
            return f"'{rule}'", _ATOM_PREC
        if '"' not in rule:
            return f'"{rule}"', _ATOM_PREC
        raise _CannotWrite
    if not (isinstance(rule, dict) and len(rule) == 1):
        raise _CannotWrite
    ((op, args),) = rule.items()
    if op == "var" and isinstance(args, str):
        if args.startswith("_choice.") and context.key == "choice_filter":
            column = args.removeprefix("_choice.")
            return ("name" if column == "value" else column), _ATOM_PREC
        if args == context.own and context.key == "constraint":
            return ".", _ATOM_PREC
        return f"${{{args}}}", _ATOM_PREC
    if not isinstance(args, list):
        raise _CannotWrite
    if op in ("!!", "!") and len(args) == 1 and isinstance(args[0], dict) and set(args[0]) == {
        "missing"
    } and isinstance(args[0]["missing"], str):
        compare = "=" if op == "!!" else "!="
        return f"${{{args[0]['missing']}}} {compare} ''", 3
    if op in _XPATH_OF and len(args) >= 2:
        xpath, prec, nary = _XPATH_OF[op]
        if not nary and len(args) != 2:
            raise _CannotWrite
        parts = [_wrap(arg, prec, context) for arg in args]
        return f" {xpath} ".join(parts), prec
    if op == "-" and len(args) == 1:
        return "-" + _wrap(args[0], _UNARY_PREC, context), _UNARY_PREC
    if op == "in" and len(args) == 2:
        return f"selected({_write(args[1], context)[0]}, {_write(args[0], context)[0]})", _ATOM_PREC
    if op == "reduce" and len(args) == 3 and _is_var(args[0]):
        target = args[1].get("+", [None, {}])[1] if isinstance(args[1], dict) else {}
        name = str(target.get("var", "")).removeprefix("current.") if isinstance(
            target, dict) else ""
        if context.repeat_of.get(name) == args[0]["var"]:
            return f"sum(${{{name}}})", _ATOM_PREC
    if op == "count" and len(args) == 1:
        target = args[0]
        kind = context.types.get(target["var"]) if _is_var(target) else None
        name = "count-selected" if kind == "select_multiple" else "count"
        return f"{name}({_write(target, context)[0]})", _ATOM_PREC
    if op in _FUNCTION_OF:
        inner = ", ".join(_write(arg, context)[0] for arg in args)
        return f"{_FUNCTION_OF[op]}({inner})", _ATOM_PREC
    raise _CannotWrite


def _wrap(rule: Any, parent: int, context: Context) -> str:
    text, prec = _write(rule, context)
    return f"({text})" if prec <= parent else text


def to_xlsform(rule: Any, context: Context) -> str | bool | int | float:
    """A rule as XLSForm would write it, or as JSON text when no expression reads back exactly."""
    try:
        text, _ = _write(rule, context)
        if same_json(to_logic(text, context), rule):
            return text
    except (_CannotWrite, ExpressionError, RecursionError):
        pass
    written = json.dumps(rule, ensure_ascii=False)
    return written if isinstance(rule, dict | list) else JSON_PREFIX + written
