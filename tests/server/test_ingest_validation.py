"""Validation in a process of its own (sync/validation.py) gives the ingest exactly what
validation in the ingest's process gives; a survey whose validation raises is
quarantined, and a validation process that dies costs nothing but time."""

from __future__ import annotations

import gc
import os
import signal
import sys
import uuid

import pytest
from sqlalchemy import select

from forms.shipped import shipped_forms
from forms.submission import compile_form
from media.pipeline import Limits
from server import services
from server.ingest_store import SqlIngestStore
from server.models import Quarantine, Submission, db
from sync import validation
from sync.ingest import ingest_all
from sync.validation import FAILED, MIN_SENT, InProcess, OwnProcess, validator_for
from tests.polling import wait_for
from tests.server.helpers import household_answers, member, survey_doc

HOUSEHOLD = compile_form(next(form for form in shipped_forms() if form["id"] == "household"))


def mixed_answers(count: int) -> list[dict]:
    """Household answers, every third one wrong in some way."""
    answers = []
    for index in range(count):
        one = household_answers(group=f"tdp{index % 12 + 1:02d}",
                                photos=[f"photo:{uuid.uuid4()}"])
        if index % 3 == 1:
            one["members"] = [member(age=12)]  # a failing constraint
        elif index % 3 == 2:
            one["household_size"] = "many"  # a type error
        answers.append(one)
    return answers


@pytest.fixture
def own_process():
    validator = OwnProcess()
    yield validator
    validator.close()


def child_pids(validator: OwnProcess) -> list[int]:
    pool = validator._pool
    return sorted(pool._processes) if pool is not None else []


def killed(pid: int) -> None:
    """Kill a validation process and wait until its pool has reaped it."""
    os.kill(pid, signal.SIGKILL)

    def reaped() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert wait_for(reaped, 10, every=0.05), f"process {pid} not reaped"


def test_a_page_validated_in_its_own_process_gets_the_same_results(own_process):
    work = [(HOUSEHOLD, answers) for answers in mixed_answers(3 * MIN_SENT)]
    expected = InProcess().start(work)()
    assert own_process.start(work)() == expected
    assert child_pids(own_process), "the page was not sent to a process"
    assert sum(1 for errors in expected if errors) == 2 * MIN_SENT


def test_a_few_surveys_are_validated_on_the_spot(own_process):
    work = [(HOUSEHOLD, answers) for answers in mixed_answers(MIN_SENT - 1)]
    assert own_process.start(work)() == InProcess().start(work)()
    assert child_pids(own_process) == []


def test_a_validation_process_that_dies_costs_nothing_but_time(own_process):
    work = [(HOUSEHOLD, answers) for answers in mixed_answers(MIN_SENT)]
    expected = InProcess().start(work)()
    own_process.warm()
    (first,) = child_pids(own_process)
    killed(first)
    assert own_process.start(work)() == expected  # in a new process
    (second,) = child_pids(own_process)
    assert second != first
    # Killed while it validates a page (a long one, so it is still at work).
    long_work = work * 100
    pending = own_process.start(long_work)
    os.kill(second, signal.SIGKILL)
    assert pending() == expected * 100
    assert own_process.start(work)() == expected
    assert child_pids(own_process) not in ([], [second])


def test_a_page_that_cannot_travel_is_validated_on_the_spot(own_process):
    """Answers nested far deeper than validation allows (a phone can write such a
    document) cannot be pickled to the process: validated here, they get
    validation's own error rather than blocking the database."""
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    answers = mixed_answers(MIN_SENT)
    answers[3]["note"] = deep
    work = [(HOUSEHOLD, one) for one in answers]
    expected = InProcess().start(work)()
    assert [error["code"] for error in expected[3]] == ["too_deep"]
    assert own_process.start(work)() == expected
    assert own_process.start(work[:3] + work[4:])() == expected[:3] + expected[4:]


def test_validation_that_raises_fails_one_survey_not_the_page(monkeypatch):
    real = validation.validate_submission

    def fragile(form, answers):
        if answers.get("address") == "explode":
            raise ValueError("boom")
        return real(form, answers)

    monkeypatch.setattr(validation, "validate_submission", fragile)
    answers = mixed_answers(3)
    answers[1]["address"] = "explode"
    results = InProcess().start([(HOUSEHOLD, one) for one in answers])()
    assert results[0] == [] and results[2] and isinstance(results[2], list)
    assert results[1] == FAILED + "ValueError('boom')"


