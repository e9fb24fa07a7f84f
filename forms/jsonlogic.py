"""JSON Logic evaluation on the server, giving the same answers as json-logic-js on the phone.

The form rules (relevant, required, constraint, calculation, choice_filter) are
JSON Logic, and the phone evaluates them with json-logic-js 2.0.5. The JSON
Logic packages on PyPI are unmaintained and each departs from json-logic-js
somewhere (loose equality, string arithmetic, `substr`, `missing`), so this
module is a small evaluator of our own that copies json-logic-js's semantics,
JavaScript coercions included (`"1" == 1`, `{"+": ["3", null]}` is NaN, string
comparison by UTF-16 code units). A vector test runs the official JsonLogic
cases plus ours through this module and through json-logic-js with
`forms/rules.js`, and fails on any disagreement.

Beyond json-logic-js it adds the custom operators the forms need (see
`CUSTOM_OPERATORS`; `forms/rules.js` registers the same on the phone) and
guards against hostile rules: nesting deeper than `MAX_DEPTH` and more than
`MAX_STEPS` units of work are refused with a `RuleError`. Dotted method-call
operators (`Math.abs`) are not supported; `log` is evaluated (silently) but
forms may not use it; `check_rule` reports unknown operators before a form is
published.

`apply` and `evaluate` interpret a rule; `compile_rule` turns it once into
closures giving the same results, for rules run on many surveys (validation
compiles each form version's rules once).

Known difference, on purpose: a `var` path segment naming a JavaScript
prototype member (`constructor`, `toString`, ...) finds nothing here, while
json-logic-js would return a function. Form field names may not be such words
(see forms/definition.py), so no form can reach that difference.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import phonenumbers
from stdnum.vn import mst

from forms import regex
from messages import say

MAX_DEPTH = 64
MAX_STEPS = 200_000
MAX_RULE_NODES = 20_000


class _Undefined:
    """JavaScript's `undefined`: an argument that was not given."""

    _instance = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()
NAN = float("nan")
INF = float("inf")


class RuleError(ValueError):
    """A rule that cannot be evaluated: unknown operator, too deep, too much work."""

    def __init__(self, code: str, message: str | None = None, **params: Any) -> None:
        """`code` is the stable code; `message` the catalogue's `forms.rule.<message>`
        when one code has several sentences (default: the code's own)."""
        self.vi, self.en = say(f"forms.rule.{message or code}", **params)
        super().__init__(self.en)
        self.code = code


# ---------------------------------------------------------------- JS coercions

_JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_STRICT_NUMBER = re.compile(_DECIMAL + r"\Z", re.ASCII)
_NUMBER_PREFIX = re.compile(_DECIMAL, re.ASCII)
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)\Z", re.ASCII)
_RADIX_BASE = {"x": 16, "o": 8, "b": 2}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def js_type(value: Any) -> str:
    """The JavaScript type of a JSON value: undefined, null, boolean, number, string, object."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def _string_to_number(text: str) -> float:
    text = text.strip(_JS_SPACE)
    if text == "":
        return 0
    if _STRICT_NUMBER.match(text):
        return float(text)
    radix = _RADIX.match(text)
    if radix:
        try:
            return int(radix.group(2), _RADIX_BASE[radix.group(1).lower()])
        except ValueError:
            return NAN
    return NAN


def to_number(value: Any) -> float:
    """ECMAScript ToNumber."""
    if value is UNDEFINED:
        return NAN
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return _string_to_number(value)
    if isinstance(value, list):
        return _string_to_number(to_string(value))
    return NAN


def parse_float(value: Any) -> float:
    """JavaScript's global parseFloat (the `+` and `*` operators use it)."""
    if _is_number(value):
        return value
    text = to_string(value).lstrip(_JS_SPACE)
    match = _NUMBER_PREFIX.match(text)
    return float(match.group(0)) if match else NAN


def number_to_string(number: float) -> str:
    """ECMAScript Number::toString: 1.0 -> "1", 1e21 -> "1e+21", 1e-7 -> "1e-7"."""
    if isinstance(number, int):
        number = float(number) if abs(number) >= 2**53 else number
        if isinstance(number, int):
            return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    # repr gives the shortest digits that round-trip, as JavaScript does.
    _, digit_tuple, exponent = Decimal(repr(abs(number))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    exp = point - 1
    exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
    if k == 1:
        return sign + digits + "e" + exp_text
    return sign + digits[0] + "." + digits[1:] + "e" + exp_text


def to_string(value: Any) -> str:
    """ECMAScript ToString, arrays joined by commas as Array.prototype.join does."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_join_item(item) for item in value)
    return "[object Object]"


def _join_item(value: Any) -> str:
    return "" if value is None or value is UNDEFINED else to_string(value)


def _to_primitive(value: Any) -> Any:
    if isinstance(value, list):
        return to_string(value)
    if isinstance(value, dict):
        return "[object Object]"
    return value


def truthy(value: Any) -> bool:
    """JsonLogic truthiness: JavaScript's, except that an empty array is false."""
    if value is UNDEFINED or value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, (int, float)):
        return value == value and value != 0
    if isinstance(value, (str, list)):
        return len(value) > 0
    return True


