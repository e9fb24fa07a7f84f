"""Background work that failed, with its retry budget (`server.models.Job`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, text, update

from server.models import Job, db, utcnow


def blocked(kind: str, key_column, now: datetime):
    """A condition for a query of work items: the item failed and is not due again
    yet, or has spent its budget."""
    return exists().where(Job.kind == kind, Job.key == key_column,
                          or_(Job.state == "failed", Job.run_after > now))


def record_failure(kind: str, key: str, error: str, max_attempts: int,
                   first_wait: timedelta, longest_wait: timedelta) -> Job:
    """Count one failed attempt at an item: the next waits twice as long as the last,
    and after `max_attempts` the item waits for an administrator."""
    job = db.session.execute(select(Job).where(Job.kind == kind, Job.key == key)
                             ).scalar_one_or_none()
    if job is None:
        job = Job(kind=kind, key=key, attempts=0, state="retrying", last_error="")
        db.session.add(job)
    job.attempts += 1
    job.last_error = error[:2000]
    job.updated_at = utcnow()
    job.run_after = job.updated_at + min(longest_wait, first_wait * 2 ** (job.attempts - 1))
    if job.attempts >= max_attempts:
        job.state = "failed"
    return job


def forget(kind: str, key: str) -> None:
    """The item succeeded: its failures no longer matter."""
    db.session.execute(delete(Job).where(Job.kind == kind, Job.key == key))


def list_jobs(state: str | None = None, limit: int = 200) -> list[Job]:
    query = select(Job).order_by(Job.updated_at.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state)
    return list(db.session.execute(query).scalars())


def retry_jobs(job_id: int | None) -> int:
    """Make failed items due again with a fresh budget (one, or every failed one)."""
    query = update(Job).where(Job.state == "failed") if job_id is None else \
        update(Job).where(Job.id == job_id)
    return db.session.execute(query.values(state="retrying", attempts=0, run_after=utcnow())
                              .execution_options(synchronize_session=False)).rowcount


def job_counts() -> dict[str, int]:
    return {state: count for state, count in db.session.execute(
        select(Job.state, func.count()).group_by(Job.state))}


def one_worker_at_a_time(name: str) -> bool:
    """Whether this transaction may do `name` now while other workers' transactions
    doing it wait or skip: a PostgreSQL advisory lock held until commit. SQLite lets
    one writer in at a time anyway (several workers need PostgreSQL)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(db.session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:name))"),
                                   {"name": f"sotay:{name}"}).scalar_one())
