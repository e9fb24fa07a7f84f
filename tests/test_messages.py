"""The message catalogue is whole: every message in both languages with the same
placeholders, and every code the code base names is in it.

The codes are found in the source as the code writes them: `say("...")` and
`both("...")` (also `both('...')` inside an f-string), `BackupError("cli.x")`,
`field_error(path, "code")` (forms.answer.), `problem("key")` (server.),
`problem(path, "code")` in forms/definition.py (forms.definition.),
`PhotoRejected("photo.x")` (media.), `_flag("photo.x")` (media.flag.),
`RuleError("code"[, "message"])` (forms.rule.), `ExpressionError("code"[, "message"])`,
`_unsupported("what")` and `_syntax(text, "detail")` (forms.xlsform.),
`RegexError("code")` (forms.regex.), `t('key')` in the phone app
(app.) and an answer error's `code: 'x'` in its expr.js (forms.answer.).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import messages
from messages import catalogue, placeholders, say

ROOT = Path(__file__).resolve().parents[1]
PHONE_JS = ROOT / "server" / "static" / "app" / "js"


def _sources(*folders: str, suffix: str = ".py") -> dict[Path, str]:
    return {path: path.read_text("utf-8") for folder in folders
            for path in sorted((ROOT / folder).rglob(f"*{suffix}"))}


PATTERNS = [
    (("forms", "media", "sync", "server"), ".py",
     r'\b(?:say|both)\(f?["\']([a-z_.]+[a-z_])["\']', "{}"),
    (("server",), ".py", r'\bBackupError\(\s*"([a-z_.]+[a-z_])"', "{}"),
    (("forms", "media", "sync", "server"), ".py", r'\bfield_error\([^,()]+, "(\w+)"',
     "forms.answer.{}"),
    (("server",), ".py", r'\bproblem\("(\w+)"', "server.{}"),
    (("forms",), ".py", r'\bproblem\([^,()]+(?:\([^()]*\))?, "(\w+)"', "forms.definition.{}"),
    (("media",), ".py", r'PhotoRejected\(\s*"photo\.(\w+)"', "media.photo.{}"),
    (("media",), ".py", r'_flag\("photo\.(\w+)"', "media.flag.{}"),
    (("forms",), ".py", r'RuleError\("(\w+)"\)', "forms.rule.{}"),
    (("forms",), ".py", r'RuleError\("\w+", "(\w+)"', "forms.rule.{}"),
    (("forms",), ".py", r'RuleError\("(\w+)", \w+=', "forms.rule.{}"),
    (("forms",), ".py", r'RegexError\("(\w+)"', "forms.regex.{}"),
    (("forms",), ".py", r'ExpressionError\("\w+", "(\w+)"', "forms.xlsform.{}"),
    (("forms",), ".py", r'ExpressionError\("(\w+)", \w+=', "forms.xlsform.{}"),
    (("forms",), ".py", r'\b_unsupported\("(\w+)"', "forms.xlsform.unsupported.{}"),
    (("forms",), ".py", r'\b_syntax\([^,()]+, "(\w+)"', "forms.xlsform.syntax.{}"),
    (("server/static/app/js",), ".js", r"\bt\('(\w+)'", "app.{}"),
    (("server/static/app/js",), ".js", r"\bcode: '(\w+)'", "forms.answer.{}"),
]


def used_codes() -> dict[str, str]:
    """Every catalogue code the source names, with one place that names it."""
    used: dict[str, str] = {}
    for folders, suffix, pattern, template in PATTERNS:
        for path, text in _sources(*folders, suffix=suffix).items():
            for match in re.finditer(pattern, text):
                used.setdefault(template.format(match[1]), str(path.relative_to(ROOT)))
    return used


def test_every_message_has_both_languages_and_the_same_placeholders():
    assert len(catalogue()) > 150
    for code, entry in catalogue().items():
        assert re.fullmatch(r"[a-z]+(\.[a-z_A-Z0-9]+)+", code), code
        assert entry["vi"].strip() and entry["en"].strip(), code
        assert placeholders(entry["vi"]) == placeholders(entry["en"]), code
        assert entry["vi"] != entry["en"] or not re.search(r"[a-z]{4}", entry["en"]), code
        if code.startswith("server.") and code.count(".") == 1:
            assert re.fullmatch(r"[45]\d\d\.\d+", entry["http"]), code


def test_every_code_the_source_names_is_in_the_catalogue():
    used = used_codes()
    assert len(used) > 120  # the patterns still find the calls
    assert len([code for code in used if code.startswith("cli.")]) > 30  # the `sotay` command's
    missing = {code: where for code, where in used.items() if code not in catalogue()}
    assert missing == {}


def test_every_sotay_way_of_the_xlsform_importer_is_in_the_catalogue():
    from forms import xlsform, xlsform_expr

    ways = {*xlsform._UNSUPPORTED_TYPES.values(), *xlsform_expr._WITHOUT.values()} - {None}
    assert len(ways) > 5
    assert {f"forms.xlsform.way.{way}" for way in ways} - catalogue().keys() == set()


def test_the_http_codes_are_unique():
    codes = [entry["http"] for entry in catalogue().values() if "http" in entry]
    assert len(codes) == len(set(codes))


def test_say_fills_both_languages_and_refuses_a_missing_parameter():
    assert say("forms.answer.too_few_rows", min=2) == (
        "Cần ít nhất 2 mục.", "At least 2 entries are needed.")
    vi, en = say("forms.answer.rule_error", rule="constraint",
                 reason={"vi": "lý do", "en": "reason"})
    assert vi.endswith(": lý do") and en.endswith(": reason")
    assert "{lat, lon, accuracy}" in say("forms.answer.geopoint_type")[1]
    with pytest.raises(KeyError):
        say("forms.answer.too_few_rows")
    with pytest.raises(KeyError):
        say("forms.answer.no_such_message")


def test_the_phone_gets_every_sentence_it_names():
    phone = messages.for_phone()
    named = {code for code in used_codes() if code.startswith(("app.", "forms.answer."))}
    assert named - phone.keys() == set()
    assert all(set(entry) == {"vi", "en"} for entry in phone.values())


def test_the_phone_defines_no_sentence_of_its_own():
    """The phone's words come from the catalogue: no {vi, en} table in its scripts."""
    for path, text in _sources("server/static/app", suffix=".js").items():
        assert not re.search(r"\bvi: '", text), path