# Python types whose values compare in Python as in JavaScript when both sides have the same.
_PRIMITIVE_TYPES = frozenset({str, int, float, bool, type(None)})
_NUMBER_TYPES = frozenset({int, float})


def strict_equals(a: Any, b: Any) -> bool:
    """JavaScript ===."""
    if type(a) is type(b) and type(a) in _PRIMITIVE_TYPES:
        return a == b
    kind = js_type(a)
    if kind != js_type(b):
        return False
    if kind == "object":
        return a is b
    return a == b


def loose_equals(a: Any, b: Any) -> bool:
    """JavaScript == (the Abstract Equality Comparison)."""
    if type(a) is type(b) and type(a) in _PRIMITIVE_TYPES:
        return a == b
    ka, kb = js_type(a), js_type(b)
    if ka == kb:
        return strict_equals(a, b)
    nullish = ("null", "undefined")
    if ka in nullish or kb in nullish:
        return ka in nullish and kb in nullish
    if ka == "boolean":
        return loose_equals(to_number(a), b)
    if kb == "boolean":
        return loose_equals(a, to_number(b))
    if ka == "number" and kb == "string":
        return a == to_number(b)
    if ka == "string" and kb == "number":
        return to_number(a) == b
    if ka == "object":
        return loose_equals(_to_primitive(a), b)
    if kb == "object":
        return loose_equals(a, _to_primitive(b))
    return False


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _less(a: Any, b: Any, or_equal: bool) -> bool:
    """JavaScript a < b (or a <= b): strings by UTF-16 code units, else as numbers."""
    if type(a) in _NUMBER_TYPES and type(b) in _NUMBER_TYPES:
        return a <= b if or_equal else a < b  # False with NaN, as in JavaScript
    pa, pb = _to_primitive(a), _to_primitive(b)
    if isinstance(pa, str) and isinstance(pb, str):
        ua, ub = _utf16(pa), _utf16(pb)
        return ua <= ub if or_equal else ua < ub
    na, nb = to_number(pa), to_number(pb)
    if na != na or nb != nb:
        return False
    return na <= nb if or_equal else na < nb


