"""Logins: the sessions still valid, and the wrong passwords of the last minutes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, insert, select

from server.models import LoginFailure, LoginSession, User, db


def add_login_session(session_id: str, user_id: int) -> None:
    db.session.add(LoginSession(id=session_id, user_id=user_id))


def delete_login_session(session_id: str) -> None:
    db.session.execute(delete(LoginSession).where(LoginSession.id == session_id))


def delete_user_sessions(user_id: int) -> None:
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))


def delete_sessions_before(moment: datetime) -> None:
    db.session.execute(delete(LoginSession).where(LoginSession.created_at < moment))


def session_user(user_id: int, session_id: str) -> User | None:
    """The account of a session, if the session is still on record (one query)."""
    return db.session.execute(
        select(User).join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == user_id, LoginSession.id == session_id)).scalar_one_or_none()


def count_failures(keys: Iterable[str], since: datetime) -> dict[str, tuple[int, datetime]]:
    """For each key with failures since `since`: how many, and the oldest one's time."""
    rows = db.session.execute(
        select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
        .where(LoginFailure.key.in_(list(keys)), LoginFailure.at >= since)
        .group_by(LoginFailure.key))
    return {key: (count, oldest) for key, count, oldest in rows}


def record_failures(keys: Iterable[str], moment: datetime, prune_before: datetime) -> None:
    """Count a wrong password against `keys`, and forget those older than the window.

    In a transaction of its own: the login that failed answers with an error,
    and the request's own transaction is rolled back with it."""
    with db.engine.begin() as conn:
        conn.execute(delete(LoginFailure).where(LoginFailure.at < prune_before))
        conn.execute(insert(LoginFailure), [{"key": key, "at": moment} for key in keys])


def clear_failures(key: str) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def release_connection() -> None:
    """End the request's reads and give its connection back to the pool.

    Before a password hash, which may wait its turn for seconds: logins
    waiting must not hold the connections the sync gateway and pages need.
    Objects read stay usable; the next statement takes a connection again."""
    db.session.close()
