"""Provisioning of the CouchDB side: the forms database and volunteers' databases.

A volunteer gets a CouchDB user (role `volunteer`) and a private database
named like CouchDB's couch_peruser databases, whose `_security` admits that
user only. The `forms` database is readable by every volunteer and written
only by the server: a `validate_doc_update` refuses any other writer, which
both CouchDB 3 and PouchDB Server enforce.
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

_USERDB_VALIDATE = """function (newDoc, oldDoc, userCtx) {
  if (userCtx.roles.indexOf('_admin') !== -1) { return; }
  var written = newDoc._deleted ? oldDoc : newDoc;
  if (written && written.type === 'feedback') {
    throw({forbidden: 'Phản hồi chỉ do máy chủ ghi / feedback is written by the server only'});
  }
  if (!newDoc._deleted && newDoc.type !== 'survey' && newDoc.type !== 'photo') {
    throw({forbidden: 'Loại tài liệu không hợp lệ / unknown document type'});
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
    _ensure_design(couch, db, _USERDB_VALIDATE)
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


def write_feedback(couch: Couch, db: str, feedback: dict) -> str:
    """Write a reviewer's decision into the volunteer's database for the phone to pick up."""
    body = {"_id": f"feedback:{feedback['survey_id']}", "type": "feedback", **feedback}
    return couch.upsert(db, body)
