"""Accounts: create and deactivate (logging in is in `logins`).

A volunteer's account also has a CouchDB side (user and private database);
provisioning is idempotent, so a command repeated after a failure finishes
the job instead of failing on what was already done.
"""

from __future__ import annotations

import re
import secrets

from messages import both
from server import services
from server.actions.auth import ROLES, Actor, require_role
from server.errors import problem
from server.models import User
from server.queries.audit import audit
from server.queries.logins import delete_user_sessions
from server.queries.users import add_user, deactivate, get_user_by_name
from sync.provision import deactivate_volunteer, provision_volunteer

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
MIN_PASSWORD = 8


def create_user(actor: Actor, username: str, password: str, role: str,
                residential_group: str | None = None, full_name: str = "") -> User:
    require_role(actor, "admin")
    if role not in ROLES:
        raise problem("invalid_input", field="role", allowed=list(ROLES))
    if not USERNAME.match(username):
        raise problem("invalid_input", field="username",
                      rule=both("server.rule.username"))
    if len(password) < MIN_PASSWORD:
        raise problem("invalid_input", field="password", min_length=MIN_PASSWORD)
    if get_user_by_name(username) is not None:
        raise problem("user_exists", username=username)
    couch_db = couch_password = None
    if role == "volunteer":
        couch_password = secrets.token_urlsafe(24)
        couch_db = provision_volunteer(services.couch(), username, couch_password)
    user = add_user(username=username, password_hash=services.passwords().hash(password),
                    role=role, residential_group=residential_group, full_name=full_name,
                    couch_db=couch_db, couch_password=couch_password)
    audit(actor.username, "user.create", username, role=role,
          residential_group=residential_group)
    return user


def deactivate_user(actor: Actor, username: str) -> User:
    require_role(actor, "admin")
    user = get_user_by_name(username)
    if user is None:
        raise problem("not_found", username=username)
    deactivate(user)
    delete_user_sessions(user.id)
    if user.role == "volunteer":
        deactivate_volunteer(services.couch(), username)
    audit(actor.username, "user.deactivate", username)
    return user
