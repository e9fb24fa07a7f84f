"""The ingest's queue in SQL: which volunteer databases have news, and which
worker holds each (`server.models.DbActivity`), the workers' reports and the
sweep turn.

Claims are conditional UPDATEs, so two workers racing for one database get
one row each at most, on PostgreSQL (the row lock re-checks the condition)
and on SQLite (one writer at a time) alike.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, or_, select, update

from server.models import DbActivity, HeldDatabase, IngestWorker, User, WorkerTurn, db, utcnow
from server.queries.bulk import dialect_insert

PENDING = DbActivity.touches > DbActivity.read_touches


def touch_dbs(couch_dbs: Collection[str]) -> None:
    """Note news in these databases (a phone wrote, `_db_updates` named them, a sweep)."""
    names = sorted(set(couch_dbs))  # one order, so two writers never deadlock
    if not names:
        return
    now = utcnow()
    insert = dialect_insert(DbActivity.__table__)
    table = DbActivity.__table__.c
    db.session.execute(insert.on_conflict_do_update(
        index_elements=["couch_db"],
        set_={"touched_at": insert.excluded.touched_at, "touches": table.touches + 1,
              "pending_since": case((table.touches > table.read_touches, table.pending_since),
                                    else_=insert.excluded.touched_at)}),
        [{"couch_db": name, "touched_at": now, "pending_since": now, "touches": 1,
          "read_touches": 0, "claimed_touches": 0} for name in names])


def volunteer_dbs_among(names: Collection[str]) -> list[str]:
    """Those of `names` that are volunteers' databases."""
    if not names:
        return []
    return list(db.session.execute(select(User.couch_db).where(
        User.role == "volunteer", User.couch_db.in_(sorted(set(names))))).scalars())


def _claimable(now: datetime):
    return and_(PENDING, or_(DbActivity.lease_until.is_(None), DbActivity.lease_until < now),
                ~exists().where(HeldDatabase.couch_db == DbActivity.couch_db,
                                HeldDatabase.held_at.is_not(None)))


def claim_dbs(owner: str, limit: int, lease: timedelta) -> list[str]:
    """Lease up to `limit` pending databases to `owner`, oldest news first."""
    now = utcnow()
    candidates = db.session.execute(
        select(DbActivity.couch_db).where(_claimable(now))
        .order_by(DbActivity.pending_since).limit(limit * 4)).scalars().all()
    claimed: list[str] = []
    for name in candidates:
        took = db.session.execute(
            update(DbActivity).where(DbActivity.couch_db == name, _claimable(now))
            .values(lease_owner=owner, lease_until=now + lease,
                    claimed_touches=DbActivity.touches)
            .execution_options(synchronize_session=False))
        if took.rowcount == 1:
            claimed.append(name)
            if len(claimed) == limit:
                break
    return claimed


def finish_db(couch_db: str, owner: str) -> bool:
    """`owner` read `couch_db` to its end: its news up to the claim are read; the
    lease is given back. False if `owner` no longer held it."""
    result = db.session.execute(
        update(DbActivity).where(DbActivity.couch_db == couch_db,
                                 DbActivity.lease_owner == owner)
        .values(read_touches=DbActivity.claimed_touches, lease_owner=None, lease_until=None,
                pending_since=case((DbActivity.touches > DbActivity.claimed_touches,
                                    DbActivity.touched_at), else_=None))
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def give_back_db(couch_db: str, owner: str, retry_after: timedelta) -> None:
    """`owner` gives `couch_db` back unread; no one claims it for `retry_after`."""
    db.session.execute(
        update(DbActivity).where(DbActivity.couch_db == couch_db,
                                 DbActivity.lease_owner == owner)
        .values(lease_owner=None, lease_until=utcnow() + retry_after if retry_after else None)
        .execution_options(synchronize_session=False))


def lease_owners_like(prefix: str) -> list[str]:
    return list(db.session.execute(select(DbActivity.lease_owner).distinct().where(
        DbActivity.lease_owner.like(prefix.replace("%", "\\%") + "%", escape="\\")))
        .scalars())


def release_leases_of(owners: Collection[str]) -> list[str]:
    """Give back every lease these owners hold; return the databases."""
    if not owners:
        return []
    names = list(db.session.execute(select(DbActivity.couch_db).where(
        DbActivity.lease_owner.in_(sorted(owners)))).scalars())
    db.session.execute(update(DbActivity).where(DbActivity.lease_owner.in_(sorted(owners)))
                       .values(lease_owner=None, lease_until=None)
                       .execution_options(synchronize_session=False))
    return names


def renew_lease(couch_db: str, owner: str, lease: timedelta) -> bool:
    """Extend `owner`'s lease on `couch_db`; False if it does not hold it any more."""
    result = db.session.execute(
        update(DbActivity).where(DbActivity.couch_db == couch_db,
                                 DbActivity.lease_owner == owner)
        .values(lease_until=utcnow() + lease).execution_options(synchronize_session=False))
    return result.rowcount == 1


def renew_leases(owner: str, lease: timedelta) -> None:
    db.session.execute(update(DbActivity).where(DbActivity.lease_owner == owner)
                       .values(lease_until=utcnow() + lease)
                       .execution_options(synchronize_session=False))


def take_sweep_turn(every: timedelta) -> bool:
    """Whether the caller sweeps now: true for one caller per period."""
    now = utcnow()
    inserted = db.session.execute(
        dialect_insert(WorkerTurn.__table__).values(name="sweep", at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(WorkerTurn.__table__.c.name)).first()
    if inserted is not None:
        return True
    result = db.session.execute(
        update(WorkerTurn).where(WorkerTurn.name == "sweep", WorkerTurn.at <= now - every)
        .values(at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


def report_worker(worker_id: str, host: str, pid: int, mode: str, detail: str) -> None:
    now = utcnow()
    insert = dialect_insert(IngestWorker.__table__)
    db.session.execute(insert.on_conflict_do_update(
        index_elements=["id"], set_={"seen_at": now, "mode": mode, "detail": detail[:2000]}),
        [{"id": worker_id, "host": host[:200], "pid": pid, "started_at": now, "seen_at": now,
          "mode": mode, "detail": detail[:2000]}])


def forget_workers(seen_before: datetime) -> None:
    db.session.execute(delete(IngestWorker).where(IngestWorker.seen_at < seen_before))


def live_workers(seen_after: datetime) -> list[IngestWorker]:
    return list(db.session.execute(select(IngestWorker).where(
        IngestWorker.seen_at >= seen_after).order_by(IngestWorker.started_at)).scalars())


def pending_summary() -> dict[str, Any]:
    """How many databases have news not yet read (held ones apart), and since when."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(DbActivity.pending_since)).where(
            PENDING, ~exists().where(HeldDatabase.couch_db == DbActivity.couch_db,
                                     HeldDatabase.held_at.is_not(None)))).one()
    return {"databases": count, "oldest": oldest}