def _tidy(number: float) -> float:
    """Return integral results as int so that calculations store 3, not 3.0."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        if number == 0 and math.copysign(1, number) < 0:
            return number
        return int(number)
    return number


def _js_plus(a: Any, b: Any) -> Any:
    pa, pb = _to_primitive(a), _to_primitive(b)
    if isinstance(pa, str) or isinstance(pb, str):
        return to_string(pa) + to_string(pb)
    return _tidy(to_number(pa) + to_number(pb))


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return NAN
        return math.copysign(INF, a) * math.copysign(1, b)
    return a / b


def _remainder(a: float, b: float) -> float:
    if a != a or b != b or math.isinf(a) or b == 0:
        return NAN
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def _to_integer(value: Any) -> float:
    number = to_number(value)
    if number != number:
        return 0
    if math.isinf(number):
        return number
    return math.trunc(number)


def _utf16_len(text: str) -> int:
    return len(_utf16(text)) // 2


def _utf16_slice(text: str, start: int, end: int) -> str:
    return _utf16(text)[2 * start : 2 * end].decode("utf-16-be", "surrogatepass")


def _substr(text: str, start: Any, length: Any) -> str:
    """String.prototype.substr."""
    size = _utf16_len(text)
    first = _to_integer(start)
    if first < 0:
        first = max(size + first, 0)
    first = min(first, size)
    count = size if length is UNDEFINED else _to_integer(length)
    last = min(max(first + count, first), size)
    if last <= first:
        return ""
    return _utf16_slice(text, int(first), int(last))


def _index_key(key: str) -> int | None:
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
        return int(key)
    return None


def _property(container: Any, key: str) -> Any:
    """container[key] the way JavaScript reads it, prototype members excepted."""
    if isinstance(container, dict):
        return container.get(key, UNDEFINED)
    if isinstance(container, list):
        if key == "length":
            return len(container)
        index = _index_key(key)
        return container[index] if index is not None and index < len(container) else UNDEFINED
    if isinstance(container, str):
        if key == "length":
            return _utf16_len(container)
        index = _index_key(key)
        if index is not None and index < _utf16_len(container):
            return _utf16_slice(container, index, index + 1)
    return UNDEFINED


def read_var(data: Any, path: Any, default: Any = UNDEFINED) -> Any:
    """The `var` operator."""
    if path is UNDEFINED or path is None or path == "":
        return data
    return _read_keys(data, to_string(path).split("."), None if default is UNDEFINED else default)


def _read_keys(data: Any, keys: list[str], not_found: Any) -> Any:
    for key in keys:
        if data is None or data is UNDEFINED:
            return not_found
        data = _property(data, key)
        if data is UNDEFINED:
            return not_found
    return data


# ---------------------------------------------------------------- custom operators

VN_TZ = _dt.timezone(_dt.timedelta(hours=7))
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?\Z", re.ASCII | re.DOTALL)
TAX_CODE = re.compile(r"\d{10}(-\d{3})?\Z", re.ASCII)
_MOBILE_INPUT = re.compile(r"(?:\+84|0)(\d{9})\Z", re.ASCII)
_MOBILE_SEPARATORS = str.maketrans("", "", " .-")


def parse_date(value: Any) -> _dt.date | None:
    """A YYYY-MM-DD date, or the date part of an ISO datetime; None when not a real date."""
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    if not match:
        return None
    try:
        return _dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _today() -> str:
    return _dt.datetime.now(VN_TZ).date().isoformat()


def _days_between(a: Any, b: Any) -> int | None:
    start, end = parse_date(a), parse_date(b)
    if start is None or end is None:
        return None
    return (end - start).days


def _years_between(a: Any, b: Any) -> int | None:
    start, end = parse_date(a), parse_date(b)
    if start is None or end is None:
        return None
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return years


def _count(value: Any = UNDEFINED) -> int:
    return len(value) if isinstance(value, list) else 0


def is_vn_tax_code(value: Any) -> bool:
    """Vietnamese tax code (mã số thuế): `^\\d{10}(-\\d{3})?$` with a valid check digit."""
    return isinstance(value, str) and bool(TAX_CODE.match(value)) and mst.is_valid(value)


def is_vn_mobile(value: Any) -> bool:
    """A Vietnamese mobile number, 0xxxxxxxxx or +84xxxxxxxxx (spaces, dots, dashes allowed)."""
    if not isinstance(value, str):
        return False
    match = _MOBILE_INPUT.match(value.translate(_MOBILE_SEPARATORS))
    if not match:
        return False
    number = phonenumbers.parse("+84" + match.group(1))
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def matches(value: Any, pattern: Any) -> bool:
    """`regex`: does the text (or number, as JavaScript writes it) match the pattern
    anywhere (forms/regex.py)? A pattern outside the portable subset is an error."""
    why = regex.problem(pattern)
    if why is not None:
        raise RuleError("bad_regex", reason={"vi": why[0], "en": why[1]})
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    text = value if isinstance(value, str) else number_to_string(value)
    return regex.compiled(pattern).search(text) is not None


CUSTOM_OPERATORS: dict[str, Callable[..., Any]] = {
    "today": lambda *_: _today(),
    "days_between": lambda a=UNDEFINED, b=UNDEFINED, *_: _days_between(a, b),
    "years_between": lambda a=UNDEFINED, b=UNDEFINED, *_: _years_between(a, b),
    "count": lambda a=UNDEFINED, *_: _count(a),
    "vn_tax_code": lambda a=UNDEFINED, *_: is_vn_tax_code(a),
    "vn_mobile": lambda a=UNDEFINED, *_: is_vn_mobile(a),
    "regex": lambda a=UNDEFINED, b=UNDEFINED, *_: matches(a, b),
}


# ---------------------------------------------------------------- standard operators


def _arg(args: list, index: int) -> Any:
    return args[index] if index < len(args) else UNDEFINED


def _op_lt(a: Any = UNDEFINED, b: Any = UNDEFINED, c: Any = UNDEFINED, *_: Any) -> bool:
    if c is UNDEFINED:
        return _less(a, b, False)
    return _less(a, b, False) and _less(b, c, False)


def _op_le(a: Any = UNDEFINED, b: Any = UNDEFINED, c: Any = UNDEFINED, *_: Any) -> bool:
    if c is UNDEFINED:
        return _less(a, b, True)
    return _less(a, b, True) and _less(b, c, True)


def _op_in(a: Any = UNDEFINED, b: Any = UNDEFINED, *_: Any) -> bool:
    if not truthy(b) and not isinstance(b, list):
        return False
    if isinstance(b, str):
        return to_string(a) in b
    if isinstance(b, list):
        return any(strict_equals(a, item) for item in b)
    return False


def _op_substr(source: Any = UNDEFINED, start: Any = UNDEFINED, end: Any = UNDEFINED, *_) -> str:
    text = to_string(source)
    if _less(end, 0, False):
        rest = _substr(text, start, UNDEFINED)
        return _substr(rest, 0, _js_plus(_utf16_len(rest), end))
    return _substr(text, start, end)


def _op_plus(*args: Any) -> float:
    total: float = 0
    for item in args:
        total = total + parse_float(item)
    return _tidy(total)


def _op_times(*args: Any) -> Any:
    if not args:
        raise RuleError("rule_runtime", "rule_runtime_no_factors")
    product = args[0]
    for item in args[1:]:
        product = parse_float(product) * parse_float(item)
    return _tidy(product) if len(args) > 1 else product


def _op_minus(a: Any = UNDEFINED, b: Any = UNDEFINED, *_: Any) -> float:
    if b is UNDEFINED:
        return _tidy(-to_number(a))
    return _tidy(to_number(a) - to_number(b))


def _extreme(args: tuple, pick: Callable[..., float], empty: float) -> float:
    numbers = [to_number(item) for item in args]
    if any(number != number for number in numbers):
        return NAN
    return pick(numbers) if numbers else empty


def _op_merge(*args: Any) -> list:
    merged: list = []
    for item in args:
        if isinstance(item, list):
            merged.extend(item)
        else:
            merged.append(item)
    return merged


STANDARD_OPERATORS: dict[str, Callable[..., Any]] = {
    "==": lambda a=UNDEFINED, b=UNDEFINED, *_: loose_equals(a, b),
    "===": lambda a=UNDEFINED, b=UNDEFINED, *_: strict_equals(a, b),
    "!=": lambda a=UNDEFINED, b=UNDEFINED, *_: not loose_equals(a, b),
    "!==": lambda a=UNDEFINED, b=UNDEFINED, *_: not strict_equals(a, b),
    ">": lambda a=UNDEFINED, b=UNDEFINED, *_: _less(b, a, False),
    ">=": lambda a=UNDEFINED, b=UNDEFINED, *_: _less(b, a, True),
    "<": _op_lt,
    "<=": _op_le,
    "!!": lambda a=UNDEFINED, *_: truthy(a),
    "!": lambda a=UNDEFINED, *_: not truthy(a),
    "%": lambda a=UNDEFINED, b=UNDEFINED, *_: _tidy(_remainder(to_number(a), to_number(b))),
    "in": _op_in,
    "cat": lambda *args: "".join(_join_item(item) for item in args),
    "substr": _op_substr,
    "+": _op_plus,
    "*": _op_times,
    "-": _op_minus,
    "/": lambda a=UNDEFINED, b=UNDEFINED, *_: _tidy(_divide(to_number(a), to_number(b))),
    "min": lambda *args: _tidy(_extreme(args, min, INF)),
    "max": lambda *args: _tidy(_extreme(args, max, -INF)),
    "merge": _op_merge,
    # json-logic-js prints the value to the console; the server stays quiet.
    "log": lambda a=UNDEFINED, *_: a,
}

# Operators whose arguments are evaluated lazily or against other data.
CONTROL_OPERATORS = frozenset(
    {"if", "?:", "and", "or", "filter", "map", "reduce", "all", "none", "some"}
)
DATA_OPERATORS = frozenset({"var", "missing", "missing_some"})
KNOWN_OPERATORS = frozenset(
    set(STANDARD_OPERATORS) | set(CUSTOM_OPERATORS) | CONTROL_OPERATORS | DATA_OPERATORS
)
# What a form may use: everything but `log`, which would print on the phone.
FORM_OPERATORS = KNOWN_OPERATORS - {"log"}


# ---------------------------------------------------------------- evaluation


def is_logic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1


class _Evaluation:
    """One evaluation of one rule, counting its work."""

    __slots__ = ("steps", "max_steps")

    def __init__(self, max_steps: int) -> None:
        self.steps = 0
        self.max_steps = max_steps

    def charge(self, units: int = 1) -> None:
        self.steps += units
        if self.steps > self.max_steps:
            raise RuleError("rule_too_costly", max=self.max_steps)

    def run(self, rule: Any, data: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise too_deep()
        self.steps += 1
        if self.steps > self.max_steps:
            self.charge(0)
        if isinstance(rule, list):
            return [self.run(item, data, depth + 1) for item in rule]
        if not is_logic(rule):
            return rule
        ((op, values),) = rule.items()
        if not isinstance(values, list):
            values = [values]
        deeper = depth + 1
        if op in CONTROL_OPERATORS:
            return self.control(op, values, data, deeper)
        args = [self.run(value, data, deeper) for value in values]
        if op == "var":
            return read_var(data, _arg(args, 0), _arg(args, 1))
        if op == "missing":
            return self.missing(args, data, deeper)
        if op == "missing_some":
            return self.missing_some(args, data, deeper)
        function = STANDARD_OPERATORS.get(op) or CUSTOM_OPERATORS.get(op)
        if function is None:
            raise unknown_operator(op)
        result = function(*args)
        if isinstance(result, (str, list)):
            self.charge(len(result) // 64)
        return result

    def missing(self, args: list, data: Any, depth: int) -> list:
        # json-logic-js re-applies {"var": key} for each key, so a key that is
        # a list becomes var's arguments and a key that looks like logic runs.
        keys = args[0] if args and isinstance(args[0], list) else args
        return [
            key for key in keys if self.run({"var": key}, data, depth) in (None, "")
        ]

    def missing_some(self, args: list, data: Any, depth: int) -> list:
        need, options = _arg(args, 0), _arg(args, 1)
        are_missing = self.run({"missing": options}, data, depth)
        if options is None or options is UNDEFINED:
            raise RuleError("rule_runtime", "missing_some_names")
        present = to_number(_property(options, "length")) - len(are_missing)
        return [] if _less(need, present, True) else are_missing

    def control(self, op: str, values: list, data: Any, depth: int) -> Any:
        if op in ("if", "?:"):
            index = 0
            while index < len(values) - 1:
                if truthy(self.run(values[index], data, depth)):
                    return self.run(values[index + 1], data, depth)
                index += 2
            return self.run(values[index], data, depth) if len(values) == index + 1 else None
        if op in ("and", "or"):
            current: Any = UNDEFINED
            for value in values:
                current = self.run(value, data, depth)
                if truthy(current) == (op == "or"):
                    return current
            return current
        scoped = self.run(_arg(values, 0), data, depth)
        logic = _arg(values, 1)
        if op == "reduce":
            initial = self.run(values[2], data, depth) if len(values) > 2 else None
            if not isinstance(scoped, list):
                return initial
            accumulator = initial
            for item in scoped:
                accumulator = self.run(
                    logic, {"current": item, "accumulator": accumulator}, depth
                )
            return accumulator
        if not isinstance(scoped, list):
            return True if op == "none" else ([] if op in ("filter", "map") else False)
        return self.iterate(op, scoped, logic, depth)

    def iterate(self, op: str, items: list, logic: Any, depth: int) -> Any:
        results: Iterator[Any] = (self.run(logic, item, depth) for item in items)
        if op == "map":
            return list(results)
        if op == "filter":
            return [item for item, keep in zip(items, results, strict=False) if truthy(keep)]
        if not items:
            return op == "none"
        if op == "all":
            return all(truthy(result) for result in results)
        if op == "some":
            return any(truthy(result) for result in results)
        return not any(truthy(result) for result in results)


def too_deep() -> RuleError:
    return RuleError("rule_too_deep", max=MAX_DEPTH)


def unknown_operator(op: str) -> RuleError:
    return RuleError("unknown_operator", op=repr(op))


def evaluate(rule: Any, data: Any = None, max_steps: int = MAX_STEPS) -> Any:
    """Evaluate like json-logic-js, returning JavaScript `undefined` as `UNDEFINED`."""
    try:
        return _Evaluation(max_steps).run(rule, data)
    except RuleError:
        raise
    except (OverflowError, ValueError):
        raise _number_too_large() from None


def apply(rule: Any, data: Any = None) -> Any:
    """Evaluate a JSON Logic rule against data, with the same result as json-logic-js.

    NaN and infinities come back as Python floats; `undefined` (only from
    degenerate rules such as `{"and": []}`) comes back as None.
    Raises RuleError for unknown operators, too deep or too costly rules.
    """
    result = evaluate(rule, data)
    return None if result is UNDEFINED else result


def _number_too_large() -> RuleError:
    """An integer beyond a float's range (JSON sets no limit; json-logic-js reads it as
    Infinity) met arithmetic or printing: Python raised OverflowError or ValueError."""
    return RuleError("number_too_large")


# ---------------------------------------------------------------- compilation
#
# Validation runs a form's rules for every survey, so `compile_rule` turns a
# rule once into nested closures that run without dispatching on its dicts.
# A compiled rule gives exactly what `evaluate` gives, errors included: each
# closure charges the steps `_Evaluation.run` would charge, in one addition
# where nothing in between could fail (a constant subtree, or the steps owed
# by a parent whose first argument is about to run), and the depth limit,
# known while compiling, is raised only when evaluation reaches the node.

_Getter = Callable[[Any, _Evaluation], Any]


class _Constant:
    """A subtree without logic, within MAX_DEPTH: what it gives and the steps it costs."""

    __slots__ = ("size", "value", "make")

    def __init__(self, size: int, value: Any, make: Callable[[], list] | None = None) -> None:
        self.size = size
        self.value = value
        self.make = make  # for a list: builds a new one each time, as run does


# A compiled subtree: a constant, or a function giving its getter once the steps
# owed before its own are known (its parent's, its constant siblings').
_Plan = _Constant | Callable[[int], _Getter]


class _TooLarge(Exception):
    """More nodes than a form's rule may have: the rule is left to the interpreter."""


