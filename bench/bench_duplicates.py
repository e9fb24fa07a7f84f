"""Bench: duplicate detection beside the ingest, on SQLite (the embedded default).

1. The outside trial's case: 60 final surveys of one residential group, each
   with a 1 MB address and name. Checked as the worker does (`check_new_surveys`
   then a commit, until none is left): the whole time, and the longest single
   call-and-commit, which is how long SQLite stays locked for the ingest's
   writes. Before keys were stored this took more than 12 minutes in one
   transaction.
2. 2,000 ordinary surveys of one group: checking each by its stored keys,
   per survey, beside the work the old way did for a survey (every candidate
   of the group read and normalised again, `find_duplicates` over all of
   them), measured on the last 20 surveys.

Not a test: `.venv/bin/python bench/bench_duplicates.py`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.actions.duplicates import _as_doc, check_new_surveys  # noqa: E402
from server.app import create_app  # noqa: E402
from server.models import Submission, db  # noqa: E402
from sync.duplicates import find_duplicates  # noqa: E402

HOME = {"lat": 20.42970, "lon": 106.17410, "accuracy": 8}
LOCK_GOAL_S = 1.0
HUGE_TOTAL_GOAL_S = 10.0
PER_SURVEY_GOAL_MS = 10.0


def app_for(folder: Path):
    return create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE": str(folder),
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}",
                       "COUCHDB_URL": "http://127.0.0.1:9", "COUCHDB_EMBEDDED": False,
                       "MEDIA_ROOT": str(folder / "media")})


def add(number: int, address: str, name: str, north: float = 0.0) -> None:
    answers = {"residential_group": "tdp03", "address": address, "head_name": name,
               "consent": "yes"}
    db.session.add(Submission(
        doc_id=f"survey:{number}", couch_db="userdb-x", volunteer="lan", form_id="household",
        form_version="2026.1", rev="1-a", status="final", residential_group="tdp03",
        answers=answers, errors=[], visited_at="2026-03-02T09:00:00+07:00",
        gps={**HOME, "lat": HOME["lat"] + north}))


def check_like_the_worker() -> tuple[float, float, int]:
    """(total seconds, longest call and commit, surveys checked)."""
    total = longest = 0.0
    checked = 0
    while True:
        started = time.perf_counter()
        batch = check_new_surveys()
        db.session.commit()
        spent = time.perf_counter() - started
        if not batch:
            return total, longest, checked
        total, longest, checked = total + spent, max(longest, spent), checked + batch


def huge_case(folder: Path) -> tuple[float, float]:
    app = app_for(folder)
    with app.app_context():
        for number in range(60):
            add(number, "Số 12 ngõ 5 phố Lê Lợi " + "x" * 1_000_000,
                "Nguyễn Văn An " + "y" * 1_000_000)
        db.session.commit()
        total, longest, checked = check_like_the_worker()
        assert checked == 60
        db.engine.dispose()
    print(f"60 surveys x 1 MB: {total:.2f} s in all, longest transaction {longest:.3f} s")
    return total, longest


def ordinary_case(folder: Path, count: int = 2000) -> tuple[float, float]:
    app = app_for(folder)
    with app.app_context():
        for number in range(count):
            add(number, f"Số {number} ngõ {number % 40} phố Lê Lợi", f"Nguyễn Văn {number}",
                north=number * 0.0005)
        db.session.commit()
        total, longest, checked = check_like_the_worker()
        assert checked == count
        keyed_ms = total / count * 1000
        rows = db.session.query(Submission).order_by(Submission.id).all()
        docs = [_as_doc(row, "household") for row in rows]
        started = time.perf_counter()
        for index in range(count - 20, count):
            find_duplicates(docs[index], docs[:index])
        old_ms = (time.perf_counter() - started) / 20 * 1000
        db.engine.dispose()
    print(f"{count} ordinary surveys: {keyed_ms:.2f} ms per survey by key "
          f"(longest transaction {longest:.3f} s); every candidate normalised again: "
          f"{old_ms:.2f} ms per survey, {old_ms / keyed_ms:.1f}x")
    return keyed_ms, old_ms


def verdict(ok: bool) -> str:
    return "ok" if ok else "short"


def main() -> None:
    with tempfile.TemporaryDirectory() as huge_folder, \
            tempfile.TemporaryDirectory() as ordinary_folder:
        total, longest = huge_case(Path(huge_folder))
        keyed_ms, _old_ms = ordinary_case(Path(ordinary_folder))
    print(f"goal: huge_check_seconds = {total:.2f} (goal <= {HUGE_TOTAL_GOAL_S}) "
          f"{verdict(total <= HUGE_TOTAL_GOAL_S)}")
    print(f"goal: longest_lock_seconds = {longest:.3f} (goal <= {LOCK_GOAL_S}) "
          f"{verdict(longest <= LOCK_GOAL_S)}")
    print(f"goal: check_ms_per_survey = {keyed_ms:.2f} (goal <= {PER_SURVEY_GOAL_MS}) "
          f"{verdict(keyed_ms <= PER_SURVEY_GOAL_MS)}")


if __name__ == "__main__":
    main()
