"""Who is acting, and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass

from server.errors import problem

ROLES = ("volunteer", "reviewer", "admin")


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    couch_db: str | None = None


CLI_ACTOR = Actor("cli", "admin")


def require_role(actor: Actor | None, *roles: str) -> Actor:
    """The actor, if logged in with one of `roles` (admins may do everything)."""
    if actor is None:
        raise problem("login_required")
    if actor.role != "admin" and actor.role not in roles:
        raise problem("forbidden")
    return actor