class CompiledRule:
    """A rule compiled once, evaluated for many data; same results as `evaluate`/`apply`."""

    __slots__ = ("rule", "_run")

    def __init__(self, rule: Any, run: _Getter) -> None:
        self.rule = rule  # keeps it alive too, so callers can key compiled rules by id(rule)
        self._run = run

    def evaluate(self, data: Any = None, max_steps: int = MAX_STEPS) -> Any:
        try:
            return self._run(data, _Evaluation(max_steps))
        except RuleError:
            raise
        except (OverflowError, ValueError):
            raise _number_too_large() from None

    def apply(self, data: Any = None) -> Any:
        try:
            result = self._run(data, _Evaluation(MAX_STEPS))
        except RuleError:
            raise
        except (OverflowError, ValueError):
            raise _number_too_large() from None
        return None if result is UNDEFINED else result


def compile_rule(rule: Any) -> CompiledRule:
    """Compile a rule for repeated evaluation; costs a few interpreted evaluations.

    Never recurses below MAX_DEPTH + 1, and leaves a rule of more than
    MAX_RULE_NODES nodes (check_rule refuses those in forms) to the interpreter.
    """
    try:
        run = _getter(_Compiler().plan(rule, 0), 0)
    except _TooLarge:
        def run(data: Any, ev: _Evaluation) -> Any:
            return ev.run(rule, data)
        return CompiledRule(rule, run)
    return CompiledRule(rule, run)


