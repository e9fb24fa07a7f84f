"""Bench: validating 10,000 household submissions of 5 members each.

Runs, in the same process and on the same data, forms.submission's
validate_submission (types, choices, relevance, required, constraints,
calculations) and jsonschema validating the same answers against an
equivalent structure-only JSON Schema (types and choice values, no rules),
then prints submissions per second for both and their ratio.

Then the rules alone: every (rule, data) that validating those submissions
evaluates, run by the interpreter (`jsonlogic.apply`) and compiled
(`compile_rule`, as `compile_form` does once per form version), per survey
and as a ratio. Last, validate_submission per survey on the sync bench's
answers (tests/sync/phone.py, 2,000 surveys) with the form's rules
interpreted, as before they were compiled, and compiled, each survey
validated in full, and as it is now, valid surveys on the fast path
(forms/fastpath.py). (The interpreter
shares the operators' faster same-type comparisons that came with
compiling, so it is a little faster than it was before.) Not a test:
`python bench/bench_forms.py [COUNT]`.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema  # noqa: E402

from forms import jsonlogic  # noqa: E402
from forms.answers import flatten  # noqa: E402
from forms.shipped import shipped_forms  # noqa: E402
from forms.submission import CompiledForm, compile_form, validate_submission  # noqa: E402
from tests.sync.phone import phone_docs  # noqa: E402

MEMBERS = 5


def structure_schema(defn: dict) -> dict:
    """A JSON Schema of the answers' structure: types and choice values, no rules."""
    simple = {"text": {"type": "string"}, "integer": {"type": "integer"},
              "decimal": {"type": "number"}, "date": {"type": "string", "format": "date"},
              "datetime": {"type": "string"}, "phone": {"type": "string"},
              "photo": {"type": "array", "items": {"type": "string", "pattern": "^photo:"}},
              "geopoint": {"type": "object", "properties": {
                  "lat": {"type": "number", "minimum": -90, "maximum": 90},
                  "lon": {"type": "number", "minimum": -180, "maximum": 180},
                  "accuracy": {"type": ["number", "null"]}},
                  "required": ["lat", "lon"], "additionalProperties": False},
              "calculate": {}}

    def level(fields: list, is_row: bool) -> dict:
        properties: dict = {}
        for item in flatten(fields):
            kind = item["type"]
            if kind == "repeat":
                properties[item["name"]] = {"type": "array", "items": level(item["fields"], True),
                                            "maxItems": item.get("max_rows", 1000)}
            elif kind in ("select_one", "select_multiple"):
                values = [c["value"] for c in defn["choices"][item["choices"]]]
                one = {"enum": values}
                properties[item["name"]] = one if kind == "select_one" else {
                    "type": "array", "items": one, "uniqueItems": True}
            else:
                properties[item["name"]] = simple[kind]
        if is_row:
            properties["_row"] = {"type": "string", "format": "uuid"}
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if is_row:
            schema["required"] = ["_row"]
        return schema

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **level(defn["fields"],
                                                                               False)}


