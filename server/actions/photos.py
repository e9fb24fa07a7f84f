"""Who may see which photo."""

from __future__ import annotations

from media.store import PhotoMissing, derivative_key
from server import services
from server.actions.auth import Actor
from server.errors import problem
from server.queries.submissions import get_photo_by_sha


def derivative_for(actor: Actor | None, sha256: str, kind: str) -> bytes:
    """A photo derivative, for reviewers, admins and the volunteer who took it."""
    if actor is None:
        raise problem("login_required")
    photos = get_photo_by_sha(sha256)
    if not photos:
        raise problem("not_found")
    if actor.role == "volunteer" and all(p.couch_db != actor.couch_db for p in photos):
        raise problem("forbidden")
    try:
        return services.photo_store().get(derivative_key(sha256, kind))
    except PhotoMissing as err:
        raise problem("not_found") from err
