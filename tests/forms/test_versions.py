"""Published versions are immutable; a changed form needs a new version."""

from __future__ import annotations

import copy
import json

from forms.submission import validate_submission
from forms.versions import check_publish, digest, form_doc_id


def test_first_publication(household):
    result = check_publish(household, [])
    assert result.problems == [] and not result.already_published


def test_same_content_again_is_a_no_op(household):
    reordered = json.loads(json.dumps(household, sort_keys=True))
    assert digest(reordered) == digest(household)
    result = check_publish(reordered, [household])
    assert result.problems == [] and result.already_published


def test_changed_content_under_the_same_version_is_refused(household):
    changed = copy.deepcopy(household)
    changed["fields"][1]["label"]["en"] = "Do you agree?"
    result = check_publish(changed, [household])
    assert [(p.path, p.code) for p in result.problems] == [("$.version", "version_exists")]
    assert "2026.1" in result.problems[0].vi and "new version" in result.problems[0].en


def test_changed_content_under_a_new_version_is_accepted(household):
    changed = copy.deepcopy(household)
    changed["version"] = "2026.2"
    changed["fields"][1]["label"]["en"] = "Do you agree?"
    result = check_publish(changed, [household])
    assert result.problems == [] and not result.already_published


def test_invalid_definition_is_not_published(household):
    household["fields"][1]["choices"] = "nope"
    assert check_publish(household, []).problems


def test_each_survey_is_checked_against_its_own_version(household, household_answers):
    newer = copy.deepcopy(household)
    newer["version"] = "2026.2"
    newer["choices"]["fibre"].append({"value": "satellite",
                                      "label": {"vi": "Vệ tinh", "en": "Satellite"}})
    household_answers["fibre"] = "satellite"
    assert validate_submission(newer, household_answers) == []
    assert [e.code for e in validate_submission(household, household_answers)] == ["not_a_choice"]


def test_document_id():
    assert form_doc_id("household", "2026.1") == "form:household:2026.1"