@pytest.mark.parametrize(("cores", "expected"), [(1, InProcess), (2, InProcess),
                                                (3, OwnProcess), (8, OwnProcess)])
def test_the_worker_validates_in_a_process_where_there_are_cores(monkeypatch, cores, expected):
    """In process on one or two cores (measured faster on two), in a process of its
    own on more; the setting decides whatever the cores."""
    monkeypatch.setattr(validation, "usable_cores", lambda: cores)
    assert isinstance(validator_for(None), expected)
    on_sqlite = OwnProcess if cores > 1 else InProcess  # SQLite's work needs the worker's lock
    assert isinstance(validator_for(None, sql_in_process=True), on_sqlite)
    assert isinstance(validator_for(0), InProcess)
    assert isinstance(validator_for(1), OwnProcess)


def test_tuning_for_the_ingest_sets_the_collector_and_the_switch_interval():
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        validation.tune_for_ingest()
        assert gc.get_threshold() == validation.INGEST_GC_THRESHOLDS
        assert sys.getswitchinterval() == pytest.approx(validation.INGEST_SWITCH_SECONDS)
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


def test_ingest_with_validation_in_its_own_process(app, volunteer, own_process, monkeypatch):
    """The rows the ingest stores are those of validation in its own process, over
    several pages in flight; a survey whose validation failed is quarantined with the
    error, and the process killed in the middle of the ingest costs nothing."""
    docs = [survey_doc(answers, volunteer=volunteer.username)
            for answers in mixed_answers(5 * MIN_SENT)]
    docs[5]["answers"]["address"] = "explode"
    start = own_process.start
    pages: list[int] = []

    def failing_one(work):  # the process cannot be patched: its results are
        pages.append(len(work))  # changed on their way back
        if len(pages) == 3:  # and it dies while the ingest goes on
            killed(child_pids(own_process)[0])
        pending = start(work)

        def results():
            return [FAILED + "ValueError('boom')" if answers.get("address") == "explode"
                    else result for (_form, answers), result in zip(work, pending(),
                                                                    strict=True)]
        return results

    monkeypatch.setattr(own_process, "start", failing_one)
    own_process.warm()
    first = child_pids(own_process)
    with app.app_context():
        couch = services.couch()
        couch.bulk_write(volunteer.couch_db, docs)
        assert ingest_all(couch, SqlIngestStore(), services.photo_store(), Limits(),
                          page_size=MIN_SENT + 5, validator=own_process) == len(docs)
        rows = {row.doc_id: row.errors for row in db.session.execute(select(Submission))
                .scalars()}
        quarantined = db.session.execute(select(Quarantine)).scalar_one()
    assert len(pages) == 4 and min(pages) >= MIN_SENT  # every page went to a process
    assert child_pids(own_process) not in ([], first), "no new process after the kill"
    assert (quarantined.doc_id, quarantined.code) == (docs[5]["_id"], "internal_error")
    assert quarantined.detail["error"] == "ValueError('boom')"
    assert quarantined.body["answers"]["address"] == "explode"
    expected = InProcess().start([(HOUSEHOLD, doc["answers"]) for doc in docs])()
    assert rows == {doc["_id"]: errors for doc, errors in zip(docs, expected, strict=True)
                    if doc is not docs[5]}
    assert sum(1 for errors in rows.values() if errors) >= 3 * MIN_SENT


def test_the_validation_process_collects_cycles_as_the_worker_does(own_process):
    own_process.warm()
    assert own_process._executor().submit(gc.get_threshold).result() \
        == validation.INGEST_GC_THRESHOLDS
    assert validation.INGEST_GC_THRESHOLDS[0] > gc.get_threshold()[0], \
        "pytest's process keeps CPython's default, so the assertion above means something"


def test_numbers_beyond_a_float_are_field_errors_not_a_failed_validation():
    """An outside trial's 10^400 answer made validation raise (OverflowError) and the
    survey was quarantined as internal_error (Apache CouchDB keeps such an integer)."""
    answers = household_answers()
    answers["household_size"] = 10**400
    answers["members"][0]["age"] = -(10**309)
    [result] = InProcess().start([(HOUSEHOLD, answers)])()
    assert not isinstance(result, str), result
    assert {(error["path"], error["code"]) for error in result} >= {
        ("household_size", "integer_type"), ("members[0].age", "integer_type")}
