"""Provisioning of the CouchDB side: the forms database and volunteers' databases.

A volunteer gets a CouchDB user (role `volunteer`) and a private database
named like CouchDB's couch_peruser databases, whose `_security` admits that
user only. The `forms` database is readable by every volunteer and written
only by the server: a `validate_doc_update` refuses any other writer, which
both CouchDB 3 and PouchDB Server enforce.

Volunteer databases carry no `validate_doc_update`: PouchDB Server's
validation plug-in replaces the `_revisions` of every incoming document with
the stored document's, so replicated writes (`new_edits: false`, what every
phone push is) are silently dropped in any database that has one. What such a
function would guard is guarded elsewhere: the gateway refuses direct writes
to feedback documents; the ingest puts back the server's feedback over any
other version (a phone can still send one inside `_bulk_docs`) and
quarantines unknown types.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sync.couch import Couch, CouchError, userdb_name

FORMS_DB = "forms"
VOLUNTEER_ROLE = "volunteer"
DESIGN_NAME = "sotay"

_FORMS_VALIDATE = """function (newDoc, oldDoc, userCtx) {
  if (userCtx.roles.indexOf('_admin') === -1) {
    throw({forbidden:
      'Biểu mẫu chỉ do máy chủ phát hành / forms are published by the server only'});
  }
}"""

class FormVersionConflict(Exception):
    """A published form version exists with different content."""


def _ensure_design(couch: Couch, db: str, validate: str) -> None:
    current = couch.get_design(db, DESIGN_NAME)
    if current is not None and current.get("validate_doc_update") == validate:
        return
    couch.put_design(db, DESIGN_NAME, {"language": "javascript", "validate_doc_update": validate})


def provision_forms_db(couch: Couch) -> None:
    couch.ensure_db(FORMS_DB)
    couch.set_security(FORMS_DB, names=[], roles=[VOLUNTEER_ROLE])
    _ensure_design(couch, FORMS_DB, _FORMS_VALIDATE)


def provision_volunteer(couch: Couch, username: str, couch_password: str) -> str:
    """Create or refresh the volunteer's CouchDB user and database; return the db name."""
    db = userdb_name(username)
    couch.put_user(username, couch_password, [VOLUNTEER_ROLE])
    couch.ensure_db(db)
    couch.set_security(db, names=[username], roles=[])
    return db


def deactivate_volunteer(couch: Couch, username: str) -> None:
    """Remove the CouchDB user: its sync stops at once, its data stays."""
    couch.delete_user(username)


def form_doc_id(form_id: str, version: str) -> str:
    return f"form:{form_id}:{version}"


def publish_form(couch: Couch, definition: dict) -> bool:
    """Write a form version into `forms`; False if that exact version is already there.

    A published version is immutable: the same id and version with other
    content raises FormVersionConflict.
    """
    doc_id = form_doc_id(definition["id"], definition["version"])
    current = couch.get(FORMS_DB, doc_id)
    if current is not None:
        if current.get("definition") != definition:
            raise FormVersionConflict(doc_id)
        return False
    try:
        couch.put(FORMS_DB, {"_id": doc_id, "type": "form", "form_id": definition["id"],
                             "version": definition["version"], "definition": definition,
                             "published_at": datetime.now(UTC).isoformat()})
    except CouchError as err:
        if err.status != 409:
            raise
        return publish_form(couch, definition)
    return True


FEEDBACK_PREFIX = "feedback:"


def feedback_doc(feedback: dict) -> dict:
    """The feedback document for a decision, as the server writes it."""
    return {"_id": f"{FEEDBACK_PREFIX}{feedback['survey_id']}", "type": "feedback", **feedback}


def write_feedback(couch: Couch, db: str, feedback: dict) -> str:
    """Write a reviewer's decision into the volunteer's database for the phone to pick up."""
    return couch.upsert(db, feedback_doc(feedback))


def is_server_feedback(doc: dict, feedback: dict | None) -> bool:
    """Whether `doc` is exactly the feedback the server wrote (no conflicting branch)."""
    if feedback is None or doc.get("_conflicts"):
        return False
    written = {k: v for k, v in doc.items() if k not in ("_rev", "_revisions")}
    return written == feedback_doc(feedback)


def restore_feedback(couch: Couch, db: str, doc_id: str, feedback: dict | None) -> None:
    """Put back the server's feedback (or none) over whatever the phone wrote.

    The other leaves are deleted, then the server's version is written over
    the winner (or the winner deleted): every replica converges on it.
    """
    leaves = couch.open_revs(db, doc_id)
    current = couch.get(db, doc_id)
    losing = [leaf["_rev"] for leaf in leaves
              if current is None or leaf["_rev"] != current["_rev"]]
    if losing:
        couch.bulk_write(db, [{"_id": doc_id, "_rev": rev, "_deleted": True} for rev in losing])
    if feedback is not None:
        couch.upsert(db, feedback_doc(feedback))
    elif current is not None:
        couch.bulk_write(db, [{"_id": doc_id, "_rev": current["_rev"], "_deleted": True}])
