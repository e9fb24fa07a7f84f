"""The logged-in person, from the signed session cookie."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, session
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie

from server.actions.auth import Actor
from server.errors import problem
from server.models import User
from server.queries.users import get_user

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


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
    if not session_fresh(session, current_app):
        session.clear()
        return None
    return active_user(uid)


def active_user(uid: int) -> User | None:
    """The account a session names, unless it is gone or deactivated."""
    user = get_user(uid)
    if user is None or not user.active:
        return None
    return user


def session_fresh(data: Mapping[str, Any], app: Flask) -> bool:
    """Whether a signed session is still within its lifetime, counted from the login (`at`)."""
    return time.time() - data.get("at", 0) <= app.permanent_session_lifetime.total_seconds()


def cookie_session(app: Flask, environ: WSGIEnvironment) -> Mapping[str, Any]:
    """The session a request's cookie holds, checked as Flask's session interface opens it.

    For the sync gateway, which answers without a request context; an absent,
    tampered or expired cookie is an empty session, as in Flask.
    """
    serializer = app.session_interface.get_signing_serializer(app)
    value = parse_cookie(environ).get(app.config["SESSION_COOKIE_NAME"])
    if serializer is None or not value:
        return {}
    try:
        return serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return {}


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
