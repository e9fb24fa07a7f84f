"""The regular expressions a form may use, with one meaning on the phone and the server.

XLSForm's `regex(., 'pattern')` becomes the rule `{"regex": [value, "pattern"]}`.
The phone runs it with JavaScript's `new RegExp(pattern, "u")`, the server
with Python's `re`; the two languages agree only on a common subset, so a
pattern is read here token by token and anything outside that subset is
refused when the form is checked: literal characters, `.`, classes `[...]`
with ranges, `\\d \\D \\w \\W \\s \\S \\b \\B`, escaped punctuation, groups `(...)`
and `(?:...)`, alternation, the quantifiers `* + ? {n} {n,} {n,m}` (lazy
with `?`), anchors `^ $`. The Python translation spells out where the two
differ: `$` is the very end (`\\Z`), `.` and `\\s` are JavaScript's sets, and
`\\d \\w \\b` are ASCII. A quantified group holding a quantifier (`(a+)+`) is
refused: it can take exponential time on both sides.

The value is matched anywhere in the text (as ODK does); anchor with `^...$`
for the whole answer. A value that is neither a string nor a number matches
nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from messages import say

MAX_PATTERN = 500
# JavaScript's \\s, spelled for Python's re
_JS_SPACE = ("\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f"
             "\\u3000\\ufeff")
_LINE_ENDS = "\\n\\r\\u2028\\u2029"
_SYNTAX = set("^$\\.*+?()[]{}|/")
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": _JS_SPACE}
_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]",
            "s": f"[{_JS_SPACE}]", "S": f"[^{_JS_SPACE}]", "b": "\\b", "B": "\\B"}
# Alternation and anchors in Python's spelling: nothing may repeat them.
_UNREPEATABLE = {"|": "|", "^": "^", "$": "\\Z"}
_QUANTIFIER = re.compile(r"[*+?]|\{\d{1,4}(,\d{0,4})?\}")


class RegexError(ValueError):
    """A pattern outside the portable subset; `vi` and `en` say what (the catalogue's
    `forms.regex.<code>`)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.vi, self.en = say(f"forms.regex.{code}", **params)
        super().__init__(self.en)
        self.code = code


def _class(pattern: str, start: int) -> tuple[str, int]:
    """The class starting at `start` ('['), in Python, and the index after it."""
    index, out = start + 1, ["["]
    if pattern[index:index + 1] == "^":
        out.append("^")
        index += 1
    first = True
    while index < len(pattern):
        char = pattern[index]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), index + 1
        first = False
        if char == "\\":
            escape = pattern[index + 1:index + 2]
            if escape in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[escape])
            elif escape in _SYNTAX or escape == "-":
                out.append(re.escape(escape))
            else:
                raise RegexError("class_escape", escape=f"\\{escape}")
            index += 2
            continue
        if char == "[":
            raise RegexError("class_bracket")
        out.append(char if char == "-" else re.escape(char))
        index += 1
    raise RegexError("class_unclosed")


def to_python(pattern: str) -> str:
    """The Python spelling of a portable pattern; RegexError when it is not one."""
    if len(pattern) > MAX_PATTERN:
        raise RegexError("too_long", max=MAX_PATTERN)
    out: list[str] = []
    # the open groups, and per open group whether it holds a quantifier
    groups: list[int] = []
    quantified_inside: list[bool] = [False]
    last_group_had_quantifier = False
    index, can_repeat = 0, False
    while index < len(pattern):
        char = pattern[index]
        quantifier = _QUANTIFIER.match(pattern, index)
        if quantifier:
            if not can_repeat:
                raise RegexError("nothing_to_repeat", position=index + 1)
            if last_group_had_quantifier and quantifier.group() not in ("?", "{0,1}"):
                raise RegexError("nested_repeat")
            index = quantifier.end()
            text = quantifier.group()
            if pattern[index:index + 1] == "?":
                text += "?"
                index += 1
            out.append(text)
            quantified_inside[-1] = True
            can_repeat = last_group_had_quantifier = False
            continue
        last_group_had_quantifier = False
        if char == "\\":
            escape = pattern[index + 1:index + 2]
            if escape in _ESCAPES:
                out.append(_ESCAPES[escape])
                can_repeat = escape not in "bB"
            elif escape in _SYNTAX:
                out.append(re.escape(escape))
                can_repeat = True
            else:
                raise RegexError("escape", escape=f"\\{escape}")
            index += 2
        elif char == "[":
            text, index = _class(pattern, index)
            out.append(text)
            can_repeat = True
        elif char == "(":
            if pattern.startswith("(?:", index):
                out.append("(?:")
                index += 3
            elif pattern[index + 1:index + 2] == "?":
                raise RegexError("group_kind")
            else:
                out.append("(")
                index += 1
            groups.append(index)
            quantified_inside.append(False)
            can_repeat = False
        elif char == ")":
            if not groups:
                raise RegexError("close_unopened")
            groups.pop()
            inner = quantified_inside.pop()
            quantified_inside[-1] = quantified_inside[-1] or inner
            last_group_had_quantifier = inner
            out.append(")")
            index += 1
            can_repeat = True
        elif char in _UNREPEATABLE:
            out.append(_UNREPEATABLE[char])
            index += 1
            can_repeat = False
        elif char == ".":
            out.append(f"[^{_LINE_ENDS}]")
            index += 1
            can_repeat = True
        elif char in "]{}/":
            raise RegexError("bare", char=char)
        else:
            out.append(re.escape(char))
            index += 1
            can_repeat = True
    if groups:
        raise RegexError("open_unclosed")
    return "".join(out)


@lru_cache(maxsize=256)
def compiled(pattern: str) -> re.Pattern:
    """The compiled Python form of a portable pattern (RegexError if it is not one)."""
    return re.compile(to_python(pattern), re.ASCII)


def problem(pattern: object) -> tuple[str, str] | None:
    """Why a rule's pattern cannot be used (vi, en), or None when it can."""
    if not isinstance(pattern, str):
        return say("forms.regex.not_text")
    try:
        compiled(pattern)
    except RegexError as error:
        return error.vi, error.en
    except re.error as error:
        return say("forms.regex.syntax", error=str(error))
    return None
