"""The logged-in person, from the signed session cookie and the login it names.

The cookie carries the account (`uid`), the login's id (`sid`, a row in SQL
that logging out deletes), the login time (`at`) and the CSRF token. Unsafe
requests from another site are refused before any view runs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g, session
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie

from server.actions.auth import Actor
from server.actions.logins import end_session, session_account, start_session
from server.errors import problem
from server.models import User

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


def log_in(user: User) -> None:
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["sid"] = start_session(user)
    session["at"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(24)
    g.pop("user", None)


def log_out() -> None:
    if isinstance(session.get("sid"), str):
        end_session(session["sid"])
    session.clear()
    g.pop("user", None)


def current_user() -> User | None:
    """The logged-in account, looked up once per request (pages ask several times)."""
    if "user" not in g:
        g.user = _session_user()
    return g.user


def _session_user() -> User | None:
    uid, sid = session.get("uid"), session.get("sid")
    if uid is None:
        return None
    if not isinstance(sid, str) or not session_fresh(session, current_app):
        # Expired, or from before logins were recorded: log in again.
        session.clear()
        return None
    return session_account(uid, sid)


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
        raise problem("stale_form")

