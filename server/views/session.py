"""The logged-in person, from the signed session cookie."""

from __future__ import annotations

import secrets
import time

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface

from server.actions.auth import Actor
from server.errors import problem
from server.models import User
from server.queries.users import get_user


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, not re-signed on every replication request.

    A phone's sync is hundreds of requests; the cookie's lifetime counts from
    the login (`at`) anyway, so re-sending it on each was pure cost.
    """

    def should_set_cookie(self, app: Flask, session: object) -> bool:
        if request.blueprint == "gateway":
            return bool(getattr(session, "modified", False))
        return super().should_set_cookie(app, session)


def log_in(user: User) -> None:
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["at"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(24)


def log_out() -> None:
    session.clear()


def current_user() -> User | None:
    uid = session.get("uid")
    if uid is None:
        return None
    if not session_fresh():
        session.clear()
        return None
    user = get_user(uid)
    if user is None or not user.active:
        return None
    return user


def session_fresh() -> bool:
    """Whether the signed session is still within its lifetime (read from the cookie)."""
    max_age = current_app.permanent_session_lifetime.total_seconds()
    return time.time() - session.get("at", 0) <= max_age


def current_actor() -> Actor | None:
    user = current_user()
    return None if user is None else Actor(user.username, user.role, user.couch_db)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf(token: str | None) -> None:
    if not token or not secrets.compare_digest(token.encode(), session.get("csrf", "").encode()):
        raise problem("forbidden", reason="csrf")
