"""A phone, as far as sync goes: real PouchDB (Node) run by `node/replicate.js`.

Used by the replication tests and by `bench/bench_sync.py`. Each `Phone` owns
a local LevelDB folder, so a second `run` resumes from the replication
checkpoints the first one left, as the app on a phone does.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.server.helpers import household_answers, photo_doc, photo_jpeg, survey_doc

SCRIPT = Path(__file__).resolve().parent / "node" / "replicate.js"


class PhoneError(Exception):
    pass


@dataclass
class Phone:
    """PouchDB replicating `db` at `base + prefix` with a session cookie or basic auth."""

    base: str
    db: str
    folder: Path
    login: dict | None = None
    auth: dict | None = None
    prefix: str = "/sync"
    _files: int = field(default=0, init=False)

    def config(self, steps: list[dict]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files += 1
        path = self.folder / f"run-{self._files}.json"
        path.write_text(json.dumps({"base": self.base, "db": self.db, "prefix": self.prefix,
                                    "dir": str(self.folder / "pouch"), "login": self.login,
                                    "auth": self.auth, "steps": steps}))
        return path

    def docs_file(self, docs: list[dict]) -> dict:
        """A `load` step for these documents."""
        self._files += 1
        path = self.folder / f"docs-{self._files}.json"
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(docs))
        return {"op": "load", "file": str(path)}

    def start(self, *steps: dict) -> subprocess.Popen:
        return subprocess.Popen(["node", str(SCRIPT), str(self.config(list(steps)))],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, *steps: dict, timeout: float = 300) -> list[dict]:
        """Run the steps; return each step's result, in order."""
        process = self.start(*steps)
        out, err = process.communicate(timeout=timeout)
        return step_results(process.returncode, out, err)


def step_results(returncode: int, out: str, err: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if returncode != 0:
        raise PhoneError(f"node exited {returncode}: {lines[-1:]} {err[-2000:]}")
    return [line for line in lines if "step" in line]


STREETS = ("Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt")
FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi")
GIVEN_NAMES = ("An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Khánh", "Lan", "Minh", "Nam")


def distinct_household(group: str = "tdp03", photos: list[str] | None = None,
                       **overrides) -> dict:
    """Household answers with an address and head of household of their own, so duplicate
    detection finds no pair (the shared helper gives every household the same address)."""
    answers = household_answers(group=group, photos=photos, **overrides)
    n = uuid.uuid4().int
    answers["address"] = f"Số {n % 200 + 1} ngõ {n // 200 % 90 + 1} phố {STREETS[n % 5]}"
    answers["head_name"] = (f"{FAMILY_NAMES[n // 7 % 8]} Văn {GIVEN_NAMES[n // 11 % 10]} "
                            f"{n % 10_000:04d}")
    return answers


def phone_docs(volunteer: str, surveys: int, photos: int, photo_size=(640, 480)) -> list[dict]:
    """`surveys` final household surveys over the twelve residential groups, the first
    `photos` of them with an evidence photo."""
    docs = []
    for i in range(surveys):
        photo_id = f"photo:{uuid.uuid4()}"
        answers = distinct_household(f"tdp{i % 12 + 1:02d}", photos=[photo_id])
        survey = survey_doc(answers, volunteer=volunteer)
        docs.append(survey)
        if i < photos:
            # photo_jpeg draws seeds 1-35 only; the width keeps later photos distinct.
            size = (photo_size[0] + i // 30, photo_size[1])
            docs.append(photo_doc(survey["_id"], photo_jpeg(i % 30 + 1, size), doc_id=photo_id))
    return docs
