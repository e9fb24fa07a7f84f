"""Publishing form versions: checked, recorded in SQL, written to CouchDB `forms`.

A published version is immutable. Publishing the same content again is a
no-op, so `make run` can publish the shipped forms on every start.
"""

from __future__ import annotations

from forms.definition import check_definition
from server import services
from server.actions.auth import Actor, require_role
from server.errors import problem
from server.queries.audit import audit
from server.queries.forms import add_form_version, get_form_version
from sync.provision import FormVersionConflict, publish_form


def publish(actor: Actor, definition: dict) -> bool:
    """Publish one form version; True if it is new."""
    require_role(actor, "admin")
    problems = check_definition(definition)
    if problems:
        raise problem("invalid_input", problems=[p.as_dict() for p in problems])
    existing = get_form_version(definition["id"], definition["version"])
    if existing is not None and existing.definition != definition:
        raise problem("form_version_exists", form_id=definition["id"],
                      version=definition["version"])
    try:
        written = publish_form(services.couch(), definition)
    except FormVersionConflict as err:
        raise problem("form_version_exists", form_id=definition["id"],
                      version=definition["version"]) from err
    if existing is None:
        add_form_version(definition)
        audit(actor.username, "form.publish", f"{definition['id']}:{definition['version']}")
        return True
    return written
