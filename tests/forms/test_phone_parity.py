"""The phone's form evaluation and the server's agree on relevance, calculations and errors.

The phone app resolves a survey with evaluateForm (server/static/app/js/expr.js)
and the server with forms.submission.resolve_answers: same document order,
irrelevant answers dropped, calculations computed. This runs both on many
generated surveys of the two shipped forms and compares the clean answers,
then the errors each side reports (path and code; the words are the message
catalogue's for both), except those the phone's widgets make impossible.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from forms.shipped import shipped_forms
from forms.submission import resolve_answers, validate_submission

ROOT = Path(__file__).resolve().parents[2]
EXPR = ROOT / "server" / "static" / "app" / "js" / "expr.js"

# Values to draw from, valid or not, per field name (anything else: a few generic ones).
SAMPLES = {
    "consent": ["yes", "no", None, "maybe"],
    "smartphone": ["own", "shared", "none", None],
    "k4": ["ignore_check", "tap_link", None],
    "sector": ["agriculture", "industry_construction", "trade_services", None],
    "staff_total": [0, 5, 10, 11, 60, 150, 250, "12", None],
    "revenue": [1, 3, 9.5, 40, 120, 400, None, "x"],
    "capital": [1, 3, 20, 60, 150, None],
    "econtract": ["often", "sometimes", "no", None],
    "online_sales": [["website"], ["none"], [], None, ["none", "website"]],
    "software": [["accounting"], ["none"], [], None],
    "cashless": [["pos"], ["none"], [], None],
}
GENERIC = ["done", "needed_help", "could_not", "declined", "yes", 3, "", None, ["x"]]


def field_names(fields: list) -> list[tuple[str, list | None]]:
    out = []
    for item in fields:
        if item["type"] == "group":
            out += field_names(item["fields"])
        elif item["type"] == "repeat":
            out.append((item["name"], field_names(item["fields"])))
        elif item["type"] != "note":
            out.append((item["name"], None))
    return out


def generate(rng: random.Random, names: list) -> dict:
    answers: dict = {}
    for name, children in names:
        if rng.random() < 0.15:
            continue
        if children is not None:
            answers[name] = [
                {"_row": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                 **generate(rng, children)}
                for _ in range(rng.randint(0, 3))
            ]
        else:
            answers[name] = rng.choice(SAMPLES.get(name, GENERIC))
    return answers


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f["id"])
def test_phone_and_server_resolve_surveys_alike(tmp_path, parity, form):
    node = shutil.which("node")
    assert node, "node is needed for the phone parity test"
    assert EXPR.exists(), "the phone's expr.js is missing"
    module = tmp_path / "expr.mjs"
    module.write_text(EXPR.read_text("utf-8"), "utf-8")
    rng = random.Random(f"{form['id']}-parity")
    names = field_names(form["fields"])
    cases = [[form, generate(rng, names)] for _ in range(400)]
    done = subprocess.run(
        [node, str(Path(__file__).with_name("phone_resolve.mjs")),
         str(ROOT / "forms" / "rules.js"), str(module)],
        input=json.dumps(cases), capture_output=True, text=True, check=True, timeout=120,
    )
    phone = json.loads(done.stdout)
    different = [
        (answers, server, by_phone)
        for (_, answers), by_phone in zip(cases, phone, strict=True)
        if parity.canonical(server := resolve_answers(form, answers).answers)
        != parity.canonical(by_phone)
    ]
    assert different == []


def run_phone(tmp_path, cases: list, *mode: str) -> list:
    module = tmp_path / "expr.mjs"
    module.write_text(EXPR.read_text("utf-8"), "utf-8")
    done = subprocess.run(
        [shutil.which("node"), str(Path(__file__).with_name("phone_resolve.mjs")),
         str(ROOT / "forms" / "rules.js"), str(module), *mode],
        input=json.dumps(cases), capture_output=True, text=True, check=True, timeout=120,
    )
    return json.loads(done.stdout)


def test_phone_and_server_refuse_the_same_texts(tmp_path):
    """Lengths in UTF-16 code units against max_length or the default, and half of a
    UTF-16 pair (sent as JSON escapes, as the phone's JSON.stringify writes it)."""
    label = {"vi": "t", "en": "t"}
    form = {"id": "t", "version": "1", "title": label, "subject": "household", "choices": {},
            "fields": [{"name": "t", "type": "text", "label": label},
                       {"name": "u", "type": "text", "label": label, "max_length": 5}]}
    texts = ["a" * 2000, "a" * 2001, "😀" * 1000, "😀" * 1000 + "a", "ab😀", "abcd😀",
             "a\ud800", "\udc00a", "😀\ud83d", "\ude00😀", "\ud83d\ud83d", "ok"]
    cases = [[form, {"t": text, "u": text[:8]}] for text in texts]
    phone = run_phone(tmp_path, cases, "errors")  # top-level field keys are "/name"
    server = [sorted((e.path, e.code) for e in validate_submission(form, answers))
              for _, answers in cases]
    assert [sorted((key.removeprefix("/"), code) for key, code in errors)
            for errors in phone] == server
    assert any(errors for errors in server) and any(not errors for errors in server)


# What the phone never reports, on purpose: its widgets cannot produce these
# answers (a choice outside the list, a text where a choice or a date goes, a
# malformed location, photo id or repeat row), and the envelope checks (size,
# depth, unknown fields) are the server's guard against other senders.
PHONE_CANNOT_PRODUCE = {
    "not_a_choice", "choice_type", "multiple_type", "duplicate_choice", "text_type",
    "date_type", "geopoint_type", "photo_type", "repeat_type", "row_type", "row_id",
    "duplicate_row_id", "unknown_field", "too_deep", "too_large", "not_object",
}


def phone_paths(answers: dict, errors: list) -> set[tuple[str, str]]:
    """The phone's [key, code] errors as the server's (path, code): a key is
    `<row id>/<name>`, a path `<repeat>[<index>].<name>`."""
    rows = {row["_row"]: f"{name}[{index}]"
            for name, value in answers.items() if isinstance(value, list)
            for index, row in enumerate(value) if isinstance(row, dict) and "_row" in row}
    out = set()
    for key, code in errors:
        row, _, name = key.partition("/")
        out.add((f"{rows[row]}.{name}" if row else name, code))
    return out


@pytest.mark.parametrize("form", shipped_forms(), ids=lambda f: f["id"])
def test_phone_and_server_report_the_same_errors(tmp_path, form):
    """Each survey's errors, (path, code), on both sides; where the server's answer
    has an error the phone cannot produce, that path's other checks are the
    server's alone (it stops at the type, as the phone never gets there)."""
    rng = random.Random(f"{form['id']}-errors")
    names = field_names(form["fields"])
    cases = [[form, generate(rng, names)] for _ in range(400)]
    phone = run_phone(tmp_path, cases, "errors")
    different, compared = [], 0
    for (_, answers), by_phone in zip(cases, phone, strict=True):
        server = {(e.path, e.code) for e in validate_submission(form, answers)}
        beyond = {path for path, code in server if code in PHONE_CANNOT_PRODUCE}
        server = {(p, c) for p, c in server if p not in beyond}
        mine = {(p, c) for p, c in phone_paths(answers, by_phone) if p not in beyond}
        compared += len(server)
        if server != mine:
            different.append((answers, sorted(server - mine), sorted(mine - server)))
    assert different == []
    assert compared > 200  # the surveys do have errors to compare


def test_phone_and_server_agree_on_the_xlsform_types(tmp_path):
    """time, barcode, acknowledge, hidden, a regex() constraint and repeat_count: the
    same answers are wrong on both sides, with the same codes."""
    label = {"vi": "t", "en": "t"}
    form = {"id": "t", "version": "1", "title": label, "subject": "household", "choices": {},
            "fields": [
                {"name": "at", "type": "time", "label": label},
                {"name": "code", "type": "barcode", "label": label,
                 "constraint": {"regex": [{"var": "code"}, "^[0-9]{3}-[A-Z]+$"]}},
                {"name": "ok", "type": "acknowledge", "label": label},
                {"name": "src", "type": "hidden", "label": label},
                {"name": "n", "type": "integer", "label": label},
                {"name": "kids", "type": "repeat", "label": label,
                 "repeat_count": {"var": "n"},
                 "fields": [{"name": "kid", "type": "text", "label": label}]}]}
    rng = random.Random("xlsform-types")
    row = {"_row": "5b0c7a9e-3f1c-4f6a-9d59-0e1f2a3b4c5d"}
    samples = {"at": ["09:30", "23:59:59", "24:00", "9:30", "", None, 930, "09:30:00.5"],
               "code": ["123-AB", "12-AB", "123-ab", "x123-AB", "123-AB\n", 5, None, ""],
               "ok": [True, False, "OK", None, 1],
               "src": ["wash", 3, None, ""],
               "n": [0, 1, 2, None, "1", 2.5, -1],
               "kids": [[], [row], [row, {**row, "_row": "6b0c7a9e-3f1c-4f6a-9d59-0e1f2a3b4c5d"}],
                        None]}
    cases = [[form, {name: rng.choice(values) for name, values in samples.items()}]
             for _ in range(300)]
    phone = run_phone(tmp_path, cases, "errors")
    server = [sorted((e.path, e.code) for e in validate_submission(form, answers))
              for _, answers in cases]
    assert [sorted((key.removeprefix("/"), code) for key, code in errors)
            for errors in phone] == server
    assert any(errors for errors in server) and any(not errors for errors in server)
