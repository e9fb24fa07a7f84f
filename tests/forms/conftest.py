"""Fixtures of the form-engine tests: JSON Logic parity runs, the shipped forms, answers.

The parity helpers run JSON Logic cases on both sides, forms/jsonlogic.py and
json-logic-js + forms/rules.js (through tests/forms/jsonlogic_node.js), encode
results the same way (undefined, NaN, infinities and errors made explicit)
and make them comparable: every number becomes a float, so JavaScript's 3
equals Python's 3 or 3.0 while 3 and "3" stay different.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from forms import jsonlogic
from forms.shipped import shipped_forms

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "jsonlogic_node.js"


def canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if math.isnan(value):
            return {"$number": "NaN"}
        if math.isinf(value):
            return {"$number": "Infinity" if value > 0 else "-Infinity"}
        return ("number", float(value))
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"$error"}:
            return {"$error": True}
        return {key: canonical(item) for key, item in value.items()}
    if value is jsonlogic.UNDEFINED:
        return {"$undefined": True}
    raise TypeError(f"cannot compare {value!r}")


def run_python(cases: list) -> list:
    results = []
    for rule, data in cases:
        try:
            results.append(canonical(jsonlogic.evaluate(rule, data)))
        except jsonlogic.RuleError:
            results.append({"$error": True})
    return results


def run_node(cases: list) -> list:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the JSON Logic parity tests (apt-get install nodejs)")
    completed = subprocess.run(
        [node, str(RUNNER)], input=json.dumps(cases), capture_output=True, text=True,
        check=True, timeout=120,
    )
    return [canonical(item) for item in json.loads(completed.stdout)]


def disagreements(cases: list) -> list[str]:
    """Every case where the two sides differ, described for the failure message."""
    python, node = run_python(cases), run_node(cases)
    return [
        f"{json.dumps(rule)} on {json.dumps(data)}: python {py!r}, json-logic-js {js!r}"
        for (rule, data), py, js in zip(cases, python, node, strict=True)
        if py != js
    ]


def load_cases(name: str) -> list[list]:
    """The [rule, data] or [rule, data, expected] cases of a vector file in tests/forms/data."""
    cases = json.loads((HERE / "data" / name).read_text("utf-8"))
    return [case for case in cases if isinstance(case, list)]


@pytest.fixture
def parity() -> SimpleNamespace:
    """Run JSON Logic cases on the server's and the phone's evaluator."""
    return SimpleNamespace(canonical=canonical, python=run_python, node=run_node,
                           disagreements=disagreements, cases=load_cases)


@pytest.fixture
def household() -> dict:
    return copy.deepcopy(next(f for f in shipped_forms() if f["id"] == "household"))


@pytest.fixture
def enterprise() -> dict:
    return copy.deepcopy(next(f for f in shipped_forms() if f["id"] == "enterprise"))


def make_member(**overrides: Any) -> dict:
    member = {
        "_row": str(uuid.uuid4()), "name": "Nguyễn Thị Hoa", "age": 34, "sex": "female",
        "smartphone": "own", "vneid": "level2", "payment_account": "both",
        "digital_signature": "no", "online_public_service": "self", "vneid_certified": "yes",
        "skills_training": "community", "safety_practices": ["no_otp_sharing", "two_factor"],
        "k1": "done", "k2": "done", "k3": "needed_help", "k4": "ignore_check", "k5": "done",
    }
    member.update(overrides)
    return member


@pytest.fixture
def household_answers() -> dict:
    return valid_household()


def valid_household() -> dict:
    """A complete, valid household survey with two members."""
    return {
        "consent": "yes", "residential_group": "tdp03",
        "address": "Số 12, ngõ 5, đường Trần Hưng Đạo",
        "head_name": "Trần Văn Nam", "contact_phone": "0912 345 678", "household_size": 4,
        "fibre": "yes",
        "members": [make_member(), make_member(name="Trần Văn Nam", age=67, sex="male",
                                               smartphone="none", vneid="level1")],
        "evidence_photo": [f"photo:{uuid.uuid4()}"],
        "location": {"lat": 20.43, "lon": 106.17, "accuracy": 12.5},
    }


@pytest.fixture
def enterprise_answers() -> dict:
    return valid_enterprise()


def valid_enterprise() -> dict:
    """A complete, valid enterprise survey."""
    return {
        "consent": "yes", "name": "Công ty TNHH Thành Nam Xanh", "tax_code": "0100233488",
        "residential_group": "tdp07", "address": "45 đường Lê Lợi", "respondent_name": "Phạm Minh",
        "sector": "trade_services", "staff_total": 20, "revenue": 15.5, "capital": 8,
        "einvoice": "tax_code_invoice", "digital_signature": "token", "online_tax": "self",
        "online_social_insurance": "agent", "econtract": "sometimes",
        "online_sales": ["marketplace", "social_media"], "software": ["accounting"],
        "cashless": ["qr_transfer", "pos"], "cashless_share": 60,
        "security": ["antivirus", "backups"], "incident": "no", "staff_trained": 12,
        "innovation": "yes", "evidence_photo": [f"photo:{uuid.uuid4()}"],
    }


@pytest.fixture
def member():
    return make_member


@pytest.fixture
def count_calls(monkeypatch):
    """`count_calls(owner, name, limit)` counts the calls of `owner.name` (or
    `owner[name]` for a dict) from now on, in a one-item list: guards against
    hostile input are checked by the work they let through, counted, not by the
    time it takes (speed is the benches' business). A call past `limit` fails
    the test at once, where a missing guard would run for hours."""

    def count(owner: Any, name: str, limit: int | None = None) -> list[int]:
        original = owner[name] if isinstance(owner, dict) else getattr(owner, name)
        calls = [0]

        def counting(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if limit is not None and calls[0] > limit:
                raise AssertionError(f"{name} called more than {limit} times")
            return original(*args, **kwargs)
        if isinstance(owner, dict):
            monkeypatch.setitem(owner, name, counting)
        else:
            monkeypatch.setattr(owner, name, counting)
        return calls
    return count
