"""Logging in and out: password checks under limits, and sessions the server can end.

Wrong passwords are counted per account name and per address over a sliding
window (`LOGIN_WINDOW_MINUTES`); past either limit, logins from there or to
that account are refused, with the wait in the answer, until the oldest
failures leave the window. Nobody is locked out for longer than the window,
and the counts live in SQL, so every web process applies the same limits.

A login is a row in SQL, named by the session cookie; logging out deletes
it, so the cookie stops working at once in pages and the API, and within
seconds in the sync gateway (which looks sessions up every few seconds).
"""

from __future__ import annotations

import math
import secrets
from datetime import timedelta

from flask import current_app

from server import services
from server.errors import problem
from server.models import LoginFailure, User, utcnow
from server.queries.logins import (
    add_login_session,
    clear_failures,
    count_failures,
    delete_login_session,
    delete_sessions_before,
    record_failures,
    release_connection,
    session_user,
)
from server.queries.users import get_user_by_name

KEY_LENGTH = LoginFailure.key.type.length


def authenticate(username: str, password: str, address: str) -> User:
    """The account, if the password is right and neither limit is reached.

    An unknown name costs the same password hash as a known one, and counts
    as a failure the same way, so neither time nor limits tell them apart.
    """
    keys = {"account": f"user:{username}"[:KEY_LENGTH], "address": f"addr:{address}"[:KEY_LENGTH]}
    _refuse_past_limits(keys)
    user = get_user_by_name(username)
    release_connection()
    if not services.passwords().check(user.password_hash if user else None, password):
        now = utcnow()
        record_failures(keys.values(), now, prune_before=now - _window())
        raise problem("bad_credentials")
    if not user.active:
        raise problem("account_inactive")
    clear_failures(keys["account"])
    return user


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])


def _refuse_past_limits(keys: dict[str, str]) -> None:
    limits = {keys["account"]: current_app.config["LOGIN_FAILURES_PER_ACCOUNT"],
              keys["address"]: current_app.config["LOGIN_FAILURES_PER_ADDRESS"]}
    now = utcnow()
    for key, (count, oldest) in count_failures(limits, now - _window()).items():
        if count >= limits[key]:
            # Allowed again once the oldest failure leaves the window; said as a
            # minute at least, since the next ones may be close behind it.
            wait = max(60, math.ceil((oldest + _window() - now).total_seconds()))
            raise problem("too_many_logins", retry_after_seconds=wait,
                          minutes=math.ceil(wait / 60))


def start_session(user: User) -> str:
    """Record a new login of `user`; the id goes into the session cookie."""
    delete_sessions_before(utcnow() - current_app.permanent_session_lifetime)
    session_id = secrets.token_urlsafe(32)
    add_login_session(session_id, user.id)
    return session_id


def end_session(session_id: str) -> None:
    delete_login_session(session_id)


def session_account(user_id: int, session_id: str) -> User | None:
    """The account a session names, unless the session ended or the account is locked."""
    user = session_user(user_id, session_id)
    if user is None or not user.active:
        return None
    return user