def submissions(defn: dict, count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    lists = defn["choices"]

    def pick(name: str) -> str:
        return rng.choice(lists[name])["value"]

    out = []
    for index in range(count):
        members = []
        for _ in range(MEMBERS):
            smartphone = pick("smartphone")
            member = {
                "_row": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "name": rng.choice(["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu"]),
                "age": rng.randint(15, 90), "sex": pick("sex"), "smartphone": smartphone,
                "vneid": pick("vneid"), "payment_account": pick("payment_account"),
                "digital_signature": pick("yes_no_dk"),
                "online_public_service": pick("online_public_service"),
                "vneid_certified": pick("vneid_certified"),
                "skills_training": pick("skills_training"),
                "safety_practices": rng.sample(["no_otp_sharing", "two_factor", "check_links"],
                                               rng.randint(1, 3)),
            }
            if smartphone != "none":
                member.update({f"k{i}": pick("task_result") for i in (1, 2, 3, 5)},
                              k4=pick("scam_response"))
            members.append(member)
        answers = {
            "consent": "yes", "residential_group": pick("residential_group"),
            "address": f"Số {index % 200 + 1}, đường Trần Hưng Đạo", "head_name": "Trần Văn Nam",
            "household_size": rng.randint(5, 9), "fibre": pick("fibre"), "members": members,
            "evidence_photo": [f"photo:{uuid.UUID(int=rng.getrandbits(128), version=4)}"],
        }
        if index % 20 == 0:  # a few bad ones, so both sides also report errors
            members[0]["age"] = "không rõ"
        out.append(answers)
    return out


def timed(label: str, function, data: list) -> float:
    started = time.perf_counter()
    failures = sum(1 for answers in data if function(answers))
    elapsed = time.perf_counter() - started
    rate = len(data) / elapsed
    print(f"{label:<58} {rate:>10,.0f} submissions/s  ({elapsed:.2f} s, {failures} invalid)")
    return rate


class Interpreted:
    """A form's rule run by the interpreter, as validation did before rules were compiled."""

    def __init__(self, rule: Any, seen: list | None = None) -> None:
        self.rule, self.seen = rule, seen

    def apply(self, data: Any) -> Any:
        if self.seen is not None:
            self.seen.append((self.rule, dict(data)))
        return jsonlogic.apply(self.rule, data)


def interpreted(form: CompiledForm, seen: list | None = None) -> CompiledForm:
    """The compiled form with its rules interpreted (and recorded into `seen`)."""
    rules = {key: Interpreted(rule.rule, seen) for key, rule in form.rules.items()}
    # The steps worked out per level hold the rules they were made with: made again.
    return dataclasses.replace(form, rules=rules, surely_valid=None, flat={}, resolving={},
                               checking={})


def without_fast_path(form: CompiledForm) -> CompiledForm:
    """The compiled form validating every survey in full (forms/fastpath.py)."""
    return dataclasses.replace(form, surely_valid=None)


def best_of(function: Callable[[], Any], repeat: int = 3) -> float:
    """The fastest of a few runs, in seconds: the machine's noise only ever adds time."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_rules(household: dict, data: list[dict]) -> None:
    form = compile_form(household)
    started = time.perf_counter()
    compiled = {id(rule): jsonlogic.compile_rule(rule) for rule in
                (entry.rule for entry in form.rules.values())}
    compiling = time.perf_counter() - started
    seen: list[tuple[Any, dict]] = []
    for answers in data:
        validate_submission(interpreted(form, seen), answers)
    pairs = [(compiled[id(rule)], values) for rule, values in seen]
    before = best_of(lambda: [jsonlogic.apply(rule, values) for rule, values in seen])
    after = best_of(lambda: [rule.apply(values) for rule, values in pairs])
    print(f"\nrules of the household form: {len(compiled)} compiled in {compiling * 1000:.1f} ms; "
          f"{len(seen) / len(data):.1f} evaluations per survey")
    for label, seconds in (("interpreted (jsonlogic.apply)", before),
                           ("compiled (compile_rule, once per form version)", after)):
        print(f"  {label:<56} {seconds / len(data) * 1e6:>8.1f} µs/survey")
    print(f"  ratio interpreted / compiled: {before / after:.2f}")


def bench_validation(household: dict) -> None:
    answers = [doc["answers"] for doc in phone_docs("bench", 2000, 0) if doc["type"] == "survey"]
    form = compile_form(household)
    print(f"\nvalidate_submission, {len(answers):,} surveys of tests/sync/phone.py")
    times = {}
    for label, version in (("rules interpreted, every survey in full", interpreted(form)),
                           ("rules compiled, every survey in full", without_fast_path(form)),
                           ("rules compiled, fast path (now)", form)):
        assert not any(validate_submission(version, each) for each in answers)
        times[label] = best_of(lambda v=version: [validate_submission(v, a) for a in answers])
        print(f"  {label:<56} {times[label] / len(answers) * 1000:>8.3f} ms/survey")
    before, full, after = times.values()
    print(f"  ratio interpreted / now: {before / after:.2f}; in full / now: {full / after:.2f}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    household = next(f for f in shipped_forms() if f["id"] == "household")
    data = submissions(household, count)
    validator = jsonschema.Draft202012Validator(structure_schema(household))
    print(f"{count:,} household submissions of {MEMBERS} members each")
    ours = timed("forms.submission.validate_submission (types + rules)",
                 lambda answers: validate_submission(household, answers), data)
    theirs = timed("jsonschema Draft 2020-12 (structure only)",
                   lambda answers: list(validator.iter_errors(answers)), data)
    print(f"ratio validate_submission / jsonschema: {ours / theirs:.2f}")
    bench_rules(household, data)
    bench_validation(household)


if __name__ == "__main__":
    main()
