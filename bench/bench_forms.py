"""Bench: validating 10,000 household submissions of 5 members each.

Runs, in the same process and on the same data, forms.submission's
validate_submission (types, choices, relevance, required, constraints,
calculations) and jsonschema validating the same answers against an
equivalent structure-only JSON Schema (types and choice values, no rules),
then prints submissions per second for both and their ratio. Not a test:
`python bench/bench_forms.py [COUNT]`.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema  # noqa: E402

from forms.answers import flatten  # noqa: E402
from forms.shipped import shipped_forms  # noqa: E402
from forms.submission import validate_submission  # noqa: E402

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


if __name__ == "__main__":
    main()