class _Compiler:
    def __init__(self) -> None:
        self.budget = MAX_RULE_NODES

    def plan(self, node: Any, depth: int) -> _Plan:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        if depth > MAX_DEPTH:
            return _too_deep_node
        if isinstance(node, list):
            plans = [self.plan(item, depth + 1) for item in node]
            if all(isinstance(plan, _Constant) for plan in plans):
                return _Constant(1 + sum(plan.size for plan in plans), None, _list_maker(plans))
            return _with_args(plans, lambda args, data, ev: args)
        if not is_logic(node):
            return _Constant(1, node)
        ((op, values),) = node.items()
        if not isinstance(values, list):
            values = [values]
        deeper = depth + 1
        plans = [self.plan(value, deeper) for value in values]
        if op in ("if", "?:"):
            return _plan_if(plans)
        if op in ("and", "or"):
            return _plan_and_or(op, plans)
        if op in CONTROL_OPERATORS:
            while len(plans) < 2:  # the data and the logic, undefined when not given
                plans.append(self.plan(UNDEFINED, deeper))
            return _plan_iteration(op, plans)
        if op == "var":
            return _plan_var(plans)
        if op == "missing":
            return _with_args(plans, lambda args, data, ev: ev.missing(args, data, deeper))
        if op == "missing_some":
            return _with_args(plans, lambda args, data, ev: ev.missing_some(args, data, deeper))
        function = STANDARD_OPERATORS.get(op) or CUSTOM_OPERATORS.get(op)
        if function is None:
            return _with_args(plans, lambda args, data, ev: _raise(unknown_operator(op)))
        return _plan_call(function, plans)


