"""Each step of the ingest on its own, against the in-memory store: which changes
it accepts and what it makes of them. Steps that read CouchDB (photos, feedback,
conflicts) are tested through the real server in tests/server/."""

from __future__ import annotations

import pytest

from forms.shipped import shipped_forms
from media.pipeline import Limits
from sync.ingest.memory import MemoryStore
from sync.ingest.outcomes import (
    CUT,
    KEPT_DEPTH,
    PhotoDeleted,
    Quarantined,
    SurveyRevision,
    Unvalidated,
)
from sync.ingest.steps import STEPS, Change, Context, handle_change, handled
from tests.server.helpers import household_answers, survey_doc

DB = "userdb-test"


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    for definition in shipped_forms():
        store.publish(definition)
    return store


def run(store: MemoryStore, row: dict) -> list:
    return handle_change(Change(DB, row), Context(None, store, None, Limits()))


def step_for(row: dict) -> str | None:
    change = Change(DB, row)
    return next((step.NAME for step in STEPS if step.accepts(change)), None)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("row", "name"), [
    ({"id": "survey:x", "unreadable": "{{{"}, "too deep"),
    ({"id": "survey:x", "doc": {"_id": "survey:x", **nested(KEPT_DEPTH + 1)}}, "too deep"),
    ({"id": "feedback:survey:x", "doc": {"_id": "feedback:survey:x"}}, "feedback guard"),
    ({"id": "_design/x", "doc": {"_id": "_design/x"}}, "not ours"),
    ({"id": "survey:x"}, "not ours"),
    ({"id": "photo:x", "doc": {"_id": "photo:x", "_deleted": True}}, "deleted"),
    ({"id": "note:x", "doc": {"_id": "note:x", "type": "note"}}, "bad id"),
    ({"id": "survey:x", "doc": {"_id": "survey:x", "type": "photo"}}, "bad id"),
    ({"id": "survey:x", "doc": {"_id": "survey:x", "type": "survey", "_conflicts": ["2-a"]}},
     "conflicted survey"),
    ({"id": "survey:x", "doc": {"_id": "survey:x", "type": "survey"}}, "survey"),
    ({"id": "photo:x", "doc": {"_id": "photo:x", "type": "photo"}}, "photo"),
])
def test_each_change_goes_to_the_first_step_that_accepts_it(row, name):
    assert step_for(row) == name


def test_a_draft_is_stored_and_a_final_survey_waits_for_validation(store):
    draft = {"_rev": "1-a", **survey_doc(household_answers(), status="draft")}
    final = {"_rev": "1-b", **survey_doc(household_answers())}
    [stored] = run(store, {"id": draft["_id"], "doc": draft})
    [waiting] = run(store, {"id": final["_id"], "doc": final})
    assert isinstance(stored, SurveyRevision) and stored.errors == []
    assert isinstance(waiting, Unvalidated) and waiting.form is store.form("household", "2026.1")


@pytest.mark.parametrize(("change", "code"), [
    ({"form_id": None}, "malformed"),
    ({"status": "sent"}, "malformed"),
    ({"form_version": "1999.9"}, "unknown_form"),
])
def test_a_survey_that_cannot_be_read_is_quarantined_with_its_reason(store, change, code):
    doc = {"_rev": "1-a", **survey_doc(household_answers()), **change}
    [outcome] = run(store, {"id": doc["_id"], "doc": doc})
    assert isinstance(outcome, Quarantined) and outcome.code == code
    assert outcome.vi and outcome.en and outcome.body == doc


def test_a_document_too_deep_is_kept_cut(store):
    doc = {"_id": "survey:deep", "_rev": "1-a", "type": "survey", **nested(KEPT_DEPTH + 5)}
    [outcome] = run(store, {"id": doc["_id"], "doc": doc})
    assert outcome.code == "too_deep" and outcome.doc_id == "survey:deep"
    assert CUT in repr(outcome.body) and len(repr(outcome.body)) < 2000


def test_a_deleted_photo_leaves_the_review_and_a_deleted_draft_leaves_nothing(store):
    [gone] = run(store, {"id": "photo:p", "doc": {"_id": "photo:p", "_rev": "2-a",
                                                   "_deleted": True}})
    assert gone == PhotoDeleted(DB, "photo:p", "2-a")
    assert run(store, {"id": "survey:s", "doc": {"_id": "survey:s", "_rev": "2-a",
                                                  "_deleted": True}}) == []


def test_an_error_inside_a_step_is_quarantined_not_thrown(store):
    class Broken(MemoryStore):
        def form(self, form_id, version):
            raise RuntimeError("boom")

    doc = {"_rev": "1-a", **survey_doc(household_answers())}
    [outcome] = handled(Change(DB, {"id": doc["_id"], "doc": doc}),
                        Context(None, Broken(), None, Limits()))
    assert outcome.code == "internal_error" and "boom" in outcome.detail["error"]
