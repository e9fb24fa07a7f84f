"""Published form versions."""

from __future__ import annotations

from sqlalchemy import select

from server.models import FormVersion, db


def get_form_version(form_id: str, version: str) -> FormVersion | None:
    return db.session.execute(select(FormVersion).where(
        FormVersion.form_id == form_id, FormVersion.version == version)).scalar_one_or_none()


def add_form_version(definition: dict) -> FormVersion:
    row = FormVersion(form_id=definition["id"], version=definition["version"],
                      subject=definition.get("subject", ""), definition=definition)
    db.session.add(row)
    db.session.flush()
    return row
