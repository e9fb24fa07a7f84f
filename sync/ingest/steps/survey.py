"""Survey: a draft is stored as it is; a final survey is validated against its form
(after this page is handled, beside the next: `sync.validation`)."""

from __future__ import annotations

from sync.ingest.outcomes import Handled, SurveyRevision, Unvalidated, quarantine, reason

NAME = "survey"


def accepts(change) -> bool:
    return change.doc.get("type") == "survey"


def run(change, context) -> list[Handled]:
    return [check(change.couch_db, change.doc, context.store)]


def check(couch_db: str, doc: dict, store) -> Handled:
    """One revision of a survey: stored, to be validated, or quarantined."""
    form_id, version, answers = doc.get("form_id"), doc.get("form_version"), doc.get("answers")
    if not (isinstance(form_id, str) and isinstance(version, str) and isinstance(answers, dict)):
        return quarantine(couch_db, doc, "malformed", reason("survey_incomplete"))
    if doc.get("status") not in ("draft", "final"):
        return quarantine(couch_db, doc, "malformed", reason("survey_status"),
                          status=doc.get("status"))
    form = store.form(form_id, version)
    if form is None:
        return quarantine(couch_db, doc, "unknown_form",
                          reason("unknown_form", form_id=form_id, version=version),
                          form_id=form_id, form_version=version)
    if doc["status"] == "final":
        return Unvalidated(couch_db, doc, form)
    return SurveyRevision(couch_db, doc, [])