def _raise(error: RuleError) -> Any:
    raise error


def _too_deep_node(owed: int) -> _Getter:
    def too_deep_node(data: Any, ev: _Evaluation) -> Any:
        ev.steps += owed
        if ev.steps > ev.max_steps:
            ev.charge(0)
        raise too_deep()
    return too_deep_node


def _list_maker(items: list[_Constant]) -> Callable[[], list]:
    if all(item.make is None for item in items):
        values = tuple(item.value for item in items)
        return lambda: list(values)
    parts = tuple((item.value, item.make) for item in items)
    return lambda: [value if make is None else make() for value, make in parts]


def _getter(plan: _Plan, owed: int) -> _Getter:
    """The getter of a subtree that also charges `owed` steps first."""
    if not isinstance(plan, _Constant):
        return plan(owed)
    cost, value, make = owed + plan.size, plan.value, plan.make

    def constant(data: Any, ev: _Evaluation) -> Any:
        ev.steps += cost
        if ev.steps > ev.max_steps:
            ev.charge(0)
        return value if make is None else make()
    return constant


def _arguments(plans: list[_Plan], owed: int) -> tuple[list[_Getter | _Constant], int]:
    """Arguments to run in order, and the steps still owed after the last.

    A constant argument stays a _Constant whose steps the next getter charges
    (or the caller, after the last): getting its value charges nothing.
    """
    items: list[_Getter | _Constant] = []
    for plan in plans:
        if isinstance(plan, _Constant):
            owed += plan.size
            items.append(plan)
        else:
            items.append(plan(owed))
            owed = 0
    return items, owed


def _uncharged(item: _Getter | _Constant) -> _Getter:
    if not isinstance(item, _Constant):
        return item
    value, make = item.value, item.make
    if make is None:
        return lambda data, ev: value
    return lambda data, ev: make()


