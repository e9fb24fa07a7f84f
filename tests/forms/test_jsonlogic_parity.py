"""The server's JSON Logic and the phone's (json-logic-js + forms/rules.js) agree.

Runs the official JsonLogic cases, our own vectors (tests/forms/data), every
rule of the shipped forms on sample answers, and seeded random rules through
both sides; any disagreement, or any departure from a recorded expectation,
fails.
"""

from __future__ import annotations

import json
import random

import pytest

from forms import jsonlogic
from forms.model import RULE_KEYS, walk
from forms.shipped import shipped_forms


@pytest.mark.parametrize("name", ["jsonlogic-official-tests.json", "sotay-vectors.json"])
def test_both_sides_agree_on_vector_file(parity, name: str) -> None:
    cases = parity.cases(name)
    assert len(cases) > 250
    assert parity.disagreements([case[:2] for case in cases]) == []


@pytest.mark.parametrize("name", ["jsonlogic-official-tests.json", "sotay-vectors.json"])
def test_both_sides_give_the_expected_results(parity, name: str) -> None:
    cases = [case for case in parity.cases(name) if len(case) == 3]
    assert len(cases) > 250
    expected = [parity.canonical(case[2]) for case in cases]
    pairs = [case[:2] for case in cases]
    for side, results in (("python", parity.python(pairs)), ("node", parity.node(pairs))):
        wrong = [
            (case, got) for case, got, want in zip(cases, results, expected, strict=True)
            if got != want
        ]
        assert wrong == [], f"{side} departs from the recorded results"


def test_parity_check_notices_a_disagreement(parity) -> None:
    # An operator only Python knows proves the comparison is not vacuous.
    jsonlogic.CUSTOM_OPERATORS["python_only"] = lambda *args: 1
    try:
        assert len(parity.disagreements([[{"python_only": []}, None]])) == 1
    finally:
        del jsonlogic.CUSTOM_OPERATORS["python_only"]


SAMPLE_ANSWERS = [
    {},
    {"consent": "no"},
    {"consent": "yes", "smartphone": "own", "k1": "done", "k2": "done", "k3": "done",
     "k4": "ignore_check", "k5": "could_not", "age": 15, "household_size": "3",
     "safety_practices": ["none"], "sector": "agriculture", "staff_total": 12, "revenue": 2.5,
     "capital": 40, "tax_code": "0100233488", "online_sales": ["website", "none"],
     "cashless": ["qr_transfer"], "cashless_share": 101, "staff_trained": 13, "econtract": "no",
     "software": []},
    {"consent": "yes", "smartphone": "none", "k4": "tap_link", "age": "fourteen",
     "sector": "trade_services", "staff_total": 50, "revenue": "100", "capital": None,
     "tax_code": "0100233480", "online_sales": "none", "members": [{"_row": "x"}, {}]},
]


def test_both_sides_agree_on_every_rule_of_the_shipped_forms(parity) -> None:
    cases = []
    for form in shipped_forms():
        for info in walk(form):
            for key in RULE_KEYS:
                if key in info.field:
                    cases += [[info.field[key], answers] for answers in SAMPLE_ANSWERS]
    assert len(cases) > 100
    assert parity.disagreements(cases) == []


LEAVES = [None, True, False, 0, -1, 1.5, 3, "", "0", "1", " 2 ", "a", "0x1f", "1e3", [], [1],
          [1, 2], ["a"], {"var": "a"}, {"var": "b"}, {"var": "s"}, {"var": "l"}, {"var": "d"},
          {"var": "n"}, {"var": ["zz", 4]}, {"var": "l.length"}]
OPERATORS = ["==", "===", "!=", "!==", "<", "<=", ">", ">=", "!", "!!", "+", "-", "*", "/", "%",
             "min", "max", "in", "cat", "substr", "merge", "if", "and", "or", "missing",
             "missing_some", "days_between", "years_between", "count", "vn_tax_code",
             "vn_mobile", "map", "filter", "some", "all", "none", "reduce"]


def random_rule(rng: random.Random, depth: int = 0) -> object:
    """A random rule over the operators and awkward values where JS coercions bite."""
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(LEAVES)
    op = rng.choice(OPERATORS)
    arity = rng.randint(1, 3) if op == "*" else rng.randint(0, 3)
    return {op: [random_rule(rng, depth + 1) for _ in range(arity)]}


def test_both_sides_agree_on_random_rules(parity) -> None:
    rng = random.Random(20261125)
    data = {"a": "5", "b": None, "s": "Việt", "l": ["a", 1], "d": "2026-02-28", "n": 0.1}
    cases = [[random_rule(rng), data] for _ in range(5000)]
    assert parity.disagreements(cases) == []


BROWSER_CHECK = r"""
// Load json-logic-js and rules.js as plain <script>s would: no module, no require.
const fs = require("fs");
const vm = require("vm");
const sandbox = {};
sandbox.self = sandbox;
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.argv[2], "utf8"), sandbox);
vm.runInContext(fs.readFileSync(process.argv[3], "utf8"), sandbox);
const apply = (rule) => sandbox.jsonLogic.apply(rule, {});
process.stdout.write(JSON.stringify([
  typeof sandbox.require, apply({"vn_tax_code": ["0100233488"]}),
  apply({"years_between": ["2000-02-29", "2026-02-28"]}), apply({"count": [[1, 2]]}),
]));
"""


def test_rules_js_works_as_a_browser_script(tmp_path) -> None:
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    logic = root / "node_modules" / "json-logic-js" / "logic.js"
    script = tmp_path / "browser.js"
    script.write_text(BROWSER_CHECK, "utf-8")
    node = shutil.which("node")
    assert node, "node is needed"
    done = subprocess.run([node, str(script), str(logic), str(root / "forms" / "rules.js")],
                          capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == ["undefined", True, 25, 2]
