"""Accounts."""

from __future__ import annotations

from sqlalchemy import func, select

from server.models import User, db


def get_user_by_name(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def add_user(**fields: object) -> User:
    user = User(**fields)
    db.session.add(user)
    db.session.flush()
    return user


def deactivate(user: User) -> None:
    user.active = False


def active_volunteer_dbs() -> list[str]:
    return list(db.session.execute(
        select(User.couch_db).where(User.role == "volunteer", User.couch_db.is_not(None))
        .order_by(User.couch_db)).scalars())


def count_volunteer_dbs() -> int:
    return db.session.execute(select(func.count()).select_from(User).where(
        User.role == "volunteer", User.couch_db.is_not(None))).scalar_one()


def volunteer_by_db(couch_db: str) -> User | None:
    return db.session.execute(select(User).where(User.couch_db == couch_db)).scalar_one_or_none()