def _with_args(
    plans: list[_Plan], finish: Callable[[list, Any, _Evaluation], Any]
) -> Callable[[int], _Getter]:
    """A node that evaluates all its arguments, then `finish(args, data, ev)`."""

    def emit(owed: int) -> _Getter:
        items, tail = _arguments(plans, owed + 1)
        getters = [_uncharged(item) for item in items]

        def node(data: Any, ev: _Evaluation) -> Any:
            args = [getter(data, ev) for getter in getters]
            ev.steps += tail
            if ev.steps > ev.max_steps:
                ev.charge(0)
            return finish(args, data, ev)
        return node
    return emit


def _plan_call(function: Callable[..., Any], plans: list[_Plan]) -> Callable[[int], _Getter]:
    """A standard or custom operator, then the charge for a long string or list result.

    The shape most common in forms, a computed value against a literal
    (`{"==": [{"var": "x"}, "yes"]}`), gets a closure without an argument list.
    """

    def emit(owed: int) -> _Getter:
        items, tail = _arguments(plans, owed + 1)
        if (len(items) == 2 and not isinstance(items[0], _Constant)
                and isinstance(items[1], _Constant) and items[1].make is None):
            computed, literal = items[0], items[1].value

            def call_with_literal(data: Any, ev: _Evaluation) -> Any:
                a = computed(data, ev)
                ev.steps += tail
                if ev.steps > ev.max_steps:
                    ev.charge(0)
                result = function(a, literal)
                if isinstance(result, (str, list)):
                    ev.charge(len(result) // 64)
                return result
            return call_with_literal
        getters = [_uncharged(item) for item in items]

        def call(data: Any, ev: _Evaluation) -> Any:
            args = [getter(data, ev) for getter in getters]
            if tail:
                ev.steps += tail
                if ev.steps > ev.max_steps:
                    ev.charge(0)
            result = function(*args)
            if isinstance(result, (str, list)):
                ev.charge(len(result) // 64)
            return result
        return call
    return emit


def _plan_var(plans: list[_Plan]) -> Callable[[int], _Getter]:
    """`var`; a literal path (and default) is split once rather than for every read."""
    literals = [plan for plan in plans if isinstance(plan, _Constant) and plan.make is None]
    if not 1 <= len(plans) <= 2 or len(literals) < len(plans) or not isinstance(
        literals[0].value, str
    ):
        return _with_args(
            plans, lambda args, data, ev: read_var(data, _arg(args, 0), _arg(args, 1))
        )
    path = literals[0].value
    not_found = literals[1].value if len(literals) == 2 else None
    if not_found is UNDEFINED:
        not_found = None
    keys = path.split(".")
    size = sum(plan.size for plan in literals)

    def emit(owed: int) -> _Getter:
        cost = owed + 1 + size
        if path == "":
            def var_data(data: Any, ev: _Evaluation) -> Any:
                ev.steps += cost
                if ev.steps > ev.max_steps:
                    ev.charge(0)
                return data
            return var_data
        if len(keys) > 1:
            def var_path(data: Any, ev: _Evaluation) -> Any:
                ev.steps += cost
                if ev.steps > ev.max_steps:
                    ev.charge(0)
                return _read_keys(data, keys, not_found)
            return var_path

        def var_name(data: Any, ev: _Evaluation) -> Any:
            ev.steps += cost
            if ev.steps > ev.max_steps:
                ev.charge(0)
            if isinstance(data, dict):
                value = data.get(path, UNDEFINED)
                return not_found if value is UNDEFINED else value
            return _read_keys(data, keys, not_found)
        return var_name
    return emit


def _plan_if(plans: list[_Plan]) -> Callable[[int], _Getter]:
    def emit(owed: int) -> _Getter:
        if not plans:
            return _getter(_Constant(0, None), owed + 1)
        getters = [_getter(plans[0], owed + 1)] + [_getter(plan, 0) for plan in plans[1:]]
        if len(getters) == 3:
            condition, then, otherwise = getters

            def if_else(data: Any, ev: _Evaluation) -> Any:
                if truthy(condition(data, ev)):
                    return then(data, ev)
                return otherwise(data, ev)
            return if_else
        pairs = [(getters[i], getters[i + 1]) for i in range(0, len(getters) - 1, 2)]
        last = getters[-1] if len(getters) % 2 else None

        def if_chain(data: Any, ev: _Evaluation) -> Any:
            for condition, then in pairs:
                if truthy(condition(data, ev)):
                    return then(data, ev)
            return None if last is None else last(data, ev)
        return if_chain
    return emit


def _plan_and_or(op: str, plans: list[_Plan]) -> Callable[[int], _Getter]:
    stop_when = op == "or"

    def emit(owed: int) -> _Getter:
        if not plans:
            return _getter(_Constant(0, UNDEFINED), owed + 1)
        getters = [_getter(plans[0], owed + 1)] + [_getter(plan, 0) for plan in plans[1:]]

        def and_or(data: Any, ev: _Evaluation) -> Any:
            for getter in getters:
                current = getter(data, ev)
                if truthy(current) is stop_when:
                    return current
            return current
        return and_or
    return emit


def _plan_iteration(op: str, plans: list[_Plan]) -> Callable[[int], _Getter]:
    """filter, map, reduce, all, some, none: the logic runs on each item of the data."""

    def emit(owed: int) -> _Getter:
        scoped, logic = _getter(plans[0], owed + 1), _getter(plans[1], 0)
        if op == "reduce":
            initial = _getter(plans[2], 0) if len(plans) > 2 else None

            def reduce(data: Any, ev: _Evaluation) -> Any:
                items = scoped(data, ev)
                accumulator = None if initial is None else initial(data, ev)
                if not isinstance(items, list):
                    return accumulator
                for item in items:
                    accumulator = logic({"current": item, "accumulator": accumulator}, ev)
                return accumulator
            return reduce
        if op == "map":
            def map_(data: Any, ev: _Evaluation) -> Any:
                items = scoped(data, ev)
                return [logic(item, ev) for item in items] if isinstance(items, list) else []
            return map_
        if op == "filter":
            def filter_(data: Any, ev: _Evaluation) -> Any:
                items = scoped(data, ev)
                if not isinstance(items, list):
                    return []
                return [item for item in items if truthy(logic(item, ev))]
            return filter_
        empty, combine = _QUANTIFIERS[op]

        def quantifier(data: Any, ev: _Evaluation) -> Any:
            items = scoped(data, ev)
            if not isinstance(items, list) or not items:
                return empty
            return combine(truthy(logic(item, ev)) for item in items)
        return quantifier
    return emit


# all, some, none: the result for data that is no list or an empty one, and how the
# items' verdicts combine (lazily, so evaluation stops where the interpreter's does).
_QUANTIFIERS: dict[str, tuple[bool, Callable[[Iterator[bool]], bool]]] = {
    "all": (False, all),
    "some": (False, any),
    "none": (True, lambda verdicts: not any(verdicts)),
}


# ---------------------------------------------------------------- static checks


def check_rule(rule: Any) -> list[tuple[str, str, str, str]]:
    """Problems of a rule before it is ever run: (json path suffix, code, vi, en).

    Reports unknown operators and nesting deeper than MAX_DEPTH, without
    recursing further than that, so a hostile rule cannot exhaust the stack.
    """
    problems: list[tuple[str, str, str, str]] = []
    stack: list[tuple[Any, str, int]] = [(rule, "", 0)]
    visited = 0
    while stack:
        node, path, depth = stack.pop()
        visited += 1
        if visited > MAX_RULE_NODES:
            error = RuleError("rule_too_large", max=MAX_RULE_NODES)
            problems.append(("", error.code, error.vi, error.en))
            break
        if depth > MAX_DEPTH:
            error = too_deep()
            problems.append((path, error.code, error.vi, error.en))
            break
        if isinstance(node, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node))
        elif is_logic(node):
            ((op, values),) = node.items()
            if op not in FORM_OPERATORS:
                error = unknown_operator(op)
                problems.append((f"{path}.{op}", error.code, error.vi, error.en))
            elif op == "regex":
                pattern = values[1] if isinstance(values, list) and len(values) > 1 else None
                why = regex.problem(pattern)
                if why is not None:
                    error = RuleError("bad_regex", reason={"vi": why[0], "en": why[1]})
                    problems.append((f"{path}.regex", error.code, error.vi, error.en))
            stack.append((values, f"{path}.{op}", depth + 1))
    return problems


def variables(rule: Any) -> set[str]:
    """Field names a rule reads with `var`, `missing` or `missing_some` given as literals.

    Only the first path segment is returned (`members.0.age` -> `members`).
    Paths computed at run time cannot be known and are not returned.
    """
    names: set[str] = set()
    stack: list[tuple[Any, int]] = [(rule, 0)]
    visited = 0
    while stack and visited <= MAX_RULE_NODES:
        node, depth = stack.pop()
        visited += 1
        if depth > MAX_DEPTH:
            continue
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
            continue
        if not is_logic(node):
            continue
        ((op, values),) = node.items()
        args = values if isinstance(values, list) else [values]
        if op == "var" and args and isinstance(args[0], (str, int)) and args[0] != "":
            names.add(str(args[0]).split(".")[0])
        elif op == "missing":
            keys = args[0] if args and isinstance(args[0], list) else args
            names.update(str(k).split(".")[0] for k in keys if isinstance(k, str))
        elif op == "missing_some" and len(args) > 1 and isinstance(args[1], list):
            names.update(str(k).split(".")[0] for k in args[1] if isinstance(k, str))
        if op in ("filter", "map", "all", "none", "some", "reduce") and args:
            # Only the data argument reads the form's answers; the per-item
            # logic reads the items.
            stack.append((args[0], depth + 1))
            stack.extend((item, depth + 1) for item in args[2:])
        else:
            stack.extend((item, depth + 1) for item in args)
    return names
